//! The request id of the request being served, readable anywhere below the middleware that
//! sets it (error bodies, upstream calls) without threading it through every signature.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

pub const HEADER: &str = "x-request-id";

tokio::task_local! {
    static CURRENT: String;
}

/// The current request's id, or an empty string outside a request.
pub fn current() -> String {
    CURRENT.try_with(Clone::clone).unwrap_or_default()
}

/// Runs the rest of the stack with the request's id in scope. `SetRequestIdLayer` runs first,
/// so the header is always present here.
pub async fn scope(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    CURRENT.scope(id, next.run(request)).await
}
