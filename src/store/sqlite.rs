//! The embedded store: one SQLite file, WAL mode, a single writer connection (SQLite allows
//! one writer at a time anyway) and a small pool of readers.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Sqlite, SqlitePool, Transaction};

use super::changes::record_in_sqlite;
use super::group_commit::{BatchWriter, Create, CreateBatcher};
use super::row::{bind_content, into_snippets, json_text, SnippetRow, SNIPPET_COLUMNS};
use super::{text_search, to_micros, SnippetStore, StoreError};
use crate::model::bounds::SEARCH_TOTAL_CAP;
use crate::model::{Change, EventPlan, NewEvent, Recorded};
use crate::model::{JsonObject, ListFilter, Snippet, SnippetPatch};

/// The snippet columns, named unambiguously beside the FTS table's.
const QUALIFIED_COLUMNS: &str = "snippets.id, snippets.title, snippets.code, snippets.language, \
    snippets.tags, snippets.metadata, snippets.description, snippets.created_at, snippets.updated_at";

/// Reader connections. Each holds its own page cache and thread, and reads are CPU-bound, so
/// more readers than a small pod's cores only cost memory.
const READERS: u32 = 2;

/// Most creates in one transaction.
const MAX_BATCH: usize = 256;

/// The file used when `DATABASE_URL` is unset.
pub const DEFAULT_URL: &str = "sqlite://data/pieces.db";

pub struct SqliteStore {
    writer: SqlitePool,
    readers: SqlitePool,
    /// Creates, committed in groups on the writer.
    creates: CreateBatcher,
}

impl SqliteStore {
    pub async fn connect(url: &str, timeout: Duration) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit survives power loss, not just a killed process.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(timeout)
            .foreign_keys(true);
        if let Some(dir) = Path::new(options.get_filename()).parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
                })?;
            }
        }
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(timeout)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(READERS)
            .acquire_timeout(timeout)
            .connect_with(options.read_only(true))
            .await?;
        let creates = CreateBatcher::spawn(writer.clone(), MAX_BATCH);
        Ok(Self {
            writer,
            readers,
            creates,
        })
    }

    /// The reader connections, which the change log is read on.
    pub fn readers(&self) -> &SqlitePool {
        &self.readers
    }

    /// The writer connection, which the outbox queue shares.
    pub fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    async fn fetch_in(
        tx: &mut Transaction<'_, Sqlite>,
        user: &str,
        id: &str,
    ) -> Result<Option<Snippet>, StoreError> {
        let sql = format!("SELECT {SNIPPET_COLUMNS} FROM snippets WHERE user_id = ? AND id = ?");
        let row: Option<SnippetRow> = sqlx::query_as(&sql)
            .bind(user)
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
        row.map(SnippetRow::into_snippet).transpose()
    }

    /// `{head} FROM` the user's snippets matching `filter`, ready for ORDER BY or LIMIT.
    /// A full-text query drives from the FTS index, which yields matches newest first.
    fn select<'a>(
        head: &str,
        user: &'a str,
        filter: &'a ListFilter,
        fts: Option<&'a str>,
    ) -> QueryBuilder<'a, Sqlite> {
        let mut q = QueryBuilder::new(format!("{head} FROM "));
        if let Some(fts) = fts {
            q.push("snippets_fts CROSS JOIN snippets ON snippets.seq = snippets_fts.rowid ")
                .push("WHERE snippets_fts MATCH ")
                .push_bind(fts)
                .push(" AND ");
        } else {
            q.push("snippets WHERE ");
        }
        q.push("snippets.user_id = ").push_bind(user);
        if let Some(language) = &filter.language {
            q.push(" AND snippets.language = ").push_bind(language);
        }
        if let Some(tag) = &filter.tag {
            q.push(" AND EXISTS (SELECT 1 FROM json_each(snippets.tags) WHERE value = ")
                .push_bind(tag)
                .push(")");
        }
        q
    }
}

#[async_trait]
impl BatchWriter<Create> for SqlitePool {
    async fn write_batch(&self, creates: &[Create]) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        for c in creates {
            insert_created(&mut tx, &c.user, &c.snippet, &c.recorded).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl BatchWriter<Recorded> for SqlitePool {
    async fn write_batch(&self, recorded: &[Recorded]) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        for r in recorded {
            record(&mut tx, r).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Inserts a new snippet and its events inside the caller's transaction.
async fn insert_created(
    tx: &mut Transaction<'_, Sqlite>,
    user: &str,
    s: &Snippet,
    recorded: &Recorded,
) -> Result<(), StoreError> {
    bind_content(
        sqlx::query(
            "INSERT INTO snippets (id, user_id, title, code, language, tags, metadata, \
             description, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&s.id)
        .bind(user),
        s,
    )
    .bind(to_micros(s.created_at))
    .bind(to_micros(s.updated_at))
    .execute(&mut **tx)
    .await?;
    record(tx, recorded).await
}

/// Records what a change owes and its stream events inside the caller's transaction.
pub(super) async fn record(
    tx: &mut Transaction<'_, Sqlite>,
    recorded: &Recorded,
) -> Result<(), StoreError> {
    insert_events(tx, &recorded.outbox).await?;
    record_in_sqlite(tx, &recorded.changes).await
}

/// Records events inside the caller's transaction.
async fn insert_events(
    tx: &mut Transaction<'_, Sqlite>,
    events: &[NewEvent],
) -> Result<(), StoreError> {
    for event in events {
        sqlx::query(
            "INSERT INTO outbox (id, target, payload, request_id, next_attempt_at, created_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&event.id)
        .bind(event.target.as_str())
        .bind(json_text(&event.payload))
        .bind(&event.request_id)
        .bind(to_micros(event.created_at))
        .bind(to_micros(event.created_at))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

#[async_trait]
impl SnippetStore for SqliteStore {
    async fn create_snippet(
        &self,
        user: &str,
        s: &Snippet,
        plan: &EventPlan,
    ) -> Result<(), StoreError> {
        self.creates.create(user, s, plan).await
    }

    async fn get_snippet(&self, user: &str, id: &str) -> Result<Option<Snippet>, StoreError> {
        let sql = format!("SELECT {SNIPPET_COLUMNS} FROM snippets WHERE user_id = ? AND id = ?");
        let row: Option<SnippetRow> = sqlx::query_as(&sql)
            .bind(user)
            .bind(id)
            .fetch_optional(&self.readers)
            .await?;
        row.map(SnippetRow::into_snippet).transpose()
    }

    async fn get_snippets(&self, user: &str, ids: &[String]) -> Result<Vec<Snippet>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {SNIPPET_COLUMNS} FROM snippets \
             WHERE id IN (SELECT value FROM json_each(?)) AND +user_id = ?"
        );
        let rows: Vec<SnippetRow> = sqlx::query_as(&sql)
            .bind(serde_json::to_string(ids).unwrap_or_default())
            .bind(user)
            .fetch_all(&self.readers)
            .await?;
        into_snippets(rows)
    }

    async fn list_snippets(
        &self,
        user: &str,
        filter: &ListFilter,
    ) -> Result<(Vec<Snippet>, i64), StoreError> {
        let fts = match &filter.query {
            Some(query) => match text_search::all_words(query, user) {
                Some(fts) => Some(fts),
                None => return Ok((Vec::new(), 0)),
            },
            None => None,
        };
        let unfiltered = fts.is_none() && filter.language.is_none() && filter.tag.is_none();
        let total: i64 = match &fts {
            _ if unfiltered => {
                sqlx::query_scalar(
                    "SELECT COALESCE((SELECT n FROM snippet_counts WHERE user_id = ?), 0)",
                )
                .bind(user)
                .fetch_one(&self.readers)
                .await?
            }
            // The owner token confines the match to the user: the index alone can count. A
            // search stops counting past the cap, so it costs the same for any collection.
            Some(fts) if filter.language.is_none() && filter.tag.is_none() => {
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM (SELECT 1 FROM snippets_fts WHERE snippets_fts MATCH ? \
                     LIMIT ?)",
                )
                .bind(fts)
                .bind(SEARCH_TOTAL_CAP + 1)
                .fetch_one(&self.readers)
                .await?
            }
            Some(_) => {
                let mut count = Self::select(
                    "SELECT COUNT(*) FROM (SELECT 1",
                    user,
                    filter,
                    fts.as_deref(),
                );
                count
                    .push(" LIMIT ")
                    .push_bind(SEARCH_TOTAL_CAP + 1)
                    .push(")");
                count.build_query_scalar().fetch_one(&self.readers).await?
            }
            None => {
                Self::select("SELECT COUNT(*)", user, filter, None)
                    .build_query_scalar()
                    .fetch_one(&self.readers)
                    .await?
            }
        };
        if total <= filter.offset && total <= SEARCH_TOTAL_CAP {
            return Ok((Vec::new(), total));
        }
        let head = format!("SELECT {QUALIFIED_COLUMNS}");
        let mut page = Self::select(&head, user, filter, fts.as_deref());
        // Ordering by the FTS rowid (= seq) lets FTS5 yield matches newest first, no sort.
        let newest_first = if fts.is_some() {
            "snippets_fts.rowid"
        } else {
            "snippets.seq"
        };
        page.push(format!(" ORDER BY {newest_first} DESC LIMIT "))
            .push_bind(filter.limit)
            .push(" OFFSET ")
            .push_bind(filter.offset);
        let rows: Vec<SnippetRow> = page.build_query_as().fetch_all(&self.readers).await?;
        Ok((into_snippets(rows)?, total))
    }

    async fn search_relevant(
        &self,
        user: &str,
        query: &str,
        limit: i64,
    ) -> Result<Vec<Snippet>, StoreError> {
        let Some(fts) = text_search::any_word(query, user) else {
            return Ok(Vec::new());
        };
        let sql = format!(
            "SELECT {SNIPPET_COLUMNS} FROM snippets JOIN \
             (SELECT rowid, bm25(snippets_fts) AS rank FROM snippets_fts WHERE snippets_fts MATCH ?) m \
             ON m.rowid = snippets.seq WHERE user_id = ? ORDER BY m.rank, seq DESC LIMIT ?"
        );
        let rows: Vec<SnippetRow> = sqlx::query_as(&sql)
            .bind(fts)
            .bind(user)
            .bind(limit)
            .fetch_all(&self.readers)
            .await?;
        into_snippets(rows)
    }

    async fn update_snippet(
        &self,
        user: &str,
        id: &str,
        patch: &SnippetPatch,
        now: DateTime<Utc>,
        plan: &EventPlan,
    ) -> Result<Option<Snippet>, StoreError> {
        let mut tx = self.writer.begin().await?;
        let Some(current) = Self::fetch_in(&mut tx, user, id).await? else {
            return Ok(None);
        };
        let s = patch.apply(current, now);
        bind_content(
            sqlx::query(
                "UPDATE snippets SET title = ?, code = ?, language = ?, tags = ?, metadata = ?, \
                 description = ?, updated_at = ? WHERE user_id = ? AND id = ?",
            ),
            &s,
        )
        .bind(to_micros(s.updated_at))
        .bind(user)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let change = Change::Updated {
            code_changed: patch.touches_code(),
        };
        record(&mut tx, &plan.for_snippet(user, &s, change, now)).await?;
        tx.commit().await?;
        Ok(Some(s))
    }

    async fn delete_snippet(
        &self,
        user: &str,
        id: &str,
        now: DateTime<Utc>,
        plan: &EventPlan,
    ) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await?;
        let sql = format!(
            "DELETE FROM snippets WHERE user_id = ? AND id = ? RETURNING {SNIPPET_COLUMNS}"
        );
        let row: Option<SnippetRow> = sqlx::query_as(&sql)
            .bind(user)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        let gone = row.into_snippet()?;
        record(
            &mut tx,
            &plan.for_snippet(user, &gone, Change::Deleted, now),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn merge_metadata(
        &self,
        user: &str,
        id: &str,
        analysis: &JsonObject,
        now: DateTime<Utc>,
        plan: &EventPlan,
    ) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await?;
        let Some(mut s) = Self::fetch_in(&mut tx, user, id).await? else {
            return Ok(false);
        };
        s.metadata.extend(analysis.clone());
        sqlx::query("UPDATE snippets SET metadata = ? WHERE user_id = ? AND id = ?")
            .bind(json_text(&s.metadata))
            .bind(user)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        record(&mut tx, &plan.for_analysis(user, &s, now)).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.readers).await?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }
}
