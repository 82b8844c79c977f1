// A snippet's history, in a dialog: its versions (when, who, which fields), the diff of one to
// the current version, and a restore of it as the next version (If-Match: a change made
// meanwhile is reported, not overwritten).

import { api } from "./api.js";
import { $, fill, h, toast, when } from "./dom.js";

let snippet = null;
let onRestored = null;

/** Opens the history of `s`; `restored` gets the snippet after a restore. */
export function openHistory(s, restored) {
  snippet = s;
  onRestored = restored;
  fill($("#history-diff"));
  $("#history-dialog").showModal();
  loadVersions();
}

async function loadVersions() {
  const list = $("#history-list");
  let page;
  try {
    page = await api("GET", `/api/v1/snippets/${encodeURIComponent(snippet.id)}/versions`, { query: { limit: 100 } });
  } catch (e) {
    fill(list, h("p", { class: "error", text: e.message }));
    return;
  }
  fill(list, h("table", { class: "grid versions" },
    h("thead", {}, h("tr", {}, ["Version", "When", "Who", "Changed", ""].map((t) => h("th", { text: t })))),
    h("tbody", {}, page.versions.map((v) => h("tr", { dataset: { version: v.version } },
      h("td", { "data-label": "Version", text: String(v.version) }),
      h("td", { "data-label": "When", text: when(v.at) }),
      h("td", { "data-label": "Who", text: v.actor ?? "—" }),
      h("td", { "data-label": "Changed", text: v.changed.length ? v.changed.join(", ") : "created" }),
      h("td", {}, v.version === snippet.version ? h("span", { class: "muted", text: "current" })
        : h("button", { type: "button", class: "ghost", onclick: () => showDiff(v.version) }, "Compare")))))),
    page.total > page.versions.length ? h("p", { class: "muted", text: `${page.total} versions kept; the newest shown.` }) : null);
}

async function showDiff(version) {
  const pane = $("#history-diff");
  let diff;
  try {
    diff = await api("GET", `/api/v1/snippets/${encodeURIComponent(snippet.id)}/versions/${version}/diff`);
  } catch (e) {
    fill(pane, h("p", { class: "error", text: e.message }));
    return;
  }
  const fields = Object.entries(diff.changes).map(([name, change]) =>
    h("li", {}, h("strong", { text: name }), `: ${JSON.stringify(change.from)} → ${JSON.stringify(change.to)}`));
  fill(pane,
    h("h3", { text: `Version ${diff.from} → version ${diff.to} (current)` }),
    fields.length ? h("ul", { class: "field-changes" }, fields) : null,
    diff.code_diff ? h("pre", { class: "code diff", id: "history-code-diff", text: diff.code_diff })
      : h("p", { class: "muted", text: "The code is the same." }),
    h("div", { class: "row" },
      h("button", { type: "button", class: "primary", id: "history-restore", onclick: () => restore(version) },
        `Restore version ${version}`)));
}

async function restore(version) {
  let restored;
  try {
    restored = await api("POST", `/api/v1/snippets/${encodeURIComponent(snippet.id)}/versions/${version}/restore`,
      { headers: { "If-Match": `"${snippet.version}"` } });
  } catch (e) {
    if (e.code === "version_conflict") {
      toast("The snippet changed meanwhile; its history is shown again", "error");
      snippet = e.current;
      if (onRestored) onRestored(e.current);
      fill($("#history-diff"));
      loadVersions();
    } else {
      toast(e.message, "error");
    }
    return;
  }
  toast(`Version ${version} restored as version ${restored.version}`);
  $("#history-dialog").close();
  if (onRestored) onRestored(restored);
}

export function setUpHistory() {
  $("#history-close").addEventListener("click", () => $("#history-dialog").close());
}
