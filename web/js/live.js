// The change stream (`GET /api/v1/events`, Server-Sent Events read through fetch so the
// request carries the token): changes made anywhere else show here without a reload. It
// resumes from the last event it saw, so none is missed across a reconnect.

import { call } from "./api.js";
import { $ } from "./dom.js";
import { readEvents } from "./sse.js";

const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 30_000;

let controller = null;
let lastId = null;

/** Follows the stream until `stop()`, calling `onEvent({id, type, at, data})` for each
 * change, and `{type: "reset"}` when the list must be read again. */
export function follow(onEvent) {
  stop();
  const mine = new AbortController();
  controller = mine;
  run(mine, onEvent);
}

export function stop() {
  controller?.abort();
  controller = null;
  indicator("off");
}

async function run(mine, onEvent) {
  let wait = RETRY_MIN_MS;
  while (!mine.signal.aborted) {
    try {
      const headers = lastId ? { "Last-Event-ID": lastId } : {};
      const response = await call("GET", "/api/v1/events", { headers, signal: mine.signal });
      indicator("on");
      wait = RETRY_MIN_MS;
      for await (const event of readEvents(response)) {
        if (event.id) lastId = event.id;
        onEvent(JSON.parse(event.data));
      }
    } catch (e) {
      if (mine.signal.aborted) return;
      // Without the scope to read snippets there is nothing to follow.
      if (e.status === 403 || e.status === 401) {
        indicator("off");
        return;
      }
    }
    if (mine.signal.aborted) return;
    indicator("retrying");
    await new Promise((resolve) => setTimeout(resolve, wait));
    wait = Math.min(wait * 2, RETRY_MAX_MS);
  }
}

function indicator(state) {
  const el = $("#live");
  el.dataset.state = state;
  el.title = { on: "Live: changes made elsewhere appear here", retrying: "Reconnecting to the change stream…", off: "Not following changes" }[state];
}
