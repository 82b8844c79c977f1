//! Request bodies the client sends whose `pieces-model` types are read only by the service
//! (`NewSnippet`, `SnippetPatch`, `AssistRequest` and `NewShare` refuse `null` for absent
//! fields, so the client writes its own, leaving absent ones out), and the two answers the
//! model does not name. Every other answer is read into the model's own type.

use pieces_model::{Snippet, SnippetFile};
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
