//! Probes: liveness never touches a dependency; readiness checks the store and the cache,
//! each under a short timeout, and fails as soon as shutdown begins.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use crate::config::{LIVE_PATH, READY_PATH};
use crate::state::AppState;

/// Longest a readiness check waits for one dependency.
const CHECK_TIMEOUT: Duration = Duration::from_millis(500);

pub fn router() -> Router<AppState> {
    Router::new()
        .route(LIVE_PATH, get(live))
        .route(READY_PATH, get(ready))
}

/// The process is up.
#[utoipa::path(get, path = "/health/live", tag = "health",
    responses((status = 200, description = "`{\"status\": \"alive\"}`")))]
pub async fn live() -> Json<Value> {
    Json(json!({ "status": "alive" }))
}

/// The service can serve: 200, or 503 naming the failing check.
#[utoipa::path(get, path = "/health/ready", tag = "health",
    responses((status = 200, description = "ready"), (status = 503, description = "not ready")))]
pub async fn ready(State(state): State<AppState>) -> Response {
    let mut checks = Map::new();
    let mut ready = true;
    if state.is_shutting_down() {
        checks.insert("shutdown".into(), json!("in progress"));
        ready = false;
    }
    let (store, cache) = tokio::join!(
        tokio::time::timeout(CHECK_TIMEOUT, state.store.ping()),
        tokio::time::timeout(CHECK_TIMEOUT, state.cache.ping()),
    );
    let store_ok = matches!(store, Ok(Ok(())));
    checks.insert(state.store.backend().into(), verdict(store_ok));
    ready &= store_ok;
    if state.cache.backend() == "redis" {
        let cache_ok = matches!(cache, Ok(Ok(())));
        checks.insert("redis".into(), verdict(cache_ok));
        ready &= cache_ok || !state.settings.redis_critical;
    }
    let (status, word) = if ready {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not_ready")
    };
    (status, Json(json!({ "status": word, "checks": checks }))).into_response()
}

fn verdict(ok: bool) -> Value {
    json!(if ok { "ok" } else { "failing" })
}
