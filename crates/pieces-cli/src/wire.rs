//! Request bodies and answers that `pieces-model` declares for one direction only (the
//! service reads `NewSnippet`, `SnippetPatch`, `AssistRequest` and `NewShare` and writes
//! `SnippetPage`, `Share` and `VersionPage`): the client's side of the same JSON. `Snippet`,
//! `SnippetFile`, `AssistAnswer` and `ImportJob` go both ways and are used as they are.

use chrono::{DateTime, Utc};
use pieces_model::{SearchMode, Snippet, SnippetFile};
use serde::{Deserialize, Serialize};

/// Body of `POST /api/v1/snippets`: `code` and `language`, or `files` (never both).
#[derive(Debug, Serialize)]
pub struct NewSnippet {
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// Every file, the first becoming `code` and `language`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<SnippetFile>>,
}

/// Answer of a create.
#[derive(Debug, Deserialize)]
pub struct Stored {
    pub snippet_id: String,
    pub snippet: Snippet,
}

/// Body of an edit through `pcn edit`.
#[derive(Debug, Serialize)]
pub struct CodePatch<'a> {
    pub code: &'a str,
}

/// One page of a listing or search.
#[derive(Debug, Deserialize)]
pub struct Page {
    pub snippets: Vec<Snippet>,
    pub total: i64,
    #[serde(default)]
    pub total_capped: bool,
    #[serde(default)]
    pub mode: Option<SearchMode>,
}

/// Body of `POST /api/v1/ai-assist`, always asking for the answer as it is produced.
#[derive(Debug, Serialize)]
pub struct Question {
    pub query: String,
    pub stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspaces: Option<Vec<String>>,
}

/// A streamed answer's `delta` event.
#[derive(Debug, Deserialize)]
pub struct Delta {
    pub text: String,
}

/// Body of `POST /api/v1/snippets/{id}/shares`.
#[derive(Debug, Serialize)]
pub struct NewShare {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in_hours: Option<u32>,
    pub allow_secrets: bool,
}

/// A share link just made: its `url` (`/s/<key>`) is shown this once.
#[derive(Debug, Deserialize)]
pub struct ShareMade {
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// Answer of `GET /api/v1/snippets/{id}/versions`, newest first.
#[derive(Debug, Deserialize)]
pub struct VersionPage {
    pub versions: Vec<VersionEntry>,
    pub total: i64,
}

#[derive(Debug, Deserialize)]
pub struct VersionEntry {
    pub version: i64,
    pub at: DateTime<Utc>,
    pub actor: Option<String>,
    pub changed: Vec<String>,
}
