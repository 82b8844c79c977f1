// The team view: the chosen workspace's members and roles (managed by admins), its audit log
// (for admins), and making a new team workspace.

import { api, ApiError } from "./api.js";
import { $, clearFieldErrors, confirmButton, fill, h, showFieldError, toast, when } from "./dom.js";
import { session } from "./session.js";
import { choose, currentWorkspace, loadWorkspaces } from "./workspaces.js";

const ROLES = ["reader", "writer", "admin", "owner"];
const rank = (role) => ROLES.indexOf(role);

export async function loadTeam() {
  const box = $("#team-current");
  const ws = currentWorkspace();
  if (!ws) {
    fill(box, h("p", { class: "muted", text: "No workspace chosen." }));
    return;
  }
  if (ws.id === "personal") {
    fill(box, h("p", { class: "muted", text: "Your personal workspace is yours alone. Choose a team workspace above the list, or make one below." }));
    return;
  }
  let members;
  try {
    members = (await api("GET", `/api/v1/workspaces/${encodeURIComponent(ws.id)}/members`)).members;
  } catch (e) {
    fill(box, h("p", { class: "error", text: e.message }));
    return;
  }
  const admin = rank(ws.role) >= rank("admin");
  fill(box,
    h("div", { class: "team-head" },
      h("h3", { id: "team-name", text: ws.name }),
      h("span", { class: "tag", id: "team-role", text: ws.role }),
      h("span", { class: "muted", text: `${members.length} member${members.length === 1 ? "" : "s"}` })),
    h("table", { class: "grid members" },
      h("thead", {}, h("tr", {}, ["Member", "Role", "Added", ""].map((t) => h("th", { text: t })))),
      h("tbody", {}, members.map((m) => memberRow(ws, m, admin)))),
    admin ? addForm(ws) : null,
    admin ? h("div", { class: "row" },
      h("button", { type: "button", id: "audit-load", onclick: () => loadAudit(ws) }, "Show the audit log")) : null,
    h("div", { id: "audit" }));
}

function memberRow(ws, member, admin) {
  const mine = rank(ws.role);
  const canChange = admin && (mine >= rank("owner") || member.role !== "owner");
  const role = canChange
    ? h("select", {
        "aria-label": `Role of ${member.user_id}`,
        onchange: (e) => setRole(ws, member.user_id, e.target.value),
      }, ROLES.filter((r) => mine >= rank("owner") || r !== "owner")
        .map((r) => h("option", { value: r, text: r, selected: r === member.role })))
    : h("span", { class: "tag", text: member.role });
  const leaving = member.user_id === session.user;
  const remove = canChange || leaving
    ? confirmButton(leaving ? "Leave" : "Remove", "Really?", () => removeMember(ws, member.user_id, leaving))
    : null;
  return h("tr", { dataset: { user: member.user_id } },
    h("td", { "data-label": "Member", text: member.user_id }),
    h("td", { "data-label": "Role" }, role),
    h("td", { "data-label": "Added", text: `${when(member.added_at)} by ${member.added_by}` }),
    h("td", {}, remove));
}

function addForm(ws) {
  const form = h("form", { class: "row", id: "member-form" },
    h("input", { name: "user_id", required: true, placeholder: "user id", "aria-label": "User id", autocomplete: "off" }),
    h("select", { name: "role", "aria-label": "Role" },
      ROLES.filter((r) => rank(ws.role) >= rank("owner") || r !== "owner")
        .map((r) => h("option", { value: r, text: r }))),
    h("button", { class: "primary" }, "Add member"),
    h("p", { class: "field-error", dataset: { errorFor: "user_id" }, hidden: true }),
    h("p", { class: "field-error", dataset: { errorFor: "form" }, hidden: true }));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearFieldErrors(form);
    const user = form.elements.user_id.value.trim();
    try {
      await api("PUT", `/api/v1/workspaces/${encodeURIComponent(ws.id)}/members/${encodeURIComponent(user)}`,
        { body: { role: form.elements.role.value } });
      toast("Member added");
      loadTeam();
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 422 && showFieldError(form, err.field, err.message))) {
        showFieldError(form, "form", err.message);
      }
    }
  });
  return form;
}

async function setRole(ws, user, role) {
  try {
    await api("PUT", `/api/v1/workspaces/${encodeURIComponent(ws.id)}/members/${encodeURIComponent(user)}`, { body: { role } });
    toast("Role changed");
  } catch (e) {
    toast(e.message, "error");
  }
  await loadWorkspaces();
  loadTeam();
}

async function removeMember(ws, user, leaving) {
  try {
    await api("DELETE", `/api/v1/workspaces/${encodeURIComponent(ws.id)}/members/${encodeURIComponent(user)}`);
  } catch (e) {
    toast(e.message, "error");
    return;
  }
  toast(leaving ? "You left the workspace" : "Member removed");
  if (leaving) choose("personal");
  await loadWorkspaces();
  loadTeam();
}

async function loadAudit(ws) {
  const box = $("#audit");
  let page;
  try {
    page = await api("GET", `/api/v1/workspaces/${encodeURIComponent(ws.id)}/audit`, { query: { limit: 100 } });
  } catch (e) {
    fill(box, h("p", { class: "error", text: e.message }));
    return;
  }
  fill(box,
    h("h3", { text: "Audit log" }),
    h("table", { class: "grid audit" },
      h("thead", {}, h("tr", {}, ["When", "Who", "Via", "Action", "What"].map((t) => h("th", { text: t })))),
      h("tbody", {}, page.records.map((r) => h("tr", {},
        h("td", { "data-label": "When", text: when(r.at) }),
        h("td", { "data-label": "Who", text: r.actor.user_id }),
        h("td", { "data-label": "Via", text: r.actor.via }),
        h("td", { "data-label": "Action", class: "audit-action", text: r.action }),
        h("td", { "data-label": "What", text: `${r.target.type} ${r.target.id}` }))))));
}

export function setUpTeam() {
  const form = $("#workspace-form");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearFieldErrors(form);
    try {
      const ws = await api("POST", "/api/v1/workspaces", { body: { name: form.elements.name.value } });
      form.reset();
      toast("Workspace made");
      await loadWorkspaces();
      choose(ws.id);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 422 && showFieldError(form, err.field, err.message))) {
        showFieldError(form, "form", err.message);
      }
    }
  });
}
