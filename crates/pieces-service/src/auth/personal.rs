//! Personal access tokens: `pcn_` and 256 random bits, stored only as a SHA-256 hash. A
//! verified token is remembered for a few seconds, so a request does not cost a database
//! round trip; revocation reaches every replica when that memory runs out.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::AuthError;
use pieces_model::StoredToken;
use pieces_store::{StoreError, TokenStore};

/// What every personal token starts with, so it is told from a JWT (and found by secret
/// scanners) at a glance.
pub const PREFIX: &str = "pcn_";

/// How long a verified token is trusted without asking the store again. Revocation on
/// another replica takes effect within this.
pub const VERIFIED_FOR: Duration = Duration::from_secs(4);

/// Tokens remembered at once; past this the least used are asked for again.
const REMEMBERED: u64 = 100_000;

/// A use is not written again while the stored one is this recent: a busy token costs a
/// write every half minute at most, and `last_used_at` stays within a minute of the truth.
const USE_PRECISION: chrono::TimeDelta = chrono::TimeDelta::seconds(30);

/// Uses written per transaction: each is short, so creates on SQLite's one writer wait for
/// one chunk at most, never for all of a busy minute's uses.
const USES_PER_WRITE: usize = 200;

/// A new secret: the prefix and 32 random bytes.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The hash a secret is stored and looked up by. The secret carries 256 random bits, so a
/// fast hash is enough: nothing is to be gained by guessing.
pub fn hash(secret: &str) -> String {
    format!("{:x}", Sha256::digest(secret.as_bytes()))
}

/// What was found for a hash: a token, or nothing (remembered too, so a flood of made-up
/// tokens does not become a flood of queries).
#[derive(Clone)]
enum Found {
    Token(Arc<StoredToken>),
    Unknown,
}

pub struct PersonalTokens {
    store: Arc<dyn TokenStore>,
    verified: moka::sync::Cache<String, Found>,
    /// Bumped by each revocation here, so a lookup that read the store before a revocation
    /// does not put what it read back into `verified` after it.
    revocations: AtomicU64,
    /// Uses not yet written: token id to the latest use.
    used: Mutex<HashMap<String, DateTime<Utc>>>,
}

/// Why a personal token was not accepted.
pub enum Refusal {
    Refused(AuthError),
    StoreDown(StoreError),
}

impl PersonalTokens {
    pub fn new(store: Arc<dyn TokenStore>) -> Self {
        Self {
            store,
            revocations: AtomicU64::new(0),
            verified: moka::sync::Cache::builder()
                .max_capacity(REMEMBERED)
                .time_to_live(VERIFIED_FOR)
                .build(),
            used: Mutex::new(HashMap::new()),
        }
    }

    /// The token `secret` stands for, if it is known, live and unexpired.
    pub async fn verify(&self, secret: &str) -> Result<Arc<StoredToken>, Refusal> {
        let key = hash(secret);
        let found = match self.verified.get(&key) {
            Some(found) => found,
            None => {
                let epoch = self.revocations.load(Ordering::SeqCst);
                let found = match self.store.token_by_hash(&key).await {
                    Ok(Some(token)) => Found::Token(Arc::new(token)),
                    Ok(None) => Found::Unknown,
                    Err(e) => return Err(Refusal::StoreDown(e)),
                };
                if self.revocations.load(Ordering::SeqCst) != epoch {
                    // A revocation raced this read: ask the store again, now after it.
                    return Box::pin(self.verify(secret)).await;
                }
                self.verified.insert(key, found.clone());
                found
            }
        };
        let Found::Token(token) = found else {
            return Err(refused("token_invalid", "the token is not known"));
        };
        let now = Utc::now();
        if token.revoked_at.is_some() {
            return Err(refused("token_revoked", "the token has been revoked"));
        }
        if token.expires_at <= now {
            return Err(refused("token_expired", "the token has expired"));
        }
        let recorded_lately = token
            .last_used_at
            .is_some_and(|at| now - at < USE_PRECISION);
        if !recorded_lately {
            if let Ok(mut used) = self.used.lock() {
                used.insert(token.id.clone(), now);
            }
        }
        Ok(token)
    }

    /// Whether the token with this id is still usable, asked of the store (for what outlives
    /// a request). A store that cannot answer does not end anything.
    pub async fn still_live(&self, id: &str) -> bool {
        match self.store.token_by_id(id).await {
            Ok(Some(token)) => token.revoked_at.is_none() && token.expires_at > Utc::now(),
            Ok(None) => false,
            Err(_) => true,
        }
    }

    /// Forgets every verified token at once (after a revocation on this replica).
    pub fn forget_verified(&self) {
        self.revocations.fetch_add(1, Ordering::SeqCst);
        self.verified.invalidate_all();
    }

    /// Writes the uses recorded since the last call, a short transaction per chunk, yielding
    /// between chunks. A failed write puts what it held back, to be tried with the next.
    pub async fn flush_uses(&self) {
        let batch: Vec<(String, DateTime<Utc>)> = match self.used.lock() {
            Ok(mut used) => used.drain().collect(),
            Err(_) => return,
        };
        for chunk in batch.chunks(USES_PER_WRITE) {
            if let Err(e) = self.store.touch_tokens(chunk).await {
                tracing::warn!(error = %e, "cannot record token uses; will retry");
                if let Ok(mut used) = self.used.lock() {
                    for (id, at) in chunk {
                        let latest = used.entry(id.clone()).or_insert(*at);
                        *latest = (*latest).max(*at);
                    }
                }
            }
            tokio::task::yield_now().await;
        }
    }
}

fn refused(code: &'static str, detail: &str) -> Refusal {
    Refusal::Refused(AuthError::new(code, detail))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pieces_model::Scopes;
    use sqlx::Connection;

    #[test]
    fn secrets_carry_256_bits_and_are_stored_as_a_hash() {
        let secret = new_secret();
        assert!(secret.starts_with(PREFIX));
        assert_eq!(secret.len(), PREFIX.len() + 43, "32 bytes in base64url");
        assert_ne!(new_secret(), secret);
        let stored = hash(&secret);
        assert_eq!(stored.len(), 64);
        assert!(!stored.contains(&secret[PREFIX.len()..]));
    }

    fn audit() -> pieces_model::audit::NewAudit {
        let actor = pieces_model::audit::Actor {
            user_id: "u".into(),
            via: pieces_model::audit::Via::Jwt,
            token_id: None,
        };
        let action = pieces_model::audit::AuditAction::TokenCreated;
        pieces_model::audit::NewAudit::new(&actor, None, action, ("token", "t"), Utc::now())
    }

    fn token(id: String) -> StoredToken {
        let now = Utc::now();
        StoredToken {
            user_id: format!("user-{id}"),
            id,
            name: "t".into(),
            scopes: Scopes::all(),
            created_at: now,
            expires_at: now + chrono::TimeDelta::days(1),
            last_used_at: None,
            revoked_at: None,
            workspaces: None,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_busy_minutes_uses_are_written_in_short_transactions_with_room_between() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}/pieces.db", dir.path().display());
        let metrics = pieces_metrics::Metrics::new().expect("metrics");
        let stores = pieces_store::connect(
            &url.parse().expect("a URL"),
            1,
            std::time::Duration::from_secs(10),
            pieces_store::Keeping { versions: 100 },
            &metrics,
        )
        .await
        .expect("store");
        let mut db = sqlx::SqliteConnection::connect(&url).await.expect("db");
        let mut tx = db.begin().await.expect("tx");
        let personal = Arc::new(PersonalTokens::new(stores.tokens.clone()));
        for n in 0..10_000 {
            let id = format!("t{n}");
            sqlx::query(
                "INSERT INTO access_tokens (id, user_id, name, scopes, token_hash, \
                 created_at, expires_at) VALUES (?, 'u', 't', 'ai', ?, 0, 9999999999999999)",
            )
            .bind(&id)
            .bind(&id)
            .execute(&mut *tx)
            .await
            .expect("a token");
            personal.used.lock().expect("uses").insert(id, Utc::now());
        }
        tx.commit().await.expect("committed");
        let flushing = tokio::spawn({
            let personal = personal.clone();
            async move { personal.flush_uses().await }
        });
        // Once the first uses are written, another write must get its turn before the rest.
        loop {
            let written: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM access_tokens WHERE last_used_at > 0")
                    .fetch_one(&mut db)
                    .await
                    .expect("count");
            if written > 0 {
                break;
            }
            tokio::task::yield_now().await;
        }
        let stored = stores
            .tokens
            .insert_token(&token("between".into()), "hash-between", 100, &audit())
            .await
            .expect("a write between two chunks");
        assert!(stored);
        assert!(
            !flushing.is_finished(),
            "the write waited for every use to be written"
        );
        flushing.await.expect("flushed");
        let written: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM access_tokens WHERE last_used_at > 0")
                .fetch_one(&mut db)
                .await
                .expect("count");
        assert_eq!(written, 10_000, "every use is written");
    }
}
