// The create and edit form, in a dialog. The service's 422 answers name the field; the
// sentence is shown next to it. An edit names the version it was made on (If-Match): when
// the snippet changed meanwhile, both versions are shown and nothing typed is lost.

import { api, ApiError } from "./api.js";
import { $, clearFieldErrors, fill, h, showFieldError, toast } from "./dom.js";
import { listing, loadList } from "./snippets.js";

let editing = null;
let onSaved = null;

/** Opens the form for a new snippet (`snippet` null) or to change one; `saved` gets the
 * stored snippet. */
export function openEditor(snippet, saved) {
  editing = snippet;
  onSaved = saved;
  const form = $("#editor-form");
  clearFieldErrors(form);
  form.reset();
  $("#editor-conflict").hidden = true;
  $("#editor-title").textContent = snippet ? "Edit snippet" : "New snippet";
  if (snippet) {
    form.elements.title.value = snippet.title;
    form.elements.language.value = snippet.language;
    form.elements.tags.value = snippet.tags.join(", ");
    form.elements.description.value = snippet.description ?? "";
    form.elements.code.value = snippet.code;
  }
  // A snippet of several files: the form edits the first, and an edit keeps the others.
  const files = snippet?.files ?? [];
  const note = $("#ed-files-note");
  note.hidden = files.length < 2;
  note.textContent = files.length < 2 ? ""
    : `This is ${files[0].name}, the first of ${files.length} files; the others are kept as they are.`;
  $("#editor").showModal();
  form.elements.title.focus();
}

export function setUpEditor() {
  const form = $("#editor-form");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearFieldErrors(form);
    const button = $("#editor-save");
    button.disabled = true;
    try {
      await save(form);
    } finally {
      button.disabled = false;
    }
  });
  $("#editor-cancel").addEventListener("click", () => $("#editor").close());
}

async function save(form) {
  const v = (name) => form.elements[name].value;
  const body = {
    title: v("title"),
    language: v("language"),
    code: v("code"),
    tags: v("tags").split(",").map((t) => t.trim()).filter(Boolean),
  };
  const description = v("description").trim();
  if (description) body.description = description;
  else if (editing) body.description = null;
  let snippet;
  try {
    if (editing) {
      snippet = await api("PATCH", `/api/v1/snippets/${encodeURIComponent(editing.id)}`,
        { body, headers: { "If-Match": `"${editing.version}"` } });
    } else {
      body.workspace = listing.workspace;
      snippet = (await api("POST", "/api/v1/snippets", { body })).snippet;
    }
  } catch (e) {
    if (e instanceof ApiError && e.code === "version_conflict" && e.current) {
      showConflict(e.current, body);
      return;
    }
    if (!(e instanceof ApiError && e.status === 422 && showFieldError(form, e.field, e.message))) {
      showFieldError(form, "form", e.message);
    }
    return;
  }
  $("#editor").close();
  toast(editing ? "Saved" : "Stored");
  loadList();
  if (onSaved) onSaved(snippet);
}

/** The snippet changed since the form was filled: shows its version now beside the one typed,
 * which stays in the form; the user saves theirs over it, or takes the other. */
function showConflict(current, mine) {
  const panel = $("#editor-conflict");
  const version = (label, s) => h("div", { class: "stack" },
    h("h3", { text: label }),
    h("p", { text: `${s.title} (${s.language})` }),
    h("pre", { class: "code", text: s.code }));
  fill(panel,
    h("p", { text: `This snippet was changed elsewhere while you edited it: it is at version ${current.version} now. ` +
      "Your changes are still in the form." }),
    h("div", { class: "two" }, version(`Version ${current.version}, saved`, current), version("Yours, not saved", mine)),
    h("div", { class: "row" },
      h("button", { type: "button", class: "primary", id: "conflict-keep-mine", onclick: () => {
        // Saved over the version now there, which the user has seen.
        editing = current;
        panel.hidden = true;
        $("#editor-form").requestSubmit();
      } }, "Save mine over it"),
      h("button", { type: "button", class: "ghost", id: "conflict-take-theirs", onclick: () => {
        $("#editor").close();
        if (onSaved) onSaved(current);
      } }, "Discard mine, keep theirs")));
  panel.hidden = false;
}
