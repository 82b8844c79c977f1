// The trash: deleted snippets of every workspace the user may write in, to restore (with
// their history) or erase for good. Each is erased by itself after the server's retention.

import { api } from "./api.js";
import { $, confirmButton, fill, h, toast, when } from "./dom.js";
import { loadList } from "./snippets.js";

export async function loadTrash() {
  const list = $("#trash-list");
  let page;
  try {
    page = await api("GET", "/api/v1/trash", { query: { limit: 100 } });
  } catch (e) {
    fill(list, h("p", { class: "error", text: e.message }));
    return;
  }
  if (page.snippets.length === 0) {
    fill(list, h("p", { class: "muted", text: "The trash is empty." }));
    return;
  }
  fill(list, h("table", { class: "grid trash" },
    h("thead", {}, h("tr", {}, ["Title", "Workspace", "Deleted", ""].map((t) => h("th", { text: t })))),
    h("tbody", {}, page.snippets.map((s) => h("tr", { dataset: { id: s.id } },
      h("td", { "data-label": "Title", class: "title", text: `${s.title} (${s.language})` }),
      h("td", { "data-label": "Workspace", text: s.workspace }),
      h("td", { "data-label": "Deleted", text: `${when(s.deleted_at)}${s.deleted_by ? ` by ${s.deleted_by}` : ""}` }),
      h("td", { class: "actions" },
        h("button", { type: "button", class: "restore", onclick: () => restore(s) }, "Restore"),
        confirmButton("Erase", "Erase for good?", () => erase(s))))))));
}

async function restore(s) {
  try {
    await api("POST", `/api/v1/trash/${encodeURIComponent(s.id)}/restore`);
    toast(`Restored “${s.title}”`);
  } catch (e) {
    toast(e.message, "error");
  }
  loadTrash();
  loadList();
}

async function erase(s) {
  try {
    await api("DELETE", `/api/v1/trash/${encodeURIComponent(s.id)}`);
    toast(`Erased “${s.title}”`);
  } catch (e) {
    toast(e.message, "error");
  }
  loadTrash();
}
