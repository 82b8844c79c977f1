//! `/api/v1/snippets`: the store is the truth, the cache a copy that update and delete drop.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::AuthUser;
use crate::cache::{jittered, snippet_key};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, SnippetId};
use crate::model::{ListParams, NewSnippet, Snippet, SnippetPage, SnippetPatch};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/snippets", get(list_snippets).post(create_snippet))
        .route(
            "/api/v1/snippets/{id}",
            get(get_snippet)
                .patch(update_snippet)
                .delete(delete_snippet),
        )
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
    security(("bearer" = [])),
    responses(
        (status = 201, body = Stored, headers(("Location" = String))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn create_snippet(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiJson(body): ApiJson<NewSnippet>,
) -> Result<Response, ApiError> {
    let snippet = body.into_snippet(&state.limits, crate::model::now())?;
    state
        .store
        .create_snippet(&user, &snippet, &state.events)
        .await?;
    if state.events.snippet_events() {
        state.outbox_wake.notify_one();
    }
    tracing::info!(snippet = %snippet.id, "snippet stored");
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

/// Lists the caller's snippets, newest first.
#[utoipa::path(get, path = "/api/v1/snippets", tag = "snippets", params(ListParams),
    security(("bearer" = [])),
    responses((status = 200, body = SnippetPage), (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn list_snippets(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<SnippetPage>, ApiError> {
    let filter = params.validate()?;
    let (snippets, total) = state.store.list_snippets(&user, &filter).await?;
    Ok(Json(SnippetPage {
        snippets,
        total,
        limit: filter.limit,
        offset: filter.offset,
    }))
}

/// One snippet of the caller's; another user's id answers 404 like a missing one.
#[utoipa::path(get, path = "/api/v1/snippets/{id}", tag = "snippets",
    params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = Snippet), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn get_snippet(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    SnippetId(id): SnippetId,
) -> Result<Response, ApiError> {
    let key = snippet_key(&user, &id);
    match state.cache.get(&key).await {
        Ok(Some(bytes)) => {
            state.metrics.cache("hit");
            return Ok(json_bytes(bytes));
        }
        Ok(None) => state.metrics.cache("miss"),
        Err(e) => {
            state.metrics.cache("error");
            tracing::debug!(error = %e, "cache read failed; reading the store");
        }
    }
    let snippet = state
        .store
        .get_snippet(&user, &id)
        .await?
        .ok_or(ApiError::NotFound("snippet"))?;
    let bytes =
        Bytes::from(serde_json::to_vec(&snippet).map_err(|e| ApiError::Internal(e.to_string()))?);
    let ttl = jittered(std::time::Duration::from_secs(
        state.settings.snippet_cache_ttl_secs,
    ));
    if let Err(e) = state.cache.set(&key, bytes.clone(), ttl).await {
        tracing::debug!(error = %e, "cache write failed");
    }
    Ok(json_bytes(bytes))
}

/// Changes the fields present in the body.
#[utoipa::path(patch, path = "/api/v1/snippets/{id}", tag = "snippets", request_body = SnippetPatch,
    params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = Snippet), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn update_snippet(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    SnippetId(id): SnippetId,
    ApiJson(patch): ApiJson<SnippetPatch>,
) -> Result<Json<Snippet>, ApiError> {
    let patch = patch.validate(&state.limits)?;
    let snippet = state
        .store
        .update_snippet(&user, &id, &patch, crate::model::now(), &state.events)
        .await?
        .ok_or(ApiError::NotFound("snippet"))?;
    if state.events.snippet_events() {
        state.outbox_wake.notify_one();
    }
    super::forget_cached(&state, snippet_key(&user, &id)).await;
    Ok(Json(snippet))
}

/// Deletes a snippet.
#[utoipa::path(delete, path = "/api/v1/snippets/{id}", tag = "snippets",
    params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn delete_snippet(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    SnippetId(id): SnippetId,
) -> Result<StatusCode, ApiError> {
    if !state
        .store
        .delete_snippet(&user, &id, crate::model::now(), &state.events)
        .await?
    {
        return Err(ApiError::NotFound("snippet"));
    }
    if state.events.snippet_events() {
        state.outbox_wake.notify_one();
    }
    super::forget_cached(&state, snippet_key(&user, &id)).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Serves JSON bytes as they are, without parsing them again.
fn json_bytes(bytes: Bytes) -> Response {
    let mut response = bytes.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
