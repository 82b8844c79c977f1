//! Personal access tokens, kept by hash. The queries are the same on both databases.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgPool, SqlitePool};

use super::{from_micros, to_micros, StoreError};
use crate::model::{Scopes, StoredToken};

#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Stores a new token under the hash of its secret.
    async fn insert_token(&self, token: &StoredToken, hash: &str) -> Result<(), StoreError>;
    /// The token whose secret hashes to `hash`, revoked or not.
    async fn token_by_hash(&self, hash: &str) -> Result<Option<StoredToken>, StoreError>;
    /// The token with this id, revoked or not.
    async fn token_by_id(&self, id: &str) -> Result<Option<StoredToken>, StoreError>;
    /// The user's tokens that are not revoked, oldest first.
    async fn list_tokens(&self, user: &str) -> Result<Vec<StoredToken>, StoreError>;
    /// Revokes one of the user's tokens; false when the user has no such live token.
    async fn revoke_token(
        &self,
        user: &str,
        id: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Records when tokens were last used, in one transaction.
    async fn touch_tokens(&self, used: &[(String, DateTime<Utc>)]) -> Result<(), StoreError>;
}

const COLUMNS: &str = "id, user_id, name, scopes, created_at, expires_at, last_used_at, revoked_at";

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: String,
    user_id: String,
    name: String,
    scopes: String,
    created_at: i64,
    expires_at: i64,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl TokenRow {
    fn into_token(self) -> Result<StoredToken, StoreError> {
        let scopes = Scopes::from_text(&self.scopes)
            .ok_or_else(|| StoreError::Corrupt(format!("token {} has unknown scopes", self.id)))?;
        let optional = |t: Option<i64>| t.map(from_micros).transpose();
        Ok(StoredToken {
            scopes,
            created_at: from_micros(self.created_at)?,
            expires_at: from_micros(self.expires_at)?,
            last_used_at: optional(self.last_used_at)?,
            revoked_at: optional(self.revoked_at)?,
            id: self.id,
            user_id: self.user_id,
            name: self.name,
        })
    }
}

/// One implementation for each pool type, from the one text of each query.
macro_rules! token_store_on {
    ($pool:ty) => {
        #[async_trait]
        impl TokenStore for $pool {
            async fn insert_token(&self, t: &StoredToken, hash: &str) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO access_tokens (id, user_id, name, scopes, token_hash, \
                     created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&t.id)
                .bind(&t.user_id)
                .bind(&t.name)
                .bind(t.scopes.to_text())
                .bind(hash)
                .bind(to_micros(t.created_at))
                .bind(to_micros(t.expires_at))
                .execute(self)
                .await?;
                Ok(())
            }

            async fn token_by_hash(&self, hash: &str) -> Result<Option<StoredToken>, StoreError> {
                let sql = format!("SELECT {COLUMNS} FROM access_tokens WHERE token_hash = $1");
                let row: Option<TokenRow> =
                    sqlx::query_as(&sql).bind(hash).fetch_optional(self).await?;
                row.map(TokenRow::into_token).transpose()
            }

            async fn token_by_id(&self, id: &str) -> Result<Option<StoredToken>, StoreError> {
                let sql = format!("SELECT {COLUMNS} FROM access_tokens WHERE id = $1");
                let row: Option<TokenRow> =
                    sqlx::query_as(&sql).bind(id).fetch_optional(self).await?;
                row.map(TokenRow::into_token).transpose()
            }

            async fn list_tokens(&self, user: &str) -> Result<Vec<StoredToken>, StoreError> {
                let sql = format!(
                    "SELECT {COLUMNS} FROM access_tokens WHERE user_id = $1 \
                     AND revoked_at IS NULL ORDER BY created_at, id"
                );
                let rows: Vec<TokenRow> = sqlx::query_as(&sql).bind(user).fetch_all(self).await?;
                rows.into_iter().map(TokenRow::into_token).collect()
            }

            async fn revoke_token(
                &self,
                user: &str,
                id: &str,
                at: DateTime<Utc>,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE access_tokens SET revoked_at = $1 \
                     WHERE user_id = $2 AND id = $3 AND revoked_at IS NULL",
                )
                .bind(to_micros(at))
                .bind(user)
                .bind(id)
                .execute(self)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn touch_tokens(
                &self,
                used: &[(String, DateTime<Utc>)],
            ) -> Result<(), StoreError> {
                let mut tx = self.begin().await?;
                for (id, at) in used {
                    sqlx::query(
                        "UPDATE access_tokens SET last_used_at = $1 WHERE id = $2 \
                         AND (last_used_at IS NULL OR last_used_at < $1)",
                    )
                    .bind(to_micros(*at))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }
        }
    };
}

token_store_on!(SqlitePool);
token_store_on!(PgPool);

/// SQLite's tokens: looked up on the reader connections, so a flood of made-up tokens never
/// queues on the one writer; written on the writer.
pub struct SqliteTokens {
    pub readers: SqlitePool,
    pub writer: SqlitePool,
}

#[async_trait]
impl TokenStore for SqliteTokens {
    async fn insert_token(&self, token: &StoredToken, hash: &str) -> Result<(), StoreError> {
        self.writer.insert_token(token, hash).await
    }

    async fn token_by_hash(&self, hash: &str) -> Result<Option<StoredToken>, StoreError> {
        self.readers.token_by_hash(hash).await
    }

    async fn token_by_id(&self, id: &str) -> Result<Option<StoredToken>, StoreError> {
        self.readers.token_by_id(id).await
    }

    async fn list_tokens(&self, user: &str) -> Result<Vec<StoredToken>, StoreError> {
        self.readers.list_tokens(user).await
    }

    async fn revoke_token(
        &self,
        user: &str,
        id: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.writer.revoke_token(user, id, at).await
    }

    async fn touch_tokens(&self, used: &[(String, DateTime<Utc>)]) -> Result<(), StoreError> {
        self.writer.touch_tokens(used).await
    }
}
