// The workflow context: what the user is working on now, shown and editable.

import { api, ApiError } from "./api.js";
import { $, clearFieldErrors, fill, h, showFieldError, toast, when } from "./dom.js";

export async function loadContext() {
  const view = $("#context-current");
  try {
    show(await api("GET", "/api/v1/workflow-context"));
  } catch (e) {
    if (e.status === 404) {
      fill(view, h("p", { class: "muted", text: "No workflow context is live. Set one below; it lasts an hour." }));
    } else {
      fill(view, h("p", { class: "error", text: e.message }));
    }
  }
}

/** Shows a context (also one that arrives from the change stream). */
export function show(context) {
  fill($("#context-current"),
    h("dl", { class: "facts" },
      h("dt", { text: "Session" }), h("dd", { text: context.session_id }),
      h("dt", { text: "Type" }), h("dd", { text: context.context_type }),
      h("dt", { text: "Since" }), h("dd", { text: when(context.timestamp) })),
    h("pre", { class: "json", text: JSON.stringify(context.context_data, null, 2) }));
  const form = $("#context-form");
  if (!form.contains(document.activeElement)) {
    form.elements.session_id.value = context.session_id;
    form.elements.context_type.value = context.context_type;
    form.elements.context_data.value = JSON.stringify(context.context_data, null, 2);
  }
}

export function setUpContext() {
  const form = $("#context-form");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearFieldErrors(form);
    let data;
    try {
      data = JSON.parse(form.elements.context_data.value || "{}");
    } catch (err) {
      showFieldError(form, "context_data", `context_data is not valid JSON: ${err.message}`);
      return;
    }
    const body = {
      session_id: form.elements.session_id.value,
      context_type: form.elements.context_type.value,
      context_data: data,
    };
    try {
      const answer = await api("POST", "/api/v1/workflow-context", { body });
      show(answer.context);
      toast("Context saved");
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 422 && showFieldError(form, err.field, err.message))) {
        showFieldError(form, "form", err.message);
      }
    }
  });
}
