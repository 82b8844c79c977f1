//! The trash: a deleted snippet kept, whole and with its history, until it is restored or
//! erased (by hand, or `TRASH_RETENTION_DAYS` after its deletion).

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// A snippet in the trash, as its listing shows it: everything but the code, whose size it
/// gives (a page of the trash holds no large text).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TrashedSnippet {
    pub id: String,
    /// `personal`, or the team workspace's id.
    pub workspace: String,
    pub title: String,
    pub language: String,
    pub tags: Vec<String>,
    pub description: Option<String>,
    /// The version it was deleted at.
    pub version: i64,
    /// The code's size in bytes.
    pub code_bytes: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: DateTime<Utc>,
    /// Who deleted it; null where not known.
    pub deleted_by: Option<String>,
}

/// Answer of `GET /api/v1/trash`: the most recently deleted first.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrashPage {
    pub snippets: Vec<TrashedSnippet>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}
