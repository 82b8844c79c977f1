//! Local mode: with no `JWT_SECRET_KEY` (never in Kubernetes) the service signs tokens with a
//! random secret of its own, for the one user `local-user`.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::JwtKeys;

/// The user every local-mode token names.
pub const LOCAL_USER: &str = "local-user";

/// Mints tokens for `local-user` with this run's own secret.
#[derive(Clone)]
pub struct LocalMode {
    keys: JwtKeys,
}

/// A token and when it expires.
pub struct LocalToken {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

impl LocalMode {
    pub fn new(keys: JwtKeys) -> Self {
        Self { keys }
    }

    /// A token for `local-user`, valid for `ttl`.
    pub fn mint(&self, ttl: Duration) -> LocalToken {
        let expires_at = Utc::now() + ttl;
        LocalToken {
            token: self.keys.mint(LOCAL_USER, ttl.as_secs()),
            expires_at,
        }
    }
}
