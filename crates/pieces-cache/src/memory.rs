use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use moka::future::Cache as Moka;
use moka::Expiry;

use super::generations::Generations;
use super::{Cache, CacheError, FillTicket, Lookup};

/// Invalidation counters: keys that hash alike share one.
const GENERATIONS: usize = 256;

/// An in-process cache bounded by bytes, with a TTL per entry. Right for a single node only:
/// replicas would each hold their own copy.
pub struct MemoryCache {
    entries: Moka<String, Entry>,
    generations: Generations,
}

#[derive(Clone)]
struct Entry {
    value: Bytes,
    ttl: Duration,
}

struct PerEntryTtl;

impl Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _key: &String, entry: &Entry, _now: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }

    fn expire_after_update(
        &self,
        _key: &String,
        entry: &Entry,
        _now: Instant,
        _left: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.ttl)
    }
}

impl MemoryCache {
    pub fn new(max_bytes: u64) -> Self {
        let entries = Moka::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &String, entry: &Entry| {
                u32::try_from(key.len() + entry.value.len()).unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryTtl)
            .build();
        Self {
            entries,
            generations: Generations::new(GENERATIONS),
        }
    }
}

#[async_trait]
impl Cache for MemoryCache {
    async fn get(&self, key: &str) -> Result<Option<Bytes>, CacheError> {
        Ok(self.entries.get(key).await.map(|e| e.value))
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), CacheError> {
        self.entries
            .insert(key.to_owned(), Entry { value, ttl })
            .await;
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.entries.invalidate(key).await;
        Ok(())
    }

    async fn lookup(&self, key: &str) -> Result<Lookup, CacheError> {
        // The generation is read before the entry, so a fill can only be stale-checked
        // against a generation at least as old as what it read.
        let ticket = FillTicket::new(self.generations.read(key));
        Ok(match self.entries.get(key).await {
            Some(entry) => Lookup::Hit(entry.value),
            None => Lookup::Miss(ticket),
        })
    }

    async fn fill(
        &self,
        key: &str,
        value: Bytes,
        ttl: Duration,
        ticket: FillTicket,
    ) -> Result<bool, CacheError> {
        if self.generations.read(key) != ticket.generation {
            return Ok(false);
        }
        self.entries
            .insert(key.to_owned(), Entry { value, ttl })
            .await;
        // An invalidation that ran between the check and the insert bumped the generation
        // before removing the key: seen here, the value just stored is taken out again.
        if self.generations.read(key) != ticket.generation {
            self.entries.invalidate(key).await;
            return Ok(false);
        }
        Ok(true)
    }

    async fn invalidate(&self, key: &str) -> Result<(), CacheError> {
        self.generations.bump(key);
        self.entries.invalidate(key).await;
        Ok(())
    }

    async fn ping(&self) -> Result<(), CacheError> {
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "memory"
    }
}
