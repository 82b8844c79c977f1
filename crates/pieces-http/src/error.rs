//! The one error type of the HTTP API and its JSON body:
//! `{"detail": "...", "error": "<stable_code>", "request_id": "..."}`. The core's errors are
//! mapped here, and only here, to statuses.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use pieces_model::request_id;
use pieces_model::workspace::Role;
use pieces_model::{Scope, Snippet, ValidationError};
use pieces_service::auth::{AuthError, AuthFailure};
use pieces_service::ServiceError;
use pieces_store::StoreError;
use pieces_upstream::UpstreamError;

/// The error body every failure answers with.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A human sentence (the key the existing UI reads).
    pub detail: String,
    /// A stable machine-readable code.
    pub error: &'static str,
    pub request_id: String,
    /// The offending field, for 422.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The scope the credential lacks, for 403 `insufficient_scope`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<&'static str>,
    /// The least role the request needs, for 403 `insufficient_role`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    /// The snippet as it is now, for 412 `version_conflict`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<Box<Snippet>>,
}

/// Marks a response as an error of a known kind, for the error metric.
#[derive(Debug, Clone, Copy)]
pub struct ErrorKind(pub &'static str);

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    MalformedJson(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{detail}")]
    Unauthorized { code: &'static str, detail: String },
    #[error("the token lacks the `{0}` scope this needs")]
    InsufficientScope(Scope),
    #[error("{detail}")]
    Forbidden { code: &'static str, detail: String },
    #[error("this needs the {} role in the workspace", .0.as_str())]
    InsufficientRole(Role),
    #[error("the snippet is at version {} now, not the one If-Match names; nothing was changed", .0.version)]
    VersionConflict(Box<Snippet>),
    #[error("{detail}")]
    StateConflict { code: &'static str, detail: String },
    #[error("{0}")]
    Gone(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{detail}")]
    Invalid { field: String, detail: String },
    #[error("{detail}")]
    LimitReached { code: &'static str, detail: String },
    #[error("{0}")]
    NotAcceptable(String),
    #[error("too many requests; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("{0}")]
    TooManyStreams(String),
    #[error("{0}")]
    UpstreamUnavailable(String),
    #[error("{0}")]
    UpstreamTimeout(String),
    #[error("{0}")]
    BadGateway(String),
    #[error("the snippet store is unavailable; try again shortly")]
    StoreUnavailable(#[source] StoreError),
    #[error("the change conflicts with what is stored")]
    Conflict(#[source] StoreError),
    #[error("the cache is unavailable; try again shortly")]
    CacheUnavailable,
    #[error("the request took too long")]
    Timeout,
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// Every code an error answer can carry, so the error metric exports each one from the
    /// start.
    pub const CODES: &'static [&'static str] = &[
        "malformed_json",
        "bad_request",
        "unauthorized",
        "token_missing",
        "token_expired",
        "token_bad_signature",
        "token_bad_algorithm",
        "token_missing_claim",
        "token_bad_issuer",
        "token_bad_audience",
        "token_not_yet_valid",
        "token_malformed",
        "token_invalid",
        "token_revoked",
        "insufficient_scope",
        "token_not_allowed",
        "insufficient_role",
        "version_conflict",
        "workspace_not_allowed",
        "last_owner",
        "workspace_not_empty",
        "personal_workspace",
        "contains_secrets",
        "gone",
        "origin_not_allowed",
        "not_found",
        "conflict",
        "method_not_allowed",
        "payload_too_large",
        "unsupported_media_type",
        "validation_failed",
        "too_many_tokens",
        "not_acceptable",
        "rate_limited",
        "too_many_streams",
        "upstream_unavailable",
        "upstream_timeout",
        "bad_gateway",
        "store_unavailable",
        "cache_unavailable",
        "timeout",
        "internal_error",
    ];

    pub fn invalid(field: &str, detail: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.to_owned(),
            detail: detail.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::MalformedJson(_) | Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope(_) | Self::Forbidden { .. } | Self::InsufficientRole(_) => {
                StatusCode::FORBIDDEN
            }
            Self::StateConflict { .. } => StatusCode::CONFLICT,
            Self::VersionConflict(_) => StatusCode::PRECONDITION_FAILED,
            Self::Gone(_) => StatusCode::GONE,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Invalid { .. } | Self::LimitReached { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            Self::RateLimited { .. } | Self::TooManyStreams(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::BadGateway(_) => StatusCode::BAD_GATEWAY,
            Self::UpstreamUnavailable(_) | Self::StoreUnavailable(_) | Self::CacheUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::UpstreamTimeout(_) | Self::Timeout => StatusCode::GATEWAY_TIMEOUT,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::MalformedJson(_) => "malformed_json",
            Self::BadRequest(_) => "bad_request",
            Self::Unauthorized { code, .. } => code,
            Self::InsufficientScope(_) => "insufficient_scope",
            Self::Forbidden { code, .. } => code,
            Self::InsufficientRole(_) => "insufficient_role",
            Self::VersionConflict(_) => "version_conflict",
            Self::StateConflict { code, .. } => code,
            Self::Gone(_) => "gone",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::Invalid { .. } => "validation_failed",
            Self::LimitReached { code, .. } => code,
            Self::NotAcceptable(_) => "not_acceptable",
            Self::RateLimited { .. } => "rate_limited",
            Self::TooManyStreams(_) => "too_many_streams",
            Self::UpstreamUnavailable(_) => "upstream_unavailable",
            Self::UpstreamTimeout(_) => "upstream_timeout",
            Self::BadGateway(_) => "bad_gateway",
            Self::StoreUnavailable(_) => "store_unavailable",
            Self::CacheUnavailable => "cache_unavailable",
            Self::Timeout => "timeout",
            Self::Internal(_) => "internal_error",
        }
    }

    /// The sentence a client is told. The real cause of a server-side failure goes to the
    /// log, never to the client.
    pub fn public_detail(&self) -> String {
        match self {
            Self::Internal(cause) => {
                tracing::error!(error = %cause, "internal error");
                "internal error; the request id identifies it in the logs".to_owned()
            }
            Self::StoreUnavailable(cause) | Self::Conflict(cause) => {
                tracing::warn!(error = %cause, "store refused the change");
                self.to_string()
            }
            Self::PayloadTooLarge(0) => "request body is too large".to_owned(),
            other => other.to_string(),
        }
    }

    /// The answer for a bare status that some layer produced without a body.
    pub fn from_status(status: StatusCode) -> Self {
        match status {
            StatusCode::BAD_REQUEST => Self::BadRequest("the request is malformed".into()),
            StatusCode::UNAUTHORIZED => Self::Unauthorized {
                code: "unauthorized",
                detail: "authentication is required".into(),
            },
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                Self::UnsupportedMediaType("unsupported content type".into())
            }
            StatusCode::NOT_FOUND => Self::NotFound("route"),
            StatusCode::METHOD_NOT_ALLOWED => Self::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge(0),
            StatusCode::REQUEST_TIMEOUT | StatusCode::GATEWAY_TIMEOUT => Self::Timeout,
            StatusCode::NOT_ACCEPTABLE => {
                Self::NotAcceptable("the Accept header names no type this route answers".into())
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                Self::UpstreamUnavailable("the service is unavailable".into())
            }
            // A client's mistake that a layer answered bare is still the client's: never an
            // internal error (which is logged and alerted on).
            other if other.is_client_error() => {
                Self::BadRequest(format!("the request was refused ({other})"))
            }
            other => Self::Internal(format!("bare {other} response")),
        }
    }
}

impl From<StoreError> for ApiError {
    /// An outage is a 503 the client may retry; a conflict a 409; corrupt data or a refused
    /// statement is a fault no retry mends: a 500, with the cause logged.
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) => Self::StoreUnavailable(err),
            StoreError::Conflict(_) => Self::Conflict(err),
            StoreError::Refused(_) | StoreError::Corrupt(_) => {
                Self::Internal(format!("store fault: {err}"))
            }
        }
    }
}

impl From<UpstreamError> for ApiError {
    fn from(err: UpstreamError) -> Self {
        let detail = err.to_string();
        match err {
            UpstreamError::NotConfigured(_) | UpstreamError::CircuitOpen(_) => {
                Self::UpstreamUnavailable(detail)
            }
            UpstreamError::Timeout(_) => Self::UpstreamTimeout(detail),
            _ => Self::BadGateway(detail),
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(err: ValidationError) -> Self {
        Self::Invalid {
            field: err.field,
            detail: err.detail,
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        Self::Unauthorized {
            code: err.code,
            detail: err.detail,
        }
    }
}

impl From<AuthFailure> for ApiError {
    fn from(err: AuthFailure) -> Self {
        match err {
            AuthFailure::Refused(e) => e.into(),
            AuthFailure::StoreDown(e) => e.into(),
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::Invalid(e) => e.into(),
            ServiceError::Malformed(detail) => Self::MalformedJson(detail),
            ServiceError::Internal(detail) => Self::Internal(detail),
            ServiceError::NotFound(what) => Self::NotFound(what),
            ServiceError::RateLimited { retry_after_secs } => {
                Self::RateLimited { retry_after_secs }
            }
            ServiceError::LimitReached { code, detail } => Self::LimitReached { code, detail },
            ServiceError::TooManyStreams(_) => Self::TooManyStreams(err.to_string()),
            ServiceError::NotConfigured(what) => Self::UpstreamUnavailable(what.to_owned()),
            ServiceError::Store(e) => e.into(),
            ServiceError::CacheUnavailable(_) => Self::CacheUnavailable,
            ServiceError::Upstream(e) => e.into(),
            ServiceError::InsufficientRole(role) => Self::InsufficientRole(role),
            ServiceError::Forbidden { code, detail } => Self::Forbidden { code, detail },
            ServiceError::Conflict { code, detail } => Self::StateConflict { code, detail },
            ServiceError::Refused { code, detail } => Self::LimitReached { code, detail },
            ServiceError::Gone(detail) => Self::Gone(detail),
            ServiceError::VersionConflict(current) => Self::VersionConflict(current),
        }
    }
}

impl ApiError {
    /// The JSON body of this error, for a response or an event of a stream already begun.
    pub fn body(&self, request_id: String) -> ErrorBody {
        let field = match self {
            Self::Invalid { field, .. } => Some(field.clone()),
            _ => None,
        };
        let scope = match self {
            Self::InsufficientScope(scope) => Some(scope.as_str()),
            _ => None,
        };
        let role = match self {
            Self::InsufficientRole(role) => Some(role.as_str()),
            _ => None,
        };
        let current = match self {
            Self::VersionConflict(current) => Some(current.clone()),
            _ => None,
        };
        ErrorBody {
            detail: self.public_detail(),
            error: self.code(),
            request_id,
            field,
            scope,
            role,
            current,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let code = self.code();
        let body = self.body(request_id::current());
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        match &self {
            Self::Unauthorized { code, .. } => {
                let challenge =
                    format!("Bearer error=\"invalid_token\", error_description=\"{code}\"");
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    headers.insert(header::WWW_AUTHENTICATE, value);
                }
            }
            Self::InsufficientScope(scope) => {
                let challenge = format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\"");
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    headers.insert(header::WWW_AUTHENTICATE, value);
                }
            }
            Self::RateLimited { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            // A stream closing frees a place; a few seconds is a fair first wait.
            Self::TooManyStreams(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            _ => {}
        }
        response.extensions_mut().insert(ErrorKind(code));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_answered_is_a_preset_series() {
        let unauthorized = |code| ApiError::Unauthorized {
            code,
            detail: String::new(),
        };
        let errors = [
            ApiError::MalformedJson(String::new()),
            ApiError::BadRequest(String::new()),
            ApiError::InsufficientScope(pieces_model::Scope::Ai),
            ApiError::NotFound("x"),
            ApiError::InsufficientRole(Role::Writer),
            ApiError::VersionConflict(Box::default()),
            ApiError::Gone(String::new()),
            ApiError::StateConflict {
                code: "last_owner",
                detail: String::new(),
            },
            ApiError::Conflict(StoreError::Conflict(String::new())),
            ApiError::MethodNotAllowed,
            ApiError::PayloadTooLarge(0),
            ApiError::UnsupportedMediaType(String::new()),
            ApiError::invalid("f", "d"),
            ApiError::LimitReached {
                code: "too_many_tokens",
                detail: String::new(),
            },
            ApiError::NotAcceptable(String::new()),
            ApiError::RateLimited {
                retry_after_secs: 1,
            },
            ApiError::UpstreamUnavailable(String::new()),
            ApiError::UpstreamTimeout(String::new()),
            ApiError::BadGateway(String::new()),
            ApiError::StoreUnavailable(StoreError::Unavailable(String::new())),
            ApiError::CacheUnavailable,
            ApiError::Timeout,
            ApiError::Internal(String::new()),
            unauthorized("token_expired"),
        ];
        for error in errors {
            assert!(ApiError::CODES.contains(&error.code()), "{}", error.code());
        }
    }

    #[test]
    fn a_bare_client_error_stays_a_client_error() {
        for status in [
            StatusCode::NOT_ACCEPTABLE,
            StatusCode::CONFLICT,
            StatusCode::GONE,
        ] {
            let error = ApiError::from_status(status);
            assert!(
                error.status().is_client_error(),
                "{status}: {}",
                error.code()
            );
            assert_ne!(error.code(), "internal_error", "{status}");
        }
        assert_eq!(
            ApiError::from_status(StatusCode::NOT_ACCEPTABLE).code(),
            "not_acceptable"
        );
    }

    #[test]
    fn store_errors_map_to_outage_conflict_or_fault() {
        let status = |e: StoreError| ApiError::from(ServiceError::Store(e)).status();
        let cause = || "cause".to_owned();
        assert_eq!(
            status(StoreError::Unavailable(cause())),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(status(StoreError::Conflict(cause())), StatusCode::CONFLICT);
        assert_eq!(
            status(StoreError::Refused(cause())),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            status(StoreError::Corrupt(cause())),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
