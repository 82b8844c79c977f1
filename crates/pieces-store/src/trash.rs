//! The trash: a deleted snippet's row moves to `snippets_trash` in the deletion's
//! transaction, so every read path drops it at once exactly as before, and comes back from
//! it with its id and history. Erasing (from the trash, by age, or at once with
//! `?permanent=true`) leaves its text in no live row: its history goes, and the change
//! stream's kept events and the outbox's pending payloads keep its id and version only.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{
    Database, Encode, Executor, IntoArguments, PgConnection, PgPool, Postgres, Sqlite,
    SqliteConnection, SqlitePool, Transaction, Type,
};

use super::history::{self, Keeping, Kept};
use super::row::{SnippetRow, POSTGRES_COLUMNS, SNIPPET_COLUMNS};
use super::{from_micros, to_micros, workspaces, Removal, StoreError};
use pieces_model::trash::TrashedSnippet;
use pieces_model::workspace::api_id;
use pieces_model::{Change, EventPlan, Recorded, Snippet, Target};

#[async_trait]
pub trait TrashStore: Send + Sync {
    /// The key of the workspace whose trash holds snippet `id`.
    async fn trash_workspace(&self, id: &str) -> Result<Option<String>, StoreError>;

    /// A page of the trash of the workspaces `keys`, the most recently deleted first, and
    /// how many it holds in all.
    async fn list_trash(
        &self,
        keys: &[String],
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<TrashedSnippet>, i64), StoreError>;

    /// Brings snippet `id` back from the trash of workspace `key` at its next version, with
    /// the events `plan` owes a creation, in one transaction; None when it is not there.
    async fn restore_from_trash(
        &self,
        key: &str,
        id: &str,
        now: DateTime<Utc>,
        plan: &EventPlan,
    ) -> Result<Option<Snippet>, StoreError>;

    /// Erases snippet `id` from the trash of workspace `key`, with everything that holds its
    /// text, recording what `plan` owes an erasure; false when it is not there.
    async fn erase_from_trash(
        &self,
        key: &str,
        id: &str,
        now: DateTime<Utc>,
        plan: &EventPlan,
    ) -> Result<bool, StoreError>;

    /// Erases up to `batch` snippets deleted before `before`; returns how many went.
    async fn prune_trash(&self, before: DateTime<Utc>, batch: i64) -> Result<u64, StoreError>;
}

/// Moves snippet `id` to the trash; run before the deletion of its live row.
const TO_TRASH: &str = "INSERT INTO snippets_trash (id, user_id, title, code, \
    language, tags, metadata, description, files, created_at, updated_at, version, created_by, \
    deleted_at, deleted_by) SELECT id, user_id, title, code, language, tags, metadata, \
    description, files, created_at, updated_at, version, created_by, $2, $3 FROM snippets \
    WHERE id = $1";

/// Puts snippet `id` back among the live ones, one version on.
const FROM_TRASH: &str = "INSERT INTO snippets (id, user_id, title, code, language, tags, \
    metadata, description, files, created_at, updated_at, version, created_by) SELECT id, \
    user_id, title, code, language, tags, metadata, description, files, created_at, updated_at, \
    version + 1, created_by FROM snippets_trash WHERE id = $1";

/// Whose outbox events are a snippet's sync events (see `EventPlan::owed_for_snippet`).
fn sync_order(id: &str) -> String {
    format!("{}:{id}", Target::DataPlatform.as_str())
}

/// What cuts the change stream's kept events and the outbox's pending sync payloads of
/// snippet `$1` (the sync events' ordering key `$2`) to its id and version, in each
/// database's JSON functions.
const CUT_SQLITE: [&str; 2] = [
    "UPDATE changes SET data = json_object('id', subject, 'version', \
     json_extract(data, '$.version')) WHERE subject = $1 \
     AND kind IN ('snippet.created', 'snippet.updated')",
    "UPDATE outbox SET payload = json_set(payload, '$.snippet', json_object('id', $1, \
     'version', json_extract(payload, '$.snippet.version'))) WHERE ordering_key = $2",
];
const CUT_POSTGRES: [&str; 2] = [
    "UPDATE changes SET data = jsonb_build_object('id', subject, 'version', \
     data::jsonb -> 'version')::text WHERE subject = $1 \
     AND kind IN ('snippet.created', 'snippet.updated')",
    "UPDATE outbox SET payload = jsonb_set(payload::jsonb, '{snippet}', \
     jsonb_build_object('id', $1::text, 'version', payload::jsonb #> '{snippet,version}'))::text \
     WHERE ordering_key = $2",
];

/// Erases what, besides its row, holds the text of snippet `id` (SQLite), inside the
/// erasure's transaction.
async fn scrub_in_sqlite(conn: &mut SqliteConnection, id: &str) -> Result<(), StoreError> {
    scrub::<Sqlite>(conn, id, CUT_SQLITE).await
}

/// The same on PostgreSQL.
async fn scrub_in_postgres(conn: &mut PgConnection, id: &str) -> Result<(), StoreError> {
    scrub::<Postgres>(conn, id, CUT_POSTGRES).await
}

/// What a deletion does before the snippet's row goes, inside its transaction: keeps the row
/// in the trash, or erases what else holds its text. Returns what the deletion records.
pub(crate) async fn set_aside_in_sqlite(
    conn: &mut SqliteConnection,
    removal: Removal,
    user: &str,
    gone: &Snippet,
    now: DateTime<Utc>,
    plan: &EventPlan,
) -> Result<Recorded, StoreError> {
    set_aside::<Sqlite>(conn, removal, user, gone, (now, plan), CUT_SQLITE).await
}

/// The same on PostgreSQL.
pub(crate) async fn set_aside_in_postgres(
    conn: &mut PgConnection,
    removal: Removal,
    user: &str,
    gone: &Snippet,
    now: DateTime<Utc>,
    plan: &EventPlan,
) -> Result<Recorded, StoreError> {
    set_aside::<Postgres>(conn, removal, user, gone, (now, plan), CUT_POSTGRES).await
}

async fn set_aside<DB>(
    conn: &mut DB::Connection,
    removal: Removal,
    user: &str,
    gone: &Snippet,
    (now, plan): (DateTime<Utc>, &EventPlan),
    cut: [&str; 2],
) -> Result<Recorded, StoreError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
{
    match removal {
        Removal::ToTrash => {
            sqlx::query::<DB>(TO_TRASH)
                .bind(gone.id.as_str())
                .bind(to_micros(now))
                .bind(plan.actor.as_ref().map(|a| a.user_id.as_str()))
                .execute(&mut *conn)
                .await?;
            Ok(plan.for_snippet(user, gone, Change::Deleted, now))
        }
        Removal::Erase => {
            scrub::<DB>(conn, &gone.id, cut).await?;
            Ok(plan.for_erasure(user, gone, now))
        }
    }
}

/// Its history and share links go; its kept events and pending payloads are `cut`.
async fn scrub<DB>(conn: &mut DB::Connection, id: &str, cut: [&str; 2]) -> Result<(), StoreError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
{
    let [events, payloads] = cut;
    for sql in [
        "DELETE FROM snippet_history WHERE snippet_id = $1",
        "DELETE FROM share_links WHERE snippet_id = $1",
        events,
    ] {
        sqlx::query::<DB>(sql).bind(id).execute(&mut *conn).await?;
    }
    sqlx::query::<DB>(payloads)
        .bind(id)
        .bind(sync_order(id))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct TrashRow {
    id: String,
    user_id: String,
    title: String,
    language: String,
    tags: String,
    description: Option<String>,
    version: i64,
    code_bytes: i64,
    created_at: i64,
    updated_at: i64,
    deleted_at: i64,
    deleted_by: Option<String>,
}

impl TrashRow {
    fn into_trashed(self) -> Result<TrashedSnippet, StoreError> {
        let tags = serde_json::from_str(&self.tags)
            .map_err(|_| StoreError::Corrupt(format!("trashed snippet {}: tags", self.id)))?;
        Ok(TrashedSnippet {
            workspace: api_id(&self.user_id).to_owned(),
            id: self.id,
            title: self.title,
            language: self.language,
            tags,
            description: self.description,
            version: self.version,
            code_bytes: self.code_bytes,
            created_at: from_micros(self.created_at)?,
            updated_at: from_micros(self.updated_at)?,
            deleted_at: from_micros(self.deleted_at)?,
            deleted_by: self.deleted_by,
        })
    }
}

/// The columns of a trash page, `tags` as text.
fn listed_columns(tags: &str) -> String {
    format!(
        "id, user_id, title, language, {tags} AS tags, description, version, \
         CAST(octet_length(code) AS BIGINT) AS code_bytes, created_at, updated_at, deleted_at, deleted_by"
    )
}

/// The version a restore keeps in the history: the trashed one, and the next.
fn restored(trashed: &Snippet) -> Snippet {
    let mut back = trashed.clone();
    back.version += 1;
    back
}

pub struct SqliteTrash {
    pub readers: SqlitePool,
    pub writer: SqlitePool,
    pub keeping: Keeping,
}

pub struct PostgresTrash {
    pub pool: PgPool,
    pub keeping: Keeping,
}

/// Scrubs inside a SQLite transaction (see `scrub_in_sqlite`).
async fn scrub_sqlite(tx: &mut Transaction<'_, Sqlite>, id: &str) -> Result<(), StoreError> {
    scrub_in_sqlite(tx, id).await
}

/// Scrubs inside a PostgreSQL transaction (see `scrub_in_postgres`).
async fn scrub_postgres(tx: &mut Transaction<'_, Postgres>, id: &str) -> Result<(), StoreError> {
    scrub_in_postgres(tx, id).await
}

/// The same queries on both databases (`$n` parameters, which SQLite reads too): `$columns`
/// are a snippet row's, `$tags` the tags as text, `$keys` the rows of a JSON array of
/// workspace keys, `$lock` what takes a trashed row for the rest of a transaction.
macro_rules! trash_on {
    (
        $store:ty, $reader:ident, $writer:ident, $columns:expr, $tags:literal, $keys:literal,
        $lock:literal, $scrub:ident, $record:path, $keep:path
    ) => {
        #[async_trait]
        impl TrashStore for $store {
            async fn trash_workspace(&self, id: &str) -> Result<Option<String>, StoreError> {
                Ok(
                    sqlx::query_scalar("SELECT user_id FROM snippets_trash WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&self.$reader)
                        .await?,
                )
            }

            async fn list_trash(
                &self,
                keys: &[String],
                limit: i64,
                offset: i64,
            ) -> Result<(Vec<TrashedSnippet>, i64), StoreError> {
                let keys = serde_json::to_string(keys).unwrap_or_default();
                let within = concat!("user_id IN (", $keys, ")");
                let sql = format!(
                    "SELECT {} FROM snippets_trash WHERE {within} \
                     ORDER BY deleted_at DESC, id DESC LIMIT $2 OFFSET $3",
                    listed_columns($tags)
                );
                let rows: Vec<TrashRow> = sqlx::query_as(&sql)
                    .bind(&keys)
                    .bind(limit)
                    .bind(offset)
                    .fetch_all(&self.$reader)
                    .await?;
                let counted = format!("SELECT count(*) FROM snippets_trash WHERE {within}");
                let total: i64 = sqlx::query_scalar(&counted)
                    .bind(&keys)
                    .fetch_one(&self.$reader)
                    .await?;
                let page = rows.into_iter().map(TrashRow::into_trashed);
                Ok((page.collect::<Result<_, _>>()?, total))
            }

            async fn restore_from_trash(
                &self,
                key: &str,
                id: &str,
                now: DateTime<Utc>,
                plan: &EventPlan,
            ) -> Result<Option<Snippet>, StoreError> {
                let mut tx = self.$writer.begin().await?;
                let sql = format!(
                    "SELECT {} FROM snippets_trash WHERE user_id = $1 AND id = $2{}",
                    $columns, $lock
                );
                let row: Option<SnippetRow> = sqlx::query_as(&sql)
                    .bind(key)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(trashed) = row.map(SnippetRow::into_snippet).transpose()? else {
                    return Ok(None);
                };
                let back = restored(&trashed);
                let kept = Kept {
                    older: &trashed,
                    newer: &back,
                    at: now,
                    actor: plan.actor.as_ref().map(|a| a.user_id.as_str()),
                    moved: false,
                    from_trash: true,
                };
                $keep(&mut tx, self.keeping, &kept).await?;
                // Recorded before the insert, whose trigger locks the count (see
                // `postgres_insert::record`).
                $record(&mut tx, &plan.for_restore(key, &back, now)).await?;
                sqlx::query(FROM_TRASH).bind(id).execute(&mut *tx).await?;
                sqlx::query("DELETE FROM snippets_trash WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(Some(back))
            }

            async fn erase_from_trash(
                &self,
                key: &str,
                id: &str,
                now: DateTime<Utc>,
                plan: &EventPlan,
            ) -> Result<bool, StoreError> {
                let mut tx = self.$writer.begin().await?;
                let gone = sqlx::query("DELETE FROM snippets_trash WHERE user_id = $1 AND id = $2")
                    .bind(key)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if gone == 0 {
                    return Ok(false);
                }
                $scrub(&mut tx, id).await?;
                $record(&mut tx, &plan.for_trash_erasure(key, id, now)).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn prune_trash(
                &self,
                before: DateTime<Utc>,
                batch: i64,
            ) -> Result<u64, StoreError> {
                let mut tx = self.$writer.begin().await?;
                let ids: Vec<String> = sqlx::query_scalar(concat!(
                    "DELETE FROM snippets_trash WHERE id IN (SELECT id FROM snippets_trash \
                     WHERE deleted_at < $1 ORDER BY deleted_at LIMIT $2",
                    $lock,
                    ") RETURNING id"
                ))
                .bind(to_micros(before))
                .bind(batch)
                .fetch_all(&mut *tx)
                .await?;
                for id in &ids {
                    $scrub(&mut tx, id).await?;
                }
                tx.commit().await?;
                Ok(ids.len() as u64)
            }
        }
    };
}

trash_on!(
    SqliteTrash,
    readers,
    writer,
    SNIPPET_COLUMNS,
    "tags",
    "SELECT value FROM json_each($1)",
    "",
    scrub_sqlite,
    workspaces::record_sqlite,
    history::keep_in_sqlite
);
trash_on!(
    PostgresTrash,
    pool,
    pool,
    POSTGRES_COLUMNS,
    "tags::text",
    "SELECT jsonb_array_elements_text($1::jsonb)",
    " FOR UPDATE",
    scrub_postgres,
    workspaces::record_postgres,
    history::keep_in_postgres
);
