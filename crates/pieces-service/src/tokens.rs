//! Personal access token use cases: make one (its secret shown this once), list, revoke.

use std::sync::Arc;

use chrono::Duration as Days;
use serde::Serialize;
use utoipa::ToSchema;

use super::{Access, ServiceError, ServiceResult};
use crate::auth::personal::{self, PersonalTokens};
use crate::auth::Principal;
use pieces_model::audit::{AuditAction, NewAudit};
use pieces_model::workspace::PERSONAL;
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
    /// The workspaces it is limited to; absent: every one its user can read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspaces: Option<Vec<String>>,
}

pub struct TokenService {
    store: Arc<dyn TokenStore>,
    personal: Arc<PersonalTokens>,
    /// To check that the workspaces a token is limited to are its user's.
    access: Arc<Access>,
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
        access: Arc<Access>,
        max_per_user: usize,
    ) -> Self {
        Self {
            store,
            personal,
            access,
            max_per_user,
        }
    }

    /// Makes a token for the caller; its secret is in this answer only.
    pub async fn create(&self, caller: &Principal, body: NewToken) -> ServiceResult<CreatedToken> {
        let request = body.validate()?;
        let workspaces = match &request.workspaces {
            None => None,
            Some(ids) => Some(self.reachable(caller, ids).await?),
        };
        self.mint(caller, request, workspaces).await
    }

    /// The stored keys of the workspaces `ids` names, each one the caller can read.
    async fn reachable(&self, caller: &Principal, ids: &[String]) -> ServiceResult<Vec<String>> {
        let mut keys = Vec::with_capacity(ids.len());
        for id in ids {
            let key = if id == PERSONAL {
                caller.user.as_str()
            } else {
                id.as_str()
            };
            // One the caller cannot read is, to them, one that does not exist.
            if self.access.role(caller, key).await?.is_none() {
                return Err(ServiceError::NotFound("workspace"));
            }
            keys.push(key.to_owned());
        }
        Ok(keys)
    }

    async fn mint(
        &self,
        caller: &Principal,
        request: TokenRequest,
        workspaces: Option<Vec<String>>,
    ) -> ServiceResult<CreatedToken> {
        let user = caller.user.as_str();
        let created_at = now();
        let token = StoredToken {
            workspaces,
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
        let audit = NewAudit::new(
            &caller.actor(),
            None,
            AuditAction::TokenCreated,
            ("token", &token.id),
            created_at,
        );
        if !self
            .store
            .insert_token(&token, &personal::hash(&secret), max, &audit)
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
        let shown = TokenInfo::from(&token);
        Ok(CreatedToken {
            workspaces: shown.workspaces,
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

    /// Revokes one of the caller's tokens: refused at once here, within seconds elsewhere.
    pub async fn revoke(&self, caller: &Principal, id: &str) -> ServiceResult<()> {
        let at = now();
        let audit = NewAudit::new(
            &caller.actor(),
            None,
            AuditAction::TokenRevoked,
            ("token", id),
            at,
        );
        if !self
            .store
            .revoke_token(&caller.user, id, at, &audit)
            .await?
        {
            return Err(ServiceError::NotFound("token"));
        }
        self.personal.forget_verified();
        tracing::info!(token = %id, "personal access token revoked");
        Ok(())
    }
}
