use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::bounds::{CONTEXT_TYPE_MAX_CHARS, SESSION_ID_MAX_CHARS};
use super::rules::{check_object, check_text, Checked, ValidationError};
use super::{JsonObject, Limits};

/// Body of `POST /api/v1/workflow-context`. A `user_id` in the body is ignored: the token
/// decides whose context it is.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ContextInput {
    pub session_id: String,
    pub context_type: String,
    #[schema(value_type = Object)]
    pub context_data: JsonObject,
    /// RFC 3339; a time without offset is taken as UTC. Defaults to now.
    #[serde(default)]
    pub timestamp: Option<String>,
}

/// A user's current workflow context, as stored and as sent to the gateway.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WorkflowContext {
    pub user_id: String,
    pub session_id: String,
    pub context_type: String,
    #[schema(value_type = Object)]
    pub context_data: JsonObject,
    pub timestamp: DateTime<Utc>,
}

impl ContextInput {
    pub fn into_context(
        self,
        user_id: &str,
        limits: &Limits,
        now: DateTime<Utc>,
    ) -> Checked<WorkflowContext> {
        check_text("session_id", &self.session_id, SESSION_ID_MAX_CHARS)?;
        check_text("context_type", &self.context_type, CONTEXT_TYPE_MAX_CHARS)?;
        check_object("context_data", &self.context_data, limits.object_bytes)?;
        let timestamp = match self.timestamp.as_deref() {
            None | Some("") => now,
            Some(text) => parse_timestamp(text).ok_or_else(|| {
                ValidationError::new("timestamp", "timestamp must be an RFC 3339 date-time")
            })?,
        };
        Ok(WorkflowContext {
            user_id: user_id.to_owned(),
            session_id: self.session_id,
            context_type: self.context_type,
            context_data: self.context_data,
            timestamp,
        })
    }
}

/// Existing clients send Python's `isoformat()`, which has no offset; those are UTC.
fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc())
        })
}

#[cfg(test)]
mod tests {
    use super::parse_timestamp;

    #[test]
    fn timestamps_without_offset_are_taken_as_utc() {
        let t = parse_timestamp("2026-01-02T03:04:05.678").expect("parses");
        assert_eq!(t.to_rfc3339(), "2026-01-02T03:04:05.678+00:00");
        assert!(parse_timestamp("yesterday").is_none());
    }
}
