//! Snippet embeddings, kept in the durable store so a restart recomputes nothing. No vector
//! extension is needed: ranking happens in the service (see `service::search`), which reads
//! sign bits to build its index and the byte vectors of a few candidates to rank exactly.

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::{PgPool, QueryBuilder, SqlitePool};

use super::StoreError;

/// An embedding to store.
#[derive(Debug, Clone)]
pub struct NewEmbedding {
    pub snippet_id: String,
    /// The workspace the embedding was asked for; it is stored under the one the snippet
    /// is in when it is written (it may have moved since).
    pub user_id: String,
    pub content_hash: Vec<u8>,
    pub signs: Vec<u8>,
    pub vector: Vec<i8>,
}

/// What the search index holds of a stored embedding.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IndexEntry {
    pub snippet_id: String,
    pub signs: Vec<u8>,
    pub seq: i64,
}

#[async_trait]
pub trait EmbeddingStore: Send + Sync {
    /// The digests of what was embedded, for those of `ids` embedded by `model`.
    async fn content_hashes(
        &self,
        model: &str,
        ids: &[String],
    ) -> Result<HashMap<String, Vec<u8>>, StoreError>;

    /// Stores (or replaces) embeddings, each under a new, higher `seq`. A snippet deleted
    /// meanwhile is skipped.
    async fn put_embeddings(&self, model: &str, rows: &[NewEmbedding]) -> Result<(), StoreError>;

    /// The user's embeddings by `model` written after `after_seq`, oldest first.
    async fn index_entries(
        &self,
        user: &str,
        model: &str,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<IndexEntry>, StoreError>;

    /// The byte vectors of those of `ids` that are the user's and embedded by `model`.
    async fn vectors(
        &self,
        user: &str,
        model: &str,
        ids: &[String],
    ) -> Result<Vec<(String, Vec<i8>)>, StoreError>;

    /// Snippets (user, id) with no embedding by `model`, by id after `after`.
    async fn unembedded(
        &self,
        model: &str,
        after: &str,
        limit: i64,
    ) -> Result<Vec<(String, String)>, StoreError>;

    /// How many snippets have no embedding by `model`.
    async fn backlog(&self, model: &str) -> Result<i64, StoreError>;
}

#[derive(sqlx::FromRow)]
struct VectorRow {
    snippet_id: String,
    vector: Vec<u8>,
}

// Queries both stores run as written (SQLite reads `$n` parameters too).

/// Takes `count` sequence numbers for embeddings written in `tx` (SQLite): answers the last
/// one given out before them, so they are that plus 1 to `count`. Never one given out before,
/// even if its embedding was deleted since (migration 0019).
pub(crate) async fn take_seqs(
    tx: &mut sqlx::SqliteConnection,
    count: usize,
) -> Result<i64, StoreError> {
    let count = i64::try_from(count).unwrap_or(i64::MAX);
    let last: i64 = sqlx::query_scalar(
        "UPDATE embedding_seq SET last = last + ? WHERE only = 1 RETURNING last",
    )
    .bind(count)
    .fetch_one(&mut *tx)
    .await?;
    Ok(last - count)
}

/// A user's index entries written after `seq`, in the order they were written.
const INDEX_ENTRIES: &str = "SELECT snippet_id, signs, seq FROM snippet_embeddings \
    WHERE model = $1 AND user_id = $2 AND seq > $3 ORDER BY seq LIMIT $4";

/// Snippets, in id order after `after`, without an embedding by `model`.
const UNEMBEDDED: &str = "SELECT s.user_id, s.id FROM snippets s WHERE s.id > $1 AND NOT EXISTS \
    (SELECT 1 FROM snippet_embeddings e WHERE e.snippet_id = s.id AND e.model = $2) \
    ORDER BY s.id LIMIT $3";

fn to_stored(vector: &[i8]) -> Vec<u8> {
    vector.iter().map(|b| *b as u8).collect()
}

fn from_stored(rows: Vec<VectorRow>) -> Vec<(String, Vec<i8>)> {
    rows.into_iter()
        .map(|r| {
            (
                r.snippet_id,
                r.vector.into_iter().map(|b| b as i8).collect(),
            )
        })
        .collect()
}

fn ids_json(ids: &[String]) -> String {
    serde_json::to_string(ids).unwrap_or_else(|_| "[]".into())
}

/// SQLite: writes on the one writer connection, reads on the readers. Look-ups by a list of
/// ids write `+user_id` and `+model`: the unary plus keeps the planner from walking all of
/// the user's rows by the (model, user_id) index instead of probing the ids.
pub struct SqliteEmbeddings {
    pub writer: SqlitePool,
    pub readers: SqlitePool,
}

#[async_trait]
impl EmbeddingStore for SqliteEmbeddings {
    async fn content_hashes(
        &self,
        model: &str,
        ids: &[String],
    ) -> Result<HashMap<String, Vec<u8>>, StoreError> {
        let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(
            "SELECT snippet_id, content_hash FROM snippet_embeddings \
             WHERE +model = ? AND snippet_id IN (SELECT value FROM json_each(?))",
        )
        .bind(model)
        .bind(ids_json(ids))
        .fetch_all(&self.readers)
        .await?;
        Ok(rows.into_iter().collect())
    }

    async fn put_embeddings(&self, model: &str, rows: &[NewEmbedding]) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        let last = take_seqs(&mut tx, rows.len()).await?;
        for (n, row) in rows.iter().enumerate() {
            sqlx::query(
                "INSERT INTO snippet_embeddings \
                 (snippet_id, user_id, model, content_hash, signs, vector, seq) \
                 SELECT id, user_id, ?, ?, ?, ?, ? FROM snippets WHERE id = ? \
                 ON CONFLICT (snippet_id) DO UPDATE SET user_id = excluded.user_id, \
                 model = excluded.model, content_hash = excluded.content_hash, \
                 signs = excluded.signs, vector = excluded.vector, seq = excluded.seq",
            )
            .bind(model)
            .bind(&row.content_hash)
            .bind(&row.signs)
            .bind(to_stored(&row.vector))
            .bind(last + 1 + n as i64)
            .bind(&row.snippet_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn index_entries(
        &self,
        user: &str,
        model: &str,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<IndexEntry>, StoreError> {
        Ok(sqlx::query_as(INDEX_ENTRIES)
            .bind(model)
            .bind(user)
            .bind(after_seq)
            .bind(limit)
            .fetch_all(&self.readers)
            .await?)
    }

    async fn vectors(
        &self,
        user: &str,
        model: &str,
        ids: &[String],
    ) -> Result<Vec<(String, Vec<i8>)>, StoreError> {
        let rows: Vec<VectorRow> = sqlx::query_as(
            "SELECT snippet_id, vector FROM snippet_embeddings \
             WHERE snippet_id IN (SELECT value FROM json_each(?)) AND +user_id = ? AND +model = ?",
        )
        .bind(ids_json(ids))
        .bind(user)
        .bind(model)
        .fetch_all(&self.readers)
        .await?;
        Ok(from_stored(rows))
    }

    async fn unembedded(
        &self,
        model: &str,
        after: &str,
        limit: i64,
    ) -> Result<Vec<(String, String)>, StoreError> {
        Ok(sqlx::query_as(UNEMBEDDED)
            .bind(after)
            .bind(model)
            .bind(limit)
            .fetch_all(&self.readers)
            .await?)
    }

    async fn backlog(&self, model: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT (SELECT COALESCE(SUM(n), 0) FROM snippet_counts) \
             - (SELECT COUNT(*) FROM snippet_embeddings WHERE model = ?)",
        )
        .bind(model)
        .fetch_one(&self.readers)
        .await?)
    }
}

/// PostgreSQL: writers take a transaction-scoped advisory lock before numbering their rows,
/// so `seq` order is commit order and an index reading `seq > n` never skips a row that
/// commits late.
pub struct PostgresEmbeddings {
    pub pool: PgPool,
}

/// The advisory lock that serializes embedding writes ("pcn-embd").
pub(crate) const WRITE_LOCK: i64 = 0x7063_6e2d_656d_6264;

#[async_trait]
impl EmbeddingStore for PostgresEmbeddings {
    async fn content_hashes(
        &self,
        model: &str,
        ids: &[String],
    ) -> Result<HashMap<String, Vec<u8>>, StoreError> {
        let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(
            "SELECT snippet_id, content_hash FROM snippet_embeddings \
             WHERE model = $1 AND snippet_id = ANY($2)",
        )
        .bind(model)
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().collect())
    }

    async fn put_embeddings(&self, model: &str, rows: &[NewEmbedding]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(WRITE_LOCK)
            .execute(&mut *tx)
            .await?;
        let mut insert = QueryBuilder::new(
            "INSERT INTO snippet_embeddings \
             (snippet_id, user_id, model, content_hash, signs, vector, seq) \
             SELECT v.snippet_id, s.user_id, v.model, v.content_hash, v.signs, v.vector, \
             nextval('snippet_embedding_seq') FROM (",
        );
        insert.push_values(rows, |mut b, row| {
            b.push_bind(&row.snippet_id)
                .push_bind(&row.user_id)
                .push_bind(model)
                .push_bind(&row.content_hash)
                .push_bind(&row.signs)
                .push_bind(to_stored(&row.vector));
        });
        insert.push(
            ") AS v (snippet_id, user_id, model, content_hash, signs, vector) \
             JOIN snippets s ON s.id = v.snippet_id \
             ON CONFLICT (snippet_id) DO UPDATE SET user_id = excluded.user_id, \
             model = excluded.model, content_hash = excluded.content_hash, \
             signs = excluded.signs, vector = excluded.vector, seq = excluded.seq",
        );
        insert.build().execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn index_entries(
        &self,
        user: &str,
        model: &str,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<IndexEntry>, StoreError> {
        Ok(sqlx::query_as(INDEX_ENTRIES)
            .bind(model)
            .bind(user)
            .bind(after_seq)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn vectors(
        &self,
        user: &str,
        model: &str,
        ids: &[String],
    ) -> Result<Vec<(String, Vec<i8>)>, StoreError> {
        let rows: Vec<VectorRow> = sqlx::query_as(
            "SELECT snippet_id, vector FROM snippet_embeddings \
             WHERE snippet_id = ANY($1) AND user_id = $2 AND model = $3",
        )
        .bind(ids)
        .bind(user)
        .bind(model)
        .fetch_all(&self.pool)
        .await?;
        Ok(from_stored(rows))
    }

    async fn unembedded(
        &self,
        model: &str,
        after: &str,
        limit: i64,
    ) -> Result<Vec<(String, String)>, StoreError> {
        Ok(sqlx::query_as(UNEMBEDDED)
            .bind(after)
            .bind(model)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn backlog(&self, model: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT (SELECT COALESCE(SUM(n), 0) FROM snippet_counts)::BIGINT \
             - (SELECT COUNT(*) FROM snippet_embeddings WHERE model = $1)",
        )
        .bind(model)
        .fetch_one(&self.pool)
        .await?)
    }
}
