//! Share links: a read-only view of one snippet, as it is now, for people without an account.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::rules::{whole_number, Checked, ValidationError};

pub const SHARE_DEFAULT_HOURS: u32 = 168;
pub const SHARE_MAX_HOURS: u32 = 8_760;

/// Body of `POST /api/v1/snippets/{id}/shares`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct NewShare {
    /// 1 to 8760, default 168 (a week).
    #[serde(default, deserialize_with = "whole_number")]
    pub expires_in_hours: Option<u32>,
    /// Share even though the code looks like it holds a credential.
    #[serde(default)]
    pub allow_secrets: bool,
}

impl NewShare {
    /// The link's lifetime in hours.
    pub fn hours(&self) -> Checked<u32> {
        let hours = self.expires_in_hours.unwrap_or(SHARE_DEFAULT_HOURS);
        if !(1..=SHARE_MAX_HOURS).contains(&hours) {
            return Err(ValidationError::new(
                "expires_in_hours",
                format!("expires_in_hours must be between 1 and {SHARE_MAX_HOURS}"),
            ));
        }
        Ok(hours)
    }
}

/// A share link as stored: never its key, only the key's hash.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredShare {
    pub id: String,
    pub snippet_id: String,
    /// The stored key of the snippet's workspace when the link was made.
    pub workspace: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub view_count: i64,
}

/// A share link as its makers see it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Share {
    pub id: String,
    /// `/s/<key>`: present only in the answer that made the link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub snippet_id: String,
    pub expires_at: DateTime<Utc>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub view_count: i64,
    /// Present once revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<StoredShare> for Share {
    fn from(s: StoredShare) -> Self {
        Self {
            id: s.id,
            url: None,
            snippet_id: s.snippet_id,
            expires_at: s.expires_at,
            created_by: s.created_by,
            created_at: s.created_at,
            view_count: s.view_count,
            revoked_at: s.revoked_at,
        }
    }
}

/// What a share link shows, and nothing else.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SharedSnippet {
    pub title: String,
    pub description: Option<String>,
    pub language: String,
    pub code: String,
    pub tags: Vec<String>,
    pub updated_at: DateTime<Utc>,
    /// Every file, when the snippet holds several (see `Snippet::files`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<crate::SnippetFile>,
}
