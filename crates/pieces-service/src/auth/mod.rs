//! Who is calling: a platform JWT (every scope) or a personal access token (the scopes it
//! was given), turned into a `Principal` for any front door.

mod jwt;
mod local;
pub mod personal;
mod verified_jwts;

pub use jwt::JwtKeys;
pub use local::{LocalMode, LocalToken, LOCAL_USER};
pub use personal::PersonalTokens;

use verified_jwts::{Verified, VerifiedJwts};

use std::sync::Arc;

use chrono::{DateTime, Utc};

use pieces_model::audit::{Actor, Via};
use pieces_model::{Scope, Scopes};
use pieces_store::StoreError;

/// Why a credential was refused: a stable code and a sentence, never the token itself.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{detail}")]
pub struct AuthError {
    pub code: &'static str,
    pub detail: String,
}

impl AuthError {
    pub fn new(code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }
}

/// Authentication failed: the credential was refused, or it could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum AuthFailure {
    #[error(transparent)]
    Refused(#[from] AuthError),
    #[error(transparent)]
    StoreDown(#[from] StoreError),
}

/// The caller of a request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: String,
    pub scopes: Scopes,
    /// The personal token's id, when the caller used one (None for a platform JWT).
    pub token_id: Option<String>,
    /// When the credential stops being valid: what outlives a request (a stream) ends then.
    pub expires_at: Option<DateTime<Utc>>,
    /// The front door and credential kind, as the audit log names them.
    pub via: Via,
    /// The stored keys of the workspaces a limited personal token may reach; None: every
    /// workspace the user can read.
    pub workspaces: Option<Arc<[String]>>,
    /// The platform groups the JWT lists (`JWT_GROUPS_CLAIM`); a personal token lists none.
    pub groups: Arc<[String]>,
}

impl Principal {
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.allows(scope)
    }

    /// Who the audit log says acted.
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: self.user.clone(),
            via: self.via,
            token_id: self.token_id.clone(),
        }
    }

    /// The same caller, come through MCP.
    pub fn through_mcp(mut self) -> Self {
        self.via = Via::Mcp;
        self
    }
}

/// Turns a bearer credential into the caller it speaks for.
pub struct Authenticator {
    jwt: JwtKeys,
    /// JWTs are this run's own (local mode, see `LocalMode`).
    local: bool,
    verified_jwts: VerifiedJwts,
    personal: Arc<PersonalTokens>,
}

impl Authenticator {
    pub fn new(jwt: JwtKeys, personal: Arc<PersonalTokens>, local: bool) -> Self {
        Self {
            jwt,
            local,
            verified_jwts: VerifiedJwts::new(jwt::LEEWAY_SECS),
            personal,
        }
    }

    pub async fn authenticate(&self, token: &str) -> Result<Principal, AuthFailure> {
        if token.starts_with(personal::PREFIX) {
            let found = self.personal.verify(token).await.map_err(|r| match r {
                personal::Refusal::Refused(e) => AuthFailure::Refused(e),
                personal::Refusal::StoreDown(e) => AuthFailure::StoreDown(e),
            })?;
            return Ok(Principal {
                user: found.user_id.clone(),
                scopes: found.scopes,
                token_id: Some(found.id.clone()),
                expires_at: Some(found.expires_at),
                via: Via::Token,
                workspaces: found.workspaces.as_deref().map(Arc::from),
                groups: Arc::from(Vec::new()),
            });
        }
        let Verified { user, exp, groups } = match self.verified_jwts.get(token) {
            Some(verified) => verified,
            None => {
                let claims = self.jwt.verify_claims(token)?;
                let verified = Verified {
                    user: claims.user,
                    exp: claims.exp,
                    groups: Arc::from(claims.groups),
                };
                self.verified_jwts.remember(token, verified.clone());
                verified
            }
        };
        Ok(Principal {
            user,
            scopes: Scopes::all(),
            token_id: None,
            expires_at: exp.and_then(|secs| DateTime::from_timestamp(secs, 0)),
            via: if self.local { Via::Local } else { Via::Jwt },
            workspaces: None,
            groups,
        })
    }
}
