//! Share links, kept by the hash of their key. The queries are the same on both databases.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgPool, SqlitePool};

use super::workspaces::{record_postgres, record_sqlite};
use super::{from_micros, to_micros, StoreError};
use pieces_model::share::StoredShare;
use pieces_model::Recorded;

#[async_trait]
pub trait ShareStore: Send + Sync {
    /// Stores a new link under the hash of its key, with its records.
    async fn insert_share(
        &self,
        share: &StoredShare,
        key_hash: &str,
        recorded: &Recorded,
    ) -> Result<(), StoreError>;

    async fn share_by_id(&self, id: &str) -> Result<Option<StoredShare>, StoreError>;

    async fn share_by_hash(&self, key_hash: &str) -> Result<Option<StoredShare>, StoreError>;

    /// The links of a snippet, newest first (at most `limit`).
    async fn shares_of(&self, snippet_id: &str, limit: i64)
        -> Result<Vec<StoredShare>, StoreError>;

    /// Revokes a live link, with its records; false when it was already revoked or is gone.
    async fn revoke_share(
        &self,
        id: &str,
        at: DateTime<Utc>,
        recorded: &Recorded,
    ) -> Result<bool, StoreError>;

    /// Counts one view of a link.
    async fn count_view(&self, id: &str) -> Result<(), StoreError>;
}

pub struct SqliteShares {
    pub readers: SqlitePool,
    pub writer: SqlitePool,
}

pub struct PostgresShares {
    pub pool: PgPool,
}

const COLUMNS: &str = "id, snippet_id, workspace_id, created_by, created_at, expires_at, \
                       revoked_at, view_count";

#[derive(sqlx::FromRow)]
struct ShareRow {
    id: String,
    snippet_id: String,
    workspace_id: String,
    created_by: String,
    created_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
    view_count: i64,
}

impl ShareRow {
    fn into_share(self) -> Result<StoredShare, StoreError> {
        Ok(StoredShare {
            created_at: from_micros(self.created_at)?,
            expires_at: from_micros(self.expires_at)?,
            revoked_at: self.revoked_at.map(from_micros).transpose()?,
            id: self.id,
            snippet_id: self.snippet_id,
            workspace: self.workspace_id,
            created_by: self.created_by,
            view_count: self.view_count,
        })
    }
}

macro_rules! shares_on {
    ($store:ty, $reader:ident, $writer:ident, $record:ident) => {
        #[async_trait]
        impl ShareStore for $store {
            async fn insert_share(
                &self,
                s: &StoredShare,
                key_hash: &str,
                recorded: &Recorded,
            ) -> Result<(), StoreError> {
                let mut tx = self.$writer.begin().await?;
                sqlx::query(
                    "INSERT INTO share_links (id, key_hash, snippet_id, workspace_id, \
                     created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&s.id)
                .bind(key_hash)
                .bind(&s.snippet_id)
                .bind(&s.workspace)
                .bind(&s.created_by)
                .bind(to_micros(s.created_at))
                .bind(to_micros(s.expires_at))
                .execute(&mut *tx)
                .await?;
                $record(&mut tx, recorded).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn share_by_id(&self, id: &str) -> Result<Option<StoredShare>, StoreError> {
                let sql = format!("SELECT {COLUMNS} FROM share_links WHERE id = $1");
                let row: Option<ShareRow> = sqlx::query_as(&sql)
                    .bind(id)
                    .fetch_optional(&self.$reader)
                    .await?;
                row.map(ShareRow::into_share).transpose()
            }

            async fn share_by_hash(
                &self,
                key_hash: &str,
            ) -> Result<Option<StoredShare>, StoreError> {
                let sql = format!("SELECT {COLUMNS} FROM share_links WHERE key_hash = $1");
                let row: Option<ShareRow> = sqlx::query_as(&sql)
                    .bind(key_hash)
                    .fetch_optional(&self.$reader)
                    .await?;
                row.map(ShareRow::into_share).transpose()
            }

            async fn shares_of(
                &self,
                snippet_id: &str,
                limit: i64,
            ) -> Result<Vec<StoredShare>, StoreError> {
                let sql = format!(
                    "SELECT {COLUMNS} FROM share_links WHERE snippet_id = $1 \
                     ORDER BY created_at DESC, id DESC LIMIT $2"
                );
                let rows: Vec<ShareRow> = sqlx::query_as(&sql)
                    .bind(snippet_id)
                    .bind(limit)
                    .fetch_all(&self.$reader)
                    .await?;
                rows.into_iter().map(ShareRow::into_share).collect()
            }

            async fn revoke_share(
                &self,
                id: &str,
                at: DateTime<Utc>,
                recorded: &Recorded,
            ) -> Result<bool, StoreError> {
                let mut tx = self.$writer.begin().await?;
                let done = sqlx::query(
                    "UPDATE share_links SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                )
                .bind(to_micros(at))
                .bind(id)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                $record(&mut tx, recorded).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn count_view(&self, id: &str) -> Result<(), StoreError> {
                sqlx::query("UPDATE share_links SET view_count = view_count + 1 WHERE id = $1")
                    .bind(id)
                    .execute(&self.$writer)
                    .await?;
                Ok(())
            }
        }
    };
}

shares_on!(SqliteShares, readers, writer, record_sqlite);
shares_on!(PostgresShares, pool, pool, record_postgres);
