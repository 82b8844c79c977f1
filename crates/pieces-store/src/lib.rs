//! The durable store: snippets, and the outbox of events owed to other services. One trait
//! each, one implementation per database, chosen once at start-up.

mod audit;
pub mod backup;
mod changes;
mod contexts;
mod embeddings;
mod error;
pub mod feed;
mod group_commit;
mod history;
mod imports;
mod merged_pages;
mod outbox_queue;
mod postgres;
mod postgres_insert;
mod postgres_pages;
mod row;
mod shares;
mod sqlite;
mod sqlite_across;
mod text_search;
mod tokens;
mod trash;
mod walk;
mod workspaces;

pub use audit::AuditLog;
pub use changes::{ChangeLog, ReadBound, StreamPosition};
pub use contexts::ContextStore;
pub use embeddings::{EmbeddingStore, IndexEntry, NewEmbedding};
pub use error::StoreError;
pub use history::{History, HistoryStore, Keeping, Rows};
pub use imports::ImportJobs;
pub use outbox_queue::{OutboxQueue, OutboxStats};
pub use pieces_model::bus::{ChangeFeed, FeedMessage};
pub use postgres::PostgresStore;
pub use shares::ShareStore;
pub use sqlite::SqliteStore;
pub use tokens::TokenStore;
pub use trash::{PostgresTrash, SqliteTrash, TrashStore};
pub use walk::SnippetWalk;
pub use workspaces::{
    MemberChange, MemberRule, PostgresWorkspaces, SqliteWorkspaces, WorkspaceDeletion,
    WorkspaceStore,
};

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use outbox_queue::BatchedOutbox;
use pieces_metrics::Metrics;
use pieces_model::EventPlan;
use pieces_model::{Expected, JsonObject, ListFilter, Listed, Snippet, SnippetPatch};

/// Where an update leaves a snippet, and which version it must find.
#[derive(Debug, Clone, Copy, Default)]
pub struct Conditions<'a> {
    /// Moves the snippet to this workspace.
    pub move_to: Option<&'a str>,
    /// Changes it only at this version (`If-Match`).
    pub expected: Option<Expected>,
}

/// What a deletion does with the snippet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// Moves it to the trash with its history, to be restored or erased later.
    ToTrash,
    /// Erases it at once, and what else holds its text (its history, the stream's kept
    /// events, the outbox's pending payloads, its share links).
    Erase,
}

/// What a write that may name the version it expects found.
#[derive(Debug)]
pub enum Written<T> {
    Done(T),
    /// No such snippet there.
    Missing,
    /// The snippet is at another version than expected, as it is now: nothing changed.
    Stale(Box<Snippet>),
}

/// What `SnippetStore::text_ranking` answers.
#[derive(Debug, Default)]
pub struct TextRanking {
    /// The newest matches, newest first, at most the window asked.
    pub window: Vec<String>,
    /// How many match, up to `SEARCH_TOTAL_CAP` and one more.
    pub counted: i64,
    /// Every other match, newest first, when the store read them (and there are no more
    /// than the cap); None when it did not.
    pub past: Option<Vec<String>>,
}

impl TextRanking {
    /// The window alone, read as a page of `matching_ids`.
    pub async fn window_only(
        store: &(impl SnippetStore + ?Sized),
        keys: &[String],
        filter: &ListFilter,
        window: i64,
    ) -> Result<Self, StoreError> {
        let window = ListFilter {
            limit: window,
            offset: 0,
            ..filter.clone()
        };
        let (window, counted) = store.matching_ids(keys, &window).await?;
        Ok(Self {
            window,
            counted,
            past: None,
        })
    }
}

#[async_trait]
pub trait SnippetStore: Send + Sync {
    /// Stores a new snippet and its events in one transaction.
    async fn create_snippet(
        &self,
        user: &str,
        snippet: &Snippet,
        plan: &EventPlan,
    ) -> Result<(), StoreError>;

    async fn get_snippet(&self, user: &str, id: &str) -> Result<Option<Snippet>, StoreError>;

    /// The snippet with this id in whatever workspace holds it, with that workspace's key:
    /// the caller checks who may see it.
    async fn find_snippet(&self, id: &str) -> Result<Option<(String, Snippet)>, StoreError>;

    /// The key of the workspace holding the snippet with this id.
    async fn snippet_workspace(&self, id: &str) -> Result<Option<String>, StoreError>;

    /// Those of `ids` that are the user's snippets, whole, in no particular order.
    async fn get_snippets(&self, user: &str, ids: &[String]) -> Result<Vec<Snippet>, StoreError>;

    /// Those of `ids` that are snippets of the workspaces `keys`, as a page holds them (large
    /// ones deferred), in no particular order.
    async fn listed_by_ids(
        &self,
        keys: &[String],
        ids: &[String],
    ) -> Result<Vec<Listed>, StoreError>;

    /// One page of the snippets of the workspaces `keys` (one, or all a caller can read),
    /// newest first across them (large ones deferred), and the total matching the filter:
    /// exact without one; with a query, a language or a tag, counted only up to
    /// `SEARCH_TOTAL_CAP + 1` per workspace, so a filter costs the same for any collection.
    async fn list_snippets(
        &self,
        keys: &[String],
        filter: &ListFilter,
    ) -> Result<(Vec<Listed>, i64), StoreError>;

    /// The ids of the page `list_snippets` would answer, and the same total.
    async fn matching_ids(
        &self,
        keys: &[String],
        filter: &ListFilter,
    ) -> Result<(Vec<String>, i64), StoreError>;

    /// A text search's ranking as hybrid search fuses it: the `window` newest matches of
    /// `filter` (its query, language and tag; not its page), and how many match, up to the
    /// cap and one more. A store that finds every match about as cheaply as it counts them
    /// also answers the rest, so no second query asks which other snippets match.
    async fn text_ranking(
        &self,
        keys: &[String],
        filter: &ListFilter,
        window: i64,
    ) -> Result<TextRanking, StoreError> {
        TextRanking::window_only(self, keys, filter, window).await
    }

    /// Those of `ids` that are snippets of the workspaces `keys` and match `filter` (its
    /// query, language and tag), in no particular order.
    async fn matching_among(
        &self,
        keys: &[String],
        filter: &ListFilter,
        ids: &[String],
    ) -> Result<Vec<String>, StoreError>;

    /// The ids of up to `limit` snippets matching any word of `query`, best match first.
    async fn relevant_ids(
        &self,
        user: &str,
        query: &str,
        limit: i64,
    ) -> Result<Vec<String>, StoreError>;

    /// Applies a validated patch and records its events in one transaction; with `move_to`,
    /// the snippet also moves to that workspace, its embedding, tags and counts with it. With
    /// `expected`, only a snippet at that version changes: the check and the write are one
    /// transaction holding the row, so of two writers expecting the same version one wins.
    async fn update_snippet(
        &self,
        user: &str,
        id: &str,
        patch: &SnippetPatch,
        change: Conditions<'_>,
        now: DateTime<Utc>,
        plan: &EventPlan,
    ) -> Result<Written<Snippet>, StoreError>;

    /// Deletes a snippet, to the trash or for good (only at the `expected` version, if
    /// named), and records its events in one transaction.
    async fn delete_snippet(
        &self,
        user: &str,
        id: &str,
        removal: Removal,
        expected: Option<Expected>,
        now: DateTime<Utc>,
        plan: &EventPlan,
    ) -> Result<Written<()>, StoreError>;

    /// Merges an analysis into a snippet's metadata without touching `updated_at`, and
    /// records the change in the stream in the same transaction. False when the snippet no
    /// longer exists.
    async fn merge_metadata(
        &self,
        user: &str,
        id: &str,
        analysis: &JsonObject,
        now: DateTime<Utc>,
        plan: &EventPlan,
    ) -> Result<bool, StoreError>;

    /// A cheap round trip, for readiness.
    async fn ping(&self) -> Result<(), StoreError>;

    /// "sqlite" or "postgres".
    fn backend(&self) -> &'static str;
}

/// The durable store, as its two users see it.
#[derive(Clone)]
pub struct Stores {
    pub snippets: Arc<dyn SnippetStore>,
    pub outbox: Arc<dyn OutboxQueue>,
    pub tokens: Arc<dyn TokenStore>,
    pub embeddings: Arc<dyn EmbeddingStore>,
    pub workspaces: Arc<dyn WorkspaceStore>,
    pub shares: Arc<dyn ShareStore>,
    pub imports: Arc<dyn ImportJobs>,
    /// Every snippet of a workspace in pages (SQLite: the reader connections).
    pub walk: Arc<dyn SnippetWalk>,
    /// Version history, to read (SQLite: the reader connections).
    pub history: Arc<dyn HistoryStore>,
    /// Deleted snippets.
    pub trash: Arc<dyn TrashStore>,
    /// The audit log, to read (SQLite: the reader connections).
    pub audit: Arc<dyn AuditLog>,
    /// The audit log, to prune (SQLite: the writer).
    pub audit_pruner: Arc<dyn AuditLog>,
    /// The change log, to read (SQLite: the reader connections).
    pub changes: Arc<dyn ChangeLog>,
    /// The change log, to prune (SQLite: the writer).
    pub changes_pruner: Arc<dyn ChangeLog>,
    /// Workflow contexts, to read (SQLite: the reader connections).
    pub contexts: Arc<dyn ContextStore>,
    /// Workflow contexts, to prune (SQLite: the writer).
    pub contexts_pruner: Arc<dyn ContextStore>,
    /// The PostgreSQL pool, whose changes other replicas announce by NOTIFY.
    pub postgres: Option<sqlx::PgPool>,
}

/// Where the durable store lives (`DATABASE_URL`), parsed once at start-up.
#[derive(Debug, Clone)]
pub enum DatabaseUrl {
    /// A SQLite file inside the pod: the embedded store.
    Sqlite(String),
    /// A PostgreSQL server, which every replica shares; the URL may carry a password.
    Postgres(SecretString),
}

/// The embedded file under `./data/`.
impl Default for DatabaseUrl {
    fn default() -> Self {
        Self::Sqlite(sqlite::DEFAULT_URL.to_owned())
    }
}

impl DatabaseUrl {
    /// True for the SQLite file, of which each replica would keep its own copy.
    pub fn is_embedded(&self) -> bool {
        matches!(self, Self::Sqlite(_))
    }
}

impl FromStr for DatabaseUrl {
    type Err = &'static str;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        match url.split_once(':').map(|(scheme, _)| scheme) {
            Some("sqlite") => Ok(Self::Sqlite(url.to_owned())),
            Some("postgres" | "postgresql") => Ok(Self::Postgres(url.into())),
            _ => Err("must start with sqlite: or postgres:// (unset = ./data/pieces.db)"),
        }
    }
}

/// Opens the store `url` names and migrates it.
pub async fn connect(
    url: &DatabaseUrl,
    max_connections: u32,
    timeout: Duration,
    keeping: Keeping,
    metrics: &Metrics,
) -> Result<Stores, StoreError> {
    match url {
        DatabaseUrl::Postgres(url) => {
            let store = PostgresStore::connect(
                url.expose_secret(),
                max_connections,
                timeout,
                keeping,
                metrics,
            )
            .await?;
            let pool = store.pool().clone();
            Ok(Stores {
                outbox: Arc::new(BatchedOutbox::spawn(pool.clone())),
                tokens: Arc::new(pool.clone()),
                embeddings: Arc::new(embeddings::PostgresEmbeddings { pool: pool.clone() }),
                workspaces: Arc::new(workspaces::PostgresWorkspaces { pool: pool.clone() }),
                shares: Arc::new(shares::PostgresShares { pool: pool.clone() }),
                imports: Arc::new(imports::PostgresImports { pool: pool.clone() }),
                walk: Arc::new(pool.clone()),
                history: Arc::new(pool.clone()),
                trash: Arc::new(PostgresTrash {
                    pool: pool.clone(),
                    keeping,
                }),
                audit: Arc::new(pool.clone()),
                audit_pruner: Arc::new(pool.clone()),
                changes: Arc::new(pool.clone()),
                changes_pruner: Arc::new(pool.clone()),
                contexts: Arc::new(pool.clone()),
                contexts_pruner: Arc::new(pool.clone()),
                postgres: Some(pool),
                snippets: Arc::new(store),
            })
        }
        DatabaseUrl::Sqlite(url) => {
            let store = SqliteStore::connect(url, timeout, keeping, metrics).await?;
            Ok(Stores {
                outbox: Arc::new(BatchedOutbox::spawn(store.writer().clone())),
                tokens: Arc::new(tokens::SqliteTokens {
                    readers: store.readers().clone(),
                    writer: store.writer().clone(),
                }),
                embeddings: Arc::new(embeddings::SqliteEmbeddings {
                    readers: store.readers().clone(),
                    writer: store.writer().clone(),
                }),
                workspaces: Arc::new(workspaces::SqliteWorkspaces {
                    readers: store.readers().clone(),
                    writer: store.writer().clone(),
                }),
                shares: Arc::new(shares::SqliteShares {
                    readers: store.readers().clone(),
                    writer: store.writer().clone(),
                }),
                imports: Arc::new(imports::SqliteImports {
                    readers: store.readers().clone(),
                    writer: store.writer().clone(),
                }),
                walk: Arc::new(store.readers().clone()),
                history: Arc::new(store.readers().clone()),
                trash: Arc::new(SqliteTrash {
                    readers: store.readers().clone(),
                    writer: store.writer().clone(),
                    keeping,
                }),
                audit: Arc::new(store.readers().clone()),
                audit_pruner: Arc::new(store.writer().clone()),
                changes: Arc::new(store.readers().clone()),
                changes_pruner: Arc::new(store.writer().clone()),
                contexts: Arc::new(store.readers().clone()),
                contexts_pruner: Arc::new(store.writer().clone()),
                postgres: None,
                snippets: Arc::new(store),
            })
        }
    }
}

/// Timestamps are stored as microseconds since the epoch on both backends.
pub(crate) fn to_micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(crate) fn from_micros(micros: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {micros} out of range")))
}

/// A migrated SQLite database in memory, for the stores' unit tests.
#[cfg(test)]
pub(crate) async fn memory_store() -> sqlx::SqlitePool {
    let pool = sqlx::SqlitePool::connect("sqlite::memory:")
        .await
        .expect("a database");
    sqlx::migrate!("../../migrations/sqlite")
        .run(&pool)
        .await
        .expect("migrated");
    pool
}
