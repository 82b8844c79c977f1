// The snippets related to the one shown: nearest in meaning and sharing its tags, each a link.

import { api } from "./api.js";
import { fill, h } from "./dom.js";

/** A "Related" section for snippet `id`, filled once the service answers. */
export function relatedSection(id) {
  const list = h("ul", { class: "related-list" });
  const section = h("section", { id: "related", class: "related", hidden: true },
    h("h3", { text: "Related" }), list);
  load(id, section, list);
  return section;
}

async function load(id, section, list) {
  let page;
  try {
    page = await api("GET", `/api/v1/snippets/${encodeURIComponent(id)}/related?limit=5`);
  } catch {
    return; // Related snippets are a help, not the snippet: the view stays as it is.
  }
  if (!page.snippets.length) return;
  fill(list, page.snippets.map((r) => h("li", {},
    h("a", { href: `#/snippets/${encodeURIComponent(r.id)}`, text: r.title }),
    h("span", { class: "lang", text: r.language }),
    h("span", { class: "muted", text: why(r) }))));
  section.hidden = false;
}

/** Why it is related, in a few words. */
function why(related) {
  const reasons = [];
  if (related.similarity !== null) reasons.push(`${Math.round(related.similarity * 100)}% alike`);
  if (related.shared_tags.length) reasons.push(`tags: ${related.shared_tags.join(", ")}`);
  return reasons.join(" · ");
}
