// Personal access tokens: made, listed and revoked, with a ready MCP client configuration
// for a new one. Managing them needs a platform token (a JWT), not a personal one.

import { api, ApiError } from "./api.js";
import { $, clearFieldErrors, confirmButton, copyButton, fill, h, showFieldError, toast, when } from "./dom.js";
import { session } from "./session.js";

export async function loadTokens() {
  const list = $("#token-list");
  if (session.kind === "personal") {
    fill(list, h("p", { class: "muted", text: "Signed in with a personal token: sign in with a platform token (JWT) to manage tokens." }));
    return;
  }
  let answer;
  try {
    answer = await api("GET", "/api/v1/tokens");
  } catch (e) {
    fill(list, h("p", { class: "error", text: e.message }));
    return;
  }
  if (answer.tokens.length === 0) {
    fill(list, h("p", { class: "muted", text: "No personal tokens yet." }));
    return;
  }
  fill(list, h("table", { class: "tokens" },
    h("thead", {}, h("tr", {}, ["Name", "Scopes", "Created", "Expires", "Last used", ""].map((t) => h("th", { text: t })))),
    h("tbody", {}, answer.tokens.map(row))));
}

function row(token) {
  return h("tr", { dataset: { id: token.id } },
    h("td", { "data-label": "Name", text: token.name }),
    h("td", { "data-label": "Scopes" }, token.scopes.map((s) => h("span", { class: "tag", text: s }))),
    h("td", { "data-label": "Created", text: when(token.created_at) }),
    h("td", { "data-label": "Expires", text: when(token.expires_at) }),
    h("td", { "data-label": "Last used", text: when(token.last_used_at) }),
    h("td", {}, confirmButton("Revoke", "Really revoke?", async () => {
      try {
        await api("DELETE", `/api/v1/tokens/${encodeURIComponent(token.id)}`);
        const box = $("#token-created");
        if (box.dataset.id === token.id) box.hidden = true;
      } catch (e) {
        toast(e.message, "error");
      }
      loadTokens();
    })));
}

export function setUpTokens() {
  const form = $("#token-form");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearFieldErrors(form);
    const scopes = [...form.querySelectorAll("input[name=scopes]:checked")].map((c) => c.value);
    const days = Number(form.elements.expires_in_days.value);
    const body = { name: form.elements.name.value, scopes, expires_in_days: days };
    try {
      created(await api("POST", "/api/v1/tokens", { body }));
      form.reset();
      loadTokens();
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 422 && showFieldError(form, err.field, err.message))) {
        showFieldError(form, "form", err.message);
      }
    }
  });
}

/** The new token's secret, shown this once, and configurations that use it. */
function created(token) {
  const url = `${location.origin}/mcp`;
  const config = JSON.stringify({
    mcpServers: { pieces: { url, headers: { Authorization: `Bearer ${token.token}` } } },
  }, null, 2);
  const claude = `claude mcp add --transport http pieces ${url} --header "Authorization: Bearer ${token.token}"`;
  const box = $("#token-created");
  fill(box,
    h("h3", { text: `Token “${token.name}” made` }),
    h("p", { text: "Copy it now: it is shown this once." }),
    h("div", { class: "secret" }, h("code", { id: "new-token", text: token.token }), copyButton("Copy token", () => token.token)),
    h("h3", { text: "MCP client configuration" }),
    h("p", { class: "muted", text: "For Cursor (~/.cursor/mcp.json) and others that read mcpServers; VS Code calls the key servers and adds \"type\": \"http\"." }),
    h("pre", { class: "json", id: "mcp-config", text: config }),
    copyButton("Copy configuration", () => config),
    h("h3", { text: "Claude Code" }),
    h("pre", { class: "json", text: claude }),
    copyButton("Copy command", () => claude),
    h("p", { class: "muted", text: `Expires ${when(token.expires_at)}.` }));
  box.dataset.id = token.id;
  box.hidden = false;
}
