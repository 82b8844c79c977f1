//! The change stream: every change to a user's data becomes an event in the user's own
//! ordered log, recorded in the same transaction as the change itself.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::audit::NewAudit;
use super::{Change, NewEvent, Snippet, WorkflowContext};

/// What happened, as the stream names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    SnippetCreated,
    SnippetUpdated,
    SnippetDeleted,
    ContextUpdated,
    WorkspaceUpdated,
    WorkspaceDeleted,
    MemberAdded,
    MemberUpdated,
    MemberRemoved,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SnippetCreated => "snippet.created",
            Self::SnippetUpdated => "snippet.updated",
            Self::SnippetDeleted => "snippet.deleted",
            Self::ContextUpdated => "context.updated",
            Self::WorkspaceUpdated => "workspace.updated",
            Self::WorkspaceDeleted => "workspace.deleted",
            Self::MemberAdded => "member.added",
            Self::MemberUpdated => "member.updated",
            Self::MemberRemoved => "member.removed",
        }
    }

    /// Context events reach only callers who may read the context.
    pub fn is_context(self) -> bool {
        matches!(self, Self::ContextUpdated)
    }
}

/// One event of a user's stream, before it has its place in the log.
#[derive(Debug, Clone)]
pub struct ChangeRecord {
    pub user: String,
    pub kind: ChangeKind,
    /// The snippet the change is about, if any (what a cache drops).
    pub subject: Option<String>,
    /// The snippet or context as the API shows it; `{id}` for a deletion.
    pub data: Value,
    pub at: DateTime<Utc>,
}

impl ChangeRecord {
    pub fn snippet(user: &str, snippet: &Snippet, change: Change, at: DateTime<Utc>) -> Self {
        let (kind, data) = match change {
            Change::Created => (ChangeKind::SnippetCreated, json!(snippet)),
            Change::Updated { .. } => (ChangeKind::SnippetUpdated, json!(snippet)),
            Change::Deleted => (
                ChangeKind::SnippetDeleted,
                json!({ "id": snippet.id, "version": snippet.version }),
            ),
        };
        Self {
            user: user.to_owned(),
            kind,
            subject: Some(snippet.id.clone()),
            data,
            at,
        }
    }

    /// A change of who may do what in a workspace: recorded in the log of `log` (the
    /// workspace's, or the personal one of the member it is about), with no snippet subject,
    /// which tells every replica's role cache to read the workspace's roles again.
    pub fn access(log: &str, kind: ChangeKind, data: Value, at: DateTime<Utc>) -> Self {
        Self {
            user: log.to_owned(),
            kind,
            subject: None,
            data,
            at,
        }
    }

    pub fn context(context: &WorkflowContext, at: DateTime<Utc>) -> Self {
        Self {
            user: context.user_id.clone(),
            kind: ChangeKind::ContextUpdated,
            subject: None,
            data: json!(context),
            at,
        }
    }
}

/// Everything one change records in its transaction: what other services are owed, the
/// entries of the user's change stream, and the workflow context it makes current.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    pub outbox: Vec<NewEvent>,
    pub changes: Vec<ChangeRecord>,
    pub context: Option<KeptContext>,
    /// The change's audit records.
    pub audit: Vec<NewAudit>,
}

impl Recorded {
    /// Only outbox events (a cache drop to retry).
    pub fn outbox(events: Vec<NewEvent>) -> Self {
        Self {
            outbox: events,
            ..Self::default()
        }
    }
}

/// A workflow context as the store keeps it: the API's JSON, until it stops being current.
#[derive(Debug, Clone)]
pub struct KeptContext {
    pub user: String,
    pub data: String,
    pub expires_at: DateTime<Utc>,
}

/// An event of a log as stored: `id` increases strictly per log (a workspace's), in the
/// order the changes committed.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEvent {
    pub id: i64,
    pub kind: String,
    pub at: DateTime<Utc>,
    /// The snippet or context as JSON text: a snippet's code can be a mebibyte, which is
    /// passed through as stored rather than parsed into a tree and written out again.
    pub data: String,
}

impl StreamEvent {
    pub fn is_context(&self) -> bool {
        self.kind == ChangeKind::ContextUpdated.as_str()
    }

    /// The event as clients receive it: `{id, type, at, data}`, `id` being the stream's
    /// position once this event is taken.
    pub fn to_json(&self, id: &str) -> String {
        let head = json!({"id": id, "type": self.kind, "at": self.at});
        let head = head.to_string();
        let mut text = String::with_capacity(head.len() + self.data.len() + 9);
        text.push_str(&head[..head.len() - 1]);
        text.push_str(",\"data\":");
        text.push_str(&self.data);
        text.push('}');
        text
    }

    /// Bytes the event holds, for bounds on what a stream keeps.
    pub fn size(&self) -> usize {
        self.data.len() + self.kind.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_written_with_its_data_as_stored() {
        let at = DateTime::from_timestamp_micros(1_700_000_000_000_001).expect("a time");
        let event = StreamEvent {
            id: 7,
            kind: "snippet.deleted".into(),
            at,
            data: r#"{"id":"a"}"#.into(),
        };
        let written: Value = serde_json::from_str(&event.to_json("7")).expect("JSON");
        assert_eq!(
            written,
            json!({"id": "7", "type": "snippet.deleted", "at": at, "data": {"id": "a"}})
        );
    }
}
