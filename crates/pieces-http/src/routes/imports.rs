//! Imports: the file is written to disk as it arrives (never held in memory), then checked
//! and read by a job that `GET /api/v1/imports/{id}` follows.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Authorized, SnippetsWrite};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;
use crate::state::AppState;
use pieces_model::import::{ImportJob, ImportParams};
use pieces_service::imports::SPOOL_PREFIX;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start_import))
        .routes(routes!(import_job))
}

/// Imports a file of another tool's snippets (or this service's own export) into a
/// workspace (writer): the whole file is checked first (400 if it cannot be read, 422 if it
/// is not of the format's shape, and nothing is saved), then a job reads it entry by entry.
/// An entry is validated like a create and saved whole or not at all; importing the same
/// file again creates nothing new. The body is the file, at most `IMPORT_MAX_BYTES`.
#[utoipa::path(post, path = "/api/v1/imports", tag = "imports", params(ImportParams),
    request_body(content = Vec<u8>, content_type = "application/octet-stream",
        description = "The file to import, as the tool wrote it"),
    security(("bearer" = ["snippets:write"])),
    responses((status = 202, body = ImportJob, headers(("Location" = String))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody,
            description = "As many imports as this replica runs at once are running"),
        (status = 503, body = ErrorBody)))]
pub async fn start_import(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<SnippetsWrite>,
    ApiQuery(params): ApiQuery<ImportParams>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let imports = &state.services.imports;
    let place = imports.admit()?;
    let file = spool(body, &headers, state.settings.import_max_bytes).await?;
    let job = imports
        .start(&caller, params, file.into_temp_path(), place)
        .await?;
    let location = format!("/api/v1/imports/{}", job.id);
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(job),
    )
        .into_response())
}

/// An import's progress and result (its starter only).
#[utoipa::path(get, path = "/api/v1/imports/{id}", tag = "imports",
    params(("id" = String, Path)), security(("bearer" = ["snippets:write"])),
    responses((status = 200, body = ImportJob), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn import_job(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<SnippetsWrite>,
    Path(id): Path<String>,
) -> Result<Json<ImportJob>, ApiError> {
    Ok(Json(state.services.imports.job(&caller, &id).await?))
}

/// Writes the body to a file of its own as it arrives, refusing it (413) past `max` bytes,
/// declared or sent.
async fn spool(
    body: Body,
    headers: &HeaderMap,
    max: usize,
) -> Result<tempfile::NamedTempFile, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(ApiError::PayloadTooLarge(max));
    }
    let spooled = tempfile::Builder::new()
        .prefix(SPOOL_PREFIX)
        .tempfile()
        .map_err(unwritable)?;
    let mut out = tokio::fs::File::from_std(spooled.reopen().map_err(unwritable)?);
    let mut chunks = body.into_data_stream();
    let mut written = 0usize;
    while let Some(chunk) = chunks.next().await {
        let chunk =
            chunk.map_err(|_| ApiError::BadRequest("the request body could not be read".into()))?;
        written += chunk.len();
        if written > max {
            return Err(ApiError::PayloadTooLarge(max));
        }
        out.write_all(&chunk).await.map_err(unwritable)?;
    }
    out.flush().await.map_err(unwritable)?;
    if written == 0 {
        return Err(ApiError::MalformedJson(
            "the body is empty: send the file".into(),
        ));
    }
    Ok(spooled)
}

fn unwritable(e: std::io::Error) -> ApiError {
    tracing::error!(error = %e, "an import file could not be written to disk");
    ApiError::Internal("the import file could not be stored; try again later".into())
}
