//! Every error answers in the JSON shape, including those made by layers that know nothing
//! of it (timeouts, extractor rejections, panics).

use std::any::Any;

use axum::body::Body;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::Response;
use axum::response::IntoResponse;

use crate::error::ApiError;

/// Replaces the body of an error response that is not already JSON.
pub fn fill_bare_errors(response: Response<Body>) -> Response<Body> {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json {
        return response;
    }
    let (parts, _) = response.into_parts();
    let mut filled = ApiError::from_status(status).into_response();
    *filled.status_mut() = status;
    for (name, value) in &parts.headers {
        if name != CONTENT_TYPE && name != CONTENT_LENGTH {
            filled.headers_mut().insert(name.clone(), value.clone());
        }
    }
    filled
}

/// A panic is logged and answered as a plain 500 in the JSON shape; the process lives on.
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response<Body> {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    ApiError::Internal(format!("handler panicked: {message}")).into_response()
}
