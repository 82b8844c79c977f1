//! What every handler shares. Cloning is one `Arc` increment.

use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::FromRef;
use tokio_util::sync::CancellationToken;

use pieces_config::Settings;
use pieces_metrics::Metrics;
use pieces_service::auth::{Authenticator, LocalMode};
use pieces_service::{HealthService, Services};

#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    /// The use cases every route calls.
    pub services: Services,
    /// Readiness of the store and cache.
    pub health: HealthService,
    /// Turns bearer tokens into users.
    pub auth: Arc<Authenticator>,
    /// Every metric handle.
    pub metrics: Arc<Metrics>,
    /// Validated configuration.
    pub settings: Settings,
    /// Bounds the large request bodies held at once.
    pub body_budget: crate::body_budget::BodyBudget,
    /// Set in local mode only (no `JWT_SECRET_KEY`): mints the web page's tokens on loopback.
    pub local: Option<LocalMode>,
    /// Set when shutdown begins; readiness answers 503 from then on.
    pub shutting_down: AtomicBool,
    /// Cancelled when shutdown begins: listeners stop accepting, streams end, background
    /// tasks stop.
    pub stop: CancellationToken,
}

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }

    pub fn begin_shutdown(&self) {
        self.0.shutting_down.store(true, Ordering::SeqCst);
        self.0.stop.cancel();
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

impl FromRef<AppState> for Arc<Authenticator> {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}
