//! The outbox queue: events recorded with a change, claimed for delivery, then completed or
//! rescheduled. The queries are the same on both databases (SQLite reads `$n` parameters
//! too); only PostgreSQL's claim adds `SKIP LOCKED`, since replicas claim concurrently there.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgPool, SqlitePool};

use super::group_commit::{BatchWriter, Batcher};
use super::row::EventRow;
use super::{to_micros, StoreError};
use crate::model::{PendingEvent, Recorded};

/// Outbox counts, for metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OutboxStats {
    /// Events still to deliver.
    pub pending: i64,
    /// Events given up on after `OUTBOX_MAX_AGE_SECS`; kept for an operator to inspect.
    pub dead: i64,
}

#[async_trait]
pub trait OutboxQueue: Send + Sync {
    /// Records what a change that has no row to ride with owes (context updates, retried
    /// cache drops), stream events included.
    async fn enqueue(&self, recorded: &Recorded) -> Result<(), StoreError>;

    /// Claims up to `limit` due events for `lease`; an event whose deliverer dies is due again
    /// once the lease runs out.
    async fn claim_due(&self, limit: i64, lease: Duration)
        -> Result<Vec<PendingEvent>, StoreError>;

    /// Removes a delivered event.
    async fn complete(&self, id: &str) -> Result<(), StoreError>;

    /// Removes delivered events in one transaction (one commit for a batch).
    async fn complete_all(&self, ids: &[String]) -> Result<(), StoreError>;

    /// Schedules another try, or gives up when `dead`.
    async fn reschedule(
        &self,
        id: &str,
        next_attempt: DateTime<Utc>,
        error: &str,
        dead: bool,
    ) -> Result<(), StoreError>;

    /// Counts the queue: a scan, so callers keep it rare.
    async fn stats(&self) -> Result<OutboxStats, StoreError>;
}

const CLAIM: &str = "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1 WHERE id IN \
    (SELECT id FROM outbox WHERE NOT dead AND next_attempt_at <= $2 \
     ORDER BY next_attempt_at LIMIT $3 {lock}) \
    RETURNING id, target, payload, request_id, attempts, created_at";
const COMPLETE: &str = "DELETE FROM outbox WHERE id = $1";
const RESCHEDULE: &str =
    "UPDATE outbox SET next_attempt_at = $1, last_error = $2, dead = $3 WHERE id = $4";
const STATS: &str =
    "SELECT COUNT(*) FILTER (WHERE NOT dead), COUNT(*) FILTER (WHERE dead) FROM outbox";

/// Most concurrent enqueues written in one transaction.
const MAX_ENQUEUE_BATCH: usize = 64;

/// The queue on one pool. Its enqueues are committed together (group commit): on PostgreSQL
/// every enqueue also takes its user's stream position, locked until the commit, so one
/// user's concurrent context updates would otherwise wait on each other's commits one by one.
pub struct BatchedOutbox<P> {
    pool: P,
    enqueues: Batcher<Recorded>,
}

impl<P: BatchWriter<Recorded> + Clone> BatchedOutbox<P> {
    pub fn spawn(pool: P) -> Self {
        Self {
            enqueues: Batcher::spawn(pool.clone(), MAX_ENQUEUE_BATCH),
            pool,
        }
    }
}

/// One implementation of the queue for each pool type, from the one text above.
macro_rules! outbox_queue_on {
    ($pool:ty, $lock:literal) => {
        #[async_trait]
        impl OutboxQueue for BatchedOutbox<$pool> {
            async fn enqueue(&self, recorded: &Recorded) -> Result<(), StoreError> {
                self.enqueues.write(recorded.clone()).await
            }

            async fn claim_due(
                &self,
                limit: i64,
                lease: Duration,
            ) -> Result<Vec<PendingEvent>, StoreError> {
                let now = Utc::now();
                let sql = CLAIM.replace("{lock}", $lock);
                let rows: Vec<EventRow> = sqlx::query_as(&sql)
                    .bind(to_micros(now + lease))
                    .bind(to_micros(now))
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map(EventRow::into_event).collect()
            }

            async fn complete(&self, id: &str) -> Result<(), StoreError> {
                sqlx::query(COMPLETE).bind(id).execute(&self.pool).await?;
                Ok(())
            }

            async fn complete_all(&self, ids: &[String]) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await?;
                for id in ids {
                    sqlx::query(COMPLETE).bind(id).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn reschedule(
                &self,
                id: &str,
                next_attempt: DateTime<Utc>,
                error: &str,
                dead: bool,
            ) -> Result<(), StoreError> {
                sqlx::query(RESCHEDULE)
                    .bind(to_micros(next_attempt))
                    .bind(error)
                    .bind(dead)
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn stats(&self) -> Result<OutboxStats, StoreError> {
                let (pending, dead): (i64, i64) =
                    sqlx::query_as(STATS).fetch_one(&self.pool).await?;
                Ok(OutboxStats { pending, dead })
            }
        }
    };
}

outbox_queue_on!(SqlitePool, "");
outbox_queue_on!(PgPool, "FOR UPDATE SKIP LOCKED");
