// The share dialog: make a read-only link to a snippet (with a warning, and a way to insist,
// when it looks like it holds a credential), copy it, see the links with their views, revoke.

import { api } from "./api.js";
import { $, confirmButton, copyButton, fill, h, toast, when } from "./dom.js";

let snippet = null;

export function openShare(s) {
  snippet = s;
  $("#share-warning").hidden = true;
  $("#share-made").hidden = true;
  fill($("#share-list"));
  $("#share-dialog").showModal();
  loadShares();
}

async function make(allowSecrets) {
  const hours = Number($("#share-hours").value);
  const body = { expires_in_hours: hours };
  if (allowSecrets) body.allow_secrets = true;
  const warning = $("#share-warning");
  warning.hidden = true;
  let link;
  try {
    link = await api("POST", `/api/v1/snippets/${encodeURIComponent(snippet.id)}/shares`, { body });
  } catch (e) {
    if (e.code === "contains_secrets") {
      fill(warning,
        h("p", { text: e.message }),
        h("button", { type: "button", class: "danger", id: "share-anyway", onclick: () => make(true) }, "Share anyway"));
      warning.hidden = false;
    } else {
      toast(e.message, "error");
    }
    return;
  }
  const url = new URL(link.url, location.origin).toString();
  const made = $("#share-made");
  fill(made,
    h("p", { text: `Link made; it expires ${when(link.expires_at)}. It is shown this once.` }),
    h("div", { class: "secret" }, h("code", { id: "share-url", text: url }), copyButton("Copy link", () => url)));
  made.hidden = false;
  loadShares();
}

async function loadShares() {
  const list = $("#share-list");
  let answer;
  try {
    answer = await api("GET", `/api/v1/snippets/${encodeURIComponent(snippet.id)}/shares`);
  } catch (e) {
    fill(list, h("p", { class: "error", text: e.message }));
    return;
  }
  if (answer.shares.length === 0) {
    fill(list, h("p", { class: "muted", text: "No links yet." }));
    return;
  }
  const now = Date.now();
  fill(list, h("table", { class: "grid shares" },
    h("thead", {}, h("tr", {}, ["Made", "Expires", "Views", "State", ""].map((t) => h("th", { text: t })))),
    h("tbody", {}, answer.shares.map((s) => {
      const state = s.revoked_at ? "revoked" : new Date(s.expires_at).getTime() <= now ? "expired" : "live";
      return h("tr", { dataset: { id: s.id } },
        h("td", { "data-label": "Made", text: `${when(s.created_at)} by ${s.created_by}` }),
        h("td", { "data-label": "Expires", text: when(s.expires_at) }),
        h("td", { "data-label": "Views", class: "views", text: String(s.view_count) }),
        h("td", { "data-label": "State", class: "state", text: state }),
        h("td", {}, state === "live" ? confirmButton("Revoke", "Really revoke?", () => revoke(s.id)) : null));
    }))));
}

async function revoke(id) {
  try {
    await api("DELETE", `/api/v1/shares/${encodeURIComponent(id)}`);
    toast("Link revoked");
  } catch (e) {
    toast(e.message, "error");
  }
  loadShares();
}

export function setUpShares() {
  $("#share-form").addEventListener("submit", (e) => {
    e.preventDefault();
    make(false);
  });
  $("#share-close").addEventListener("click", () => $("#share-dialog").close());
}
