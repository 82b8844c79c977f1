//! The route template a request matched, copied onto its response. The layers every request
//! passes through wrap the whole router, so they run before routing and see no
//! `MatchedPath` on the request; they read it from the response instead. Wrapping the router
//! once, rather than each route, spares every request a boxed clone of each layer.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use axum::extract::{MatchedPath, Request};
use axum::response::Response;
use pin_project_lite::pin_project;
use tower::{Layer, Service};

#[derive(Clone, Copy)]
pub struct RouteStampLayer;

impl<S> Layer<S> for RouteStampLayer {
    type Service = RouteStamp<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RouteStamp { inner }
    }
}

#[derive(Clone)]
pub struct RouteStamp<S> {
    inner: S,
}

impl<S> Service<Request> for RouteStamp<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Stamped<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        Stamped {
            route: request.extensions().get::<MatchedPath>().cloned(),
            inner: self.inner.call(request),
        }
    }
}

pin_project! {
    pub struct Stamped<F> {
        #[pin]
        inner: F,
        route: Option<MatchedPath>,
    }
}

impl<F, E> Future for Stamped<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        if let Some(route) = this.route.take() {
            response.extensions_mut().insert(route);
        }
        Poll::Ready(Ok(response))
    }
}
