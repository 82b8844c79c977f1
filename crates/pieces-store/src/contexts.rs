//! Workflow contexts, kept until they expire. Written with the change that makes them current
//! (`Recorded::context`, in the outbox queue's transaction); read and pruned here. The
//! queries are the same on both databases.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgPool, SqlitePool};

use super::{to_micros, StoreError};

#[async_trait]
pub trait ContextStore: Send + Sync {
    /// The user's context as the API shows it, if one is current at `now`, and when it
    /// stops being current.
    async fn current_context(
        &self,
        user: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(String, DateTime<Utc>)>, StoreError>;

    /// Deletes up to `batch` contexts that expired before `before`; returns how many went.
    async fn prune_contexts(&self, before: DateTime<Utc>, batch: i64) -> Result<u64, StoreError>;
}

macro_rules! context_store_on {
    ($pool:ty) => {
        #[async_trait]
        impl ContextStore for $pool {
            async fn current_context(
                &self,
                user: &str,
                now: DateTime<Utc>,
            ) -> Result<Option<(String, DateTime<Utc>)>, StoreError> {
                let row: Option<(String, i64)> = sqlx::query_as(
                    "SELECT data, expires_at FROM workflow_contexts \
                     WHERE user_id = $1 AND expires_at > $2",
                )
                .bind(user)
                .bind(to_micros(now))
                .fetch_optional(self)
                .await?;
                row.map(|(data, expires)| Ok((data, super::from_micros(expires)?)))
                    .transpose()
            }

            async fn prune_contexts(
                &self,
                before: DateTime<Utc>,
                batch: i64,
            ) -> Result<u64, StoreError> {
                // The outer test holds too: a context made current while this waited on its row
                // lock (PostgreSQL re-reads the row then) is not deleted with the old one.
                let done = sqlx::query(
                    "DELETE FROM workflow_contexts WHERE expires_at < $1 AND user_id IN \
                     (SELECT user_id FROM workflow_contexts WHERE expires_at < $1 LIMIT $2)",
                )
                .bind(to_micros(before))
                .bind(batch)
                .execute(self)
                .await?;
                Ok(done.rows_affected())
            }
        }
    };
}

context_store_on!(SqlitePool);
context_store_on!(PgPool);
