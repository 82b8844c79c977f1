//! Layers every request passes through, one file per concern.

mod cors;
mod http_metrics;
mod json_errors;
mod route_stamp;
mod security_headers;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::error::ApiError;
use crate::state::AppState;
use pieces_model::request_id;

/// What runs after routing, in one layer per route: a span per request, named by route
/// template and request id, at `level`, and the template copied onto the response for the
/// layers outside the router. Completed requests are logged at DEBUG (at tens of thousands a
/// second an access log would cost more than the requests); server errors at ERROR.
pub fn with_request_logging<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    level: Level,
) -> Router<S> {
    let trace = TraceLayer::new_for_http()
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
        .on_response(DefaultOnResponse::new().level(Level::DEBUG));
    router.layer(
        ServiceBuilder::new()
            .layer(trace)
            .layer(route_stamp::RouteStampLayer),
    )
}

/// The router with its state, inside request ids, metrics, JSON errors, CORS, security
/// headers, timeouts and body limits. These wrap the router once rather than each route (as
/// `Router::layer` would), since each layer of routes costs every request a boxed clone.
pub fn with_common_layers(router: Router<AppState>, state: &AppState) -> Router {
    let x_request_id = HeaderName::from_static(request_id::HEADER);
    let routed = router.with_state(state.clone());
    Router::new().fallback_service(
        ServiceBuilder::new()
            .layer(DefaultBodyLimit::max(state.settings.max_body_bytes))
            .layer(SetRequestIdLayer::new(x_request_id.clone(), NewRequestId))
            .layer(PropagateRequestIdLayer::new(x_request_id))
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                around_each_request,
            ))
            .layer(CatchPanicLayer::custom(json_errors::panic_response))
            .layer(cors::layer(state))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::GATEWAY_TIMEOUT,
                state.settings.request_timeout(),
            ))
            .service(routed),
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
    // `SetRequestIdLayer` runs first, so the header is always present.
    let id = request
        .headers()
        .get(request_id::HEADER)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static(""));
    // A large body waits for room in the budget (bounded as the request is) and holds it
    // until the answer is made, by when the body has been read and dropped.
    let admitted = match state
        .body_budget
        .share_for(request.method(), request.headers())
    {
        None => Ok(None),
        Some(share) => {
            let admit = state.body_budget.admit(share);
            tokio::time::timeout(state.settings.request_timeout(), admit)
                .await
                .map(Some)
        }
    };
    // Filled inside the scope, so a filled error body carries the request id; the route is
    // read first, since a filled response is a new one.
    let (route, mut response) = request_id::scope(id, async move {
        let response = match admitted {
            Ok(_share) => next.run(request).await,
            Err(_) => ApiError::UpstreamUnavailable(
                "too many large request bodies are being received; try again shortly".into(),
            )
            .into_response(),
        };
        let route = response.extensions().get::<MatchedPath>().cloned();
        (route, json_errors::fill_bare_errors(response))
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

/// Ids for requests that come without one: random UUIDs written straight into the header
/// value (tower-http's `MakeRequestUuid` formats one through `Display` and parses it back).
#[derive(Clone, Copy)]
struct NewRequestId;

impl MakeRequestId for NewRequestId {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let text = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text);
        HeaderValue::from_str(text).ok().map(RequestId::new)
    }
}
