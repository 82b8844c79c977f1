// One snippet: its code highlighted (highlight.js, loaded the first time it is needed), copy,
// edit and delete.

import { api } from "./api.js";
import { openEditor } from "./editor.js";
import { openHistory } from "./history.js";
import { relatedSection } from "./related.js";
import { openShare } from "./shares.js";
import { $, ago, confirmButton, copyButton, fill, h, toast, when } from "./dom.js";
import { filterByTag, loadList, markSelected } from "./snippets.js";

/** Past this size the code is shown plain: highlighting it would stall the page. */
const HIGHLIGHT_MAX_CHARS = 200_000;

let shown = null;
let highlighter = null;

export async function showSnippet(id) {
  markSelected(id);
  const view = $("#snippet");
  document.body.classList.add("detail-open");
  if (shown?.id !== id) fill(view, h("p", { class: "muted", text: "Loading…" }));
  view.hidden = false;
  try {
    render(await api("GET", `/api/v1/snippets/${encodeURIComponent(id)}`));
  } catch (e) {
    shown = null;
    fill(view, h("p", { class: "error", text: e.status === 404 ? "This snippet does not exist (any more)." : e.message }));
  }
}

export function closeSnippet() {
  shown = null;
  markSelected(null);
  document.body.classList.remove("detail-open");
  const view = $("#snippet");
  fill(view, h("p", { class: "muted placeholder", text: "Choose a snippet to see its code." }));
}

/** Shows `snippet` (also when a change to it arrives from elsewhere). */
export function render(snippet) {
  shown = snippet;
  const files = snippet.files?.length ? snippet.files : [{ name: "", language: snippet.language, code: snippet.code }];
  const blocks = files.map((f) => fileBlock(f, files.length > 1 || f.name));
  const tags = snippet.tags.map((t) =>
    h("button", { type: "button", class: "tag", title: `Only snippets tagged ${t}`, onclick: () => filterByTag(t) }, t));
  fill($("#snippet"),
    h("div", { class: "detail-head" },
      h("a", { href: "#/", class: "back", text: "← All snippets" }),
      h("h2", { id: "snippet-title", text: snippet.title }),
      h("div", { class: "actions" },
        copyButton("Copy code", () => snippet.code),
        h("button", { type: "button", onclick: () => openEditor(snippet, render) }, "Edit"),
        h("button", { type: "button", id: "share-open", onclick: () => openShare(snippet) }, "Share"),
        h("button", { type: "button", id: "history-open", onclick: () => openHistory(snippet, render) }, "History"),
        confirmButton("Delete", "Really delete?", () => remove(snippet)))),
    h("p", { class: "detail-meta" },
      h("span", { class: "lang", text: snippet.language }), tags,
      files.length > 1 ? h("span", { class: "muted", text: `${files.length} files` }) : null,
      h("time", { datetime: snippet.updated_at, title: when(snippet.updated_at), text: `updated ${ago(snippet.updated_at)}` })),
    snippet.description ? h("p", { class: "description", text: snippet.description }) : null,
    blocks.map((b) => b.element),
    relatedSection(snippet.id));
  for (const b of blocks) highlight(b.code, b.language);
}

/** One file's code (under its name and with its own copy button when `named`). */
function fileBlock(file, named) {
  const code = h("code", { class: "hljs" });
  code.textContent = file.code;
  const head = named
    ? h("div", { class: "file-head" },
      h("h3", { class: "file-name", text: file.name }),
      h("span", { class: "lang", text: file.language }),
      copyButton("Copy", () => file.code))
    : null;
  return { code, language: file.language, element: h("section", { class: "file" }, head, h("pre", { class: "code" }, code)) };
}

async function highlight(code, language) {
  if (code.textContent.length > HIGHLIGHT_MAX_CHARS) return;
  highlighter ??= import("../vendor/highlightjs-cdn-assets/highlight.min.js").then((m) => m.default);
  const hljs = await highlighter;
  const name = language.trim().toLowerCase();
  // highlight.js writes its own escaped markup over the text already set as textContent.
  if (hljs.getLanguage(name)) code.classList.add(`language-${name}`);
  hljs.highlightElement(code);
}

async function remove(snippet) {
  try {
    await api("DELETE", `/api/v1/snippets/${encodeURIComponent(snippet.id)}`);
  } catch (e) {
    if (e.status !== 404) {
      toast(e.message, "error");
      return;
    }
  }
  // Closed before the change stream reports the deletion, which is then not news.
  closeSnippet();
  toast("Deleted");
  location.hash = "#/";
  loadList();
}

/** A change made elsewhere, from the change stream. */
export function changedElsewhere(event) {
  if (!shown || event.data?.id !== shown.id) return;
  if (event.type === "snippet.deleted") {
    closeSnippet();
    if (location.hash.startsWith("#/snippets/")) location.hash = "#/";
    toast("The snippet you were viewing was deleted elsewhere");
  } else if (["snippet.updated", "snippet.created"].includes(event.type) && event.data.title !== undefined) {
    render(event.data);
  }
}
