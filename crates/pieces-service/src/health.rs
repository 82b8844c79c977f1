//! Readiness: can the store and the cache answer, each within a short time.

use std::sync::Arc;
use std::time::Duration;

use pieces_cache::Cache;
use pieces_store::SnippetStore;

/// Longest a readiness check waits for one dependency.
const CHECK_TIMEOUT: Duration = Duration::from_millis(500);

pub struct HealthService {
    pub store: Arc<dyn SnippetStore>,
    pub cache: Arc<dyn Cache>,
    /// Whether an unreachable Redis makes the service unready.
    pub redis_critical: bool,
}

/// The outcome of the checks: each dependency by name, and the verdict.
pub struct Readiness {
    pub ready: bool,
    pub checks: Vec<(&'static str, bool)>,
}

impl HealthService {
    pub async fn check(&self) -> Readiness {
        let (store, cache) = tokio::join!(
            tokio::time::timeout(CHECK_TIMEOUT, self.store.ping()),
            tokio::time::timeout(CHECK_TIMEOUT, self.cache.ping()),
        );
        let store_ok = matches!(store, Ok(Ok(())));
        let mut checks = vec![(self.store.backend(), store_ok)];
        let mut ready = store_ok;
        if self.cache.backend() == "redis" {
            let cache_ok = matches!(cache, Ok(Ok(())));
            checks.push(("redis", cache_ok));
            ready &= cache_ok || !self.redis_critical;
        }
        Readiness { ready, checks }
    }

    /// "sqlite" or "postgres", and the cache's backend, for the start-up log.
    pub fn backends(&self) -> (&'static str, &'static str) {
        (self.store.backend(), self.cache.backend())
    }
}
