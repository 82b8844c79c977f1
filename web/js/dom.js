// Small DOM helpers. Text from the API only ever reaches the page through textContent (or
// text nodes), never as markup.

/** An element: `h("a", {href: "#/x", class: "k", onclick: fn}, "text", child)`. */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key === "text") {
      el.textContent = value;
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  el.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

/** "3 min ago", or the date for anything older than a week. */
export function ago(iso) {
  const then = new Date(iso);
  const secs = (Date.now() - then.getTime()) / 1000;
  if (Number.isNaN(secs)) return "";
  if (secs < 60) return "just now";
  if (secs < 3600) return `${Math.floor(secs / 60)} min ago`;
  if (secs < 86400) return `${Math.floor(secs / 3600)} h ago`;
  if (secs < 7 * 86400) return `${Math.floor(secs / 86400)} d ago`;
  return then.toLocaleDateString();
}

export function when(iso) {
  if (!iso) return "never";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}

let toastTimer;

/** A short message at the bottom of the screen. */
export function toast(message, kind = "info") {
  const el = $("#toast");
  el.textContent = message;
  el.dataset.kind = kind;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, 3500);
}

/** Copies text; falls back to a selection where the Clipboard API is not offered (plain
 * HTTP on another host than localhost). */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = h("textarea", { class: "offscreen", readonly: true });
    area.value = text;
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  toast("Copied");
}

/** A button that copies what `text()` returns. */
export function copyButton(label, text) {
  return h("button", { type: "button", class: "ghost", onclick: () => copyText(text()) }, label);
}

/** A button that asks once more before it acts: a first click arms it, a second acts. */
export function confirmButton(label, armedLabel, action) {
  const button = h("button", { type: "button", class: "danger" }, label);
  let timer;
  button.addEventListener("click", async () => {
    if (button.dataset.armed !== "yes") {
      button.dataset.armed = "yes";
      button.textContent = armedLabel;
      timer = setTimeout(() => { button.dataset.armed = ""; button.textContent = label; }, 4000);
      return;
    }
    clearTimeout(timer);
    button.disabled = true;
    try {
      await action();
    } finally {
      button.disabled = false;
      button.dataset.armed = "";
      button.textContent = label;
    }
  });
  return button;
}

/** Shows each 422's sentence next to the field it names (`data-error-for` holders in
 * `form`); returns whether one was found for it. */
export function showFieldError(form, field, detail) {
  const name = String(field || "").split(/[.[]/)[0];
  const slot = form.querySelector(`[data-error-for="${CSS.escape(name)}"]`);
  if (!slot) return false;
  slot.textContent = detail;
  slot.hidden = false;
  const input = form.elements.namedItem(name);
  if (input && input.focus) {
    input.setAttribute("aria-invalid", "true");
    input.focus();
  }
  return true;
}

export function clearFieldErrors(form) {
  for (const slot of form.querySelectorAll("[data-error-for]")) {
    slot.textContent = "";
    slot.hidden = true;
  }
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}
