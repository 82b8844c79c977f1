// Import and export, in a dialog: a file of another tool's snippets (or of this service's
// own export) sent as it is, its job followed with a progress bar and the entries it could
// not save listed; and the chosen workspace downloaded in one of three formats.

import { api, call } from "./api.js";
import { $, fill, h, toast } from "./dom.js";
import { loadList } from "./snippets.js";
import { workspaces } from "./workspaces.js";

/** How often a running import is asked for its progress. */
const POLL_MS = 400;

export function setUpTransfer() {
  $("#transfer-open").addEventListener("click", () => {
    $("#transfer-dialog").showModal();
  });
  $("#transfer-close").addEventListener("click", () => $("#transfer-dialog").close());
  $("#import-form").addEventListener("submit", (e) => {
    e.preventDefault();
    start();
  });
  $("#export-form").addEventListener("submit", (e) => {
    e.preventDefault();
    download($("#export-format").value);
  });
}

async function start() {
  const file = $("#import-file").files[0];
  if (!file) return;
  const format = $("#import-format").value;
  const query = { format, workspace: workspaces.current, dry_run: $("#import-dry").checked };
  // A VS Code language file (`go.json`) names its language only in its file name.
  const language = /^([a-z0-9_+-]+)\.json$/i.exec(file.name);
  if (format === "vscode" && language) query.language = language[1].toLowerCase();
  $("#import-job").hidden = false;
  fill($("#import-errors"));
  let job;
  try {
    job = await api("POST", "/api/v1/imports", { raw: file, query });
  } catch (e) {
    show({ status: "refused", total: 0, done: 0, created: 0, skipped: 0, failed: 0, errors: [] }, e.message);
    return;
  }
  while (true) {
    show(job);
    if (job.status !== "running") break;
    await new Promise((r) => setTimeout(r, POLL_MS));
    try {
      job = await api("GET", `/api/v1/imports/${encodeURIComponent(job.id)}`);
    } catch (e) {
      show(job, e.message);
      return;
    }
  }
  if (!job.dry_run && job.created > 0) loadList();
  toast(job.status === "done" ? "Import finished" : `Import ${job.status}`);
}

/** The job's progress, its counts and the entries it refused. */
function show(job, problem) {
  const bar = $("#import-progress");
  bar.max = Math.max(job.total, 1);
  bar.value = job.status === "running" ? job.done : bar.max;
  const saved = job.dry_run ? "would be created" : "created";
  $("#import-status").textContent = problem
    ?? `${job.status === "running" ? "Importing" : job.status === "done" ? "Done" : "Stopped"}: `
      + `${job.done} of ${job.total} read, ${job.created} ${saved}, ${job.skipped} skipped, ${job.failed} failed`;
  $("#import-status").className = problem ? "error" : "";
  fill($("#import-errors"), job.errors.map((e) =>
    h("li", { text: `entry ${e.entry}${e.field ? ` (${e.field})` : ""}: ${e.detail}` })));
}

async function download(format) {
  let response;
  try {
    response = await call("GET", "/api/v1/export", { query: { format, workspace: workspaces.current } });
  } catch (e) {
    toast(e.message, "error");
    return;
  }
  const name = /filename="([^"]+)"/.exec(response.headers.get("content-disposition") ?? "")?.[1] ?? "snippets";
  const url = URL.createObjectURL(await response.blob());
  const link = h("a", { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
