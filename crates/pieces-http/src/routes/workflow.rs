//! `/api/v1/workflow-context`: the caller's current workflow context.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Authorized, ContextRead, ContextWrite};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::state::AppState;
use pieces_model::{ContextInput, WorkflowContext};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_context, set_context))
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
    security(("bearer" = ["context:write"])),
    responses((status = 200, body = Synced), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn set_context(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<ContextWrite>,
    ApiJson(body): ApiJson<ContextInput>,
) -> Result<Json<Synced>, ApiError> {
    let context = state.services.context.set(&caller.user, body).await?;
    Ok(Json(Synced {
        status: "synced",
        context,
    }))
}

/// The caller's current workflow context, or 404 once it has expired.
#[utoipa::path(get, path = "/api/v1/workflow-context", tag = "workflow", security(("bearer" = ["context:read"])),
    responses((status = 200, body = WorkflowContext), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn get_context(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<ContextRead>,
) -> Result<Response, ApiError> {
    let bytes = state.services.context.get(&caller.user).await?;
    let mut response = bytes.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}
