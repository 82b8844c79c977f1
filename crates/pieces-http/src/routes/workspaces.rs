//! `/api/v1/workspaces` and `/api/v1/audit`: team workspaces, their members and the audit
//! log. Who may do what is decided by the workspace service; these only translate.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use futures_util::stream;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Authorized, SnippetsRead, SnippetsWrite};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;
use pieces_model::audit::{AuditPage, AuditParams};
use pieces_model::workspace::{Member, MemberRole, NewWorkspace, Workspace, WorkspacePatch};
use pieces_service::auth::Principal;
use pieces_service::ServiceResult;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_workspaces, create_workspace))
        .routes(routes!(get_workspace, update_workspace, delete_workspace))
        .routes(routes!(list_members))
        .routes(routes!(put_member, remove_member))
        .routes(routes!(workspace_audit))
        .routes(routes!(my_audit))
}

/// The caller's workspaces.
#[derive(Serialize, ToSchema)]
pub struct WorkspaceList {
    pub workspaces: Vec<Workspace>,
}

/// A workspace's members.
#[derive(Serialize, ToSchema)]
pub struct MemberList {
    pub members: Vec<Member>,
}

/// Makes a team workspace with the caller as its owner.
#[utoipa::path(post, path = "/api/v1/workspaces", tag = "workspaces", request_body = NewWorkspace,
    security(("bearer" = ["snippets:write"])),
    responses((status = 201, body = Workspace), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn create_workspace(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<SnippetsWrite>,
    ApiJson(body): ApiJson<NewWorkspace>,
) -> Result<Response, ApiError> {
    let created = state.services.workspaces.create(&caller, body).await?;
    let location = format!("/api/v1/workspaces/{}", created.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(created),
    )
        .into_response())
}

/// The caller's workspaces with their role in each, personal first.
#[utoipa::path(get, path = "/api/v1/workspaces", tag = "workspaces",
    security(("bearer" = ["snippets:read"])),
    responses((status = 200, body = WorkspaceList), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn list_workspaces(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<SnippetsRead>,
) -> Result<Json<WorkspaceList>, ApiError> {
    let workspaces = state.services.workspaces.list(&caller).await?;
    Ok(Json(WorkspaceList { workspaces }))
}

/// One workspace the caller is a member of (`personal` is their own).
#[utoipa::path(get, path = "/api/v1/workspaces/{ws}", tag = "workspaces",
    params(("ws" = String, Path)), security(("bearer" = ["snippets:read"])),
    responses((status = 200, body = Workspace), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn get_workspace(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<SnippetsRead>,
    Path(ws): Path<String>,
) -> Result<Json<Workspace>, ApiError> {
    Ok(Json(state.services.workspaces.get(&caller, &ws).await?))
}

/// Renames or describes a team workspace (admin); binds a platform group (owner).
#[utoipa::path(patch, path = "/api/v1/workspaces/{ws}", tag = "workspaces",
    request_body = WorkspacePatch, params(("ws" = String, Path)),
    security(("bearer" = ["snippets:write"])),
    responses((status = 200, body = Workspace), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn update_workspace(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<SnippetsWrite>,
    Path(ws): Path<String>,
    ApiJson(patch): ApiJson<WorkspacePatch>,
) -> Result<Json<Workspace>, ApiError> {
    Ok(Json(
        state
            .services
            .workspaces
            .update(&caller, &ws, patch)
            .await?,
    ))
}

/// Deletes an empty team workspace (owner).
#[utoipa::path(delete, path = "/api/v1/workspaces/{ws}", tag = "workspaces",
    params(("ws" = String, Path)), security(("bearer" = ["snippets:write"])),
    responses((status = 204), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn delete_workspace(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<SnippetsWrite>,
    Path(ws): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.services.workspaces.delete(&caller, &ws).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The members of a workspace the caller is a member of.
#[utoipa::path(get, path = "/api/v1/workspaces/{ws}/members", tag = "workspaces",
    params(("ws" = String, Path)), security(("bearer" = ["snippets:read"])),
    responses((status = 200, body = MemberList), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn list_members(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<SnippetsRead>,
    Path(ws): Path<String>,
) -> Result<Json<MemberList>, ApiError> {
    let members = state.services.workspaces.members(&caller, &ws).await?;
    Ok(Json(MemberList { members }))
}

/// Adds a member or changes their role (admin; owners by an owner).
#[utoipa::path(put, path = "/api/v1/workspaces/{ws}/members/{user_id}", tag = "workspaces",
    request_body = MemberRole,
    params(("ws" = String, Path), ("user_id" = String, Path)),
    security(("bearer" = ["snippets:write"])),
    responses((status = 200, body = Member), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn put_member(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<SnippetsWrite>,
    Path((ws, user_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<MemberRole>,
) -> Result<Json<Member>, ApiError> {
    let member = state
        .services
        .workspaces
        .put_member(&caller, &ws, &user_id, body.role)
        .await?;
    Ok(Json(member))
}

/// Removes a member (admin; an owner by an owner), or the caller leaves.
#[utoipa::path(delete, path = "/api/v1/workspaces/{ws}/members/{user_id}", tag = "workspaces",
    params(("ws" = String, Path), ("user_id" = String, Path)),
    security(("bearer" = ["snippets:write"])),
    responses((status = 204), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn remove_member(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<SnippetsWrite>,
    Path((ws, user_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state
        .services
        .workspaces
        .remove_member(&caller, &ws, &user_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A workspace's audit log, newest first (admin). With `Accept: application/x-ndjson`, every
/// matching record as JSON lines, read a page at a time.
#[utoipa::path(get, path = "/api/v1/workspaces/{ws}/audit", tag = "audit",
    params(("ws" = String, Path), AuditParams), security(("bearer" = ["snippets:read"])),
    responses((status = 200,
            content((AuditPage = "application/json"), (String = "application/x-ndjson"))),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn workspace_audit(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<SnippetsRead>,
    Path(ws): Path<String>,
    ApiQuery(params): ApiQuery<AuditParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let workspaces = state.services.workspaces.clone();
    let first = workspaces.audit(&caller, &ws, params.clone()).await?;
    answer(first, params, &headers, move |params| {
        let (workspaces, caller, ws) = (workspaces.clone(), caller.clone(), ws.clone());
        async move { workspaces.audit(&caller, &ws, params).await }
    })
}

/// The caller's own actions, newest first, wherever they were. NDJSON as above.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditParams),
    security(("bearer" = ["snippets:read"])),
    responses((status = 200,
            content((AuditPage = "application/json"), (String = "application/x-ndjson"))),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn my_audit(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<SnippetsRead>,
    ApiQuery(params): ApiQuery<AuditParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let workspaces = state.services.workspaces.clone();
    let first = workspaces.my_audit(&caller, params.clone()).await?;
    answer(first, params, &headers, move |params| {
        let (workspaces, caller): (_, Principal) = (workspaces.clone(), caller.clone());
        async move { workspaces.my_audit(&caller, params).await }
    })
}

const NDJSON: &str = "application/x-ndjson";

/// The first page as JSON, or, when the client asks for NDJSON, every page as lines: each
/// page is read when the client has taken the one before, so memory holds one page.
fn answer<F, Fut>(
    first: AuditPage,
    params: AuditParams,
    headers: &HeaderMap,
    next: F,
) -> Result<Response, ApiError>
where
    F: Fn(AuditParams) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ServiceResult<AuditPage>> + Send,
{
    let wants_lines = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains(NDJSON));
    if !wants_lines {
        return Ok(Json(first).into_response());
    }
    let pages = stream::unfold(
        (Some(first), params, next),
        |(page, params, next)| async move {
            let page = page?;
            let mut lines = Vec::new();
            for record in &page.records {
                if serde_json::to_writer(&mut lines, record).is_ok() {
                    lines.push(b'\n');
                }
            }
            let following = match page.next_cursor {
                None => None,
                Some(cursor) => {
                    let params = AuditParams {
                        cursor: Some(cursor),
                        ..params.clone()
                    };
                    match next(params.clone()).await {
                        Ok(page) => Some(page),
                        Err(e) => {
                            tracing::warn!(error = %e, "an audit export could not read a page");
                            return Some((
                                Err(std::io::Error::other(e.to_string())),
                                (None, params, next),
                            ));
                        }
                    }
                }
            };
            Some((
                Ok::<_, std::io::Error>(Bytes::from(lines)),
                (following, params, next),
            ))
        },
    );
    let mut response = Body::from_stream(pages).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON));
    Ok(response)
}
