//! Share links: made, listed and revoked by writers through the API; each request counted
//! against its client address's allowance. The public side, `/s/<key>`, is in `web::share`.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Authorized, SnippetsWrite};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ClientAddress, SnippetId};
use crate::state::AppState;
use pieces_model::share::{NewShare, Share};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_shares, create_share))
        .routes(routes!(revoke_share))
}

/// A snippet's share links.
#[derive(Serialize, ToSchema)]
pub struct ShareList {
    pub shares: Vec<Share>,
}

/// Makes a read-only link to the snippet (writer); its `url` is in this answer only. A
/// snippet whose code looks like it holds a credential is refused (422 `contains_secrets`)
/// unless `allow_secrets` is true.
#[utoipa::path(post, path = "/api/v1/snippets/{id}/shares", tag = "shares",
    request_body = NewShare, params(("id" = String, Path)),
    security(("bearer" = ["snippets:write"])),
    responses((status = 201, body = Share), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn create_share(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    Authorized(caller, _): Authorized<SnippetsWrite>,
    SnippetId(id): SnippetId,
    ApiJson(body): ApiJson<NewShare>,
) -> Result<Response, ApiError> {
    let shares = &state.services.shares;
    shares.admit(&client)?;
    let share = shares.create(&caller, &id, body).await?;
    let location = share.url.clone().unwrap_or_default();
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(share),
    )
        .into_response())
}

/// The snippet's links, newest first, with their view counts (writer); never a key.
#[utoipa::path(get, path = "/api/v1/snippets/{id}/shares", tag = "shares",
    params(("id" = String, Path)), security(("bearer" = ["snippets:write"])),
    responses((status = 200, body = ShareList), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn list_shares(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    Authorized(caller, _): Authorized<SnippetsWrite>,
    SnippetId(id): SnippetId,
) -> Result<Json<ShareList>, ApiError> {
    let shares = &state.services.shares;
    shares.admit(&client)?;
    Ok(Json(ShareList {
        shares: shares.list(&caller, &id).await?,
    }))
}

/// Revokes a link (writer): it answers 410 at once, on every replica. Revoking it again
/// answers 204 too and changes nothing.
#[utoipa::path(delete, path = "/api/v1/shares/{id}", tag = "shares",
    params(("id" = String, Path)), security(("bearer" = ["snippets:write"])),
    responses((status = 204), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 429, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn revoke_share(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    Authorized(caller, _): Authorized<SnippetsWrite>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let shares = &state.services.shares;
    shares.admit(&client)?;
    shares.revoke(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
