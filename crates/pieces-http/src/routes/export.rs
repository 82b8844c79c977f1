//! Export: every snippet of one workspace (or of all the caller reads), streamed as it is
//! read from the store.

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Authorized, SnippetsRead};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;
use crate::state::AppState;
use pieces_model::import::ExportParams;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(export))
}

/// Every snippet of the workspace (reader), oldest first: JSON lines (what `json` imports,
/// field for field; with `history=true`, each snippet's older versions after it), a zip of
/// Markdown files, or a VS Code `.code-snippets` file. The file is written as it is read,
/// so its size does not matter; an error midway cuts the connection.
#[utoipa::path(get, path = "/api/v1/export", tag = "imports", params(ExportParams),
    security(("bearer" = ["snippets:read"])),
    responses(
        (status = 200, description = "The file",
            content(("application/x-ndjson"), ("application/zip"), ("application/json"))),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn export(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<SnippetsRead>,
    ApiQuery(params): ApiQuery<ExportParams>,
) -> Result<Response, ApiError> {
    let export = state.services.exports.export(&caller, params).await?;
    let mut chunks = export.chunks;
    let body = Body::from_stream(futures_util::stream::poll_fn(move |cx| {
        chunks.poll_recv(cx)
    }));
    let disposition = format!("attachment; filename=\"{}\"", export.format.file_name());
    Ok((
        [
            (
                header::CONTENT_TYPE,
                export.format.content_type().to_owned(),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}
