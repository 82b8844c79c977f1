//! `/api/v1/workflow-context`: the user's current context, kept in the cache with a TTL and
//! announced to the gateway through the outbox.

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::AuthUser;
use crate::cache::workflow_key;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::model::{ContextInput, WorkflowContext};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route(
        "/api/v1/workflow-context",
        get(get_context).post(set_context),
    )
}

/// Answer of a context update.
#[derive(Serialize, ToSchema)]
pub struct Synced {
    /// Always "synced".
    pub status: &'static str,
    pub context: WorkflowContext,
}

/// Stores the caller's current workflow context for the configured TTL (1 hour by default).
#[utoipa::path(post, path = "/api/v1/workflow-context", tag = "workflow", request_body = ContextInput,
    security(("bearer" = [])),
    responses((status = 200, body = Synced), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn set_context(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiJson(body): ApiJson<ContextInput>,
) -> Result<Json<Synced>, ApiError> {
    let now = crate::model::now();
    let context = body.into_context(&user, &state.limits, now)?;
    let bytes =
        Bytes::from(serde_json::to_vec(&context).map_err(|e| ApiError::Internal(e.to_string()))?);
    let ttl = Duration::from_secs(state.settings.workflow_context_ttl_secs);
    state
        .cache
        .set(&workflow_key(&user), bytes, ttl)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "cannot store workflow context");
            ApiError::CacheUnavailable
        })?;
    let events = state.events.for_context(&context, now);
    if !events.is_empty() {
        state.store.enqueue(&events).await?;
        state.outbox_wake.notify_one();
    }
    Ok(Json(Synced {
        status: "synced",
        context,
    }))
}

/// The caller's current workflow context, or 404 once it has expired.
#[utoipa::path(get, path = "/api/v1/workflow-context", tag = "workflow", security(("bearer" = [])),
    responses((status = 200, body = WorkflowContext), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn get_context(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> Result<Response, ApiError> {
    let bytes = state.cache.get(&workflow_key(&user)).await.map_err(|e| {
        tracing::warn!(error = %e, "cannot read workflow context");
        ApiError::CacheUnavailable
    })?;
    let bytes = bytes.ok_or(ApiError::NotFound("workflow context"))?;
    let mut response = bytes.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

/// The current context as JSON, for the AI request; none when absent or unreadable.
pub async fn current(state: &AppState, user: &str) -> Option<serde_json::Value> {
    let bytes = state.cache.get(&workflow_key(user)).await.ok()??;
    serde_json::from_slice(&bytes).ok()
}
