//! `/api/v1/snippets/{id}/versions`: a snippet's kept versions, one of them, a diff of two,
//! and a restore. Each handler extracts, calls one use case and shapes the answer.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Authorized, SnippetsRead, SnippetsWrite};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiQuery, SnippetId, SnippetVersion};
use crate::preconditions::{self, IfMatch};
use crate::state::AppState;
use pieces_model::history::{VersionDiff, VersionPage};
use pieces_model::Snippet;
use pieces_service::{DiffParams, VersionParams};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_versions))
        .routes(routes!(get_version))
        .routes(routes!(diff_version))
        .routes(routes!(restore_version))
}

/// The snippet's kept versions, newest first (at most `HISTORY_MAX_VERSIONS`).
#[utoipa::path(get, path = "/api/v1/snippets/{id}/versions", tag = "history",
    params(("id" = String, Path), VersionParams),
    security(("bearer" = ["snippets:read"])),
    responses((status = 200, body = VersionPage), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn list_versions(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<SnippetsRead>,
    SnippetId(id): SnippetId,
    ApiQuery(params): ApiQuery<VersionParams>,
) -> Result<Json<VersionPage>, ApiError> {
    let page = state.services.history.list(&caller, &id, params).await?;
    Ok(Json(page))
}

/// The snippet as it was at version `n` (404 for a version no longer kept).
#[utoipa::path(get, path = "/api/v1/snippets/{id}/versions/{n}", tag = "history",
    params(("id" = String, Path), ("n" = i64, Path, minimum = 1)),
    security(("bearer" = ["snippets:read"])),
    responses((status = 200, body = Snippet), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn get_version(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<SnippetsRead>,
    SnippetVersion(id, n): SnippetVersion,
) -> Result<Json<Snippet>, ApiError> {
    let snippet = state.services.history.version(&caller, &id, n).await?;
    Ok(Json(snippet))
}

/// What changed from version `n` to version `to` (default: the current one): every field
/// but the code with both values, and the code as a unified diff.
#[utoipa::path(get, path = "/api/v1/snippets/{id}/versions/{n}/diff", tag = "history",
    params(("id" = String, Path), ("n" = i64, Path, minimum = 1), DiffParams),
    security(("bearer" = ["snippets:read"])),
    responses((status = 200, body = VersionDiff), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn diff_version(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<SnippetsRead>,
    SnippetVersion(id, n): SnippetVersion,
    ApiQuery(params): ApiQuery<DiffParams>,
) -> Result<Json<VersionDiff>, ApiError> {
    let diff = state.services.history.diff(&caller, &id, n, params).await?;
    Ok(Json(diff))
}

/// Makes version `n`'s content the snippet's next version; every version in between stays
/// in its history. With `If-Match`, only while the snippet is at that version.
#[utoipa::path(post, path = "/api/v1/snippets/{id}/versions/{n}/restore", tag = "history",
    params(("id" = String, Path), ("n" = i64, Path, minimum = 1),
        ("If-Match" = Option<String>, Header, pattern = r#"^(|\*|"[1-9][0-9]{0,17}")$"#,
            description = "The ETag the restore expects (or *)")),
    security(("bearer" = ["snippets:write"])),
    responses((status = 200, body = Snippet, headers(("ETag" = String, description = "The new version, quoted"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 412, body = ErrorBody, description = "version_conflict: `current` is the snippet as it is now"),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn restore_version(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<SnippetsWrite>,
    SnippetVersion(id, n): SnippetVersion,
    IfMatch(expected): IfMatch,
) -> Result<Response, ApiError> {
    let snippet = state
        .services
        .history
        .restore(&caller, &id, n, expected)
        .await?;
    let etag = preconditions::etag(snippet.version);
    let mut response = Json(snippet).into_response();
    response.headers_mut().insert(header::ETAG, etag);
    Ok(response)
}
