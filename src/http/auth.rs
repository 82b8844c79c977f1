//! The caller of a request, from its `Authorization: Bearer` header. Generic over the state,
//! so this module needs nothing of it but a way to reach the `Authenticator`.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::error::ApiError;
use crate::auth::{AuthError, Authenticator};

/// The authenticated user of a request.
#[derive(Debug, Clone)]
pub struct AuthUser(pub String);

impl<S> FromRequestParts<S> for AuthUser
where
    S: Send + Sync,
    Arc<Authenticator>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let token = bearer_token(parts)?;
        let authenticator = Arc::<Authenticator>::from_ref(state);
        Ok(AuthUser(authenticator.authenticate(token)?))
    }
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer_token(parts: &Parts) -> Result<&str, AuthError> {
    let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
        AuthError::new(
            "token_missing",
            "an Authorization: Bearer token is required",
        )
    })?;
    header
        .to_str()
        .ok()
        .and_then(|h| h.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or_else(|| {
            AuthError::new(
                "token_missing",
                "the Authorization header must be `Bearer <token>`",
            )
        })
}
