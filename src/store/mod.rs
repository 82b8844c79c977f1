//! The durable store: snippets and the outbox of events owed to other services. One trait,
//! one implementation per database, chosen once at start-up.

mod group_commit;
mod postgres;
mod postgres_insert;
mod row;
mod sqlite;
mod text_search;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::model::{JsonObject, ListFilter, Snippet, SnippetPatch};
use crate::outbox::{EventPlan, NewEvent, PendingEvent};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database unavailable: {0}")]
    Unavailable(#[from] sqlx::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// Outbox counts, for metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OutboxStats {
    /// Events still to deliver.
    pub pending: i64,
    /// Events given up on after `OUTBOX_MAX_AGE_SECS`; kept for an operator to inspect.
    pub dead: i64,
}

#[async_trait]
pub trait Store: Send + Sync {
    /// Stores a new snippet and its events in one transaction.
    async fn create_snippet(
        &self,
        user: &str,
        snippet: &Snippet,
        plan: &EventPlan,
    ) -> Result<(), StoreError>;

    async fn get_snippet(&self, user: &str, id: &str) -> Result<Option<Snippet>, StoreError>;

    /// One page of the user's snippets, newest first, and the total matching the filter.
    async fn list_snippets(
        &self,
        user: &str,
        filter: &ListFilter,
    ) -> Result<(Vec<Snippet>, i64), StoreError>;

    /// Up to `limit` snippets matching any word of `query`, best match first.
    async fn search_relevant(
        &self,
        user: &str,
        query: &str,
        limit: i64,
    ) -> Result<Vec<Snippet>, StoreError>;

    /// Applies a validated patch and records its events in one transaction.
    async fn update_snippet(
        &self,
        user: &str,
        id: &str,
        patch: &SnippetPatch,
        now: DateTime<Utc>,
        plan: &EventPlan,
    ) -> Result<Option<Snippet>, StoreError>;

    /// Deletes a snippet and records its events in one transaction; false when none was there.
    async fn delete_snippet(
        &self,
        user: &str,
        id: &str,
        now: DateTime<Utc>,
        plan: &EventPlan,
    ) -> Result<bool, StoreError>;

    /// Merges an analysis into a snippet's metadata without touching `updated_at`.
    /// False when the snippet no longer exists.
    async fn merge_metadata(
        &self,
        user: &str,
        id: &str,
        analysis: &JsonObject,
    ) -> Result<bool, StoreError>;

    /// Records events that have no row change to ride with (context updates).
    async fn enqueue(&self, events: &[NewEvent]) -> Result<(), StoreError>;

    /// Claims up to `limit` due events for `lease`; an event whose deliverer dies is due again
    /// once the lease runs out.
    async fn claim_due(&self, limit: i64, lease: Duration)
        -> Result<Vec<PendingEvent>, StoreError>;

    /// Removes a delivered event.
    async fn complete(&self, id: &str) -> Result<(), StoreError>;

    /// Schedules another try, or gives up when `dead`.
    async fn reschedule(
        &self,
        id: &str,
        next_attempt: DateTime<Utc>,
        error: &str,
        dead: bool,
    ) -> Result<(), StoreError>;

    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError>;

    /// A cheap round trip, for readiness.
    async fn ping(&self) -> Result<(), StoreError>;

    /// "sqlite" or "postgres".
    fn backend(&self) -> &'static str;
}

/// Opens the store `DATABASE_URL` names (the embedded SQLite file when unset) and migrates it.
pub async fn connect(
    url: Option<&str>,
    max_connections: u32,
    timeout: Duration,
) -> Result<Arc<dyn Store>, StoreError> {
    match url {
        Some(url) if url.starts_with("postgres") => Ok(Arc::new(
            PostgresStore::connect(url, max_connections, timeout).await?,
        )),
        Some(url) => Ok(Arc::new(SqliteStore::connect(url, timeout).await?)),
        None => Ok(Arc::new(
            SqliteStore::connect(sqlite::DEFAULT_URL, timeout).await?,
        )),
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
