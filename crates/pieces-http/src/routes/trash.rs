//! `/api/v1/trash`: deleted snippets, to list, restore or erase for good. Each handler
//! extracts, calls one use case and shapes the answer.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Authorized, SnippetsRead, SnippetsWrite};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiQuery, SnippetId};
use crate::preconditions;
use crate::state::AppState;
use pieces_model::trash::TrashPage;
use pieces_model::Snippet;
use pieces_service::TrashParams;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_trash))
        .routes(routes!(erase_from_trash))
        .routes(routes!(restore_from_trash))
}

/// Deleted snippets of the workspaces the caller may write in (or of the one named), the
/// most recently deleted first; each is erased `TRASH_RETENTION_DAYS` after its deletion.
#[utoipa::path(get, path = "/api/v1/trash", tag = "trash", params(TrashParams),
    security(("bearer" = ["snippets:read"])),
    responses((status = 200, body = TrashPage), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn list_trash(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<SnippetsRead>,
    ApiQuery(params): ApiQuery<TrashParams>,
) -> Result<Json<TrashPage>, ApiError> {
    let page = state.services.trash.list(&caller, params).await?;
    Ok(Json(page))
}

/// Brings a deleted snippet back with its id and history, at its next version.
#[utoipa::path(post, path = "/api/v1/trash/{id}/restore", tag = "trash",
    params(("id" = String, Path)),
    security(("bearer" = ["snippets:write"])),
    responses((status = 200, body = Snippet, headers(("ETag" = String, description = "Its version, quoted"))),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn restore_from_trash(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<SnippetsWrite>,
    SnippetId(id): SnippetId,
) -> Result<Response, ApiError> {
    let snippet = state.services.trash.restore(&caller, &id).await?;
    let etag = preconditions::etag(snippet.version);
    let mut response = Json(snippet).into_response();
    response.headers_mut().insert(header::ETAG, etag);
    Ok(response)
}

/// Erases a deleted snippet and its history for good.
#[utoipa::path(delete, path = "/api/v1/trash/{id}", tag = "trash",
    params(("id" = String, Path)),
    security(("bearer" = ["snippets:write"])),
    responses((status = 204), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn erase_from_trash(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<SnippetsWrite>,
    SnippetId(id): SnippetId,
) -> Result<StatusCode, ApiError> {
    state.services.trash.erase(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
