//! The trash: a deleted snippet's row moves to `snippets_trash` in the deletion's
//! transaction, so every read path drops it at once exactly as before, and comes back from
//! it with its id and history. Erasing (from the trash, by age, or at once with
//! `?permanent=true`) leaves its text in no live row: its history goes, and the change
//! stream's kept events and the outbox's pending payloads keep its id and version only.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, SqliteConnection, SqlitePool};

use super::history::{self, Keeping, Kept};
use super::row::{SnippetRow, POSTGRES_COLUMNS, SNIPPET_COLUMNS};
use super::{from_micros, postgres_insert, sqlite, to_micros, StoreError};
use pieces_model::trash::TrashedSnippet;
use pieces_model::workspace::api_id;
use pieces_model::{EventPlan, Snippet, Target};

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
pub(crate) const TO_TRASH: &str = "INSERT INTO snippets_trash (id, user_id, title, code, \
    language, tags, metadata, description, created_at, updated_at, version, created_by, \
    deleted_at, deleted_by) SELECT id, user_id, title, code, language, tags, metadata, \
    description, created_at, updated_at, version, created_by, $2, $3 FROM snippets WHERE id = $1";

/// Puts snippet `id` back among the live ones, one version on.
const FROM_TRASH: &str = "INSERT INTO snippets (id, user_id, title, code, language, tags, \
    metadata, description, created_at, updated_at, version, created_by) SELECT id, user_id, \
    title, code, language, tags, metadata, description, created_at, updated_at, version + 1, \
    created_by FROM snippets_trash WHERE id = $1";

/// Whose outbox events are a snippet's sync events (see `EventPlan::owed_for_snippet`).
fn sync_order(id: &str) -> String {
    format!("{}:{id}", Target::DataPlatform.as_str())
}

/// Erases what, besides its row, holds the text of snippet `id` (SQLite), inside the
/// erasure's transaction.
pub(crate) async fn scrub_in_sqlite(
    conn: &mut SqliteConnection,
    id: &str,
) -> Result<(), StoreError> {
    for (sql, bind_order) in [
        ("DELETE FROM snippet_history WHERE snippet_id = $1", false),
        ("DELETE FROM share_links WHERE snippet_id = $1", false),
        (
            "UPDATE changes SET data = json_object('id', subject, 'version', \
             json_extract(data, '$.version')) WHERE subject = $1 \
             AND kind IN ('snippet.created', 'snippet.updated')",
            false,
        ),
        (
            "UPDATE outbox SET payload = json_set(payload, '$.snippet', json_object('id', $1, \
             'version', json_extract(payload, '$.snippet.version'))) WHERE ordering_key = $2",
            true,
        ),
    ] {
        let query = sqlx::query(sql).bind(id);
        let query = if bind_order {
            query.bind(sync_order(id))
        } else {
            query
        };
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// The same on PostgreSQL.
pub(crate) async fn scrub_in_postgres(conn: &mut PgConnection, id: &str) -> Result<(), StoreError> {
    for (sql, bind_order) in [
        ("DELETE FROM snippet_history WHERE snippet_id = $1", false),
        ("DELETE FROM share_links WHERE snippet_id = $1", false),
        (
            "UPDATE changes SET data = jsonb_build_object('id', subject, 'version', \
             data::jsonb -> 'version')::text WHERE subject = $1 \
             AND kind IN ('snippet.created', 'snippet.updated')",
            false,
        ),
        (
            "UPDATE outbox SET payload = jsonb_set(payload::jsonb, '{snippet}', \
             jsonb_build_object('id', $1::text, 'version', payload::jsonb #> '{snippet,version}'))::text \
             WHERE ordering_key = $2",
            true,
        ),
    ] {
        let query = sqlx::query(sql).bind(id);
        let query = if bind_order {
            query.bind(sync_order(id))
        } else {
            query
        };
        query.execute(&mut *conn).await?;
    }
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

#[async_trait]
impl TrashStore for SqliteTrash {
    async fn trash_workspace(&self, id: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT user_id FROM snippets_trash WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.readers)
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
        let within = "user_id IN (SELECT value FROM json_each($1))";
        let sql = format!(
            "SELECT {} FROM snippets_trash WHERE {within} \
             ORDER BY deleted_at DESC, id DESC LIMIT $2 OFFSET $3",
            listed_columns("tags")
        );
        let rows: Vec<TrashRow> = sqlx::query_as(&sql)
            .bind(&keys)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.readers)
            .await?;
        let total: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM snippets_trash WHERE {within}"
        ))
        .bind(&keys)
        .fetch_one(&self.readers)
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
        let mut tx = self.writer.begin().await?;
        let sql =
            format!("SELECT {SNIPPET_COLUMNS} FROM snippets_trash WHERE user_id = $1 AND id = $2");
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
        history::keep_in_sqlite(&mut tx, self.keeping, &kept).await?;
        sqlx::query(FROM_TRASH).bind(id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM snippets_trash WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlite::record(&mut tx, &plan.for_restore(key, &back, now)).await?;
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
        let mut tx = self.writer.begin().await?;
        let gone = sqlx::query("DELETE FROM snippets_trash WHERE user_id = $1 AND id = $2")
            .bind(key)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if gone == 0 {
            return Ok(false);
        }
        scrub_in_sqlite(&mut tx, id).await?;
        sqlite::record(&mut tx, &plan.for_trash_erasure(key, id, now)).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn prune_trash(&self, before: DateTime<Utc>, batch: i64) -> Result<u64, StoreError> {
        let mut tx = self.writer.begin().await?;
        let ids: Vec<String> = sqlx::query_scalar(
            "DELETE FROM snippets_trash WHERE id IN (SELECT id FROM snippets_trash \
             WHERE deleted_at < $1 ORDER BY deleted_at LIMIT $2) RETURNING id",
        )
        .bind(to_micros(before))
        .bind(batch)
        .fetch_all(&mut *tx)
        .await?;
        for id in &ids {
            scrub_in_sqlite(&mut tx, id).await?;
        }
        tx.commit().await?;
        Ok(ids.len() as u64)
    }
}

pub struct PostgresTrash {
    pub pool: PgPool,
    pub keeping: Keeping,
}

#[async_trait]
impl TrashStore for PostgresTrash {
    async fn trash_workspace(&self, id: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT user_id FROM snippets_trash WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn list_trash(
        &self,
        keys: &[String],
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<TrashedSnippet>, i64), StoreError> {
        let sql = format!(
            "SELECT {} FROM snippets_trash WHERE user_id = ANY($1) \
             ORDER BY deleted_at DESC, id DESC LIMIT $2 OFFSET $3",
            listed_columns("tags::text")
        );
        let rows: Vec<TrashRow> = sqlx::query_as(&sql)
            .bind(keys)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        let total: i64 =
            sqlx::query_scalar("SELECT count(*) FROM snippets_trash WHERE user_id = ANY($1)")
                .bind(keys)
                .fetch_one(&self.pool)
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
        let mut tx = self.pool.begin().await?;
        let sql = format!(
            "SELECT {POSTGRES_COLUMNS} FROM snippets_trash WHERE user_id = $1 AND id = $2 \
             FOR UPDATE"
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
        history::keep_in_postgres(&mut tx, self.keeping, &kept).await?;
        // Recorded before the insert, whose trigger locks the count: see `record`.
        postgres_insert::record(&mut *tx, [&plan.for_restore(key, &back, now)]).await?;
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
        let mut tx = self.pool.begin().await?;
        let gone = sqlx::query("DELETE FROM snippets_trash WHERE user_id = $1 AND id = $2")
            .bind(key)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if gone == 0 {
            return Ok(false);
        }
        scrub_in_postgres(&mut tx, id).await?;
        postgres_insert::record(&mut *tx, [&plan.for_trash_erasure(key, id, now)]).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn prune_trash(&self, before: DateTime<Utc>, batch: i64) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let ids: Vec<String> = sqlx::query_scalar(
            "DELETE FROM snippets_trash WHERE id IN (SELECT id FROM snippets_trash \
             WHERE deleted_at < $1 ORDER BY deleted_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
             RETURNING id",
        )
        .bind(to_micros(before))
        .bind(batch)
        .fetch_all(&mut *tx)
        .await?;
        for id in &ids {
            scrub_in_postgres(&mut tx, id).await?;
        }
        tx.commit().await?;
        Ok(ids.len() as u64)
    }
}
