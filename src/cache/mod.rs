//! The cache: Redis when `REDIS_URL` is set, in-process otherwise. It is never the only copy
//! of a snippet; workflow context lives only here, with its TTL.

mod memory;
mod redis;

pub use self::memory::MemoryCache;
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

#[async_trait]
pub trait Cache: Send + Sync {
    async fn get(&self, key: &str) -> Result<Option<Bytes>, CacheError>;
    async fn set(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), CacheError>;
    async fn delete(&self, key: &str) -> Result<(), CacheError>;
    /// A cheap round trip, for readiness.
    async fn ping(&self) -> Result<(), CacheError>;
    /// "redis" or "memory".
    fn backend(&self) -> &'static str;
}

/// The platform's key for a cached snippet. Snippet ids are checked to be UUIDs before they
/// get here, so a user id holding `:` cannot forge another user's key.
pub fn snippet_key(user: &str, id: &str) -> String {
    format!("pieces:snippets:{user}:{id}")
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
