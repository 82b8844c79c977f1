//! Team workspaces and their members. Every change takes the workspace's row first (on
//! PostgreSQL `FOR UPDATE`; SQLite has one writer), so two membership changes of one
//! workspace cannot both see "two owners" and leave none. Each change records its stream
//! events and audit records in the same transaction; the caller builds them once it is told
//! what the change found.

use async_trait::async_trait;
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

use super::{from_micros, postgres_insert, sqlite, to_micros, StoreError};
use pieces_model::workspace::{Member, Role, StoredWorkspace, WorkspacePatch};
use pieces_model::Recorded;

/// What a membership change found, and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberChange {
    Added,
    Updated {
        from: Role,
    },
    /// The member already had the role: nothing written.
    Unchanged,
    Removed {
        was: Role,
    },
    /// No such workspace, or (on removal) no such member.
    Missing,
    /// The change would leave the workspace without an owner: nothing written.
    LastOwner,
    /// The caller's rule refused the change given the member's current role (None: not a
    /// member): nothing written.
    Refused {
        current: Option<Role>,
    },
}

/// What deleting a workspace found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkspaceDeletion {
    Deleted,
    NotEmpty,
    Missing,
}

/// Decides a membership change once the member's current role and the position of the
/// workspace's change log are known (held until the commit, so the change's own stream event
/// comes right after it): the records to write with it, or None to refuse it.
pub type MemberRule<'a> = &'a (dyn Fn(Option<Role>, i64) -> Option<Recorded> + Send + Sync + 'a);

#[async_trait]
pub trait WorkspaceStore: Send + Sync {
    /// Stores a new workspace with its creator as owner, and the change's records.
    async fn create_workspace(
        &self,
        workspace: &StoredWorkspace,
        recorded: &Recorded,
    ) -> Result<(), StoreError>;

    async fn workspace(&self, key: &str) -> Result<Option<StoredWorkspace>, StoreError>;

    /// The workspace and every member's role: what a role check needs.
    async fn roles(
        &self,
        key: &str,
    ) -> Result<Option<(StoredWorkspace, Vec<(String, Role)>)>, StoreError>;

    /// The team workspaces `user` is a member of, with their role, oldest first.
    async fn workspaces_of(&self, user: &str) -> Result<Vec<(StoredWorkspace, Role)>, StoreError>;

    /// The team workspaces bound to any of `groups`, oldest first.
    async fn workspaces_of_groups(
        &self,
        groups: &[String],
    ) -> Result<Vec<StoredWorkspace>, StoreError>;

    async fn members(&self, key: &str) -> Result<Vec<Member>, StoreError>;

    async fn member_count(&self, key: &str) -> Result<i64, StoreError>;

    /// Applies a validated patch with its records; None when there is no such workspace.
    async fn update_workspace(
        &self,
        key: &str,
        patch: &WorkspacePatch,
        recorded: &Recorded,
    ) -> Result<Option<StoredWorkspace>, StoreError>;

    /// Deletes an empty workspace; `recorded` is given its members, whose streams hear of it.
    async fn delete_workspace(
        &self,
        key: &str,
        recorded: &(dyn for<'m> Fn(&'m [String]) -> Recorded + Send + Sync),
    ) -> Result<WorkspaceDeletion, StoreError>;

    /// Gives `member.user_id` the role `member.role`, if `rule` allows it.
    async fn put_member(
        &self,
        key: &str,
        member: &Member,
        rule: MemberRule<'_>,
    ) -> Result<MemberChange, StoreError>;

    /// Removes `user`, if `rule` allows it.
    async fn remove_member(
        &self,
        key: &str,
        user: &str,
        rule: MemberRule<'_>,
    ) -> Result<MemberChange, StoreError>;
}

/// Workspaces on SQLite: read on the readers, changed on the writer.
pub struct SqliteWorkspaces {
    pub readers: SqlitePool,
    pub writer: SqlitePool,
}

/// Workspaces on PostgreSQL.
pub struct PostgresWorkspaces {
    pub pool: PgPool,
}

const WORKSPACE_COLUMNS: &str =
    "id, name, description, created_at, created_by, group_name, group_role";

#[derive(sqlx::FromRow)]
struct WorkspaceRow {
    id: String,
    name: String,
    description: Option<String>,
    created_at: i64,
    created_by: String,
    group_name: Option<String>,
    group_role: Option<String>,
}

impl WorkspaceRow {
    fn into_workspace(self) -> Result<StoredWorkspace, StoreError> {
        let group_role = match self.group_role.as_deref() {
            None => None,
            Some(role) => Some(parse_role(role)?),
        };
        Ok(StoredWorkspace {
            created_at: from_micros(self.created_at)?,
            key: self.id,
            name: self.name,
            description: self.description,
            created_by: self.created_by,
            group: self.group_name,
            group_role,
        })
    }
}

#[derive(sqlx::FromRow)]
struct MemberRow {
    user_id: String,
    role: String,
    added_at: i64,
    added_by: String,
}

fn parse_role(role: &str) -> Result<Role, StoreError> {
    Role::parse(role).ok_or_else(|| StoreError::Corrupt(format!("unknown role {role:?}")))
}

/// Records a change's events and audit inside the caller's SQLite transaction.
pub(super) async fn record_sqlite(
    tx: &mut Transaction<'_, Sqlite>,
    recorded: &Recorded,
) -> Result<(), StoreError> {
    sqlite::record(tx, recorded).await
}

/// Records a change's events and audit inside the caller's PostgreSQL transaction.
pub(super) async fn record_postgres(
    tx: &mut Transaction<'_, Postgres>,
    recorded: &Recorded,
) -> Result<(), StoreError> {
    postgres_insert::record(&mut **tx, [recorded]).await
}

/// The same queries on both databases (`$n` parameters, which SQLite reads too); `$lock`
/// is what takes a workspace's row for the rest of a transaction.
macro_rules! workspaces_on {
    (
        $store:ty, $db:ty, $reader:ident, $writer:ident, $lock:literal, $record:ident,
        $json_texts:literal
    ) => {
        impl $store {
            /// Takes the workspace's row; false when there is none.
            async fn lock(tx: &mut Transaction<'_, $db>, key: &str) -> Result<bool, StoreError> {
                let found: Option<(String,)> =
                    sqlx::query_as(concat!("SELECT id FROM workspaces WHERE id = $1", $lock))
                        .bind(key)
                        .fetch_optional(&mut **tx)
                        .await?;
                Ok(found.is_some())
            }

            async fn role_in(
                tx: &mut Transaction<'_, $db>,
                key: &str,
                user: &str,
            ) -> Result<Option<Role>, StoreError> {
                let role: Option<(String,)> = sqlx::query_as(
                    "SELECT role FROM workspace_members WHERE workspace_id = $1 AND user_id = $2",
                )
                .bind(key)
                .bind(user)
                .fetch_optional(&mut **tx)
                .await?;
                role.map(|(r,)| parse_role(&r)).transpose()
            }

            /// The workspace's last change-log position, held to the commit.
            async fn log_position(
                tx: &mut Transaction<'_, $db>,
                key: &str,
            ) -> Result<i64, StoreError> {
                let last: Option<i64> = sqlx::query_scalar(concat!(
                    "SELECT last_seq FROM change_positions WHERE user_id = $1",
                    $lock
                ))
                .bind(key)
                .fetch_optional(&mut **tx)
                .await?;
                Ok(last.unwrap_or(0))
            }

            async fn owners(tx: &mut Transaction<'_, $db>, key: &str) -> Result<i64, StoreError> {
                Ok(sqlx::query_scalar(
                    "SELECT COUNT(*) FROM workspace_members \
                     WHERE workspace_id = $1 AND role = 'owner'",
                )
                .bind(key)
                .fetch_one(&mut **tx)
                .await?)
            }
        }

        #[async_trait]
        impl WorkspaceStore for $store {
            async fn create_workspace(
                &self,
                w: &StoredWorkspace,
                recorded: &Recorded,
            ) -> Result<(), StoreError> {
                let mut tx = self.$writer.begin().await?;
                sqlx::query(
                    "INSERT INTO workspaces (id, name, description, created_at, created_by) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&w.key)
                .bind(&w.name)
                .bind(w.description.as_deref())
                .bind(to_micros(w.created_at))
                .bind(&w.created_by)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO workspace_members (workspace_id, user_id, role, added_at, \
                     added_by) VALUES ($1, $2, 'owner', $3, $2)",
                )
                .bind(&w.key)
                .bind(&w.created_by)
                .bind(to_micros(w.created_at))
                .execute(&mut *tx)
                .await?;
                $record(&mut tx, recorded).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn workspace(&self, key: &str) -> Result<Option<StoredWorkspace>, StoreError> {
                let sql = format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE id = $1");
                let row: Option<WorkspaceRow> = sqlx::query_as(&sql)
                    .bind(key)
                    .fetch_optional(&self.$reader)
                    .await?;
                row.map(WorkspaceRow::into_workspace).transpose()
            }

            async fn roles(
                &self,
                key: &str,
            ) -> Result<Option<(StoredWorkspace, Vec<(String, Role)>)>, StoreError> {
                let Some(workspace) = self.workspace(key).await? else {
                    return Ok(None);
                };
                let rows: Vec<(String, String)> = sqlx::query_as(
                    "SELECT user_id, role FROM workspace_members WHERE workspace_id = $1",
                )
                .bind(key)
                .fetch_all(&self.$reader)
                .await?;
                let roles = rows
                    .into_iter()
                    .map(|(user, role)| Ok((user, parse_role(&role)?)))
                    .collect::<Result<_, StoreError>>()?;
                Ok(Some((workspace, roles)))
            }

            async fn workspaces_of(
                &self,
                user: &str,
            ) -> Result<Vec<(StoredWorkspace, Role)>, StoreError> {
                let sql = format!(
                    "SELECT w.id, w.name, w.description, w.created_at, w.created_by, \
                     w.group_name, w.group_role, m.role AS member_role \
                     FROM workspace_members m JOIN workspaces w ON w.id = m.workspace_id \
                     WHERE m.user_id = $1 ORDER BY w.created_at, w.id"
                );
                let rows: Vec<(String, String, Option<String>, i64, String, Option<String>,
                    Option<String>, String)> = sqlx::query_as(&sql)
                    .bind(user)
                    .fetch_all(&self.$reader)
                    .await?;
                rows.into_iter()
                    .map(|(id, name, description, created_at, created_by, group_name,
                           group_role, role)| {
                        let row = WorkspaceRow {
                            id, name, description, created_at, created_by, group_name,
                            group_role,
                        };
                        Ok((row.into_workspace()?, parse_role(&role)?))
                    })
                    .collect()
            }

            async fn workspaces_of_groups(
                &self,
                groups: &[String],
            ) -> Result<Vec<StoredWorkspace>, StoreError> {
                let sql = format!(
                    "SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE group_name IN ({}) \
                     ORDER BY created_at, id",
                    $json_texts
                );
                let rows: Vec<WorkspaceRow> = sqlx::query_as(&sql)
                    .bind(super::row::json_text(&groups))
                    .fetch_all(&self.$reader)
                    .await?;
                rows.into_iter().map(WorkspaceRow::into_workspace).collect()
            }

            async fn members(&self, key: &str) -> Result<Vec<Member>, StoreError> {
                let rows: Vec<MemberRow> = sqlx::query_as(
                    "SELECT user_id, role, added_at, added_by FROM workspace_members \
                     WHERE workspace_id = $1 ORDER BY added_at, user_id",
                )
                .bind(key)
                .fetch_all(&self.$reader)
                .await?;
                rows.into_iter()
                    .map(|r| {
                        Ok(Member {
                            role: parse_role(&r.role)?,
                            added_at: from_micros(r.added_at)?,
                            user_id: r.user_id,
                            added_by: r.added_by,
                        })
                    })
                    .collect()
            }

            async fn member_count(&self, key: &str) -> Result<i64, StoreError> {
                Ok(sqlx::query_scalar(
                    "SELECT COUNT(*) FROM workspace_members WHERE workspace_id = $1",
                )
                .bind(key)
                .fetch_one(&self.$reader)
                .await?)
            }

            async fn update_workspace(
                &self,
                key: &str,
                patch: &WorkspacePatch,
                recorded: &Recorded,
            ) -> Result<Option<StoredWorkspace>, StoreError> {
                let mut tx = self.$writer.begin().await?;
                if !Self::lock(&mut tx, key).await? {
                    return Ok(None);
                }
                let (clear_description, description) = match &patch.description {
                    None => (false, None),
                    Some(d) => (true, d.as_deref()),
                };
                let (clear_group, group) = match &patch.group {
                    None => (false, None),
                    Some(g) => (true, g.as_deref()),
                };
                let sql = format!(
                    "UPDATE workspaces SET name = COALESCE($2, name), \
                     description = CASE WHEN $3 THEN $4 ELSE description END, \
                     group_name = CASE WHEN $5 THEN $6 ELSE group_name END, \
                     group_role = CASE WHEN $5 AND $6 IS NULL THEN NULL \
                                       ELSE COALESCE($7, group_role) END \
                     WHERE id = $1 RETURNING {WORKSPACE_COLUMNS}"
                );
                let row: WorkspaceRow = sqlx::query_as(&sql)
                    .bind(key)
                    .bind(patch.name.as_deref())
                    .bind(clear_description)
                    .bind(description)
                    .bind(clear_group)
                    .bind(group)
                    .bind(patch.group_role.map(Role::as_str))
                    .fetch_one(&mut *tx)
                    .await?;
                $record(&mut tx, recorded).await?;
                tx.commit().await?;
                row.into_workspace().map(Some)
            }

            async fn delete_workspace(
                &self,
                key: &str,
                recorded: &(dyn for<'m> Fn(&'m [String]) -> Recorded + Send + Sync),
            ) -> Result<WorkspaceDeletion, StoreError> {
                let mut tx = self.$writer.begin().await?;
                if !Self::lock(&mut tx, key).await? {
                    return Ok(WorkspaceDeletion::Missing);
                }
                let snippets: i64 = sqlx::query_scalar(
                    "SELECT COALESCE((SELECT n FROM snippet_counts WHERE user_id = $1), 0)",
                )
                .bind(key)
                .fetch_one(&mut *tx)
                .await?;
                if snippets > 0 {
                    return Ok(WorkspaceDeletion::NotEmpty);
                }
                let members: Vec<(String,)> = sqlx::query_as(
                    "SELECT user_id FROM workspace_members WHERE workspace_id = $1 \
                     ORDER BY user_id",
                )
                .bind(key)
                .fetch_all(&mut *tx)
                .await?;
                let members: Vec<String> = members.into_iter().map(|(m,)| m).collect();
                // An empty workspace may still hold a trash: it goes with it, history and all.
                for sql in [
                    "DELETE FROM snippet_history WHERE snippet_id IN \
                     (SELECT id FROM snippets_trash WHERE user_id = $1)",
                    "DELETE FROM share_links WHERE snippet_id IN \
                     (SELECT id FROM snippets_trash WHERE user_id = $1)",
                    "DELETE FROM snippets_trash WHERE user_id = $1",
                ] {
                    sqlx::query(sql).bind(key).execute(&mut *tx).await?;
                }
                sqlx::query("DELETE FROM workspaces WHERE id = $1")
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
                $record(&mut tx, &recorded(&members)).await?;
                tx.commit().await?;
                Ok(WorkspaceDeletion::Deleted)
            }

            async fn put_member(
                &self,
                key: &str,
                member: &Member,
                rule: MemberRule<'_>,
            ) -> Result<MemberChange, StoreError> {
                let mut tx = self.$writer.begin().await?;
                if !Self::lock(&mut tx, key).await? {
                    return Ok(MemberChange::Missing);
                }
                let current = Self::role_in(&mut tx, key, &member.user_id).await?;
                if current == Some(member.role) {
                    return Ok(MemberChange::Unchanged);
                }
                let position = Self::log_position(&mut tx, key).await?;
                let Some(recorded) = rule(current, position) else {
                    return Ok(MemberChange::Refused { current });
                };
                if current == Some(Role::Owner) && Self::owners(&mut tx, key).await? <= 1 {
                    return Ok(MemberChange::LastOwner);
                }
                sqlx::query(
                    "INSERT INTO workspace_members (workspace_id, user_id, role, added_at, \
                     added_by) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (workspace_id, user_id) DO UPDATE SET role = excluded.role",
                )
                .bind(key)
                .bind(&member.user_id)
                .bind(member.role.as_str())
                .bind(to_micros(member.added_at))
                .bind(&member.added_by)
                .execute(&mut *tx)
                .await?;
                $record(&mut tx, &recorded).await?;
                tx.commit().await?;
                Ok(match current {
                    None => MemberChange::Added,
                    Some(from) => MemberChange::Updated { from },
                })
            }

            async fn remove_member(
                &self,
                key: &str,
                user: &str,
                rule: MemberRule<'_>,
            ) -> Result<MemberChange, StoreError> {
                let mut tx = self.$writer.begin().await?;
                if !Self::lock(&mut tx, key).await? {
                    return Ok(MemberChange::Missing);
                }
                let Some(was) = Self::role_in(&mut tx, key, user).await? else {
                    return Ok(MemberChange::Missing);
                };
                let position = Self::log_position(&mut tx, key).await?;
                let Some(recorded) = rule(Some(was), position) else {
                    return Ok(MemberChange::Refused { current: Some(was) });
                };
                if was == Role::Owner && Self::owners(&mut tx, key).await? <= 1 {
                    return Ok(MemberChange::LastOwner);
                }
                sqlx::query(
                    "DELETE FROM workspace_members WHERE workspace_id = $1 AND user_id = $2",
                )
                .bind(key)
                .bind(user)
                .execute(&mut *tx)
                .await?;
                $record(&mut tx, &recorded).await?;
                tx.commit().await?;
                Ok(MemberChange::Removed { was })
            }
        }
    };
}

workspaces_on!(
    SqliteWorkspaces,
    Sqlite,
    readers,
    writer,
    "",
    record_sqlite,
    "SELECT value FROM json_each($1)"
);
workspaces_on!(
    PostgresWorkspaces,
    Postgres,
    pool,
    pool,
    " FOR UPDATE",
    record_postgres,
    "SELECT jsonb_array_elements_text($1::jsonb)"
);
