use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use moka::future::Cache as Moka;
use moka::Expiry;

use super::{Cache, CacheError, FillTicket, Lookup};

/// Generation counters shared by keys that hash alike: an invalidation of one key only makes
/// fills of its neighbours retry later, at a small fixed cost in memory.
const GENERATIONS: usize = 256;

/// An in-process cache bounded by bytes, with a TTL per entry. Right for a single node only:
/// replicas would each hold their own copy.
pub struct MemoryCache {
    entries: Moka<String, Entry>,
    generations: Box<[AtomicU64]>,
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
            generations: (0..GENERATIONS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn generation(&self, key: &str) -> &AtomicU64 {
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        &self.generations[hasher.finish() as usize % GENERATIONS]
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
        let ticket = FillTicket::new(self.generation(key).load(Ordering::SeqCst));
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
        let generation = self.generation(key);
        if generation.load(Ordering::SeqCst) != ticket.generation {
            return Ok(false);
        }
        self.entries
            .insert(key.to_owned(), Entry { value, ttl })
            .await;
        // An invalidation that ran between the check and the insert bumped the generation
        // before removing the key: seen here, the value just stored is taken out again.
        if generation.load(Ordering::SeqCst) != ticket.generation {
            self.entries.invalidate(key).await;
            return Ok(false);
        }
        Ok(true)
    }

    async fn invalidate(&self, key: &str) -> Result<(), CacheError> {
        self.generation(key).fetch_add(1, Ordering::SeqCst);
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
