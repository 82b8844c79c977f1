//! The audit log: who changed what, written by the same transaction as the change, so a
//! change without its record cannot exist. Records hold ids, never code, titles or tokens.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::rules::{Checked, ValidationError};

/// Which front door a change came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    Jwt,
    Token,
    Mcp,
    Share,
    Local,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jwt => "jwt",
            Self::Token => "token",
            Self::Mcp => "mcp",
            Self::Share => "share",
            Self::Local => "local",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "jwt" => Some(Self::Jwt),
            "token" => Some(Self::Token),
            "mcp" => Some(Self::Mcp),
            "share" => Some(Self::Share),
            "local" => Some(Self::Local),
            _ => None,
        }
    }
}

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Actor {
    pub user_id: String,
    pub via: Via,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
}

macro_rules! actions {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// What an audit record says happened (its name, `snippet.created` and the like, is
        /// what the API shows: see `AuditRecord::action`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        pub enum AuditAction {
            $(#[serde(rename = $name)] $variant,)*
        }

        impl AuditAction {
            pub const ALL: &'static [Self] = &[$(Self::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($name => Some(Self::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

actions!(
    SnippetCreated => "snippet.created",
    SnippetUpdated => "snippet.updated",
    SnippetDeleted => "snippet.deleted",
    SnippetMoved => "snippet.moved",
    SnippetRestored => "snippet.restored",
    SnippetErased => "snippet.erased",
    ShareCreated => "share.created",
    ShareRevoked => "share.revoked",
    MemberAdded => "member.added",
    MemberUpdated => "member.updated",
    MemberRemoved => "member.removed",
    WorkspaceCreated => "workspace.created",
    WorkspaceUpdated => "workspace.updated",
    WorkspaceDeleted => "workspace.deleted",
    TokenCreated => "token.created",
    TokenRevoked => "token.revoked",
    ImportCompleted => "import.completed",
);

/// What a record is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditTarget {
    /// `snippet`, `share`, `member`, `workspace`, `token` or `import`.
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}

/// A record before the store numbers it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAudit {
    pub at: DateTime<Utc>,
    pub actor: Actor,
    /// The workspace's stored key; None for what belongs to no workspace (tokens).
    pub workspace: Option<String>,
    pub action: AuditAction,
    pub target: AuditTarget,
    pub request_id: String,
    /// Ids and roles only: never code, titles or tokens.
    pub detail: Option<Value>,
}

impl NewAudit {
    pub fn new(
        actor: &Actor,
        workspace: Option<&str>,
        action: AuditAction,
        target: (&str, &str),
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            at,
            actor: actor.clone(),
            workspace: workspace.map(str::to_owned),
            action,
            target: AuditTarget {
                kind: target.0.to_owned(),
                id: target.1.to_owned(),
            },
            request_id: crate::request_id::current(),
            detail: None,
        }
    }

    pub fn with_detail(mut self, detail: Value) -> Self {
        self.detail = Some(detail);
        self
    }
}

/// A record as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditRecord {
    /// Opaque, increasing in the order records were written.
    pub id: String,
    pub at: DateTime<Utc>,
    pub actor: Actor,
    /// `personal`, a team workspace's id, or absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// `snippet.created`, `member.added`, ... (see `AuditAction::ALL`).
    #[schema(value_type = String)]
    pub action: AuditAction,
    pub target: AuditTarget,
    pub request_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub detail: Option<Value>,
}

/// Query of the audit routes.
#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Only this action (`snippet.created`, `member.added`, ...).
    pub action: Option<String>,
    /// Only this actor's records (a user id).
    pub actor: Option<String>,
    /// Only records at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Only records before this time (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// Where the previous page ended (its `next_cursor`).
    pub cursor: Option<String>,
    /// 1 to 500, default 100.
    pub limit: Option<i64>,
}

pub const AUDIT_PAGE_MAX: i64 = 500;

/// A validated audit query. Records come newest first; `before` is the id a page starts
/// below.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditFilter {
    pub workspace: Option<String>,
    pub action: Option<AuditAction>,
    pub actor: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub before: Option<i64>,
    pub limit: i64,
}

impl AuditParams {
    /// Validates the query for the records of `workspace` (a stored key) or, without one,
    /// the records whose actor is `actor`.
    pub fn validate(self, workspace: Option<String>) -> Checked<AuditFilter> {
        // An empty value is no filter, as an absent one.
        let given = |v: Option<String>| v.filter(|v| !v.is_empty());
        let (action, actor, cursor) = (given(self.action), given(self.actor), given(self.cursor));
        let action = match action.as_deref() {
            None => None,
            Some(name) => Some(AuditAction::parse(name).ok_or_else(|| {
                ValidationError::new("action", format!("action: `{name}` is not an action"))
            })?),
        };
        let before = match cursor.as_deref() {
            None => None,
            Some(cursor) => Some(cursor.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(
                || ValidationError::new("cursor", "cursor: not one this service gave"),
            )?),
        };
        let limit = self.limit.unwrap_or(100);
        if !(1..=AUDIT_PAGE_MAX).contains(&limit) {
            return Err(ValidationError::new(
                "limit",
                format!("limit: 1 to {AUDIT_PAGE_MAX}"),
            ));
        }
        Ok(AuditFilter {
            workspace,
            action,
            actor,
            since: self.since,
            until: self.until,
            before,
            limit,
        })
    }
}

/// A page of records, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditPage {
    pub records: Vec<AuditRecord>,
    /// Present when older records follow: pass it as `cursor`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
