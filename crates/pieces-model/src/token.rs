//! Personal access tokens: long-lived, narrow, revocable credentials for agents, editors and
//! scripts, each allowed only the scopes it was given.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::rules::{check_text, whole_number, Checked, ValidationError};

/// What a credential may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum Scope {
    #[serde(rename = "snippets:read")]
    SnippetsRead,
    #[serde(rename = "snippets:write")]
    SnippetsWrite,
    #[serde(rename = "context:read")]
    ContextRead,
    #[serde(rename = "context:write")]
    ContextWrite,
    #[serde(rename = "ai")]
    Ai,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::SnippetsRead,
        Scope::SnippetsWrite,
        Scope::ContextRead,
        Scope::ContextWrite,
        Scope::Ai,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SnippetsRead => "snippets:read",
            Self::SnippetsWrite => "snippets:write",
            Self::ContextRead => "context:read",
            Self::ContextWrite => "context:write",
            Self::Ai => "ai",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes, as small as a byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scopes(u8);

impl Scopes {
    /// What a platform JWT may do: everything.
    pub fn all() -> Self {
        Self::from_iter(Scope::ALL)
    }

    pub fn allows(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.allows(*s))
    }

    /// The names, as stored: space-separated, in a fixed order.
    pub fn to_text(self) -> String {
        self.iter().map(Scope::as_str).collect::<Vec<_>>().join(" ")
    }

    /// Reads what `to_text` wrote; None when a name is unknown.
    pub fn from_text(text: &str) -> Option<Self> {
        text.split_whitespace()
            .map(Scope::parse)
            .collect::<Option<Vec<_>>>()
            .map(Self::from_iter)
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        Self(iter.into_iter().fold(0, |bits, s| bits | s.bit()))
    }
}

/// Longest token name.
pub const TOKEN_NAME_MAX_CHARS: usize = 100;
/// Longest lifetime of a token, in days; and the lifetime when none is asked for.
pub const TOKEN_MAX_DAYS: u32 = 365;
pub const TOKEN_DEFAULT_DAYS: u32 = 90;

/// Body of `POST /api/v1/tokens`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewToken {
    pub name: String,
    /// Non-empty; each one of `snippets:read`, `snippets:write`, `context:read`,
    /// `context:write`, `ai`.
    pub scopes: Vec<String>,
    /// 1 to 365, default 90.
    #[serde(default, deserialize_with = "whole_number")]
    pub expires_in_days: Option<u32>,
    /// The workspaces the token may reach (`personal` or team ids; at most 100); default
    /// every workspace its user can read.
    #[serde(default)]
    pub workspaces: Option<Vec<String>>,
}

/// Most workspaces one token may be limited to.
pub const TOKEN_MAX_WORKSPACES: usize = 100;

/// A validated token request.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub name: String,
    pub scopes: Scopes,
    pub days: u32,
    /// The workspaces (API ids) it is limited to; None: every one.
    pub workspaces: Option<Vec<String>>,
}

impl NewToken {
    pub fn validate(self) -> Checked<TokenRequest> {
        check_text("name", &self.name, TOKEN_NAME_MAX_CHARS)?;
        if self.scopes.is_empty() {
            return Err(ValidationError::new(
                "scopes",
                "scopes must name at least one scope",
            ));
        }
        let scopes = self
            .scopes
            .iter()
            .map(|name| {
                Scope::parse(name).ok_or_else(|| {
                    ValidationError::new(
                        "scopes",
                        format!(
                            "unknown scope {name:?}; known: snippets:read, snippets:write, \
                             context:read, context:write, ai"
                        ),
                    )
                })
            })
            .collect::<Checked<Scopes>>()?;
        let days = self.expires_in_days.unwrap_or(TOKEN_DEFAULT_DAYS);
        if !(1..=TOKEN_MAX_DAYS).contains(&days) {
            return Err(ValidationError::new(
                "expires_in_days",
                format!("expires_in_days must be between 1 and {TOKEN_MAX_DAYS}"),
            ));
        }
        if let Some(workspaces) = &self.workspaces {
            if workspaces.is_empty() || workspaces.len() > TOKEN_MAX_WORKSPACES {
                return Err(ValidationError::new(
                    "workspaces",
                    format!("workspaces must name 1 to {TOKEN_MAX_WORKSPACES} workspaces"),
                ));
            }
            for id in workspaces {
                check_text("workspaces", id, 64)?;
            }
        }
        Ok(TokenRequest {
            name: self.name.trim().to_owned(),
            scopes,
            days,
            workspaces: self.workspaces.map(|mut w| {
                w.sort();
                w.dedup();
                w
            }),
        })
    }
}

/// The largest page of a token listing, and its default: a user holds at most
/// `TOKENS_MAX_PER_USER` (100 by default), so by default one page shows them all.
pub const TOKEN_PAGE_MAX: i64 = 100;

/// Query of `GET /api/v1/tokens`.
#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenPaging {
    /// 1 to 100, default 100.
    pub limit: Option<i64>,
    /// Tokens to skip, oldest first; default 0.
    pub offset: Option<i64>,
}

impl TokenPaging {
    /// The page's limit and offset.
    pub fn validate(&self) -> Checked<(i64, i64)> {
        let limit = self.limit.unwrap_or(TOKEN_PAGE_MAX);
        if !(1..=TOKEN_PAGE_MAX).contains(&limit) {
            return Err(ValidationError::new(
                "limit",
                format!("limit must be between 1 and {TOKEN_PAGE_MAX}"),
            ));
        }
        let offset = self.offset.unwrap_or(0);
        if !(0..=super::bounds::OFFSET_MAX).contains(&offset) {
            return Err(ValidationError::new(
                "offset",
                format!("offset must be between 0 and {}", super::bounds::OFFSET_MAX),
            ));
        }
        Ok((limit, offset))
    }
}

/// A token as stored: never the secret, only its hash.
#[derive(Debug, Clone)]
pub struct StoredToken {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub scopes: Scopes,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    /// When its owner revoked it; a revoked token is kept so that it answers "revoked".
    pub revoked_at: Option<DateTime<Utc>>,
    /// The stored keys of the workspaces it may reach; None: every one its user can read.
    pub workspaces: Option<Vec<String>>,
}

/// A token as its owner sees it in a listing.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    #[schema(value_type = Vec<String>)]
    pub scopes: Vec<&'static str>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    /// The workspaces it is limited to; absent: every one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspaces: Option<Vec<String>>,
}

impl From<&StoredToken> for TokenInfo {
    fn from(t: &StoredToken) -> Self {
        Self {
            id: t.id.clone(),
            name: t.name.clone(),
            scopes: t.scopes.iter().map(Scope::as_str).collect(),
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
            workspaces: t.workspaces.as_ref().map(|keys| {
                keys.iter()
                    .map(|k| super::workspace::api_id(k).to_owned())
                    .collect()
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_read_back_what_they_wrote() {
        let scopes = Scopes::from_iter([Scope::Ai, Scope::SnippetsRead]);
        assert_eq!(scopes.to_text(), "snippets:read ai");
        assert_eq!(Scopes::from_text(&scopes.to_text()), Some(scopes));
        assert!(scopes.allows(Scope::Ai) && !scopes.allows(Scope::SnippetsWrite));
        assert_eq!(Scopes::from_text("snippets:read nope"), None);
    }

    #[test]
    fn an_unknown_scope_is_refused_naming_scopes() {
        let request = NewToken {
            name: "ci".into(),
            scopes: vec!["snippets:read".into(), "admin".into()],
            expires_in_days: None,
            workspaces: None,
        };
        assert_eq!(request.validate().expect_err("refused").field, "scopes");
    }
}
