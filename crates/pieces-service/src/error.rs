//! What a use case can fail with, in words any front door can pass on: REST puts the
//! sentence in `detail`, MCP in its error result.

use pieces_cache::CacheError;
use pieces_model::workspace::Role;
use pieces_model::{Snippet, ValidationError};
use pieces_store::StoreError;
use pieces_upstream::UpstreamError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A field breaks a rule.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// What was sent cannot be read at all (a file that is not JSON, or is cut off).
    #[error("{0}")]
    Malformed(String),
    /// The service itself failed (its disk, a task); the sentence is for the log and the client.
    #[error("{0}")]
    Internal(String),
    /// The thing does not exist for this user (another user's is the same as none).
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("too many requests; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// The user already holds as many of something as one user may (`code` names what).
    #[error("{detail}")]
    LimitReached { code: &'static str, detail: String },
    /// The user has as many streams open as one user may.
    #[error("at most {0} change streams may be open per user; close one first")]
    TooManyStreams(usize),
    /// A feature whose upstream is not configured on this server.
    #[error("{0}")]
    NotConfigured(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The cache holds the only copy (workflow context) and cannot be reached.
    #[error("the cache is unavailable; try again shortly")]
    CacheUnavailable(#[source] CacheError),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// The caller may see the workspace but their role there is below `0`.
    #[error("this needs the {} role in the workspace", .0.as_str())]
    InsufficientRole(Role),
    /// The credential may not reach what the request names (`code` says why).
    #[error("{detail}")]
    Forbidden { code: &'static str, detail: String },
    /// The change conflicts with the state of what it changes (`code` says how).
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    /// The request is well formed but cannot be done as asked (`code` says why).
    #[error("{detail}")]
    Refused { code: &'static str, detail: String },
    /// What was asked for existed and no longer does (an expired or revoked link).
    #[error("{0}")]
    Gone(String),
    /// The snippet is no longer at the version the writer expected (`If-Match`); it is
    /// carried as it is now, and nothing changed.
    #[error("the snippet is at version {} now, not the one expected; nothing was changed", .0.version)]
    VersionConflict(Box<Snippet>),
}

pub type ServiceResult<T> = Result<T, ServiceError>;
