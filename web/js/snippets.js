// The list: a page of the user's snippets, filtered by language and tag, or found by a search.

import { api, ApiError } from "./api.js";
import { $, ago, fill, h } from "./dom.js";

const PAGE = 20;

export const listing = { q: "", language: "", tag: "", offset: 0, total: 0, selected: null, workspace: "personal" };

/** `mode=hybrid` until the service says it does not know it (422 naming `mode`). */
let hybrid = true;
/** Each load's number: an answer that arrives after a newer load began is dropped. */
let generation = 0;
const languages = new Set();

export async function loadList() {
  const mine = ++generation;
  const query = {
    limit: PAGE,
    offset: listing.offset,
    language: listing.language,
    tag: listing.tag,
    q: listing.q,
    workspace: listing.workspace,
  };
  if (listing.q && hybrid) query.mode = "hybrid";
  let page;
  try {
    page = await api("GET", "/api/v1/snippets", { query });
  } catch (e) {
    if (e instanceof ApiError && e.status === 422 && e.field === "mode" && hybrid) {
      hybrid = false;
      return loadList();
    }
    if (mine === generation) status(e.message, "error");
    return;
  }
  if (mine !== generation) return;
  if (page.snippets.length === 0 && listing.offset > 0 && page.total > 0) {
    listing.offset = Math.max(0, Math.floor((page.total - 1) / PAGE) * PAGE);
    return loadList();
  }
  render(page);
}

/** Starts again from the first page (a filter or the search changed). */
export function reload() {
  listing.offset = 0;
  return loadList();
}

export function markSelected(id) {
  listing.selected = id;
  for (const li of $("#snippet-list").children) {
    li.classList.toggle("selected", li.dataset.id === id);
  }
}

function render(page) {
  listing.total = page.total;
  const list = $("#snippet-list");
  fill(list, page.snippets.map(item));
  for (const s of page.snippets) languages.add(s.language);
  fill($("#languages"), [...languages].sort().map((l) => h("option", { value: l })));
  const count = page.total_capped ? "1,000+" : page.total.toLocaleString();
  const noun = listing.q ? (page.total === 1 ? "match" : "matches") : (page.total === 1 ? "snippet" : "snippets");
  const how = listing.q && page.mode ? ` (${page.mode} search)` : "";
  status(page.total === 0 ? emptyText() : `${count} ${noun}${how}`);
  const first = page.total === 0 ? 0 : listing.offset + 1;
  const last = listing.offset + page.snippets.length;
  $("#page-info").textContent = page.total === 0 ? "" : `${first}–${last} of ${count}`;
  $("#prev-page").disabled = listing.offset === 0;
  $("#next-page").disabled = last >= page.total;
}

function emptyText() {
  if (listing.q || listing.language || listing.tag) return "Nothing matches.";
  return "No snippets yet. Make one with “New snippet”.";
}

function item(s) {
  return h("li", { dataset: { id: s.id }, class: s.id === listing.selected ? "selected" : "" },
    h("a", { href: `#/snippets/${encodeURIComponent(s.id)}`, class: "item" },
      h("span", { class: "item-title", text: s.title }),
      s.description ? h("span", { class: "item-desc", text: s.description }) : null,
      h("span", { class: "item-meta" },
        h("span", { class: "lang", text: s.language }),
        s.tags.slice(0, 4).map((t) => h("span", { class: "tag", text: t })),
        h("time", { datetime: s.updated_at, text: ago(s.updated_at) }))));
}

function status(text, kind = "") {
  const el = $("#list-status");
  el.textContent = text;
  el.dataset.kind = kind;
}

/** Wires the search box, the filters and the pager. */
export function setUpList() {
  const debounced = debounce(reload, 250);
  const search = $("#search");
  search.addEventListener("input", () => { listing.q = search.value.trim(); debounced(); });
  $("#search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    listing.q = search.value.trim();
    location.hash = "#/";
    reload();
  });
  const language = $("#filter-language");
  const tag = $("#filter-tag");
  language.addEventListener("input", () => { listing.language = language.value.trim(); debounced(); });
  tag.addEventListener("input", () => { listing.tag = tag.value.trim(); debounced(); });
  $("#clear-filters").addEventListener("click", () => {
    language.value = tag.value = search.value = "";
    listing.language = listing.tag = listing.q = "";
    reload();
  });
  $("#prev-page").addEventListener("click", () => {
    listing.offset = Math.max(0, listing.offset - PAGE);
    loadList();
  });
  $("#next-page").addEventListener("click", () => {
    listing.offset += PAGE;
    loadList();
  });
}

/** Shows only snippets with `tag`. */
export function filterByTag(tag) {
  $("#filter-tag").value = tag;
  listing.tag = tag;
  reload();
}

export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
