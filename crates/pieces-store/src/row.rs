//! Rows as both databases return them (JSON columns as text), and their conversion.

use std::sync::LazyLock;

use pieces_model::files::{files_column, files_from_column};
use pieces_model::{workspace, Listed, PendingEvent, Snippet, Target};

use super::{from_micros, StoreError};

/// The columns every snippet query selects, in this order.
pub const SNIPPET_COLUMNS: &str = "id, user_id, title, code, language, tags, metadata, \
    description, created_at, updated_at, version, files";

/// The same columns from PostgreSQL, whose JSON columns come back as text so both backends
/// share one row type.
pub const POSTGRES_COLUMNS: &str =
    "id, user_id, title, code, language, tags::text AS tags, metadata::text AS metadata, \
     description, created_at, updated_at, version, files";

/// A row whose code, metadata and description hold more than this many bytes together is
/// left out of a page (`Listed::Deferred`) and read on its own when its turn comes: a page of
/// 100 snippets of a mebibyte each would otherwise be held, and copied, all at once.
pub const INLINE_ROW_BYTES: i64 = 32 * 1024;

/// The columns of a page's rows, qualified by `snippets.` (SQLite, where pages join the FTS
/// and tag tables): a large row's text is replaced by empty values, and `deferred` says so.
/// `octet_length` reads neither SQLite's overflow pages nor the text itself.
pub static LISTED_COLUMNS: LazyLock<String> = LazyLock::new(|| {
    listed(
        "snippets.",
        "octet_length(snippets.code) + octet_length(snippets.metadata) \
         + coalesce(octet_length(snippets.description), 0) \
         + coalesce(octet_length(snippets.files), 0)",
        "snippets.tags",
        "snippets.metadata",
    )
});

/// The same for PostgreSQL: JSON as text, and the sizes as stored (`octet_length` of TOASTed
/// text reads only its header; `pg_column_size` of the metadata is its stored size).
pub static POSTGRES_LISTED_COLUMNS: LazyLock<String> = LazyLock::new(|| {
    listed(
        "",
        "octet_length(code) + pg_column_size(metadata) + coalesce(octet_length(description), 0) \
         + coalesce(octet_length(files), 0)",
        "tags::text",
        "metadata::text",
    )
});

fn listed(table: &str, size: &str, tags: &str, metadata: &str) -> String {
    let small = format!("({size}) <= {INLINE_ROW_BYTES}");
    format!(
        "{table}id AS id, {table}user_id AS user_id, {table}title AS title, \
         CASE WHEN {small} THEN {table}code ELSE '' END AS code, \
         {table}language AS language, {tags} AS tags, \
         CASE WHEN {small} THEN {metadata} ELSE '{{}}' END AS metadata, \
         CASE WHEN {small} THEN {table}description END AS description, \
         {table}created_at AS created_at, {table}updated_at AS updated_at, \
         {table}version AS version, CASE WHEN {small} THEN {table}files END AS files, \
         NOT {small} AS deferred"
    )
}

#[derive(sqlx::FromRow)]
pub struct SnippetRow {
    id: String,
    /// The workspace's stored key.
    user_id: String,
    title: String,
    code: String,
    language: String,
    tags: String,
    metadata: String,
    description: Option<String>,
    created_at: i64,
    updated_at: i64,
    version: i64,
    /// `pieces_model::files::files_column`.
    files: Option<String>,
    /// Set by the listed columns: the text was left out.
    #[sqlx(default)]
    deferred: bool,
}

impl SnippetRow {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The snippet and the stored key of its workspace.
    pub fn into_owned(self) -> Result<(String, Snippet), StoreError> {
        let key = self.user_id.clone();
        Ok((key, self.into_snippet()?))
    }

    pub fn into_snippet(self) -> Result<Snippet, StoreError> {
        let corrupt = |what: &str, e: serde_json::Error| {
            StoreError::Corrupt(format!("snippet {} {what}: {e}", self.id))
        };
        let files = match &self.files {
            Some(column) => {
                files_from_column(column, &self.code).map_err(|e| corrupt("files", e))?
            }
            None => Vec::new(),
        };
        Ok(Snippet {
            files,
            version: self.version,
            tags: serde_json::from_str(&self.tags).map_err(|e| corrupt("tags", e))?,
            metadata: serde_json::from_str(&self.metadata).map_err(|e| corrupt("metadata", e))?,
            created_at: from_micros(self.created_at)?,
            updated_at: from_micros(self.updated_at)?,
            workspace: workspace::api_id(&self.user_id).to_owned(),
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

impl SnippetRow {
    /// The row as a page holds it (read with the listed columns).
    pub fn into_listed(self) -> Result<Listed, StoreError> {
        let deferred = self.deferred;
        let snippet = self.into_snippet()?;
        Ok(if deferred {
            Listed::Deferred(snippet)
        } else {
            Listed::Whole(snippet)
        })
    }
}

pub fn into_listed(rows: Vec<SnippetRow>) -> Result<Vec<Listed>, StoreError> {
    rows.into_iter().map(SnippetRow::into_listed).collect()
}

/// Payloads larger than this are left out of a claim and read when their delivery starts.
pub const INLINE_PAYLOAD_BYTES: i64 = 64 * 1024;

#[derive(sqlx::FromRow)]
pub struct EventRow {
    id: String,
    target: String,
    /// None when larger than `INLINE_PAYLOAD_BYTES`.
    payload: Option<String>,
    size: i64,
    request_id: String,
    attempts: i32,
    created_at: i64,
}

impl EventRow {
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn into_event(self) -> Result<PendingEvent, StoreError> {
        Ok(PendingEvent {
            target: Target::parse(&self.target).ok_or_else(|| {
                StoreError::Corrupt(format!("unknown outbox target {:?}", self.target))
            })?,
            created_at: from_micros(self.created_at)?,
            id: self.id,
            payload: self.payload,
            size: usize::try_from(self.size).unwrap_or(usize::MAX),
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
    Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    statement
        .bind(s.title.as_str())
        .bind(s.code.as_str())
        .bind(s.language.as_str())
        .bind(json_text(&s.tags))
        .bind(json_text(&s.metadata))
        .bind(s.description.as_deref())
        .bind(files_column(&s.files))
}
