//! `/api/v1/snippets`: each handler extracts, calls one use case and shapes the answer.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::listing_body;
use crate::auth::{Authorized, SnippetsRead, SnippetsWrite};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, SnippetId};
use crate::preconditions::{self, IfMatch, IfNoneMatch};
use crate::state::AppState;
use pieces_model::{version_of_json, ListParams, NewSnippet, Snippet, SnippetPage, SnippetPatch};
use pieces_service::SnippetJson;
use pieces_store::Removal;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_snippets, create_snippet))
        .routes(routes!(get_snippet, update_snippet, delete_snippet))
}

/// Answer of a create.
#[derive(Serialize, ToSchema)]
pub struct Stored {
    pub snippet_id: String,
    /// Always "stored": the snippet is committed to the durable store.
    pub status: &'static str,
    pub snippet: Snippet,
}

/// Stores a snippet; answers only once it is committed.
#[utoipa::path(post, path = "/api/v1/snippets", tag = "snippets", request_body = NewSnippet,
    security(("bearer" = ["snippets:write"])),
    responses(
        (status = 201, body = Stored, headers(("Location" = String))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn create_snippet(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<SnippetsWrite>,
    ApiJson(body): ApiJson<NewSnippet>,
) -> Result<Response, ApiError> {
    let snippet = state.services.snippets.create(&caller, body).await?;
    let location = format!("/api/v1/snippets/{}", snippet.id);
    let body = Stored {
        snippet_id: snippet.id.clone(),
        status: "stored",
        snippet,
    };
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(body),
    )
        .into_response())
}

/// Lists the caller's snippets, newest first. A page holding large snippets is written as
/// the client reads it, a large snippet at a time.
#[utoipa::path(get, path = "/api/v1/snippets", tag = "snippets", params(ListParams),
    security(("bearer" = ["snippets:read"])),
    responses((status = 200, body = SnippetPage), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody,
            description = "The caller already has two listings of large snippets on their way"),
        (status = 503, body = ErrorBody)))]
pub async fn list_snippets(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<SnippetsRead>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Response, ApiError> {
    let page = state.services.snippets.list(&caller, params).await?;
    Ok(match page.into_whole() {
        Ok(page) => Json(page).into_response(),
        Err(page) => listing_body::streamed(state.services.snippets.clone(), caller.user, page)?,
    })
}

/// One snippet of the caller's; another user's id answers 404 like a missing one. Its `ETag`
/// is its version; `If-None-Match` with it answers 304.
#[utoipa::path(get, path = "/api/v1/snippets/{id}", tag = "snippets",
    params(("id" = String, Path),
        ("If-None-Match" = Option<String>, Header, pattern = r#"^(|\*|(W/)?"[1-9][0-9]{0,17}"(, ?(W/)?"[1-9][0-9]{0,17}")*)$"#,
            description = "The ETags held: 304 while the snippet is at one of their versions")),
    security(("bearer" = ["snippets:read"])),
    responses((status = 200, body = Snippet, headers(("ETag" = String, description = "The version, quoted"))),
        (status = 304, description = "The snippet is still at the version If-None-Match names"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn get_snippet(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<SnippetsRead>,
    SnippetId(id): SnippetId,
    if_none_match: IfNoneMatch,
) -> Result<Response, ApiError> {
    let SnippetJson(bytes) = state.services.snippets.get(&caller, &id).await?;
    let version = version_of_json(&bytes);
    if let Some(version) = version {
        if if_none_match.holds(version)? {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            response
                .headers_mut()
                .insert(header::ETAG, preconditions::etag(version));
            return Ok(response);
        }
    }
    // Served as stored, without parsing it again.
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(version) = version {
        headers.insert(header::ETAG, preconditions::etag(version));
    }
    Ok(response)
}

/// Changes the fields present in the body (`workspace` moves it). With `If-Match`, only
/// while the snippet is at that version: otherwise 412 with it as it is now.
#[utoipa::path(patch, path = "/api/v1/snippets/{id}", tag = "snippets", request_body = SnippetPatch,
    params(("id" = String, Path),
        ("If-Match" = Option<String>, Header, pattern = r#"^(|\*|"[1-9][0-9]{0,17}")$"#,
            description = "The ETag the change expects (or *)")),
    security(("bearer" = ["snippets:write"])),
    responses((status = 200, body = Snippet, headers(("ETag" = String, description = "The new version, quoted"))),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 412, body = ErrorBody, description = "version_conflict: `current` is the snippet as it is now"),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn update_snippet(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<SnippetsWrite>,
    SnippetId(id): SnippetId,
    IfMatch(expected): IfMatch,
    ApiJson(patch): ApiJson<SnippetPatch>,
) -> Result<Response, ApiError> {
    let snippet = state
        .services
        .snippets
        .update(&caller, &id, patch, expected)
        .await?;
    let etag = preconditions::etag(snippet.version);
    let mut response = Json(snippet).into_response();
    response.headers_mut().insert(header::ETAG, etag);
    Ok(response)
}

/// Query of a deletion.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteParams {
    /// Erase it at once, with its history, instead of moving it to the trash.
    pub permanent: Option<bool>,
}

/// Deletes a snippet: it moves to the trash (`GET /api/v1/trash`), or with
/// `?permanent=true` is erased at once. With `If-Match`, only while it is at that version:
/// otherwise 412 with it as it is now.
#[utoipa::path(delete, path = "/api/v1/snippets/{id}", tag = "snippets",
    params(("id" = String, Path), DeleteParams,
        ("If-Match" = Option<String>, Header, pattern = r#"^(|\*|"[1-9][0-9]{0,17}")$"#,
            description = "The ETag the deletion expects (or *)")),
    security(("bearer" = ["snippets:write"])),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 412, body = ErrorBody, description = "version_conflict: `current` is the snippet as it is now"),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn delete_snippet(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<SnippetsWrite>,
    SnippetId(id): SnippetId,
    IfMatch(expected): IfMatch,
    ApiQuery(params): ApiQuery<DeleteParams>,
) -> Result<StatusCode, ApiError> {
    let removal = if params.permanent.unwrap_or(false) {
        Removal::Erase
    } else {
        Removal::ToTrash
    };
    state
        .services
        .snippets
        .delete(&caller, &id, removal, expected)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
