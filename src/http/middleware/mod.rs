//! Layers every request passes through, one file per concern.

mod http_metrics;
mod json_errors;
mod security_headers;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::http::state::AppState;
use crate::request_id;

/// A span per request, named by route template and request id, at `level`. Completed
/// requests are logged at DEBUG (at tens of thousands a second an access log would cost more
/// than the requests); server errors at ERROR.
pub fn with_request_logging<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    level: Level,
) -> Router<S> {
    router.layer(
        TraceLayer::new_for_http()
            .make_span_with(move |req: &Request| {
                let route = req
                    .extensions()
                    .get::<MatchedPath>()
                    .map_or("unmatched", |p| p.as_str());
                let id = req
                    .headers()
                    .get(request_id::HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                if level == Level::DEBUG {
                    tracing::debug_span!("request", method = %req.method(), route, request_id = id)
                } else {
                    tracing::info_span!("request", method = %req.method(), route, request_id = id)
                }
            })
            .on_request(())
            .on_response(DefaultOnResponse::new().level(Level::DEBUG)),
    )
}

/// Request ids, metrics, JSON errors, CORS, security headers, timeouts and body limits.
pub fn with_common_layers(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    let x_request_id = HeaderName::from_static(request_id::HEADER);
    router
        .layer(DefaultBodyLimit::max(state.settings.max_body_bytes))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(
                    x_request_id.clone(),
                    MakeRequestUuid,
                ))
                .layer(PropagateRequestIdLayer::new(x_request_id))
                .layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    around_each_request,
                ))
                .layer(CatchPanicLayer::custom(json_errors::panic_response))
                .layer(cors(state))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::GATEWAY_TIMEOUT,
                    state.settings.request_timeout(),
                )),
        )
}

/// The request id in scope, bare error bodies made JSON, security headers, and the answer
/// counted and timed: one layer rather than several, since every layer is cloned per request
/// and each `from_fn` layer costs a boxed future.
async fn around_each_request(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = http_metrics::Started::now(request.method());
    let route = request.extensions().get::<MatchedPath>().cloned();
    // `SetRequestIdLayer` runs first, so the header is always present.
    let id = request
        .headers()
        .get(request_id::HEADER)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static(""));
    // Filled inside the scope, so a filled error body carries the request id.
    let mut response = request_id::scope(id, async move {
        json_errors::fill_bare_errors(next.run(request).await)
    })
    .await;
    security_headers::add(response.headers_mut());
    started.finish(
        &state.metrics,
        route.as_ref().map_or("unmatched", MatchedPath::as_str),
        response.status(),
        response.extensions().get(),
    );
    response
}

fn cors(state: &AppState) -> CorsLayer {
    // Shared, not a list: every layer is cloned per request, and a list is a vector.
    let origins: Arc<[HeaderValue]> = state
        .settings
        .cors_origins()
        .iter()
        .filter_map(|o| o.parse().ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin, _| {
            origins.contains(origin)
        }))
        .allow_credentials(true)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static(request_id::HEADER),
        ])
        .expose_headers([
            header::LOCATION,
            header::RETRY_AFTER,
            HeaderName::from_static(request_id::HEADER),
        ])
        .max_age(Duration::from_secs(3600))
}
