//! PostgreSQL inserts of many rows in one statement: each column travels as an array and
//! `UNNEST` turns the arrays back into rows, so a batch costs one round trip, not one per row.

use async_trait::async_trait;
use sqlx::{PgPool, Postgres, Transaction};

use super::changes::record_in_postgres;
use super::group_commit::{BatchWriter, Create};
use super::row::json_text;
use super::{to_micros, StoreError};
use crate::model::{ChangeRecord, NewEvent, Recorded};

/// Most creates in one transaction. Each create's text is held twice while its batch is
/// encoded, so the batch is kept to what 64 requests already hold.
pub const MAX_BATCH: usize = 64;

#[async_trait]
impl BatchWriter<Recorded> for PgPool {
    async fn write_batch(&self, recorded: &[Recorded]) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        record(&mut tx, recorded).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl BatchWriter<Create> for PgPool {
    async fn write_batch(&self, creates: &[Create]) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO snippets (id, user_id, title, code, language, tags, metadata, \
             description, created_at, updated_at) \
             SELECT id, user_id, title, code, language, tags::jsonb, metadata::jsonb, \
             description, created_at, updated_at \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
             $6::text[], $7::text[], $8::text[], $9::int8[], $10::int8[]) \
             AS new(id, user_id, title, code, language, tags, metadata, description, \
             created_at, updated_at)",
        )
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
        .execute(&mut *tx)
        .await?;
        record(&mut tx, creates.iter().map(|c| &c.recorded)).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// One column of a batch, as the array its `UNNEST` parameter takes.
fn column<'c, T>(creates: &'c [Create], field: impl Fn(&'c Create) -> T) -> Vec<T> {
    creates.iter().map(field).collect()
}

/// Records what changes owe and their stream events inside the caller's transaction: one
/// statement for the outbox, three for the stream, whatever the number.
pub async fn record<'r>(
    tx: &mut Transaction<'_, Postgres>,
    recorded: impl IntoIterator<Item = &'r Recorded>,
) -> Result<(), StoreError> {
    let recorded: Vec<&Recorded> = recorded.into_iter().collect();
    insert_events(tx, recorded.iter().flat_map(|r| &r.outbox)).await?;
    let changes: Vec<ChangeRecord> = recorded
        .iter()
        .flat_map(|r| r.changes.iter().cloned())
        .collect();
    record_in_postgres(&mut **tx, &changes).await
}

/// Records events inside the caller's transaction, all in one statement.
async fn insert_events<'e>(
    tx: &mut Transaction<'_, Postgres>,
    events: impl IntoIterator<Item = &'e NewEvent>,
) -> Result<(), StoreError> {
    let (mut ids, mut targets, mut payloads, mut request_ids, mut created) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for event in events {
        ids.push(event.id.as_str());
        targets.push(event.target.as_str());
        payloads.push(json_text(&event.payload));
        request_ids.push(event.request_id.as_str());
        created.push(to_micros(event.created_at));
    }
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO outbox (id, target, payload, request_id, next_attempt_at, created_at) \
         SELECT id, target, payload, request_id, created_at, created_at \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[]) \
         AS new(id, target, payload, request_id, created_at)",
    )
    .bind(ids)
    .bind(targets)
    .bind(payloads)
    .bind(request_ids)
    .bind(created)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
