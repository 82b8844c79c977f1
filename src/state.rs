//! What every handler shares. Cloning is one `Arc` increment.

use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use governor::DefaultKeyedRateLimiter;
use tokio::sync::Notify;

use crate::auth::JwtKeys;
use crate::cache::Cache;
use crate::config::Settings;
use crate::metrics::Metrics;
use crate::model::Limits;
use crate::outbox::EventPlan;
use crate::store::Store;
use crate::upstream::CognitiveClient;

#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    /// The durable store of snippets and outbox events.
    pub store: Arc<dyn Store>,
    /// The cache: Redis or in-process.
    pub cache: Arc<dyn Cache>,
    /// Token verification keys and rules.
    pub jwt: JwtKeys,
    /// Every metric handle.
    pub metrics: Arc<Metrics>,
    /// Validated configuration.
    pub settings: Settings,
    /// Size limits on request bodies' fields.
    pub limits: Limits,
    /// The cognitive service, when configured.
    pub cognitive: Option<Arc<CognitiveClient>>,
    /// Which outbox events changes produce.
    pub events: EventPlan,
    /// Wakes the outbox worker after an event is recorded.
    pub outbox_wake: Arc<Notify>,
    /// Per-user limit on AI assistance calls.
    pub assist_limiter: DefaultKeyedRateLimiter<String>,
    /// Set when shutdown begins; readiness answers 503 from then on.
    pub shutting_down: AtomicBool,
}

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }

    pub fn begin_shutdown(&self) {
        self.0.shutting_down.store(true, Ordering::SeqCst);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.0.shutting_down.load(Ordering::SeqCst)
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}
