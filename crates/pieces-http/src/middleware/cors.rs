//! CORS for browsers on the configured origins. Only a browser's cross-origin request carries
//! `Origin`, so requests without one (agents, curl, the platform, same-origin page loads)
//! skip the CORS layer: it would only add `Vary` and allocate its headers, on every request.
//! API answers are `Cache-Control: no-store`, so no shared cache can serve one answer to both.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::{header, HeaderName, HeaderValue, Method, Request};
use futures_util::future::Either;
use tower::{Layer, Service};
use tower_http::cors::{AllowOrigin, Cors, CorsLayer};

use crate::state::AppState;
use pieces_model::request_id;

/// The CORS layer for the configured origins, applied to requests that name an origin.
pub fn layer(state: &AppState) -> OnlyWithOriginLayer {
    // Shared, not a list: every layer is cloned per request, and a list is a vector.
    let origins: Arc<[HeaderValue]> = state
        .settings
        .cors_origins()
        .iter()
        .filter_map(|o| o.parse().ok())
        .collect();
    let cors = CorsLayer::new()
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
        .max_age(Duration::from_secs(3600));
    OnlyWithOriginLayer(Arc::new(cors))
}

#[derive(Clone)]
pub struct OnlyWithOriginLayer(Arc<CorsLayer>);

impl<S> Layer<S> for OnlyWithOriginLayer {
    type Service = OnlyWithOrigin<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OnlyWithOrigin {
            cors: self.0.clone(),
            inner,
        }
    }
}

/// `Cors` for requests with an `Origin` header; the inner service, untouched, for the rest.
/// The CORS settings are shared, since the service is cloned for every request.
#[derive(Clone)]
pub struct OnlyWithOrigin<S> {
    cors: Arc<CorsLayer>,
    inner: S,
}

impl<S, B> Service<Request<B>> for OnlyWithOrigin<S>
where
    Cors<S>: Service<Request<B>, Response = S::Response, Error = S::Error>,
    S: Service<Request<B>> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Either<<Cors<S> as Service<Request<B>>>::Future, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The local session hands out a token: no other origin may read its answer, whatever
        // CORS_ALLOWED_ORIGINS admits for the API.
        let shares_answers = request.uri().path() != crate::routes::LOCAL_SESSION_PATH;
        if shares_answers && request.headers().contains_key(header::ORIGIN) {
            // The service polled ready is the one that serves; a clone stays for next time.
            let fresh = self.inner.clone();
            let ready = std::mem::replace(&mut self.inner, fresh);
            Either::Left(self.cors.layer(ready).call(request))
        } else {
            Either::Right(self.inner.call(request))
        }
    }
}
