//! Text renderings of tool results, for clients that show text rather than structure.

use serde_json::{json, Value};

use crate::model::SnippetPage;

/// A page of search results, each with its code.
pub fn search(page: &SnippetPage) -> (Value, String) {
    let snippets: Vec<Value> = page
        .snippets
        .iter()
        .map(|s| {
            json!({"id": s.id, "title": s.title, "language": s.language, "tags": s.tags,
                "description": s.description, "code": s.code})
        })
        .collect();
    let mut text = format!("{} of {} matching snippets", snippets.len(), page.total);
    for s in &snippets {
        text.push_str("\n\n");
        text.push_str(&snippet(s));
    }
    let mut structured = json!({"snippets": snippets, "total": page.total});
    if let Some(mode) = page.mode {
        structured["mode"] = json!(mode.as_str());
    }
    (structured, text)
}

/// One snippet: its title, language, id and code.
pub fn snippet(s: &Value) -> String {
    let text = |key: &str| s[key].as_str().unwrap_or_default().to_owned();
    format!(
        "{} ({}, id {})\n```{}\n{}\n```",
        text("title"),
        text("language"),
        text("id"),
        text("language"),
        text("code")
    )
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
