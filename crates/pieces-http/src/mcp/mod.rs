//! `/mcp`: the Model Context Protocol over Streamable HTTP, for AI agents and editors. One
//! more front door onto the same use cases, behind the same authentication, request id,
//! metrics, body limit and timeout as REST. Stateless: any replica answers any request, so
//! no session affinity is needed.

mod handler;
mod render;
mod tools;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::ORIGIN;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::{json, Value};

use super::auth::Caller;
use super::error::ApiError;
use super::state::AppState;
use handler::McpServer;

pub const PATH: &str = "/mcp";

/// The `/mcp` route. `doc` is the API description, whose schemas the tools reuse.
pub fn router(state: &AppState, doc: &Value) -> Router<AppState> {
    let server = McpServer {
        state: state.clone(),
        tools: tools::catalogue(doc),
    };
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        // Behind a Kubernetes Service the Host is whatever the client called; origins are
        // what protects browsers, and `authenticate` checks those exactly as CORS does.
        .disable_allowed_hosts()
        .with_max_request_body_bytes(state.settings.max_body_bytes);
    let service = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    Router::new()
        .route_service(PATH, service)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authenticate,
        ))
}

/// Refuses a browser whose origin is not allowed, authenticates like every REST route (401
/// with the Bearer challenge otherwise) and hands the caller to the tools through the
/// request's extensions.
async fn authenticate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    if let Some(origin) = parts.headers.get(ORIGIN) {
        let allowed = state.settings.cors_origins();
        if !allowed.iter().any(|o| o.as_bytes() == origin.as_bytes()) {
            return ApiError::Forbidden {
                code: "origin_not_allowed",
                detail: "this origin may not call /mcp (see CORS_ALLOWED_ORIGINS)".into(),
            }
            .into_response();
        }
    }
    match Caller::from_request_parts(&mut parts, &state).await {
        Ok(Caller(principal)) => {
            parts.extensions.insert(principal);
            let body = match parts.method {
                Method::POST => match json_rpc_body(body, state.settings.max_body_bytes).await {
                    Ok(body) => body,
                    Err(refused) => return refused,
                },
                _ => body,
            };
            next.run(Request::from_parts(parts, body)).await
        }
        Err(error) => error.into_response(),
    }
}

/// The body of a JSON-RPC message, checked to be JSON: one that is not answers 400 with the
/// JSON-RPC parse error (-32700), as the specification has it, rather than the transport's
/// 415, which would blame the content type.
async fn json_rpc_body(body: Body, limit: usize) -> Result<Body, Response> {
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge(limit).into_response())?;
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&bytes) {
        let error = json!({"jsonrpc": "2.0", "id": null,
            "error": {"code": -32700, "message": format!("Parse error: {e}")}});
        return Err((StatusCode::BAD_REQUEST, axum::Json(error)).into_response());
    }
    Ok(Body::from(bytes))
}
