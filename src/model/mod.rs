//! The service's data, the request bodies that change it, and the rules they must keep.

mod assist;
mod snippet;
mod workflow;

pub use assist::{AssistAnswer, AssistRequest, Question};
pub use snippet::{ListFilter, ListParams, NewSnippet, Snippet, SnippetPage, SnippetPatch};
pub use workflow::{ContextInput, WorkflowContext};

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::{Map, Value};

use crate::error::ApiError;

/// Size limits on what users send, from configuration.
#[derive(Debug, Clone)]
pub struct Limits {
    pub title_chars: usize,
    pub code_bytes: usize,
    pub language_chars: usize,
    pub tags: usize,
    pub tag_chars: usize,
    /// Largest serialized size of any free-form object (metadata, context data).
    pub object_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        crate::config::Settings::default().limits()
    }
}

/// The current time at the precision both stores keep (microseconds), so what a create
/// answers equals what a later read returns.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// A JSON object, as users send and read it.
pub type JsonObject = Map<String, Value>;

/// Checks that `value` holds between 1 and `max` characters and is not only blank.
pub(crate) fn check_text(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    let chars = value.chars().count();
    if value.trim().is_empty() || chars > max {
        return Err(ApiError::invalid(
            field,
            format!("{field} must be 1 to {max} characters and not blank"),
        ));
    }
    check_no_nul(field, value)
}

/// PostgreSQL's text and JSONB cannot hold a NUL character, so neither store takes one: the
/// same body is accepted, or refused, whichever store runs.
pub(crate) fn check_no_nul(field: &str, value: &str) -> Result<(), ApiError> {
    if value.contains('\0') {
        return Err(ApiError::invalid(
            field,
            format!("{field} must not contain NUL characters (\\u0000)"),
        ));
    }
    Ok(())
}

/// `check_no_nul` for every key and string inside a JSON object.
pub(crate) fn check_no_nul_in_object(field: &str, object: &JsonObject) -> Result<(), ApiError> {
    fn walk(field: &str, value: &Value) -> Result<(), ApiError> {
        match value {
            Value::String(s) => check_no_nul(field, s),
            Value::Array(items) => items.iter().try_for_each(|v| walk(field, v)),
            Value::Object(map) => map.iter().try_for_each(|(k, v)| {
                check_no_nul(field, k)?;
                walk(field, v)
            }),
            _ => Ok(()),
        }
    }
    object.iter().try_for_each(|(k, v)| {
        check_no_nul(field, k)?;
        walk(field, v)
    })
}

/// Checks that an object serializes to at most `max` bytes.
pub(crate) fn check_object(field: &str, value: &JsonObject, max: usize) -> Result<(), ApiError> {
    let size = serde_json::to_vec(value)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > max {
        return Err(ApiError::invalid(
            field,
            format!("{field} must be a JSON object of at most {max} bytes (got {size})"),
        ));
    }
    Ok(())
}
