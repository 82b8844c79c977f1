// The page: sign-in, the views (snippets, ask, context, tokens) chosen by the URL's hash,
// the keyboard, and the change stream that keeps what is shown current.

import { api } from "./api.js";
import { loadContext, setUpContext, show as showContext } from "./context.js";
import { $, $$, fill, h } from "./dom.js";
import { openEditor, setUpEditor } from "./editor.js";
import { setUpAssist } from "./assist.js";
import { follow, stop } from "./live.js";
import { session } from "./session.js";
import { changedElsewhere, closeSnippet, showSnippet } from "./snippet_view.js";
import { debounce, loadList, setUpList } from "./snippets.js";
import { loadTokens, setUpTokens } from "./tokens.js";
import { setUpShares } from "./shares.js";
import { setUpHistory } from "./history.js";
import { loadTrash } from "./trash.js";
import { setUpTransfer } from "./transfer.js";
import { loadTeam, setUpTeam } from "./team.js";
import { loadWorkspaces, onWorkspaceChange, setUpWorkspaces } from "./workspaces.js";

const VIEWS = ["snippets", "assist", "context", "tokens", "team", "trash"];

/** `#/snippets/<id>`, `#/assist`, ... : which view, and which snippet. */
function route() {
  if (!session.signedIn) return;
  const [, view = "", id] = location.hash.split("/");
  const name = VIEWS.includes(view) ? view : "snippets";
  for (const v of VIEWS) $(`#view-${v}`).hidden = v !== name;
  for (const tab of $$(".tabs a")) {
    tab.setAttribute("aria-current", tab.dataset.view === name ? "page" : "false");
  }
  if (name === "snippets") {
    if (id) showSnippet(decodeURIComponent(id));
    else closeSnippet();
  }
  if (name === "context") loadContext();
  if (name === "tokens") loadTokens();
  if (name === "team") loadTeam();
  if (name === "trash") loadTrash();
  if (name === "assist") $("#assist-form").elements.query.focus();
}

const relist = debounce(loadList, 150);

function onChange(event) {
  if (event.type === "reset") {
    relist();
    return;
  }
  if (event.type.startsWith("snippet.")) {
    relist();
    changedElsewhere(event);
    if (!$("#view-trash").hidden) loadTrash();
  } else if (event.type.startsWith("member.") || event.type.startsWith("workspace.")) {
    // Who may see what changed: the workspaces (and the team view) are read again.
    loadWorkspaces();
  } else if (event.type === "context.updated" && !$("#view-context").hidden) {
    showContext(event.data);
  }
}

function signedIn() {
  $("#signin").hidden = true;
  $("#app").hidden = false;
  const who = session.kind === "local" ? `${session.user} (local mode)`
    : session.kind === "personal" ? "personal token" : session.user ?? "signed in";
  $("#who").textContent = who;
  $("#sign-out").hidden = session.kind === "local";
  loadWorkspaces();
  loadList();
  route();
  follow(onChange);
}

function signedOut() {
  stop();
  $("#app").hidden = true;
  $("#signin").hidden = false;
  $("#signin-token").focus();
}

function setUpSignIn() {
  const form = $("#signin-form");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const error = $("#signin-error");
    error.hidden = true;
    session.use(form.elements.token.value);
    try {
      await api("GET", "/api/v1/snippets", { query: { limit: 1 } });
    } catch (err) {
      // A refused token signs out again (see session.refused); say why.
      session.signOut();
      error.textContent = err.message;
      error.hidden = false;
      return;
    }
    form.reset();
    signedIn();
  });
  $("#sign-out").addEventListener("click", () => session.signOut());
  session.onChange(() => { if (!session.signedIn) signedOut(); });
}

function setUpKeyboard() {
  document.addEventListener("keydown", (e) => {
    if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey) return;
    const target = e.target;
    const typing = target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName);
    if (typing || $("#editor").open || !session.signedIn) return;
    e.preventDefault();
    if (!$("#view-snippets").hidden || location.hash === "") {
      $("#search").focus();
    } else {
      location.hash = "#/";
      setTimeout(() => $("#search").focus());
    }
  });
}

async function start() {
  setUpSignIn();
  setUpList();
  setUpEditor();
  setUpAssist();
  setUpContext();
  setUpTokens();
  setUpWorkspaces();
  setUpTeam();
  setUpShares();
  setUpHistory();
  setUpTransfer();
  onWorkspaceChange(() => { if (!$("#view-team").hidden) loadTeam(); });
  setUpKeyboard();
  $("#new-snippet").addEventListener("click", () =>
    openEditor(null, (s) => { location.hash = `#/snippets/${encodeURIComponent(s.id)}`; }));
  window.addEventListener("hashchange", route);
  fill($("#snippet"), h("p", { class: "muted placeholder", text: "Choose a snippet to see its code." }));
  if (await session.restore()) signedIn();
  else signedOut();
}

start();
