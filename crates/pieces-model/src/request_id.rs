//! The request id of the request being served, readable anywhere below the middleware that
//! sets it (error bodies, upstream calls) without threading it through every signature.

use std::future::Future;

use http::HeaderValue;

pub const HEADER: &str = "x-request-id";

tokio::task_local! {
    // The header value itself: cloning it is a reference count, not a copy.
    static CURRENT: HeaderValue;
}

/// The current request's id, or an empty string outside a request.
pub fn current() -> String {
    CURRENT
        .try_with(|id| id.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

/// Runs `work` with `id` as the current request id.
pub async fn scope<F: Future>(id: HeaderValue, work: F) -> F::Output {
    CURRENT.scope(id, work).await
}
