//! `/api/v1/tokens`: personal access tokens, managed with a platform JWT only.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::JwtUser;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;
use pieces_model::{NewToken, TokenInfo, TokenPaging};
use pieces_service::CreatedToken;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
}

/// A page of the caller's tokens that are not revoked, oldest first.
#[derive(Serialize, ToSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenInfo>,
    /// How many tokens the caller holds in all.
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

/// Makes a personal access token; its secret is in this answer only.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = NewToken,
    security(("bearer" = [])),
    responses((status = 201, body = CreatedToken), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody,
            description = "A workspace the token is to be limited to is not one the caller can read"),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn create_token(
    State(state): State<AppState>,
    JwtUser(caller): JwtUser,
    ApiJson(body): ApiJson<NewToken>,
) -> Result<Response, ApiError> {
    let created = state.services.tokens.create(&caller, body).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// Lists the caller's tokens that are not revoked, oldest first, never their secrets.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", params(TokenPaging),
    security(("bearer" = [])),
    responses((status = 200, body = TokenList), (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn list_tokens(
    State(state): State<AppState>,
    JwtUser(caller): JwtUser,
    ApiQuery(paging): ApiQuery<TokenPaging>,
) -> Result<Json<TokenList>, ApiError> {
    let (limit, offset) = paging.validate()?;
    let page = state
        .services
        .tokens
        .list(&caller.user, limit, offset)
        .await?;
    Ok(Json(TokenList {
        tokens: page.tokens,
        total: page.total,
        limit,
        offset,
    }))
}

/// Revokes a token at once.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens",
    params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    JwtUser(caller): JwtUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.services.tokens.revoke(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
