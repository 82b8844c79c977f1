// Ask the AI: the answer streams in as Server-Sent Events (`delta`, then `done` or `error`)
// read from a fetch() body, with links to the snippets it drew on.

import { call } from "./api.js";
import { $, clearFieldErrors, copyButton, fill, h, showFieldError } from "./dom.js";
import { readEvents } from "./sse.js";

let running = null;

export function setUpAssist() {
  const form = $("#assist-form");
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    ask(form);
  });
  form.elements.query.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) form.requestSubmit();
  });
  $("#assist-stop").addEventListener("click", () => running?.abort());
}

async function ask(form) {
  clearFieldErrors(form);
  running?.abort();
  const controller = new AbortController();
  running = controller;
  const answer = $("#answer");
  const meta = $("#answer-meta");
  const refs = $("#answer-refs");
  answer.textContent = "";
  answer.dataset.state = "waiting";
  fill(meta, h("span", { class: "muted", text: "Thinking…" }));
  fill(refs);
  $("#assist-stop").hidden = false;
  try {
    const response = await call("POST", "/api/v1/ai-assist", {
      body: { query: form.elements.query.value, stream: true },
      headers: { Accept: "text/event-stream" },
      signal: controller.signal,
    });
    answer.dataset.state = "streaming";
    for await (const event of readEvents(response)) {
      const data = JSON.parse(event.data);
      if (event.event === "delta") {
        answer.append(document.createTextNode(data.text));
      } else if (event.event === "done") {
        finished(data);
      } else if (event.event === "error") {
        failed(data.detail || "the answer broke off");
      }
    }
    if (answer.dataset.state === "streaming") failed("the answer broke off; ask again");
  } catch (e) {
    if (e.name === "AbortError") {
      answer.dataset.state = "stopped";
      fill(meta, h("span", { class: "muted", text: "Stopped." }));
    } else if (!(e.status === 422 && showFieldError(form, e.field, e.message))) {
      failed(e.message);
    } else {
      fill(meta);
    }
  } finally {
    if (running === controller) running = null;
    $("#assist-stop").hidden = true;
  }
}

function finished(done) {
  const answer = $("#answer");
  answer.textContent = done.response;
  answer.dataset.state = "done";
  const confidence = typeof done.confidence === "number" ? ` · confidence ${Math.round(done.confidence * 100)}%` : "";
  fill($("#answer-meta"),
    h("span", { text: `Answered by ${done.provider}${done.cached ? " (from the answer cache)" : ""}${confidence}` }),
    copyButton("Copy answer", () => done.response));
  const refs = done.references || [];
  fill($("#answer-refs"), refs.length === 0 ? [] : [
    h("h3", { text: "Snippets it used" }),
    h("ul", {}, refs.map((r) => h("li", {},
      h("a", { href: `#/snippets/${encodeURIComponent(r.id)}`, class: "reference", text: r.title || r.id })))),
  ]);
  const suggestions = done.suggestions || [];
  if (suggestions.length) {
    $("#answer-refs").append(h("h3", { text: "Suggestions" }),
      h("ul", {}, suggestions.map((s) => h("li", { text: typeof s === "string" ? s : JSON.stringify(s) }))));
  }
}

function failed(message) {
  $("#answer").dataset.state = "failed";
  fill($("#answer-meta"), h("span", { class: "error", text: message }));
}
