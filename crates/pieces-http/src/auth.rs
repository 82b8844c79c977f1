//! The caller of a request, from its `Authorization: Bearer` header, and the scope a route
//! needs. Generic over the state, so this module needs nothing of it but a way to reach the
//! `Authenticator`.

use std::marker::PhantomData;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::error::ApiError;
use pieces_model::Scope;
use pieces_service::auth::{AuthError, Authenticator, Principal};

/// A scope a route requires, as a type.
pub trait RequiredScope: Send + Sync + 'static {
    const SCOPE: Scope;
}

macro_rules! scopes {
    ($($name:ident => $scope:expr),* $(,)?) => {
        $(
            #[doc = concat!("Requires `", stringify!($name), "`.")]
            pub struct $name;
            impl RequiredScope for $name {
                const SCOPE: Scope = $scope;
            }
        )*
    };
}

scopes!(
    SnippetsRead => Scope::SnippetsRead,
    SnippetsWrite => Scope::SnippetsWrite,
    ContextRead => Scope::ContextRead,
    ContextWrite => Scope::ContextWrite,
    Ai => Scope::Ai,
);

/// The user of a request whose credential holds scope `S`; 403 `insufficient_scope`
/// otherwise.
pub struct Authorized<S: RequiredScope>(pub Principal, pub PhantomData<S>);

/// The caller, whatever its scopes (routes that check them later, such as streams).
pub struct Caller(pub Principal);

/// A caller with a platform JWT: personal tokens may not manage tokens.
pub struct JwtUser(pub Principal);

impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync,
    Arc<Authenticator>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if let Some(principal) = parts.extensions.get::<Principal>() {
            return Ok(Caller(principal.clone()));
        }
        let token = bearer_token(parts)?;
        let authenticator = Arc::<Authenticator>::from_ref(state);
        let principal = authenticator.authenticate(token).await?;
        Ok(Caller(principal))
    }
}

impl<S, R> FromRequestParts<S> for Authorized<R>
where
    S: Send + Sync,
    R: RequiredScope,
    Arc<Authenticator>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Caller(principal) = Caller::from_request_parts(parts, state).await?;
        if !principal.allows(R::SCOPE) {
            return Err(ApiError::InsufficientScope(R::SCOPE));
        }
        Ok(Authorized(principal, PhantomData))
    }
}

impl<S> FromRequestParts<S> for JwtUser
where
    S: Send + Sync,
    Arc<Authenticator>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Caller(principal) = Caller::from_request_parts(parts, state).await?;
        if principal.token_id.is_some() {
            return Err(ApiError::Forbidden {
                code: "token_not_allowed",
                detail: "personal access tokens cannot manage tokens; use a platform token".into(),
            });
        }
        Ok(JwtUser(principal))
    }
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(parts: &Parts) -> Result<&str, AuthError> {
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
        .filter(|token| !token.is_empty())
        .ok_or_else(|| {
            AuthError::new(
                "token_missing",
                "the Authorization header must be `Bearer <token>`",
            )
        })
}
