//! The HTTP API: one module per resource, assembled by `build_router`.

mod assist;
mod fallback;
pub mod health;
mod openapi;
mod snippets;
mod workflow;

pub use openapi::ApiDoc;

use axum::Router;
use chrono::Utc;

use crate::middleware;
use crate::outbox::cache_invalidation;
use crate::state::AppState;

/// The API port's router: `/api/v1`, `/openapi.json` and the probes, with every layer.
pub fn build_router(state: AppState) -> Router {
    let api = Router::new()
        .merge(snippets::router())
        .merge(workflow::router())
        .merge(assist::router())
        .merge(openapi::router());
    let api = middleware::with_request_logging(api, tracing::Level::INFO)
        .merge(middleware::with_request_logging(
            health::router(),
            tracing::Level::DEBUG,
        ))
        .fallback(fallback::not_found)
        .method_not_allowed_fallback(fallback::method_not_allowed);
    middleware::with_common_layers(api, &state).with_state(state)
}

/// Drops a cached copy after a write. If the cache cannot be reached the drop is recorded in
/// the outbox and retried, so the stale copy is never served once the cache returns.
pub(crate) async fn forget_cached(state: &AppState, key: String) {
    if let Err(e) = state.cache.delete(&key).await {
        tracing::warn!(error = %e, "cache delete failed; queueing it for retry");
        let event = cache_invalidation(&key, Utc::now());
        if let Err(e) = state.store.enqueue(&[event]).await {
            tracing::error!(error = %e, "cannot queue cache invalidation");
        }
    }
}
