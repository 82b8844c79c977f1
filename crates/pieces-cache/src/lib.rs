//! The cache: Redis when `REDIS_URL` is set, in-process otherwise. It is never the only copy
//! of a snippet; workflow context lives only here, with its TTL.

mod generations;
mod memory;
mod near;
mod redis;

pub use self::memory::MemoryCache;
pub use self::near::NearCache;
pub use self::redis::RedisCache;

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use rand::Rng;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache unavailable: {0}")]
    Unavailable(String),
    #[error("cache did not answer in time")]
    Timeout,
}

/// What a look-up found: the value, or a ticket to fill the key with.
#[derive(Debug)]
pub enum Lookup {
    Hit(Bytes),
    Miss(FillTicket),
}

/// The key's generation when a look-up missed. A fill with it stores nothing if the key was
/// invalidated since, so a value read from the store before a write can never land in the
/// cache after that write's invalidation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FillTicket {
    /// The generation in the cache that answered.
    pub(crate) generation: u64,
    /// The near cache's own, when one sits in front.
    pub(crate) near: u64,
}

impl FillTicket {
    pub(crate) fn new(generation: u64) -> Self {
        Self {
            generation,
            near: 0,
        }
    }
}

#[async_trait]
pub trait Cache: Send + Sync {
    async fn get(&self, key: &str) -> Result<Option<Bytes>, CacheError>;
    /// Stores unconditionally (values that are only ever written whole, never filled from
    /// the store).
    async fn set(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), CacheError>;
    async fn delete(&self, key: &str) -> Result<(), CacheError>;
    /// Reads a key that is filled from the store on a miss.
    async fn lookup(&self, key: &str) -> Result<Lookup, CacheError>;
    /// Stores a value read after `lookup` missed, unless the key was invalidated since;
    /// true when stored.
    async fn fill(
        &self,
        key: &str,
        value: Bytes,
        ttl: Duration,
        ticket: FillTicket,
    ) -> Result<bool, CacheError>;
    /// Drops a key after its source changed, so that no fill begun before can store it.
    async fn invalidate(&self, key: &str) -> Result<(), CacheError>;
    /// A cheap round trip, for readiness.
    async fn ping(&self) -> Result<(), CacheError>;
    /// "redis" or "memory".
    fn backend(&self) -> &'static str;
    /// How many calls have failed since start-up: a cache that was failing and answers
    /// again has drops to catch up on.
    fn failures(&self) -> u64 {
        0
    }
}

/// The platform's key for a cached snippet. Snippet ids are checked to be UUIDs before they
/// get here, so a user id holding `:` cannot forge another user's key.
pub fn snippet_key(user: &str, id: &str) -> String {
    // Built by hand: this runs on every read, and `format!` costs more than the copying.
    let mut key = String::with_capacity(PREFIX.len() + user.len() + 1 + id.len());
    key.push_str(PREFIX);
    key.push_str(user);
    key.push(':');
    key.push_str(id);
    key
}

const PREFIX: &str = "pieces:snippets:";

/// The workspace (or user) part of `key`, a key `snippet_key` made for snippet `id`.
pub fn snippet_key_workspace<'a>(key: &'a str, id: &str) -> &'a str {
    let end = key.len().saturating_sub(id.len() + 1);
    key.get(PREFIX.len()..end).unwrap_or_default()
}

/// The platform's key for a user's workflow context.
pub fn workflow_key(user: &str) -> String {
    format!("pieces:workflow:{user}")
}

/// A TTL spread by up to 10% so entries cached together do not expire together.
pub fn jittered(ttl: Duration) -> Duration {
    let spread = ttl.as_millis() as u64 / 10;
    if spread == 0 {
        return ttl;
    }
    ttl + Duration::from_millis(rand::rng().random_range(0..spread))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snippet_key_gives_back_its_workspace() {
        let id = "0190b7a2-7c1e-7d4e-9a51-2f3c4d5e6f70";
        for workspace in ["alice", "ws_01jabcdef", "user:with:colons", ""] {
            let key = snippet_key(workspace, id);
            assert_eq!(snippet_key_workspace(&key, id), workspace);
        }
        assert_eq!(snippet_key_workspace("short", id), "");
    }
}
