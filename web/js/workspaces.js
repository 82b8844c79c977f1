// The workspace switcher: which workspace the list, search and new snippets are in.

import { api } from "./api.js";
import { $, fill, h } from "./dom.js";
import { listing, reload } from "./snippets.js";

/** The caller's workspaces (personal first) and the one chosen. */
export const workspaces = { all: [], current: "personal" };

const listeners = [];

/** Calls `fn` whenever the chosen workspace or the list of workspaces changes. */
export function onWorkspaceChange(fn) {
  listeners.push(fn);
}

export function currentWorkspace() {
  return workspaces.all.find((w) => w.id === workspaces.current) ?? null;
}

function label(w) {
  return w.id === "personal" ? "Personal" : `${w.name} (${w.role})`;
}

/** Reads the caller's workspaces; keeps the chosen one while it is still theirs. */
export async function loadWorkspaces() {
  let answer;
  try {
    answer = await api("GET", "/api/v1/workspaces");
  } catch {
    return;
  }
  workspaces.all = answer.workspaces;
  const select = $("#workspace-select");
  fill(select, workspaces.all.map((w) => h("option", { value: w.id, text: label(w) })));
  if (!workspaces.all.some((w) => w.id === workspaces.current)) {
    choose(workspaces.all[0]?.id ?? "personal");
  } else {
    select.value = workspaces.current;
    for (const fn of listeners) fn();
  }
}

/** Makes `id` the chosen workspace and lists it. */
export function choose(id) {
  workspaces.current = id;
  listing.workspace = id;
  $("#workspace-select").value = id;
  reload();
  for (const fn of listeners) fn();
}

export function setUpWorkspaces() {
  const select = $("#workspace-select");
  select.addEventListener("change", () => choose(select.value));
}
