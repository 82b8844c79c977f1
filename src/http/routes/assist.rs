//! `/api/v1/ai-assist`: a development question answered with the caller's context and
//! snippets.

use axum::extract::State;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::auth::{Ai, Authorized};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::ApiJson;
use crate::http::state::AppState;
use crate::model::{AssistAnswer, AssistRequest};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(assist))
}

/// Answers a development question with the user's context and snippets.
#[utoipa::path(post, path = "/api/v1/ai-assist", tag = "assist", request_body = AssistRequest,
    security(("bearer" = ["ai"])),
    responses((status = 200, body = AssistAnswer), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 502, body = ErrorBody),
        (status = 503, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub async fn assist(
    State(state): State<AppState>,
    Authorized(user, _): Authorized<Ai>,
    ApiJson(body): ApiJson<AssistRequest>,
) -> Result<Json<AssistAnswer>, ApiError> {
    Ok(Json(state.services.assist.ask(&user, body).await?))
}
