//! An in-process copy of snippet reads in front of a shared cache (Redis), so a warm read
//! does not cross the network. The change bus drops a copy on every replica as soon as the
//! change commits; a short TTL bounds how stale a copy can be if the bus is down.
//!
//! A dropped key is held as a tombstone for a moment: the replica that made the change
//! invalidates Redis only after its commit, so right after the bus's message Redis may still
//! hold the old version, which must not be copied back in.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use foldhash::fast::RandomState;
use moka::sync::Cache as Moka;
use moka::Expiry;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use super::generations::Generations;
use super::{snippet_key, Cache, CacheError, FillTicket, Lookup};
use pieces_metrics::Metrics;
use pieces_model::bus::{ChangeFeed, FeedMessage};

/// How long a dropped key is not copied in again (longer than a change's commit takes to be
/// followed by its Redis invalidation).
const TOMBSTONE: Duration = Duration::from_secs(1);
/// Generation counters shared by keys that hash alike.
const GENERATIONS: usize = 1024;

#[derive(Clone)]
enum Copy {
    Value(Bytes),
    Tombstone,
}

struct Lifetimes {
    ttl: Duration,
}

impl Expiry<String, Copy> for Lifetimes {
    fn expire_after_create(&self, _key: &String, copy: &Copy, _now: Instant) -> Option<Duration> {
        Some(match copy {
            Copy::Value(_) => self.ttl,
            Copy::Tombstone => TOMBSTONE,
        })
    }

    fn expire_after_update(
        &self,
        key: &String,
        copy: &Copy,
        now: Instant,
        _left: Option<Duration>,
    ) -> Option<Duration> {
        self.expire_after_create(key, copy, now)
    }
}

pub struct NearCache {
    shared: Arc<dyn Cache>,
    /// Keyed with foldhash: SipHash of each key was a warm read's largest single cost here.
    /// Only keys of snippets read from the store are inserted, never a key a client chose.
    copies: Moka<String, Copy, RandomState>,
    generations: Generations,
    metrics: Arc<Metrics>,
}

impl NearCache {
    pub fn new(
        shared: Arc<dyn Cache>,
        ttl: Duration,
        max_bytes: u64,
        metrics: Arc<Metrics>,
    ) -> Self {
        let copies = Moka::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &String, copy: &Copy| {
                let size = match copy {
                    Copy::Value(v) => v.len(),
                    Copy::Tombstone => 0,
                };
                u32::try_from(key.len() + size).unwrap_or(u32::MAX)
            })
            .expire_after(Lifetimes { ttl })
            .build_with_hasher(RandomState::default());
        Self {
            shared,
            copies,
            generations: Generations::new(GENERATIONS),
            metrics,
        }
    }

    /// Drops this replica's copy of `key`, as the change bus asks.
    pub fn forget(&self, key: &str) {
        self.generations.bump(key);
        self.copies.insert(key.to_owned(), Copy::Tombstone);
    }

    /// Drops every copy (messages may have been lost).
    pub fn forget_all(&self) {
        self.generations.bump_all();
        self.copies.invalidate_all();
    }

    /// Keeps a copy unless the key was dropped since `near` was read.
    fn keep(&self, key: &str, value: Bytes, near: u64) {
        if self.generations.read(key) != near {
            return;
        }
        self.copies.insert(key.to_owned(), Copy::Value(value));
        // A drop between the check and the insert bumped the generation first.
        if self.generations.read(key) != near {
            self.copies.insert(key.to_owned(), Copy::Tombstone);
        }
    }

    /// Drops the copies the change bus names, on this replica, until `stop`.
    pub async fn follow(self: Arc<Self>, feed: ChangeFeed, stop: CancellationToken) {
        feed.follow(stop, |message| match message {
            FeedMessage::Changed {
                user,
                subject: Some(id),
                at,
            } => {
                self.forget(&snippet_key(&user, &id));
                let lag = (Utc::now() - at).to_std().unwrap_or_default();
                self.metrics
                    .near_cache_invalidation_lag
                    .observe(lag.as_secs_f64());
            }
            FeedMessage::Changed { subject: None, .. } => {}
            FeedMessage::Resync => self.forget_all(),
        })
        .await;
    }

    fn count(&self, result: &str) {
        self.metrics
            .near_cache_requests
            .with_label_values(&[result])
            .inc();
    }
}

#[async_trait]
impl Cache for NearCache {
    async fn get(&self, key: &str) -> Result<Option<Bytes>, CacheError> {
        self.shared.get(key).await
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), CacheError> {
        self.shared.set(key, value, ttl).await
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.shared.delete(key).await
    }

    async fn lookup(&self, key: &str) -> Result<Lookup, CacheError> {
        let near = self.generations.read(key);
        let copy = self.copies.get(key);
        if let Some(Copy::Value(value)) = &copy {
            self.count("hit");
            return Ok(Lookup::Hit(value.clone()));
        }
        self.count("miss");
        let dropped = matches!(copy, Some(Copy::Tombstone));
        match self.shared.lookup(key).await? {
            Lookup::Hit(value) => {
                if !dropped {
                    self.keep(key, value.clone(), near);
                }
                Ok(Lookup::Hit(value))
            }
            Lookup::Miss(mut ticket) => {
                // A fill is copied in only if the key was not dropped meanwhile.
                ticket.near = if dropped { u64::MAX } else { near };
                Ok(Lookup::Miss(ticket))
            }
        }
    }

    async fn fill(
        &self,
        key: &str,
        value: Bytes,
        ttl: Duration,
        ticket: FillTicket,
    ) -> Result<bool, CacheError> {
        let stored = self.shared.fill(key, value.clone(), ttl, ticket).await?;
        if stored {
            self.keep(key, value, ticket.near);
        }
        Ok(stored)
    }

    async fn invalidate(&self, key: &str) -> Result<(), CacheError> {
        self.forget(key);
        self.shared.invalidate(key).await
    }

    async fn ping(&self) -> Result<(), CacheError> {
        self.shared.ping().await
    }

    fn backend(&self) -> &'static str {
        self.shared.backend()
    }

    fn failures(&self) -> u64 {
        self.shared.failures()
    }
}
