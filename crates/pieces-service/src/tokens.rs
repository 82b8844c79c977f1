//! Personal access token use cases: make one (its secret shown this once), list, revoke.

use std::sync::Arc;

use chrono::Duration as Days;
use serde::Serialize;
use utoipa::ToSchema;

use super::{ServiceError, ServiceResult};
use crate::auth::personal::{self, PersonalTokens};
use pieces_model::{now, NewToken, Scope, StoredToken, TokenInfo, TokenRequest};
use pieces_store::TokenStore;

/// A token just made: the only answer that ever holds its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    pub id: String,
    pub name: String,
    #[schema(value_type = Vec<String>)]
    pub scopes: Vec<&'static str>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    /// `pcn_...`: shown once, stored only as a hash.
    pub token: String,
}

pub struct TokenService {
    store: Arc<dyn TokenStore>,
    personal: Arc<PersonalTokens>,
    /// Live tokens one user may hold.
    max_per_user: usize,
}

/// A page of a user's tokens.
pub struct TokenPage {
    pub tokens: Vec<TokenInfo>,
    pub total: i64,
}

impl TokenService {
    pub fn new(
        store: Arc<dyn TokenStore>,
        personal: Arc<PersonalTokens>,
        max_per_user: usize,
    ) -> Self {
        Self {
            store,
            personal,
            max_per_user,
        }
    }

    pub async fn create(&self, user: &str, body: NewToken) -> ServiceResult<CreatedToken> {
        let request = body.validate()?;
        self.mint(user, request).await
    }

    /// Makes a token from a validated request (the command line's way in too).
    pub async fn mint(&self, user: &str, request: TokenRequest) -> ServiceResult<CreatedToken> {
        let created_at = now();
        let token = StoredToken {
            id: uuid::Uuid::now_v7().to_string(),
            user_id: user.to_owned(),
            name: request.name,
            scopes: request.scopes,
            created_at,
            expires_at: created_at + Days::days(i64::from(request.days)),
            last_used_at: None,
            revoked_at: None,
        };
        let secret = personal::new_secret();
        let max = i64::try_from(self.max_per_user).unwrap_or(i64::MAX);
        if !self
            .store
            .insert_token(&token, &personal::hash(&secret), max)
            .await?
        {
            return Err(ServiceError::LimitReached {
                code: "too_many_tokens",
                detail: format!(
                    "a user may hold at most {} live tokens; revoke one first",
                    self.max_per_user
                ),
            });
        }
        tracing::info!(token = %token.id, "personal access token created");
        Ok(CreatedToken {
            scopes: token.scopes.iter().map(Scope::as_str).collect(),
            id: token.id,
            name: token.name,
            created_at: token.created_at,
            expires_at: token.expires_at,
            token: secret,
        })
    }

    /// A page of the user's tokens that are not revoked, oldest first, never their secrets.
    pub async fn list(&self, user: &str, limit: i64, offset: i64) -> ServiceResult<TokenPage> {
        let (tokens, total) = self.store.list_tokens(user, limit, offset).await?;
        Ok(TokenPage {
            tokens: tokens.iter().map(TokenInfo::from).collect(),
            total,
        })
    }

    /// Revokes one of the user's tokens: refused at once here, within seconds elsewhere.
    pub async fn revoke(&self, user: &str, id: &str) -> ServiceResult<()> {
        if !self.store.revoke_token(user, id, now()).await? {
            return Err(ServiceError::NotFound("token"));
        }
        self.personal.forget_verified();
        tracing::info!(token = %id, "personal access token revoked");
        Ok(())
    }
}
