//! Workspace use cases: team workspaces, their members, and the audit log's reading. Each
//! change records its audit record and its stream events (in the workspace's log, and in
//! the personal log of the member it is about, whose own stream must hear of it) in its
//! transaction, then tells the bus, which drops kept roles on every replica.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::auth::Principal;
use super::{Access, ServiceError, ServiceResult};
use pieces_model::audit::{AuditAction, AuditPage, AuditParams, NewAudit};
use pieces_model::bus::ChangeFeed;
use pieces_model::workspace::{
    check_member_id, is_team_key, Member, NewWorkspace, Role, StoredWorkspace, Workspace,
    WorkspacePatch, PERSONAL,
};
use pieces_model::{now, ChangeKind, ChangeRecord, Recorded, ValidationError};
use pieces_store::{AuditLog, MemberChange, WorkspaceDeletion, WorkspaceStore};

pub struct WorkspaceService {
    pub store: Arc<dyn WorkspaceStore>,
    pub access: Arc<Access>,
    pub audit: Arc<dyn AuditLog>,
    pub feed: ChangeFeed,
    /// Whether tokens list platform groups (`JWT_GROUPS_CLAIM` is set), so a workspace may
    /// be bound to one.
    pub groups_claim: bool,
}

/// The personal workspace as the API shows it. It has no row; it has existed as long as its
/// user, so its `created_at` is the epoch.
fn personal() -> Workspace {
    Workspace {
        id: PERSONAL.to_owned(),
        name: "Personal".to_owned(),
        description: None,
        role: Role::Owner,
        created_at: DateTime::<Utc>::UNIX_EPOCH,
        member_count: Some(1),
        group: None,
        group_role: None,
    }
}

/// A workspace's stored key from its API id (`personal` is the caller's own), once the
/// caller's credential may name it (403 `workspace_not_allowed` for a limited token).
fn key_of<'a>(caller: &'a Principal, ws: &'a str) -> ServiceResult<&'a str> {
    let key = if ws == PERSONAL { &caller.user } else { ws };
    Access::may_name(caller, key)?;
    Ok(key)
}

/// What a member event carries: ids, the role, and `since`, the workspace log's position
/// just before this event's own entry in it: a stream that starts following the workspace
/// on this event starts right after that entry, so it misses nothing and repeats nothing.
fn member_data(ws: &str, user: &str, role: Option<Role>, since: i64) -> Value {
    match role {
        Some(role) => json!({ "workspace": ws, "user_id": user, "role": role, "since": since }),
        None => json!({ "workspace": ws, "user_id": user, "since": since }),
    }
}

/// A change of access, in the workspace's log and in the personal log of the member it is
/// about.
fn access_changes(
    ws: &str,
    member: &str,
    kind: ChangeKind,
    data: Value,
    at: DateTime<Utc>,
) -> Vec<ChangeRecord> {
    vec![
        ChangeRecord::access(ws, kind, data.clone(), at),
        ChangeRecord::access(member, kind, data, at),
    ]
}

impl WorkspaceService {
    /// A team workspace with the caller as its owner.
    pub async fn create(&self, caller: &Principal, body: NewWorkspace) -> ServiceResult<Workspace> {
        let body = body.validate()?;
        let at = now();
        let workspace = StoredWorkspace {
            key: pieces_model::workspace::new_team_key(),
            name: body.name,
            description: body.description,
            created_at: at,
            created_by: caller.user.clone(),
            group: None,
            group_role: None,
        };
        let ws = workspace.key.as_str();
        let actor = caller.actor();
        let data = member_data(ws, &caller.user, Some(Role::Owner), 0);
        let recorded = Recorded {
            changes: access_changes(ws, &caller.user, ChangeKind::MemberAdded, data, at),
            audit: vec![NewAudit::new(
                &actor,
                Some(ws),
                AuditAction::WorkspaceCreated,
                ("workspace", ws),
                at,
            )],
            ..Recorded::default()
        };
        self.store.create_workspace(&workspace, &recorded).await?;
        self.announce(ws, Some(&caller.user), at);
        tracing::info!(workspace = %ws, "workspace created");
        let mut shown = workspace.shown_to(Role::Owner);
        shown.member_count = Some(1);
        Ok(shown)
    }

    /// The caller's personal workspace, then every team workspace they can read: as a
    /// member, or through a platform group their token lists (a limited token: those it may
    /// reach).
    pub async fn list(&self, caller: &Principal) -> ServiceResult<Vec<Workspace>> {
        let mut all = Vec::new();
        if Access::may_name(caller, &caller.user).is_ok() {
            all.push(personal());
        }
        for (workspace, role) in self.readable(caller).await? {
            all.push(workspace.shown_to(role));
        }
        Ok(all)
    }

    /// The team workspaces the caller can read, with their role.
    pub async fn readable(
        &self,
        caller: &Principal,
    ) -> ServiceResult<Vec<(StoredWorkspace, Role)>> {
        self.access.readable(caller).await
    }

    /// One workspace the caller is a member of, with their role and the member count.
    pub async fn get(&self, caller: &Principal, ws: &str) -> ServiceResult<Workspace> {
        let key = key_of(caller, ws)?;
        if key == caller.user {
            return Ok(personal());
        }
        let role = self
            .access
            .require(caller, key, Role::Reader, "workspace")
            .await?;
        let workspace = self
            .store
            .workspace(key)
            .await?
            .ok_or(ServiceError::NotFound("workspace"))?;
        let count = self.store.member_count(key).await?;
        let mut shown = workspace.shown_to(role);
        shown.member_count = Some(count);
        Ok(shown)
    }

    /// Renames or describes a team workspace (admin); binding a group is an owner's.
    pub async fn update(
        &self,
        caller: &Principal,
        ws: &str,
        patch: WorkspacePatch,
    ) -> ServiceResult<Workspace> {
        let key = self.team_key(caller, ws)?;
        let patch = patch.validate()?;
        if matches!(patch.group, Some(Some(_))) && !self.groups_claim {
            // Without the claim no token lists a group: a binding would admit no one.
            return Err(ValidationError::new(
                "group",
                "group: binding a platform group needs JWT_GROUPS_CLAIM, which this server \
                 does not set",
            )
            .into());
        }
        let least = if patch.touches_group() {
            Role::Owner
        } else {
            Role::Admin
        };
        let role = self.access.require(caller, key, least, "workspace").await?;
        let at = now();
        let mut fields: Vec<&str> = Vec::new();
        for (present, name) in [
            (patch.name.is_some(), "name"),
            (patch.description.is_some(), "description"),
            (patch.group.is_some(), "group"),
            (patch.group_role.is_some(), "group_role"),
        ] {
            if present {
                fields.push(name);
            }
        }
        let recorded = Recorded {
            changes: vec![ChangeRecord::access(
                key,
                ChangeKind::WorkspaceUpdated,
                json!({ "workspace": key, "fields": fields }),
                at,
            )],
            audit: vec![NewAudit::new(
                &caller.actor(),
                Some(key),
                AuditAction::WorkspaceUpdated,
                ("workspace", key),
                at,
            )
            .with_detail(json!({ "fields": fields }))],
            ..Recorded::default()
        };
        let updated = self
            .store
            .update_workspace(key, &patch, &recorded)
            .await?
            .ok_or(ServiceError::NotFound("workspace"))?;
        self.announce(key, None, at);
        Ok(updated.shown_to(role))
    }

    /// Deletes an empty team workspace (owner).
    pub async fn delete(&self, caller: &Principal, ws: &str) -> ServiceResult<()> {
        let key = self.team_key(caller, ws)?;
        self.access
            .require(caller, key, Role::Owner, "workspace")
            .await?;
        let at = now();
        let actor = caller.actor();
        let recorded = |members: &[String]| {
            let data = json!({ "workspace": key });
            let mut changes = vec![ChangeRecord::access(
                key,
                ChangeKind::WorkspaceDeleted,
                data.clone(),
                at,
            )];
            changes.extend(members.iter().map(|member| {
                ChangeRecord::access(member, ChangeKind::WorkspaceDeleted, data.clone(), at)
            }));
            Recorded {
                changes,
                audit: vec![NewAudit::new(
                    &actor,
                    Some(key),
                    AuditAction::WorkspaceDeleted,
                    ("workspace", key),
                    at,
                )],
                ..Recorded::default()
            }
        };
        match self.store.delete_workspace(key, &recorded).await? {
            WorkspaceDeletion::Deleted => {
                self.announce(key, None, at);
                Ok(())
            }
            WorkspaceDeletion::NotEmpty => Err(ServiceError::Conflict {
                code: "workspace_not_empty",
                detail: "the workspace still holds snippets; delete or move them first".into(),
            }),
            WorkspaceDeletion::Missing => Err(ServiceError::NotFound("workspace")),
        }
    }

    /// The members of a workspace the caller is a member of.
    pub async fn members(&self, caller: &Principal, ws: &str) -> ServiceResult<Vec<Member>> {
        let key = key_of(caller, ws)?;
        if key == caller.user {
            return Ok(vec![Member {
                user_id: caller.user.clone(),
                role: Role::Owner,
                added_at: DateTime::<Utc>::UNIX_EPOCH,
                added_by: caller.user.clone(),
            }]);
        }
        self.access
            .require(caller, key, Role::Reader, "workspace")
            .await?;
        Ok(self.store.members(key).await?)
    }

    /// Adds a member or changes their role. An admin manages members up to admin; granting
    /// owner, or changing an owner, takes an owner.
    pub async fn put_member(
        &self,
        caller: &Principal,
        ws: &str,
        user: &str,
        role: Role,
    ) -> ServiceResult<Member> {
        let key = self.team_key(caller, ws)?;
        check_member_id(user)?;
        let mine = self
            .access
            .require(caller, key, Role::Admin, "workspace")
            .await?;
        let at = now();
        let actor = caller.actor();
        let member = Member {
            user_id: user.to_owned(),
            role,
            added_at: at,
            added_by: caller.user.clone(),
        };
        let rule = |current: Option<Role>, since: i64| {
            if mine < Role::Owner && (role == Role::Owner || current == Some(Role::Owner)) {
                return None;
            }
            let (kind, action) = match current {
                None => (ChangeKind::MemberAdded, AuditAction::MemberAdded),
                Some(_) => (ChangeKind::MemberUpdated, AuditAction::MemberUpdated),
            };
            let detail = match current {
                None => json!({ "role": role }),
                Some(from) => json!({ "role": role, "from": from }),
            };
            Some(Recorded {
                changes: access_changes(
                    key,
                    user,
                    kind,
                    member_data(key, user, Some(role), since),
                    at,
                ),
                audit: vec![
                    NewAudit::new(&actor, Some(key), action, ("member", user), at)
                        .with_detail(detail),
                ],
                ..Recorded::default()
            })
        };
        match self.store.put_member(key, &member, &rule).await? {
            MemberChange::Added | MemberChange::Updated { .. } => {
                self.announce(key, Some(user), at);
                Ok(member)
            }
            MemberChange::Unchanged => Ok(self
                .store
                .members(key)
                .await?
                .into_iter()
                .find(|m| m.user_id == user)
                .unwrap_or(member)),
            MemberChange::LastOwner => Err(last_owner()),
            MemberChange::Refused { .. } => Err(ServiceError::InsufficientRole(Role::Owner)),
            MemberChange::Missing | MemberChange::Removed { .. } => {
                Err(ServiceError::NotFound("workspace"))
            }
        }
    }

    /// Removes a member: an admin removes anyone up to admin, an owner anyone, and every
    /// member may leave.
    pub async fn remove_member(
        &self,
        caller: &Principal,
        ws: &str,
        user: &str,
    ) -> ServiceResult<()> {
        let key = self.team_key(caller, ws)?;
        let leaving = user == caller.user;
        let least = if leaving { Role::Reader } else { Role::Admin };
        let mine = self.access.require(caller, key, least, "workspace").await?;
        let at = now();
        let actor = caller.actor();
        let rule = |current: Option<Role>, since: i64| {
            if !leaving && mine < Role::Owner && current == Some(Role::Owner) {
                return None;
            }
            Some(Recorded {
                changes: access_changes(
                    key,
                    user,
                    ChangeKind::MemberRemoved,
                    member_data(key, user, None, since),
                    at,
                ),
                audit: vec![NewAudit::new(
                    &actor,
                    Some(key),
                    AuditAction::MemberRemoved,
                    ("member", user),
                    at,
                )
                .with_detail(json!({ "role": current }))],
                ..Recorded::default()
            })
        };
        match self.store.remove_member(key, user, &rule).await? {
            MemberChange::Removed { .. } => {
                self.announce(key, Some(user), at);
                Ok(())
            }
            MemberChange::LastOwner => Err(last_owner()),
            MemberChange::Refused { .. } => Err(ServiceError::InsufficientRole(Role::Owner)),
            _ => Err(ServiceError::NotFound("member")),
        }
    }

    /// A page of a workspace's audit log (admin).
    pub async fn audit(
        &self,
        caller: &Principal,
        ws: &str,
        params: AuditParams,
    ) -> ServiceResult<AuditPage> {
        let key = key_of(caller, ws)?.to_owned();
        self.access
            .require(caller, &key, Role::Admin, "workspace")
            .await?;
        self.audit_page(params, Some(key), None).await
    }

    /// A page of the caller's own actions, wherever they were.
    pub async fn my_audit(
        &self,
        caller: &Principal,
        params: AuditParams,
    ) -> ServiceResult<AuditPage> {
        self.audit_page(params, None, Some(caller.user.clone()))
            .await
    }

    async fn audit_page(
        &self,
        params: AuditParams,
        workspace: Option<String>,
        actor: Option<String>,
    ) -> ServiceResult<AuditPage> {
        let mut filter = params.validate(workspace)?;
        if actor.is_some() {
            filter.actor = actor;
        }
        let records = self.audit.audit_page(&filter).await?;
        let next_cursor = (records.len() as i64 == filter.limit)
            .then(|| records.last().map(|r| r.id.clone()))
            .flatten();
        Ok(AuditPage {
            records,
            next_cursor,
        })
    }

    /// A team workspace's key from its API id: the personal workspace cannot be changed.
    fn team_key<'a>(&self, caller: &'a Principal, ws: &'a str) -> ServiceResult<&'a str> {
        let key = key_of(caller, ws)?;
        if is_team_key(key) {
            Ok(key)
        } else if key == caller.user {
            Err(ServiceError::Conflict {
                code: "personal_workspace",
                detail: "the personal workspace cannot be shared, renamed or deleted".into(),
            })
        } else {
            Err(ServiceError::NotFound("workspace"))
        }
    }

    /// Tells this replica (and, through the store's NOTIFY, the others) that access changed:
    /// kept roles of the workspace are dropped, and the member's stream wakes.
    fn announce(&self, key: &str, member: Option<&str>, at: DateTime<Utc>) {
        self.access.forget(key);
        self.feed.committed(key, None, at);
        if let Some(member) = member {
            self.feed.committed(member, None, at);
        }
    }
}

fn last_owner() -> ServiceError {
    ServiceError::Conflict {
        code: "last_owner",
        detail: "a workspace keeps at least one owner; make another member owner first".into(),
    }
}
