//! Text renderings of tool results, for clients that show text rather than structure.

use serde_json::{json, Value};

use pieces_model::Snippet;

/// A search result's code is cut after this many bytes (the whole snippet is one
/// `get_snippet` away): results go into an agent's context window, and a page of 50
/// snippets of a mebibyte each would be 50 MiB of it, held several times over to answer.
pub const SEARCH_CODE_MAX_BYTES: usize = 8 * 1024;

/// A snippet as a search result: its code cut to `SEARCH_CODE_MAX_BYTES`, and then marked
/// with `code_truncated` and the whole code's `code_bytes`.
pub fn found(snippet: Snippet) -> Value {
    let bytes = snippet.code.len();
    let mut code = snippet.code;
    let cut = bytes > SEARCH_CODE_MAX_BYTES;
    if cut {
        let mut end = SEARCH_CODE_MAX_BYTES;
        while !code.is_char_boundary(end) {
            end -= 1;
        }
        code.truncate(end);
    }
    let mut item = json!({"id": snippet.id, "title": snippet.title, "language": snippet.language,
        "tags": snippet.tags, "description": snippet.description, "code": code,
        "workspace": snippet.workspace});
    if cut {
        item["code_truncated"] = json!(true);
        item["code_bytes"] = json!(bytes);
    }
    // A snippet of several files: which they are (`code` is the first); get_snippet has all.
    if !snippet.files.is_empty() {
        item["files"] = snippet
            .files
            .iter()
            .map(|f| json!({"name": f.name, "language": f.language, "code_bytes": f.code.len()}))
            .collect();
    }
    item
}

/// A page of search results, each made by `found`.
pub fn search(found: Vec<Value>, total: i64, mode: Option<&str>) -> (Value, String) {
    let mut text = format!("{} of {} matching snippets", found.len(), total);
    for s in &found {
        text.push_str("\n\n");
        text.push_str(&snippet(s));
        if s["code_truncated"] == json!(true) {
            text.push_str("\n(the code is cut here; get_snippet returns all of it)");
        }
    }
    let mut structured = json!({"snippets": found, "total": total});
    if let Some(mode) = mode {
        structured["mode"] = json!(mode);
    }
    (structured, text)
}

/// One snippet: its title, language, id and code (each file under its name, when the
/// snippet holds several and they are given whole).
pub fn snippet(s: &Value) -> String {
    let text = |key: &str| s[key].as_str().unwrap_or_default();
    let code = text("code");
    let mut out = String::with_capacity(code.len() + 128);
    out.push_str(text("title"));
    out.push_str(" (");
    out.push_str(text("language"));
    out.push_str(", id ");
    out.push_str(text("id"));
    out.push(')');
    let whole_files = s["files"]
        .as_array()
        .filter(|files| files.iter().all(|f| f["code"].is_string()));
    match whole_files {
        Some(files) => {
            for f in files {
                let field = |key: &str| f[key].as_str().unwrap_or_default();
                out.push_str(&format!(
                    "\n\n{}:\n```{}\n",
                    field("name"),
                    field("language")
                ));
                out.push_str(field("code"));
                out.push_str("\n```");
            }
        }
        None => {
            out.push_str("\n```");
            out.push_str(text("language"));
            out.push('\n');
            out.push_str(code);
            out.push_str("\n```");
        }
    }
    out
}

/// A workflow context: its type and session, then its data.
pub fn context(c: &Value) -> String {
    format!(
        "{} in session {} at {}: {}",
        c["context_type"].as_str().unwrap_or_default(),
        c["session_id"].as_str().unwrap_or_default(),
        c["timestamp"].as_str().unwrap_or_default(),
        c["context_data"]
    )
}

/// Related snippets as lines, most related first: title, language, how related, id.
pub fn related(page: &pieces_model::related::RelatedPage) -> String {
    if page.snippets.is_empty() {
        return "no related snippets".to_owned();
    }
    page.snippets
        .iter()
        .map(|r| {
            let mut why = Vec::new();
            if let Some(similarity) = r.similarity {
                why.push(format!("similarity {similarity:.2}"));
            }
            if !r.shared_tags.is_empty() {
                why.push(format!("tags {}", r.shared_tags.join(", ")));
            }
            format!("{} ({}), {}: {}", r.title, r.language, why.join("; "), r.id)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The workspaces as lines: name, id and the caller's role.
pub fn workspaces(workspaces: &[pieces_model::workspace::Workspace]) -> String {
    workspaces
        .iter()
        .map(|w| format!("{} ({}): {}", w.name, w.id, w.role.as_str()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A snippet's versions, one line each: when, who, what changed.
pub fn versions(page: &pieces_model::history::VersionPage) -> String {
    let mut lines: Vec<String> = page
        .versions
        .iter()
        .map(|v| {
            let changed = if v.changed.is_empty() {
                "first version".to_owned()
            } else {
                v.changed.join(", ")
            };
            let who = v.actor.as_deref().unwrap_or("the service");
            format!(
                "version {} at {} by {who}: {changed}",
                v.version,
                v.at.to_rfc3339()
            )
        })
        .collect();
    lines.push(format!("{} versions kept", page.total));
    lines.join("\n")
}
