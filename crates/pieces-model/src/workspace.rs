//! Workspaces: what snippets belong to, and the roles that say who may do what in one.
//!
//! Every user has a personal workspace whose stored key is the user id itself, so the
//! snippets, counters, change logs and embeddings each user already had are their personal
//! workspace's without a row rewritten. A team workspace's key is `ws_` and a UUID; user ids
//! starting with `ws_` are refused at sign-in, so the two kinds of key never meet.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::rules::{check_no_nul, check_text, Checked, ValidationError};

/// What the API calls the caller's personal workspace.
pub const PERSONAL: &str = "personal";
/// The prefix of every team workspace's id.
pub const TEAM_PREFIX: &str = "ws_";
/// Every workspace the caller can read (`?workspace=all`).
pub const ALL: &str = "all";
/// Most workspaces one `?workspace=all` page spans: each is a part of one statement, and
/// SQLite merges at most 500 parts.
pub const ALL_WORKSPACES_MAX: usize = 200;
pub const WORKSPACE_NAME_MAX_CHARS: usize = 100;
pub const WORKSPACE_DESCRIPTION_MAX_CHARS: usize = 1_000;

/// What a member may do, each role with everything of the one before. Ordered by access,
/// so a check is a comparison.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read, list, search, stream, ask the AI with the workspace's snippets.
    Reader,
    /// Create, edit, delete and share snippets.
    Writer,
    /// Manage members up to admin, rename, read the audit log.
    Admin,
    /// Grant and remove owners, delete the workspace.
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reader => "reader",
            Self::Writer => "writer",
            Self::Admin => "admin",
            Self::Owner => "owner",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "reader" => Some(Self::Reader),
            "writer" => Some(Self::Writer),
            "admin" => Some(Self::Admin),
            "owner" => Some(Self::Owner),
            _ => None,
        }
    }
}

/// A workspace's stored key: the user id for a personal one, `ws_…` for a team's.
pub fn is_team_key(key: &str) -> bool {
    key.starts_with(TEAM_PREFIX)
}

/// A new team workspace's key.
pub fn new_team_key() -> String {
    format!("{TEAM_PREFIX}{}", Uuid::now_v7().simple())
}

/// The id the API shows for a stored key: `personal` for a user's own.
pub fn api_id(key: &str) -> &str {
    if is_team_key(key) {
        key
    } else {
        PERSONAL
    }
}

/// Which workspaces a request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkspaceRef {
    /// The caller's personal workspace (also when none is named).
    Personal,
    /// A team workspace by its id.
    Team(String),
    /// Every workspace the caller can read.
    All,
}

impl WorkspaceRef {
    /// Reads a `workspace` parameter or field; `all` only where `allow_all`. A name that is
    /// neither `personal`, `all` nor a team id cannot exist: the caller gets 404 for it.
    pub fn parse(raw: Option<&str>, allow_all: bool) -> Result<Self, ValidationError> {
        match raw.map(str::trim) {
            // An empty value names nothing, as an absent one.
            None | Some("" | PERSONAL) => Ok(Self::Personal),
            Some(ALL) if allow_all => Ok(Self::All),
            Some(ALL) => Err(ValidationError::new(
                "workspace",
                "workspace: `all` names several workspaces; name one",
            )),
            Some(id) => Ok(Self::Team(id.to_owned())),
        }
    }

    /// The stored key of one workspace, for `user`; None for `All`.
    pub fn key<'a>(&'a self, user: &'a str) -> Option<&'a str> {
        match self {
            Self::Personal => Some(user),
            Self::Team(id) => Some(id),
            Self::All => None,
        }
    }
}

/// A workspace as the API shows it to one caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Workspace {
    /// `personal`, or the team workspace's `ws_…` id.
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    /// The caller's role in it.
    pub role: Role,
    pub created_at: DateTime<Utc>,
    /// Members with a row (group members are not counted); present on a single workspace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_count: Option<i64>,
    /// The platform group bound to it, whose members get `group_role`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_role: Option<Role>,
}

/// A team workspace as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredWorkspace {
    pub key: String,
    pub name: String,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub group: Option<String>,
    pub group_role: Option<Role>,
}

impl StoredWorkspace {
    /// As `role` sees it.
    pub fn shown_to(self, role: Role) -> Workspace {
        Workspace {
            id: self.key,
            name: self.name,
            description: self.description,
            role,
            created_at: self.created_at,
            member_count: None,
            group: self.group,
            group_role: self.group_role,
        }
    }
}

/// Body of `POST /api/v1/workspaces`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewWorkspace {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
}

impl NewWorkspace {
    pub fn validate(self) -> Checked<Self> {
        check_name(&self.name)?;
        check_description(self.description.as_deref())?;
        Ok(Self {
            name: self.name.trim().to_owned(),
            description: self.description,
        })
    }
}

/// Body of `PATCH /api/v1/workspaces/{ws}`: what is present changes.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct WorkspacePatch {
    #[serde(default, deserialize_with = "crate::rules::not_null")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// A platform group to bind (owner only, needs `JWT_GROUPS_CLAIM`); null unbinds.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub group: Option<Option<String>>,
    /// The role a group's members get (default reader).
    #[serde(default, deserialize_with = "crate::rules::not_null")]
    pub group_role: Option<Role>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

impl WorkspacePatch {
    pub fn validate(mut self) -> Checked<Self> {
        if self.name.is_none()
            && self.description.is_none()
            && self.group.is_none()
            && self.group_role.is_none()
        {
            return Err(ValidationError::new(
                "body",
                "the body names no field to update",
            ));
        }
        if let Some(name) = &mut self.name {
            check_name(name)?;
            *name = name.trim().to_owned();
        }
        if let Some(description) = &self.description {
            check_description(description.as_deref())?;
        }
        if let Some(Some(group)) = &self.group {
            check_text("group", group, 200)?;
        }
        Ok(self)
    }

    /// Whether the patch binds or unbinds a group (an owner's change).
    pub fn touches_group(&self) -> bool {
        self.group.is_some() || self.group_role.is_some()
    }
}

fn check_name(name: &str) -> Checked<()> {
    check_text("name", name, WORKSPACE_NAME_MAX_CHARS)
}

fn check_description(description: Option<&str>) -> Checked<()> {
    let Some(description) = description else {
        return Ok(());
    };
    check_no_nul("description", description)?;
    if description.chars().count() > WORKSPACE_DESCRIPTION_MAX_CHARS {
        return Err(ValidationError::new(
            "description",
            format!("description: at most {WORKSPACE_DESCRIPTION_MAX_CHARS} characters"),
        ));
    }
    Ok(())
}

/// A member of a team workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Member {
    pub user_id: String,
    pub role: Role,
    pub added_at: DateTime<Utc>,
    pub added_by: String,
}

/// Body of `PUT /api/v1/workspaces/{ws}/members/{user_id}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MemberRole {
    pub role: Role,
}

/// A user id named in a path, held to what sign-in accepts.
pub fn check_member_id(user_id: &str) -> Checked<()> {
    check_text("user_id", user_id, USER_ID_MAX_CHARS)?;
    if is_team_key(user_id) {
        return Err(ValidationError::new(
            "user_id",
            format!("user_id: `{TEAM_PREFIX}` starts workspace ids, never a user's"),
        ));
    }
    Ok(())
}

/// The longest user id a token may name.
pub const USER_ID_MAX_CHARS: usize = 256;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_by_what_they_allow() {
        assert!(Role::Reader < Role::Writer);
        assert!(Role::Writer < Role::Admin);
        assert!(Role::Admin < Role::Owner);
        for role in [Role::Reader, Role::Writer, Role::Admin, Role::Owner] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
    }

    #[test]
    fn a_personal_key_is_shown_as_personal_and_a_team_key_as_itself() {
        let team = new_team_key();
        assert!(is_team_key(&team));
        assert_eq!(api_id(&team), team);
        assert_eq!(api_id("alice"), PERSONAL);
        assert_eq!(
            WorkspaceRef::parse(None, false).expect("personal"),
            WorkspaceRef::Personal
        );
        assert!(WorkspaceRef::parse(Some("all"), false).is_err());
        assert_eq!(
            WorkspaceRef::parse(Some("all"), true).expect("all"),
            WorkspaceRef::All
        );
    }
}
