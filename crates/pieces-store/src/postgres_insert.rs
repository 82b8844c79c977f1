//! PostgreSQL writes of many rows in one statement: each column travels as an array and
//! `UNNEST` turns the arrays back into rows, so a batch costs one round trip, not one per row.
//! A batch of creates, with the events they owe and their stream records, is one statement,
//! and so its own transaction: no round trips for BEGIN and COMMIT, which under load cost a
//! write more than its rows do.

use async_trait::async_trait;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{PgExecutor, PgPool, Postgres};

use super::audit::{self, audit_cte};
use super::changes::{announce_changes, bind_changes, change_log_ctes};
use super::group_commit::{BatchWriter, Create};
use super::row::json_text;
use super::{to_micros, StoreError};
use pieces_model::files::files_column;
use pieces_model::{ChangeRecord, KeptContext, NewEvent, Recorded};

/// Most creates in one transaction. Each create's text is held twice while its batch is
/// encoded, so the batch is kept to what 64 requests already hold.
pub const MAX_BATCH: usize = 64;

/// Inserts outbox events (parameters $8-$13, bound by `bind_events`), in the order given,
/// after `change_log_ctes!`'s `positions`: each takes its `seq` as it is inserted, which
/// orders the events of one ordering key.
macro_rules! outbox_cte {
    () => {
        "events AS (
    INSERT INTO outbox (id, target, payload, request_id, next_attempt_at, created_at,
                        ordering_key)
    SELECT id, target, payload, request_id, created_at, created_at, ordering_key
    FROM UNNEST($8::text[], $9::text[], $10::text[], $11::text[], $12::int8[], $13::text[])
        WITH ORDINALITY AS new(id, target, payload, request_id, created_at, ordering_key, ord)
    -- Read first, so the users' stream positions are locked before any event takes its
    -- `seq`: events of one key are numbered in the order their changes commit.
    CROSS JOIN (SELECT count(*) FROM positions) AS after_positions
    ORDER BY ord
)"
    };
}

/// What changes owe (outbox events), their stream records, their audit records ($17) and
/// the contexts they make current (parameters $14-$16, one per user), in one statement.
const RECORD: &str = concat!(
    "WITH ",
    change_log_ctes!(),
    ", ",
    outbox_cte!(),
    ", ",
    audit_cte!("$17"),
    ", contexts AS (
    INSERT INTO workflow_contexts (user_id, data, expires_at)
    SELECT * FROM UNNEST($14::text[], $15::text[], $16::int8[])
    ON CONFLICT (user_id) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at
)",
    announce_changes!()
);

/// New snippets (parameters $14-$23, who created each, $25, their files, $26, and their
/// versions, $27: an import keeps the version it was exported at), what they owe, their
/// stream records and their audit records ($24), in one statement. The lock order matches every other change of a user's snippets: the user's
/// stream position here, then their snippet count in the insert's trigger at the end.
const CREATE: &str = concat!(
    "WITH ",
    change_log_ctes!(),
    ", ",
    outbox_cte!(),
    ", ",
    audit_cte!("$24"),
    ", created AS (
    INSERT INTO snippets (id, user_id, title, code, language, tags, metadata, description,
                          created_at, updated_at, created_by, files, version)
    SELECT id, user_id, title, code, language, tags::jsonb, metadata::jsonb, description,
           created_at, updated_at, created_by, files, version
    FROM UNNEST($14::text[], $15::text[], $16::text[], $17::text[], $18::text[],
                $19::text[], $20::text[], $21::text[], $22::int8[], $23::int8[], $25::text[],
                $26::text[], $27::int8[])
        AS new(id, user_id, title, code, language, tags, metadata, description,
               created_at, updated_at, created_by, files, version)
)",
    announce_changes!()
);

#[async_trait]
impl BatchWriter<Recorded> for PgPool {
    async fn write_batch(&self, recorded: &[Recorded]) -> Result<(), StoreError> {
        record(self, recorded).await
    }
}

#[async_trait]
impl BatchWriter<Create> for PgPool {
    async fn write_batch(&self, creates: &[Create]) -> Result<(), StoreError> {
        let recorded: Vec<&Recorded> = creates.iter().map(|c| &c.recorded).collect();
        bind_recorded(sqlx::query(CREATE), &recorded)
            .bind(column(creates, |c| &c.snippet.id))
            .bind(column(creates, |c| &c.user))
            .bind(column(creates, |c| &c.snippet.title))
            .bind(column(creates, |c| &c.snippet.code))
            .bind(column(creates, |c| &c.snippet.language))
            .bind(column(creates, |c| json_text(&c.snippet.tags)))
            .bind(column(creates, |c| json_text(&c.snippet.metadata)))
            .bind(column(creates, |c| c.snippet.description.as_deref()))
            .bind(column(creates, |c| to_micros(c.snippet.created_at)))
            .bind(column(creates, |c| to_micros(c.snippet.updated_at)))
            .bind(audit::json_rows(
                creates.iter().flat_map(|c| &c.recorded.audit),
            ))
            .bind(column(creates, |c| c.created_by.as_deref()))
            .bind(column(creates, |c| files_column(&c.snippet.files)))
            .bind(column(creates, |c| c.snippet.version))
            .execute(self)
            .await?;
        Ok(())
    }
}

/// One column of a batch, as the array its `UNNEST` parameter takes.
fn column<'c, T>(creates: &'c [Create], field: impl Fn(&'c Create) -> T) -> Vec<T> {
    creates.iter().map(field).collect()
}

/// Records what changes owe and their stream events in one statement, whatever their
/// number: inside the caller's transaction, or as a transaction of its own given the pool.
/// A caller that also changes snippets records first, so that it locks the user's stream
/// position before the triggers lock the user's count, as a batch of creates does.
pub async fn record<'r>(
    db: impl PgExecutor<'_>,
    recorded: impl IntoIterator<Item = &'r Recorded>,
) -> Result<(), StoreError> {
    let recorded: Vec<&Recorded> = recorded.into_iter().collect();
    if recorded.iter().all(|r| {
        r.outbox.is_empty() && r.changes.is_empty() && r.context.is_none() && r.audit.is_empty()
    }) {
        return Ok(());
    }
    // One row per user: an upsert may not touch a row twice in one statement, and the last
    // context of a batch is the current one.
    let mut contexts: Vec<&KeptContext> = Vec::new();
    for context in recorded.iter().rev().filter_map(|r| r.context.as_ref()) {
        if !contexts.iter().any(|c| c.user == context.user) {
            contexts.push(context);
        }
    }
    bind_recorded(sqlx::query(RECORD), &recorded)
        .bind(contexts.iter().map(|c| c.user.as_str()).collect::<Vec<_>>())
        .bind(contexts.iter().map(|c| c.data.as_str()).collect::<Vec<_>>())
        .bind(
            contexts
                .iter()
                .map(|c| to_micros(c.expires_at))
                .collect::<Vec<_>>(),
        )
        .bind(audit::json_rows(recorded.iter().flat_map(|r| &r.audit)))
        .execute(db)
        .await?;
    Ok(())
}

/// Binds the stream records ($1-$7) and outbox events ($8-$13) of `recorded`.
fn bind_recorded<'q>(
    query: Query<'q, Postgres, PgArguments>,
    recorded: &[&Recorded],
) -> Query<'q, Postgres, PgArguments> {
    let changes: Vec<ChangeRecord> = recorded
        .iter()
        .flat_map(|r| r.changes.iter().cloned())
        .collect();
    bind_events(
        bind_changes(query, &changes),
        recorded.iter().flat_map(|r| &r.outbox),
    )
}

/// Binds outbox events as parameters $8-$13 of a statement with `outbox_cte!`.
fn bind_events<'q, 'e>(
    query: Query<'q, Postgres, PgArguments>,
    events: impl IntoIterator<Item = &'e NewEvent>,
) -> Query<'q, Postgres, PgArguments> {
    let (mut ids, mut targets, mut payloads, mut request_ids, mut created, mut keys) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for event in events {
        ids.push(event.id.clone());
        targets.push(event.target.as_str());
        payloads.push(json_text(&event.payload));
        request_ids.push(event.request_id.clone());
        created.push(to_micros(event.created_at));
        keys.push(event.ordering_key.clone());
    }
    query
        .bind(ids)
        .bind(targets)
        .bind(payloads)
        .bind(request_ids)
        .bind(created)
        .bind(keys)
}
