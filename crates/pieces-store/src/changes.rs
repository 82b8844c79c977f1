//! The change log each user's stream is read from: written inside each change's transaction,
//! read by subscribers after a position, pruned by age.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

use super::feed::{Announcement, CHANNEL};
use super::row::json_text;
use super::{from_micros, to_micros, StoreError};
use pieces_model::{ChangeRecord, StreamEvent};

/// Where a user's stream stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamPosition {
    /// The id of the user's latest event (0 before the first).
    pub last: i64,
    /// The id of the oldest event still kept, if any is.
    pub oldest: Option<i64>,
}

/// How much of a user's log one read takes: at most `events` events, and no more once their
/// data adds up to `bytes` (the event that crosses it is still read, so a read always moves).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadBound {
    pub events: i64,
    pub bytes: i64,
}

#[async_trait]
pub trait ChangeLog: Send + Sync {
    /// The user's events after `after`, oldest first, within `bound`.
    async fn changes_after(
        &self,
        user: &str,
        after: i64,
        bound: ReadBound,
    ) -> Result<Vec<StreamEvent>, StoreError>;

    async fn stream_position(&self, user: &str) -> Result<StreamPosition, StoreError>;

    /// Deletes up to `batch` events recorded before `before`; returns how many went.
    async fn prune_changes(&self, before: DateTime<Utc>, batch: i64) -> Result<u64, StoreError>;
}

#[derive(sqlx::FromRow)]
struct EventRow {
    seq: i64,
    kind: String,
    data: String,
    at: i64,
}

impl EventRow {
    fn into_event(self) -> Result<StreamEvent, StoreError> {
        Ok(StreamEvent {
            id: self.seq,
            // Written by `json_text`, so it is JSON: passed on as it is, never parsed.
            data: self.data,
            kind: self.kind,
            at: from_micros(self.at)?,
        })
    }
}

/// A page of a user's log within a byte bound: the sizes of the next events are read first
/// (`octet_length` reads neither SQLite's overflow pages nor PostgreSQL's TOAST), and only
/// the events whose predecessors in the page stay under the bound are read whole.
const CHANGES_AFTER: &str = "WITH next AS (
    SELECT seq, octet_length(data) AS size FROM changes
    WHERE user_id = $1 AND seq > $2 ORDER BY seq LIMIT $3
), bounded AS (
    SELECT seq, SUM(size) OVER (ORDER BY seq) - size AS before FROM next
)
SELECT c.seq, c.kind, c.data, c.at FROM bounded b
JOIN changes c ON c.user_id = $1 AND c.seq = b.seq
WHERE b.before < $4 ORDER BY c.seq";

macro_rules! change_log_on {
    ($pool:ty) => {
        #[async_trait]
        impl ChangeLog for $pool {
            async fn changes_after(
                &self,
                user: &str,
                after: i64,
                bound: ReadBound,
            ) -> Result<Vec<StreamEvent>, StoreError> {
                let rows: Vec<EventRow> = sqlx::query_as(CHANGES_AFTER)
                    .bind(user)
                    .bind(after)
                    .bind(bound.events)
                    .bind(bound.bytes)
                    .fetch_all(self)
                    .await?;
                rows.into_iter().map(EventRow::into_event).collect()
            }

            async fn stream_position(&self, user: &str) -> Result<StreamPosition, StoreError> {
                let (last, oldest): (Option<i64>, Option<i64>) = sqlx::query_as(
                    "SELECT (SELECT last_seq FROM change_positions WHERE user_id = $1), \
                     (SELECT MIN(seq) FROM changes WHERE user_id = $1)",
                )
                .bind(user)
                .fetch_one(self)
                .await?;
                Ok(StreamPosition {
                    last: last.unwrap_or(0),
                    oldest,
                })
            }

            async fn prune_changes(
                &self,
                before: DateTime<Utc>,
                batch: i64,
            ) -> Result<u64, StoreError> {
                let done = sqlx::query(
                    "DELETE FROM changes WHERE (user_id, seq) IN \
                     (SELECT user_id, seq FROM changes WHERE at < $1 ORDER BY at LIMIT $2)",
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

change_log_on!(SqlitePool);
change_log_on!(PgPool);

/// Records stream events inside the caller's SQLite transaction. SQLite has one writer, so
/// the numbers follow the commit order by themselves.
pub async fn record_in_sqlite(
    tx: &mut Transaction<'_, Sqlite>,
    changes: &[ChangeRecord],
) -> Result<(), StoreError> {
    for change in changes {
        let seq: i64 = sqlx::query_scalar(
            "INSERT INTO change_positions (user_id, last_seq) VALUES ($1, 1) \
             ON CONFLICT (user_id) DO UPDATE SET last_seq = last_seq + 1 RETURNING last_seq",
        )
        .bind(&change.user)
        .fetch_one(&mut **tx)
        .await?;
        sqlx::query(
            "INSERT INTO changes (user_id, seq, kind, subject, data, at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&change.user)
        .bind(seq)
        .bind(change.kind.as_str())
        .bind(change.subject.as_deref())
        .bind(json_text(&change.data))
        .bind(to_micros(change.at))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The common table expressions that record stream events on PostgreSQL inside a larger
/// statement, whatever their number (parameters $1-$5, bound by `bind_changes`): each user's
/// numbers are taken at once from their `change_positions` row (whose lock orders that user's
/// concurrent changes, held to the commit; users locked in a fixed order, so two statements
/// cannot deadlock), and the events are inserted. `announce_changes!` ends the statement.
macro_rules! change_log_ctes {
    () => {
        "input AS (
    SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[])
        WITH ORDINALITY AS c(user_id, kind, subject, data, at, ord)
), counts AS (
    SELECT user_id, count(*) AS n FROM input GROUP BY user_id
), positions AS (
    INSERT INTO change_positions (user_id, last_seq)
    SELECT user_id, n FROM counts ORDER BY user_id
    ON CONFLICT (user_id) DO UPDATE SET last_seq = change_positions.last_seq + excluded.last_seq
    RETURNING user_id, last_seq
), inserted AS (
    INSERT INTO changes (user_id, seq, kind, subject, data, at)
    SELECT i.user_id,
           p.last_seq - c.n + row_number() OVER (PARTITION BY i.user_id ORDER BY i.ord),
           i.kind, i.subject, i.data, i.at
    FROM input i JOIN positions p USING (user_id) JOIN counts c USING (user_id)
)"
    };
}
pub(super) use change_log_ctes;

/// The end of a statement that records changes: each is announced (parameters $6 and $7;
/// NOTIFY is sent only if the transaction commits).
macro_rules! announce_changes {
    () => {
        " SELECT pg_notify($6, a) FROM UNNEST($7::text[]) AS a"
    };
}
pub(super) use announce_changes;

/// Binds `changes` as parameters $1-$7 of a statement made of `change_log_ctes!` and
/// `announce_changes!`.
pub(super) fn bind_changes<'q>(
    query: Query<'q, Postgres, PgArguments>,
    changes: &[ChangeRecord],
) -> Query<'q, Postgres, PgArguments> {
    let text = |f: fn(&ChangeRecord) -> String| changes.iter().map(f).collect::<Vec<_>>();
    let announcements: Vec<String> = changes
        .iter()
        .map(|c| {
            json_text(&Announcement {
                u: c.user.clone(),
                s: c.subject.clone(),
                t: to_micros(c.at),
            })
        })
        .collect();
    query
        .bind(text(|c| c.user.clone()))
        .bind(text(|c| c.kind.as_str().to_owned()))
        .bind(
            changes
                .iter()
                .map(|c| c.subject.clone())
                .collect::<Vec<_>>(),
        )
        .bind(text(|c| json_text(&c.data)))
        .bind(changes.iter().map(|c| to_micros(c.at)).collect::<Vec<_>>())
        .bind(CHANNEL)
        .bind(announcements)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_page_of_the_log_stops_at_its_bytes_and_always_moves() {
        let pool = crate::memory_store().await;
        let kib = |n: usize| format!("\"{}\"", "x".repeat(n * 1024));
        let sizes = [100, 100, 100, 1024, 1, 1, 1, 1, 1];
        for (seq, size) in sizes.iter().enumerate() {
            sqlx::query(
                "INSERT INTO changes (user_id, seq, kind, data, at) VALUES ('u', ?, 'k', ?, 0)",
            )
            .bind(seq as i64 + 1)
            .bind(kib(*size))
            .execute(&pool)
            .await
            .expect("an event");
        }
        let bound = ReadBound {
            events: 100,
            bytes: 256 * 1024,
        };
        let mut pages = Vec::new();
        let mut after = 0;
        loop {
            let page = pool.changes_after("u", after, bound).await.expect("a page");
            let Some(last) = page.last() else { break };
            after = last.id;
            pages.push(page.iter().map(|e| e.id).collect::<Vec<_>>());
        }
        // 300 KiB: the third event starts under the bound; a mebibyte comes alone.
        assert_eq!(pages, [vec![1, 2, 3], vec![4], vec![5, 6, 7, 8, 9]]);
        let few = ReadBound {
            events: 2,
            bytes: 1 << 30,
        };
        let page = pool.changes_after("u", 4, few).await.expect("a page");
        assert_eq!(page.iter().map(|e| e.id).collect::<Vec<_>>(), [5, 6]);
    }
}
