//! Keeps a cached copy from outliving the change that replaced it while the cache cannot be
//! reached. A drop that fails is recorded in the outbox (so it survives a restart and any
//! replica may deliver it), and on this replica the key is read past the cache until it is
//! dropped. Once the cache answers again, this replica drops the keys it holds and makes
//! every drop waiting in the outbox due at once, rather than after its backoff (up to
//! minutes), so a stale copy is not served once the cache is back. (Another replica may copy
//! a stale value into its in-process near cache in the moment before the outbox delivers the
//! drop; `NEAR_CACHE_TTL_SECS` bounds how long it keeps it.)

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::OutboxSignal;
use pieces_cache::{Cache, CacheError};
use pieces_model::{cache_invalidation, now, Recorded, Target};
use pieces_store::OutboxQueue;

/// Keys this replica reads past the cache at most; past it, a failed drop still waits in the
/// outbox, which is flushed when the cache returns.
const MAX_PENDING: usize = 100_000;
/// How often a cache that has failed is asked whether it answers again.
const PROBE_EVERY: Duration = Duration::from_millis(250);

pub struct CacheKeeper {
    cache: Arc<dyn Cache>,
    outbox: Arc<dyn OutboxQueue>,
    signal: Arc<OutboxSignal>,
    /// Keys whose drop failed here and has not been made since, each with the number of its
    /// latest failure: a drop made for an older failure does not clear a newer one.
    pending: Mutex<HashMap<String, u64>>,
    failures: AtomicU64,
    /// `pending`'s size, read without the lock on every cached read.
    pending_count: AtomicUsize,
}

impl CacheKeeper {
    pub fn new(
        cache: Arc<dyn Cache>,
        outbox: Arc<dyn OutboxQueue>,
        signal: Arc<OutboxSignal>,
    ) -> Self {
        Self {
            cache,
            outbox,
            signal,
            pending: Mutex::default(),
            failures: AtomicU64::new(0),
            pending_count: AtomicUsize::new(0),
        }
    }

    /// Drops `key` after its source changed (so that no fill begun before can store it); if
    /// the cache cannot be reached the drop is recorded and the key bypassed until it is made.
    pub async fn drop_key(&self, key: &str) {
        let Err(e) = self.cache.invalidate(key).await else {
            return;
        };
        tracing::warn!(error = %e, "cache invalidation failed; queueing it for retry");
        if let Ok(mut pending) = self.pending.lock() {
            let failure = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
            if pending.len() < MAX_PENDING || pending.contains_key(key) {
                pending.insert(key.to_owned(), failure);
                self.pending_count.store(pending.len(), Ordering::Release);
            }
        }
        let event = cache_invalidation(key, now());
        match self.outbox.enqueue(&Recorded::outbox(vec![event])).await {
            Ok(()) => self.signal.recorded(1),
            Err(e) => tracing::error!(error = %e, "cannot queue cache invalidation"),
        }
    }

    /// Whether reads of `key` must go past the cache: its drop failed and is not made yet.
    pub fn bypasses(&self, key: &str) -> bool {
        self.pending_count.load(Ordering::Acquire) > 0
            && self.pending.lock().map_or(true, |p| p.contains_key(key))
    }

    /// Makes a drop the outbox recorded.
    pub async fn deliver_drop(&self, key: &str) -> Result<(), CacheError> {
        let latest = self.latest_failure(key);
        self.cache.invalidate(key).await?;
        if let Some(failure) = latest {
            self.dropped(key, failure);
        }
        Ok(())
    }

    fn latest_failure(&self, key: &str) -> Option<u64> {
        if self.pending_count.load(Ordering::Acquire) == 0 {
            return None;
        }
        self.pending.lock().ok()?.get(key).copied()
    }

    /// The cache dropped `key` after its drop failed for the `failure`th time: reads may use
    /// it again, unless another drop of it failed since.
    fn dropped(&self, key: &str, failure: u64) {
        if let Ok(mut pending) = self.pending.lock() {
            if pending.get(key) == Some(&failure) {
                pending.remove(key);
            }
            self.pending_count.store(pending.len(), Ordering::Release);
        }
    }

    /// Until `stop`: after the cache has failed, asks it every `PROBE_EVERY` until it answers,
    /// then catches up on the drops.
    pub async fn watch(self: Arc<Self>, stop: CancellationToken) {
        let mut settled = self.cache.failures();
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(PROBE_EVERY) => {}
            }
            let failures = self.cache.failures();
            let waiting = self.pending_count.load(Ordering::Acquire) > 0;
            if failures == settled && !waiting {
                continue;
            }
            if self.cache.ping().await.is_err() {
                continue;
            }
            if self.catch_up().await {
                settled = failures;
            }
        }
    }

    /// Drops the keys this replica holds and makes the outbox's drops due now; true when all
    /// of it went through.
    async fn catch_up(&self) -> bool {
        let keys: Vec<(String, u64)> = match self.pending.lock() {
            Ok(pending) => pending.iter().map(|(k, f)| (k.clone(), *f)).collect(),
            Err(_) => return false,
        };
        for (key, failure) in keys {
            if self.cache.invalidate(&key).await.is_err() {
                return false;
            }
            self.dropped(&key, failure);
        }
        match self.outbox.expedite(Target::CacheInvalidation).await {
            Ok(due) => {
                if due > 0 {
                    tracing::info!(
                        due,
                        "the cache answers again; delivering the drops it missed"
                    );
                    self.signal.wake();
                }
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot hurry the cache drops in the outbox");
                false
            }
        }
    }
}
