//! The cache never keeps a value older than the store: a fill that read the store before a
//! change's invalidation stores nothing, on Redis as in process.

use std::time::Duration;

use bytes::Bytes;
use pieces_connector::cache::{Cache, Lookup, MemoryCache, RedisCache};

use crate::support::backends::Services;

const TTL: Duration = Duration::from_secs(60);

async fn a_fill_begun_before_an_invalidation_stores_nothing(cache: &dyn Cache, key: &str) {
    let Lookup::Miss(ticket) = cache.lookup(key).await.expect("lookup") else {
        panic!("a fresh key is a miss");
    };
    // A change commits and invalidates while the read of the old version is in flight.
    cache.invalidate(key).await.expect("invalidate");
    let stored = cache
        .fill(key, Bytes::from_static(b"old"), TTL, ticket)
        .await
        .expect("fill");
    assert!(!stored, "the old version is refused");
    assert!(cache.get(key).await.expect("get").is_none());

    let Lookup::Miss(ticket) = cache.lookup(key).await.expect("lookup") else {
        panic!("still a miss");
    };
    let stored = cache
        .fill(key, Bytes::from_static(b"new"), TTL, ticket)
        .await
        .expect("fill");
    assert!(stored, "a fill after the change is kept");
    match cache.lookup(key).await.expect("lookup") {
        Lookup::Hit(value) => assert_eq!(value, "new"),
        Lookup::Miss(_) => panic!("the new version is cached"),
    }
}

#[tokio::test]
async fn redis_refuses_a_fill_that_raced_an_invalidation() {
    let Some(url) = Services::redis("redis_refuses_a_fill_that_raced_an_invalidation").await else {
        return;
    };
    let cache = RedisCache::connect(&url, Duration::from_secs(1))
        .await
        .expect("redis cache");
    let key = format!("pieces:snippets:{}:race", uuid::Uuid::new_v4());
    a_fill_begun_before_an_invalidation_stores_nothing(&cache, &key).await;
}

#[tokio::test]
async fn memory_refuses_a_fill_that_raced_an_invalidation() {
    let cache = MemoryCache::new(1 << 20);
    a_fill_begun_before_an_invalidation_stores_nothing(&cache, "pieces:snippets:u:race").await;
}
