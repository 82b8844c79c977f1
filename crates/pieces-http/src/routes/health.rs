//! Probes: liveness never touches a dependency; readiness checks the store and the cache,
//! each under a short timeout, and fails as soon as shutdown begins.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(live))
        .routes(routes!(ready))
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
    let readiness = state.health.check().await;
    for (name, ok) in readiness.checks {
        checks.insert(name.into(), json!(if ok { "ok" } else { "failing" }));
    }
    ready &= readiness.ready;
    let (status, word) = if ready {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not_ready")
    };
    (status, Json(json!({ "status": word, "checks": checks }))).into_response()
}
