//! Answers for requests no route takes, in the JSON error shape.

use crate::error::ApiError;

pub async fn not_found() -> ApiError {
    ApiError::NotFound("route")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
