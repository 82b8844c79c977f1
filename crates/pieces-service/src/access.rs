//! Who may do what in which workspace: the one place a role is decided, which every use case
//! asks, so REST, MCP, the stream and ai-assist cannot disagree.
//!
//! A caller owns their personal workspace (its key is their user id), with no look-up. A team
//! workspace's roles are read once and kept per workspace; any change of its members or of
//! the workspace itself comes on the change bus (a change of the workspace with no snippet
//! subject, from this replica or another's NOTIFY) and drops what is kept, so a removed
//! member loses access at once here and as soon as the bus carries it elsewhere. A kept entry
//! also expires after `KEPT_FOR`, in case a message was lost without a resync.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::auth::Principal;
use super::kept::Kept;
use super::{ServiceError, ServiceResult};
use pieces_model::bus::{ChangeFeed, FeedMessage};
use pieces_model::workspace::{is_team_key, Role, StoredWorkspace, PERSONAL};
use pieces_store::WorkspaceStore;

/// How long a workspace's roles are kept without a word from the bus.
const KEPT_FOR: Duration = Duration::from_secs(60);
/// Bytes of roles kept, over every workspace (an estimate per member: its id and the entry).
const KEPT_BYTES: usize = 16 * 1024 * 1024;
const BYTES_PER_MEMBER: usize = 64;

/// A team workspace's roles, as kept.
pub struct WorkspaceRoles {
    pub workspace: StoredWorkspace,
    members: HashMap<String, Role, foldhash::fast::RandomState>,
}

impl WorkspaceRoles {
    /// A member's own role, else the bound group's role when the caller's token lists that
    /// group: explicit membership wins where both apply.
    fn role_of(&self, user: &str, groups: &[String]) -> Option<Role> {
        self.members.get(user).copied().or_else(|| {
            let group = self.workspace.group.as_ref()?;
            groups
                .iter()
                .any(|g| g == group)
                .then(|| self.workspace.group_role.unwrap_or(Role::Reader))
        })
    }

    /// Bytes it holds, about.
    fn weight(&self) -> usize {
        let members: usize = self
            .members
            .keys()
            .map(|user| user.len() + BYTES_PER_MEMBER)
            .sum();
        members + 256
    }
}

/// A team workspace's roles as kept at one moment, held beside something that names the
/// workspace (a team snippet's place), so that a warm read checks the caller's role without a
/// second look-up: `Access::role_held` answers from it while no change to any workspace's
/// members came since and the roles are younger than `KEPT_FOR`, exactly as long as the
/// kept roles themselves would answer.
#[derive(Clone)]
pub struct HeldRoles {
    roles: Option<Arc<WorkspaceRoles>>,
    generation: u64,
    kept_at: Instant,
}

/// A user's explicit memberships, as kept.
type Memberships = Arc<Vec<(StoredWorkspace, Role)>>;
/// Bytes of memberships kept, over every user (an estimate per membership).
const MEMBERSHIPS_BYTES: usize = 8 * 1024 * 1024;
const BYTES_PER_MEMBERSHIP: usize = 256;

pub struct Access {
    store: Arc<dyn WorkspaceStore>,
    kept: Kept<Option<Arc<WorkspaceRoles>>>,
    /// Each user's memberships (what `?workspace=all` and the workspace list start from),
    /// dropped with the user's news of a membership, and all of them with any change of a
    /// team workspace's members or of the workspace itself.
    memberships: Kept<Memberships>,
    /// Moves on every drop: a read of the store that started before one is not kept, since
    /// it may hold what the drop was about.
    generation: AtomicU64,
}

impl Access {
    pub fn new(store: Arc<dyn WorkspaceStore>) -> Self {
        Self {
            store,
            kept: Kept::new(KEPT_BYTES, KEPT_FOR),
            memberships: Kept::new(MEMBERSHIPS_BYTES, KEPT_FOR),
            generation: AtomicU64::new(0),
        }
    }

    /// The caller's role in the workspace with stored key `key`; None when they may not see
    /// it (or it does not exist: the two are never told apart).
    pub async fn role(&self, caller: &Principal, key: &str) -> ServiceResult<Option<Role>> {
        if !Self::within_limits(caller, key) {
            return Ok(None);
        }
        if key == caller.user {
            return Ok(Some(Role::Owner));
        }
        if !is_team_key(key) {
            return Ok(None);
        }
        let role_in = |roles: &Option<Arc<WorkspaceRoles>>| {
            roles
                .as_ref()
                .and_then(|roles| roles.role_of(&caller.user, &caller.groups))
        };
        // Kept: read in place, every reader of a busy workspace sharing one set of roles.
        if let Some(role) = self.kept.read(key, role_in) {
            return Ok(role);
        }
        Ok(role_in(&self.roles(key).await?))
    }

    /// The roles of team workspace `key` as kept now, to hold (see `HeldRoles`); none when
    /// none are kept.
    pub fn hold(&self, key: &str) -> Option<HeldRoles> {
        // Read before the roles: a drop bumps it before it removes them.
        let generation = self.generation.load(Ordering::Acquire);
        self.kept.read_timed(key, |roles, ages| HeldRoles {
            roles: roles.clone(),
            generation,
            kept_at: ages.kept_at,
        })
    }

    /// The caller's role in team workspace `key` as `role` would answer it, from roles `held`
    /// since `hold`, when they are still current at `now`; none when they may not be (then
    /// ask `role`).
    pub fn role_held(
        &self,
        caller: &Principal,
        key: &str,
        held: &HeldRoles,
        now: Instant,
    ) -> Option<Option<Role>> {
        if held.generation != self.generation.load(Ordering::Acquire)
            || now.saturating_duration_since(held.kept_at) >= KEPT_FOR
        {
            return None;
        }
        if !Self::within_limits(caller, key) {
            return Some(None);
        }
        Some(
            held.roles
                .as_ref()
                .and_then(|roles| roles.role_of(&caller.user, &caller.groups)),
        )
    }

    /// Whether the caller's credential may reach `key` at all: a personal token limited to
    /// some workspaces reaches those only.
    fn within_limits(caller: &Principal, key: &str) -> bool {
        caller
            .workspaces
            .as_ref()
            .is_none_or(|allowed| allowed.iter().any(|k| k == key))
    }

    /// Refuses (403 `workspace_not_allowed`) a request that names a workspace the caller's
    /// limited token may not reach.
    pub fn may_name(caller: &Principal, key: &str) -> ServiceResult<()> {
        if Self::within_limits(caller, key) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden {
                code: "workspace_not_allowed",
                detail: "this token is limited to other workspaces".into(),
            })
        }
    }

    /// The caller's role in `key` if it is at least `least`. A caller who may not see the
    /// workspace gets 404 for `missing` (what they asked for), exactly as if it did not
    /// exist; one who may see it with a lesser role gets 403 `insufficient_role`.
    pub async fn require(
        &self,
        caller: &Principal,
        key: &str,
        least: Role,
        missing: &'static str,
    ) -> ServiceResult<Role> {
        match self.role(caller, key).await? {
            None => Err(ServiceError::NotFound(missing)),
            Some(role) if role < least => Err(ServiceError::InsufficientRole(least)),
            Some(role) => Ok(role),
        }
    }

    /// The workspace a look-up found for something (none: 404 for `missing`, as for a
    /// workspace the caller may not see), once the caller holds at least `least` there.
    pub async fn require_found(
        &self,
        caller: &Principal,
        found: Option<String>,
        least: Role,
        missing: &'static str,
    ) -> ServiceResult<String> {
        let key = found.ok_or(ServiceError::NotFound(missing))?;
        self.require(caller, &key, least, missing).await?;
        Ok(key)
    }

    /// The team workspaces the caller can read now, with their role: as a member, or through
    /// a platform group their token lists (explicit membership wins), within the limits of
    /// their token; oldest first.
    pub async fn readable(
        &self,
        caller: &Principal,
    ) -> ServiceResult<Vec<(StoredWorkspace, Role)>> {
        let mut all = self.memberships_of(&caller.user).await?.as_ref().clone();
        if !caller.groups.is_empty() {
            for workspace in self.store.workspaces_of_groups(&caller.groups).await? {
                if !all.iter().any(|(w, _)| w.key == workspace.key) {
                    let role = workspace.group_role.unwrap_or(Role::Reader);
                    all.push((workspace, role));
                }
            }
        }
        all.retain(|(w, _)| Self::within_limits(caller, &w.key));
        Ok(all)
    }

    /// The stored keys of the workspaces a question may draw on: those `named` (API ids,
    /// each one the caller can read), or by default every one they can read, personal first.
    pub async fn keys_to_read(
        &self,
        caller: &Principal,
        named: Option<&[String]>,
    ) -> ServiceResult<Vec<String>> {
        let Some(named) = named else {
            let mut keys = Vec::new();
            if Self::within_limits(caller, &caller.user) {
                keys.push(caller.user.clone());
            }
            keys.extend(self.readable(caller).await?.into_iter().map(|(w, _)| w.key));
            return Ok(keys);
        };
        let mut keys = Vec::with_capacity(named.len());
        for id in named {
            let key = if id == PERSONAL {
                caller.user.as_str()
            } else {
                id.as_str()
            };
            Self::may_name(caller, key)?;
            self.require(caller, key, Role::Reader, "workspace").await?;
            if !keys.iter().any(|k| k == key) {
                keys.push(key.to_owned());
            }
        }
        Ok(keys)
    }

    /// The user's explicit memberships: kept, or read now.
    async fn memberships_of(&self, user: &str) -> ServiceResult<Memberships> {
        if let Some(kept) = self.memberships.get(user) {
            return Ok(kept);
        }
        let generation = self.generation.load(Ordering::Acquire);
        let memberships = Arc::new(self.store.workspaces_of(user).await?);
        if self.generation.load(Ordering::Acquire) == generation {
            let bytes = user.len() + BYTES_PER_MEMBERSHIP * (memberships.len() + 1);
            self.memberships
                .insert(user.to_owned(), Arc::clone(&memberships), bytes);
        }
        Ok(memberships)
    }

    /// A team workspace's roles: kept, or read now.
    pub async fn roles(&self, key: &str) -> ServiceResult<Option<Arc<WorkspaceRoles>>> {
        if let Some(kept) = self.kept.get(key) {
            return Ok(kept);
        }
        let generation = self.generation.load(Ordering::Acquire);
        let roles = self.store.roles(key).await?.map(|(workspace, members)| {
            Arc::new(WorkspaceRoles {
                workspace,
                members: members.into_iter().collect(),
            })
        });
        if self.generation.load(Ordering::Acquire) == generation {
            let bytes = key.len() + roles.as_ref().map_or(64, |r| r.weight());
            self.kept.insert(key.to_owned(), roles.clone(), bytes);
        }
        Ok(roles)
    }

    /// Drops what is kept of one workspace (its members or itself changed), and every kept
    /// membership list, which may name it.
    pub fn forget(&self, key: &str) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.kept.remove(key);
        self.memberships.clear();
    }

    /// Drops what is kept of one user's memberships (news of one reached their own log).
    fn forget_memberships(&self, user: &str) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.memberships.remove(user);
    }

    fn forget_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.kept.clear();
        self.memberships.clear();
    }

    /// Drops kept roles as the bus tells of changes, until `stop`.
    pub async fn follow(self: Arc<Self>, feed: ChangeFeed, stop: CancellationToken) {
        feed.follow(stop, |message| match message {
            FeedMessage::Changed {
                user,
                subject: None,
                ..
            } if is_team_key(&user) => self.forget(&user),
            FeedMessage::Changed {
                user,
                subject: None,
                ..
            } => self.forget_memberships(&user),
            FeedMessage::Changed { .. } => {}
            FeedMessage::Resync => self.forget_all(),
        })
        .await;
    }
}
