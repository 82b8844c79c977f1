//! `/api/v1/snippets/{id}/related`: the snippets related to one. The handler extracts, calls
//! one use case and answers its result.

use axum::extract::State;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Authorized, SnippetsRead};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiQuery, SnippetId};
use crate::state::AppState;
use pieces_model::related::{RelatedPage, RelatedParams};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(related_snippets))
}

/// The snippets of the same workspace most related to this one: the nearest in meaning (with
/// an embedding model) fused with those sharing its tags (and language), without their code.
#[utoipa::path(get, path = "/api/v1/snippets/{id}/related", tag = "snippets",
    params(("id" = String, Path), RelatedParams),
    security(("bearer" = ["snippets:read"])),
    responses((status = 200, body = RelatedPage), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn related_snippets(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<SnippetsRead>,
    SnippetId(id): SnippetId,
    ApiQuery(params): ApiQuery<RelatedParams>,
) -> Result<Json<RelatedPage>, ApiError> {
    let page = state
        .services
        .snippets
        .related(&caller, &id, params)
        .await?;
    Ok(Json(page))
}
