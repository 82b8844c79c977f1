//! Imports from other tools, run as jobs that a client follows (`/api/v1/imports`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A job keeps at most this many entry errors; `failed` still counts them all.
pub const IMPORT_ERRORS_KEPT: usize = 1_000;

/// What an import file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ImportFormat {
    /// This service's own export (JSON lines).
    Json,
    /// The GitHub Gists API's JSON: one gist, or a list.
    Gist,
    /// A VS Code snippet file (`.code-snippets`, or a language's `<id>.json`).
    Vscode,
    /// ByteStash's JSON export.
    Bytestash,
    /// massCode's `db.json`.
    Masscode,
    /// A Pieces asset record, or an `Assets` collection.
    Pieces,
}

impl ImportFormat {
    pub const ALL: [ImportFormat; 6] = [
        Self::Json,
        Self::Gist,
        Self::Vscode,
        Self::Bytestash,
        Self::Masscode,
        Self::Pieces,
    ];

    pub fn parse(s: &str) -> Option<ImportFormat> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Gist => "gist",
            Self::Vscode => "vscode",
            Self::Bytestash => "bytestash",
            Self::Masscode => "masscode",
            Self::Pieces => "pieces",
        }
    }
}

impl std::str::FromStr for ImportFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<ImportFormat, String> {
        ImportFormat::parse(s).ok_or_else(|| {
            let known: Vec<&str> = ImportFormat::ALL.iter().map(|f| f.as_str()).collect();
            format!(
                "unknown import format `{s}`: expected one of {}",
                known.join(", ")
            )
        })
    }
}

impl std::fmt::Display for ImportFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Query of `POST /api/v1/imports`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    #[param(inline)]
    pub format: ImportFormat,
    /// Where the snippets go: `personal` (default) or a team workspace's id.
    pub workspace: Option<String>,
    /// Reports what the import would do and saves nothing.
    pub dry_run: Option<bool>,
    /// The language of a VS Code language snippet file (`go.json`), which its body does not
    /// name.
    pub language: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ImportStatus {
    /// Entries are being read and saved.
    Running,
    /// Every entry was read: `created`, `skipped` and `failed` say what became of each.
    Done,
    /// It stopped before the end (the service restarted, or the store failed): importing the
    /// same file again saves the rest and skips what was saved.
    Interrupted,
}

impl ImportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Done => "done",
            Self::Interrupted => "interrupted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "running" => Some(Self::Running),
            "done" => Some(Self::Done),
            "interrupted" => Some(Self::Interrupted),
            _ => None,
        }
    }
}

/// An entry that was not saved, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ImportProblem {
    /// The entry's position in the file, from 0.
    pub entry: u64,
    /// The field at fault, when one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub detail: String,
}

/// An import, as `GET /api/v1/imports/{id}` answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ImportJob {
    pub id: String,
    pub status: ImportStatus,
    pub format: String,
    pub workspace: String,
    pub dry_run: bool,
    /// Entries in the file.
    pub total: u64,
    /// Entries read so far.
    pub done: u64,
    /// Entries saved (with `dry_run`, that would be saved).
    pub created: u64,
    /// Entries already imported before (or in the source's own trash), left alone.
    pub skipped: u64,
    /// Entries refused: the first `IMPORT_ERRORS_KEPT` are in `errors`.
    pub failed: u64,
    pub errors: Vec<ImportProblem>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ImportJob {
    /// Counts a refused entry, keeping its error while there is room.
    pub fn refuse(&mut self, problem: ImportProblem) {
        self.failed += 1;
        if self.errors.len() < IMPORT_ERRORS_KEPT {
            self.errors.push(problem);
        }
    }
}

/// What `GET /api/v1/export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// JSON lines, one snippet per line, as the API shows it (lossless; what `json` imports).
    Json,
    /// A zip of Markdown files, one per snippet, in a folder per workspace.
    Markdown,
    /// A VS Code `.code-snippets` file, one snippet per file of each snippet.
    Vscode,
}

impl ExportFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/x-ndjson",
            Self::Markdown => "application/zip",
            Self::Vscode => "application/json",
        }
    }

    pub fn file_name(self) -> &'static str {
        match self {
            Self::Json => "snippets.jsonl",
            Self::Markdown => "snippets.zip",
            Self::Vscode => "snippets.code-snippets",
        }
    }
}

/// Query of `GET /api/v1/export`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// `personal` (default), a team workspace's id, or `all` for every one the caller reads.
    pub workspace: Option<String>,
    /// `json` (default), `markdown` or `vscode`.
    #[param(inline)]
    pub format: Option<ExportFormat>,
    /// With `json`: after each snippet, a line per older version it keeps
    /// (`{"kind": "version", ...}`); the other formats hold current versions only.
    pub history: Option<bool>,
}

/// A line of a `json` export with history: an older version of the snippet before it.
#[derive(Debug, Serialize)]
pub struct VersionLine<'a> {
    pub kind: &'static str,
    pub snippet_id: &'a str,
    pub version: i64,
    pub at: DateTime<Utc>,
    pub actor: Option<&'a str>,
    pub changed: &'a [String],
    pub snippet: &'a crate::Snippet,
}
