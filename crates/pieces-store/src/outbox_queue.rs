//! The outbox queue: events recorded with a change, claimed for delivery, then completed or
//! rescheduled. The queries are the same on both databases (SQLite reads `$n` parameters
//! too); only PostgreSQL's claim adds `SKIP LOCKED`, since replicas claim concurrently there.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgPool, SqlitePool};

use super::group_commit::{BatchWriter, Batcher};
use super::row::{EventRow, INLINE_PAYLOAD_BYTES};
use super::{to_micros, StoreError};
use pieces_model::{PendingEvent, Recorded, Target};

/// Outbox counts, for metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OutboxStats {
    /// Events still to deliver.
    pub pending: i64,
    /// Events given up on after `OUTBOX_MAX_AGE_SECS`, or that could not be read; kept for
    /// an operator to inspect (`last_error` says why).
    pub dead: i64,
    /// Events for a target this release does not know (recorded by a newer one): left for a
    /// release that does, never in the way of the others.
    pub unknown: i64,
}

#[async_trait]
pub trait OutboxQueue: Send + Sync {
    /// Records what a change that has no row to ride with owes (context updates, retried
    /// cache drops), stream events included.
    async fn enqueue(&self, recorded: &Recorded) -> Result<(), StoreError>;

    /// Claims up to `limit` due events for `lease`; an event whose deliverer dies is due again
    /// once the lease runs out. Only the oldest undelivered event of an ordering key is due,
    /// and only events of targets this release knows. A claimed row that cannot be read is
    /// marked dead with the reason, and the others are delivered.
    async fn claim_due(&self, limit: i64, lease: Duration)
        -> Result<Vec<PendingEvent>, StoreError>;

    /// Makes every waiting event of `target` due now (not those being delivered); returns
    /// how many.
    async fn expedite(&self, target: Target) -> Result<u64, StoreError>;

    /// The payload of a claimed event whose payload the claim left out (none if the event
    /// is gone).
    async fn payload(&self, id: &str) -> Result<Option<String>, StoreError>;

    /// Gives back claimed events whose delivery was not started: due again at once, their
    /// claim not counted as a try.
    async fn release(&self, ids: &[String]) -> Result<(), StoreError>;

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

/// `{order}` is the column that orders one key's events: SQLite's rowid, PostgreSQL's `seq`.
const CLAIM: &str = "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1 WHERE id IN \
    (SELECT id FROM outbox o WHERE NOT dead AND next_attempt_at <= $2 AND target IN ({known}) \
     AND (ordering_key IS NULL OR NOT EXISTS (SELECT 1 FROM outbox p \
          WHERE p.ordering_key = o.ordering_key AND p.{order} < o.{order} AND NOT p.dead)) \
     ORDER BY next_attempt_at LIMIT $3 {lock}) \
    RETURNING id, target, \
    CASE WHEN octet_length(payload) <= {inline} THEN payload END AS payload, \
    CAST(octet_length(payload) AS BIGINT) AS size, request_id, attempts, created_at";
const PAYLOAD: &str = "SELECT payload FROM outbox WHERE id = $1";
const RELEASE: &str = "UPDATE outbox SET next_attempt_at = $1, attempts = attempts - 1 \
    WHERE id = $2 AND attempts > 0";
const COMPLETE: &str = "DELETE FROM outbox WHERE id = $1";
const RESCHEDULE: &str =
    "UPDATE outbox SET next_attempt_at = $1, last_error = $2, dead = $3 WHERE id = $4";
const EXPEDITE: &str = "UPDATE outbox SET next_attempt_at = $1 \
    WHERE target = $2 AND NOT dead AND next_attempt_at > $1";
const STATS: &str = "SELECT COUNT(*) FILTER (WHERE NOT dead AND target IN ({known})), \
    COUNT(*) FILTER (WHERE dead), COUNT(*) FILTER (WHERE NOT dead AND target NOT IN ({known})) \
    FROM outbox";

/// The targets this release delivers, as an SQL list.
fn known_targets() -> String {
    Target::ALL
        .iter()
        .map(|t| format!("'{}'", t.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads each claimed row on its own: one this release cannot read is parked (marked dead
/// with the reason) instead of failing the claim, which would leave every row of the batch
/// leased and claimed again, and failing again, for good.
fn read_claimed(rows: Vec<EventRow>) -> (Vec<PendingEvent>, Vec<(String, String)>) {
    let mut events = Vec::with_capacity(rows.len());
    let mut unreadable = Vec::new();
    for row in rows {
        let id = row.id().to_owned();
        match row.into_event() {
            Ok(event) => events.push(event),
            Err(e) => unreadable.push((id, format!("this release cannot read the event: {e}"))),
        }
    }
    (events, unreadable)
}

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
    ($pool:ty, $order:literal, $lock:literal) => {
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
                let sql = CLAIM
                    .replace("{lock}", $lock)
                    .replace("{order}", $order)
                    .replace("{known}", &known_targets())
                    .replace("{inline}", &INLINE_PAYLOAD_BYTES.to_string());
                let rows: Vec<EventRow> = sqlx::query_as(&sql)
                    .bind(to_micros(now + lease))
                    .bind(to_micros(now))
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                let (events, unreadable) = read_claimed(rows);
                for (id, why) in unreadable {
                    tracing::error!(event = %id, error = %why, "parking an outbox event");
                    self.reschedule(&id, now, &why, true).await?;
                }
                Ok(events)
            }

            async fn expedite(&self, target: Target) -> Result<u64, StoreError> {
                // An event being delivered right now may be claimed once more: the targets
                // expedited (cache drops) take a second delivery as they took the first.
                let done = sqlx::query(EXPEDITE)
                    .bind(to_micros(Utc::now()))
                    .bind(target.as_str())
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
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

            async fn payload(&self, id: &str) -> Result<Option<String>, StoreError> {
                Ok(sqlx::query_scalar(PAYLOAD)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn release(&self, ids: &[String]) -> Result<(), StoreError> {
                let now = to_micros(Utc::now());
                let mut tx = self.pool.begin().await?;
                for id in ids {
                    sqlx::query(RELEASE).bind(now).bind(id).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn stats(&self) -> Result<OutboxStats, StoreError> {
                let sql = STATS.replace("{known}", &known_targets());
                let (pending, dead, unknown): (i64, i64, i64) =
                    sqlx::query_as(&sql).fetch_one(&self.pool).await?;
                Ok(OutboxStats {
                    pending,
                    dead,
                    unknown,
                })
            }
        }
    };
}

outbox_queue_on!(SqlitePool, "rowid", "");
outbox_queue_on!(PgPool, "seq", "FOR UPDATE SKIP LOCKED");
