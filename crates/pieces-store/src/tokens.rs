//! Personal access tokens, kept by hash. The queries are the same on both databases.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgPool, SqlitePool};

use super::row::json_text;
use super::{from_micros, to_micros, StoreError};
use pieces_model::audit::NewAudit;
use pieces_model::{Scopes, StoredToken};

#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Stores a new token under the hash of its secret, unless its user already holds
    /// `max_live` tokens that are neither revoked nor expired; true when stored.
    async fn insert_token(
        &self,
        token: &StoredToken,
        hash: &str,
        max_live: i64,
        audit: &NewAudit,
    ) -> Result<bool, StoreError>;
    /// The token whose secret hashes to `hash`, revoked or not.
    async fn token_by_hash(&self, hash: &str) -> Result<Option<StoredToken>, StoreError>;
    /// The token with this id, revoked or not.
    async fn token_by_id(&self, id: &str) -> Result<Option<StoredToken>, StoreError>;
    /// A page of the user's tokens that are not revoked, oldest first, and how many there are.
    async fn list_tokens(
        &self,
        user: &str,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<StoredToken>, i64), StoreError>;
    /// Revokes one of the user's tokens, with its audit record; false when the user has no
    /// such live token.
    async fn revoke_token(
        &self,
        user: &str,
        id: &str,
        at: DateTime<Utc>,
        audit: &NewAudit,
    ) -> Result<bool, StoreError>;
    /// Records when tokens were last used, in one transaction.
    async fn touch_tokens(&self, used: &[(String, DateTime<Utc>)]) -> Result<(), StoreError>;
}

const COLUMNS: &str =
    "id, user_id, name, scopes, created_at, expires_at, last_used_at, revoked_at, workspaces";

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
    workspaces: Option<String>,
}

impl TokenRow {
    fn into_token(self) -> Result<StoredToken, StoreError> {
        let scopes = Scopes::from_text(&self.scopes)
            .ok_or_else(|| StoreError::Corrupt(format!("token {} has unknown scopes", self.id)))?;
        let optional = |t: Option<i64>| t.map(from_micros).transpose();
        let workspaces = match self.workspaces.as_deref() {
            None => None,
            Some(text) => Some(serde_json::from_str(text).map_err(|_| {
                StoreError::Corrupt(format!("token {} has unreadable workspaces", self.id))
            })?),
        };
        Ok(StoredToken {
            workspaces,
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

/// A new token, stored only while its user holds fewer than the cap ($8) of live tokens
/// (neither revoked nor expired at its creation, $6).
const INSERT_UNDER_CAP: &str = "INSERT INTO access_tokens (id, user_id, name, scopes, token_hash, \
    created_at, expires_at, workspaces) SELECT $1, $2, $3, $4, $5, $6, $7, $9 \
    WHERE (SELECT COUNT(*) FROM access_tokens WHERE user_id = $2 AND revoked_at IS NULL \
    AND expires_at > $6) < $8";

/// Writes a token's audit record in the caller's transaction (it has no detail, the one
/// column whose type differs between the databases).
async fn insert_audit<'c, DB>(
    tx: &mut sqlx::Transaction<'c, DB>,
    r: &NewAudit,
) -> Result<(), StoreError>
where
    DB: sqlx::Database,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> <DB as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'e> &'e mut <DB as sqlx::Database>::Connection: sqlx::Executor<'e, Database = DB>,
{
    sqlx::query(
        "INSERT INTO audit_log (at, actor_id, via, token_id, workspace_id, action, \
         target_type, target_id, request_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(to_micros(r.at))
    .bind(r.actor.user_id.as_str())
    .bind(r.actor.via.as_str())
    .bind(r.actor.token_id.as_deref())
    .bind(r.workspace.as_deref())
    .bind(r.action.as_str())
    .bind(r.target.kind.as_str())
    .bind(r.target.id.as_str())
    .bind(r.request_id.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One implementation for each pool type, from the one text of each query. `$lock` runs
/// first in the insert's transaction: on PostgreSQL a lock on the user, so two concurrent
/// creates cannot both count below the cap (SQLite's one writer does that by itself).
macro_rules! token_store_on {
    ($pool:ty, $lock:literal) => {
        #[async_trait]
        impl TokenStore for $pool {
            async fn insert_token(
                &self,
                t: &StoredToken,
                hash: &str,
                max_live: i64,
                audit: &NewAudit,
            ) -> Result<bool, StoreError> {
                let mut tx = self.begin().await?;
                if !$lock.is_empty() {
                    sqlx::query($lock)
                        .bind(&t.user_id)
                        .execute(&mut *tx)
                        .await?;
                }
                let done = sqlx::query(INSERT_UNDER_CAP)
                    .bind(&t.id)
                    .bind(&t.user_id)
                    .bind(&t.name)
                    .bind(t.scopes.to_text())
                    .bind(hash)
                    .bind(to_micros(t.created_at))
                    .bind(to_micros(t.expires_at))
                    .bind(max_live)
                    .bind(t.workspaces.as_ref().map(json_text))
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                insert_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(true)
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

            async fn list_tokens(
                &self,
                user: &str,
                limit: i64,
                offset: i64,
            ) -> Result<(Vec<StoredToken>, i64), StoreError> {
                let sql = format!(
                    "SELECT {COLUMNS} FROM access_tokens WHERE user_id = $1 \
                     AND revoked_at IS NULL ORDER BY created_at, id LIMIT $2 OFFSET $3"
                );
                let rows: Vec<TokenRow> = sqlx::query_as(&sql)
                    .bind(user)
                    .bind(limit)
                    .bind(offset)
                    .fetch_all(self)
                    .await?;
                let total: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM access_tokens WHERE user_id = $1 AND revoked_at IS NULL",
                )
                .bind(user)
                .fetch_one(self)
                .await?;
                let tokens = rows
                    .into_iter()
                    .map(TokenRow::into_token)
                    .collect::<Result<_, _>>()?;
                Ok((tokens, total))
            }

            async fn revoke_token(
                &self,
                user: &str,
                id: &str,
                at: DateTime<Utc>,
                audit: &NewAudit,
            ) -> Result<bool, StoreError> {
                let mut tx = self.begin().await?;
                let done = sqlx::query(
                    "UPDATE access_tokens SET revoked_at = $1 \
                     WHERE user_id = $2 AND id = $3 AND revoked_at IS NULL",
                )
                .bind(to_micros(at))
                .bind(user)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                insert_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(true)
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

token_store_on!(SqlitePool, "");
token_store_on!(
    PgPool,
    "SELECT pg_advisory_xact_lock(hashtext('access_tokens:' || $1))"
);

/// SQLite's tokens: looked up on the reader connections, so a flood of made-up tokens never
/// queues on the one writer; written on the writer.
pub struct SqliteTokens {
    pub readers: SqlitePool,
    pub writer: SqlitePool,
}

#[async_trait]
impl TokenStore for SqliteTokens {
    async fn insert_token(
        &self,
        token: &StoredToken,
        hash: &str,
        max_live: i64,
        audit: &NewAudit,
    ) -> Result<bool, StoreError> {
        self.writer.insert_token(token, hash, max_live, audit).await
    }

    async fn token_by_hash(&self, hash: &str) -> Result<Option<StoredToken>, StoreError> {
        self.readers.token_by_hash(hash).await
    }

    async fn token_by_id(&self, id: &str) -> Result<Option<StoredToken>, StoreError> {
        self.readers.token_by_id(id).await
    }

    async fn list_tokens(
        &self,
        user: &str,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<StoredToken>, i64), StoreError> {
        self.readers.list_tokens(user, limit, offset).await
    }

    async fn revoke_token(
        &self,
        user: &str,
        id: &str,
        at: DateTime<Utc>,
        audit: &NewAudit,
    ) -> Result<bool, StoreError> {
        self.writer.revoke_token(user, id, at, audit).await
    }

    async fn touch_tokens(&self, used: &[(String, DateTime<Utc>)]) -> Result<(), StoreError> {
        self.writer.touch_tokens(used).await
    }
}
