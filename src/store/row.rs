//! Rows as both databases return them (JSON columns as text), and their conversion.

use crate::model::{PendingEvent, Snippet, Target};

use super::{from_micros, StoreError};

/// The columns every snippet query selects, in this order.
pub const SNIPPET_COLUMNS: &str =
    "id, title, code, language, tags, metadata, description, created_at, updated_at";

/// The same columns from PostgreSQL, whose JSON columns come back as text so both backends
/// share one row type.
pub const POSTGRES_COLUMNS: &str =
    "id, title, code, language, tags::text AS tags, metadata::text AS metadata, description, \
     created_at, updated_at";

#[derive(sqlx::FromRow)]
pub struct SnippetRow {
    id: String,
    title: String,
    code: String,
    language: String,
    tags: String,
    metadata: String,
    description: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl SnippetRow {
    pub fn into_snippet(self) -> Result<Snippet, StoreError> {
        let corrupt = |what: &str, e: serde_json::Error| {
            StoreError::Corrupt(format!("snippet {} {what}: {e}", self.id))
        };
        Ok(Snippet {
            tags: serde_json::from_str(&self.tags).map_err(|e| corrupt("tags", e))?,
            metadata: serde_json::from_str(&self.metadata).map_err(|e| corrupt("metadata", e))?,
            created_at: from_micros(self.created_at)?,
            updated_at: from_micros(self.updated_at)?,
            id: self.id,
            title: self.title,
            code: self.code,
            language: self.language,
            description: self.description,
        })
    }
}

pub fn into_snippets(rows: Vec<SnippetRow>) -> Result<Vec<Snippet>, StoreError> {
    rows.into_iter().map(SnippetRow::into_snippet).collect()
}

#[derive(sqlx::FromRow)]
pub struct EventRow {
    id: String,
    target: String,
    payload: String,
    request_id: String,
    attempts: i32,
    created_at: i64,
}

impl EventRow {
    pub fn into_event(self) -> Result<PendingEvent, StoreError> {
        Ok(PendingEvent {
            target: Target::parse(&self.target).ok_or_else(|| {
                StoreError::Corrupt(format!("unknown outbox target {:?}", self.target))
            })?,
            created_at: from_micros(self.created_at)?,
            id: self.id,
            payload: self.payload,
            request_id: self.request_id,
            attempts: self.attempts,
        })
    }
}

/// JSON text of a value that is known to serialize.
pub fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

/// A statement under construction, on either database.
type Statement<'q, DB> = sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>;

/// Binds the fields a user edits, in the order every INSERT and UPDATE lists them:
/// title, code, language, tags, metadata, description.
pub fn bind_content<'q, DB>(statement: Statement<'q, DB>, s: &'q Snippet) -> Statement<'q, DB>
where
    DB: sqlx::Database,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    statement
        .bind(s.title.as_str())
        .bind(s.code.as_str())
        .bind(s.language.as_str())
        .bind(json_text(&s.tags))
        .bind(json_text(&s.metadata))
        .bind(s.description.as_deref())
}
