//! The trash: what a deletion keeps, for a caller who may write where the snippet was, to
//! restore (with its id and history) or erase for good.

use std::sync::Arc;

use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::Principal;
use super::{Access, ServiceError, ServiceResult, SnippetService};
use pieces_model::trash::TrashPage;
use pieces_model::workspace::Role;
use pieces_model::{now, page_bounds, Snippet};
use pieces_store::TrashStore;

/// Query of `GET /api/v1/trash`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrashParams {
    /// Only this workspace's trash (`personal` or a team workspace's id); by default every
    /// workspace the caller may write in.
    pub workspace: Option<String>,
    /// 1 to 100, default 20.
    pub limit: Option<i64>,
    /// Default 0.
    pub offset: Option<i64>,
}

pub struct TrashService {
    store: Arc<dyn TrashStore>,
    access: Arc<Access>,
    snippets: Arc<SnippetService>,
}

impl TrashService {
    pub fn new(
        store: Arc<dyn TrashStore>,
        access: Arc<Access>,
        snippets: Arc<SnippetService>,
    ) -> Self {
        Self {
            store,
            access,
            snippets,
        }
    }

    /// The deleted snippets of the workspaces the caller may write in (or of the one named),
    /// the most recently deleted first.
    pub async fn list(&self, caller: &Principal, params: TrashParams) -> ServiceResult<TrashPage> {
        let (limit, offset) = page_bounds(params.limit, params.offset, 20)?;
        let keys = match params.workspace.as_deref() {
            Some(named) => vec![
                self.snippets
                    .workspace_key(caller, Some(named), Role::Writer)
                    .await?,
            ],
            None => self.writable_keys(caller).await?,
        };
        let (snippets, total) = self.store.list_trash(&keys, limit, offset).await?;
        Ok(TrashPage {
            snippets,
            total,
            limit,
            offset,
        })
    }

    /// Every workspace the caller may write in: their personal one (unless their token is
    /// limited to others) and their teams' where they are a writer or more.
    async fn writable_keys(&self, caller: &Principal) -> ServiceResult<Vec<String>> {
        let mut keys = Vec::new();
        if Access::may_name(caller, &caller.user).is_ok() {
            keys.push(caller.user.clone());
        }
        for (workspace, role) in self.access.readable(caller).await? {
            if role >= Role::Writer {
                keys.push(workspace.key);
            }
        }
        Ok(keys)
    }

    /// Brings a deleted snippet back, with its id and history, at its next version.
    pub async fn restore(&self, caller: &Principal, id: &str) -> ServiceResult<Snippet> {
        let key = self.trash_workspace(caller, id).await?;
        let at = now();
        let plan = self.snippets.plan().acting(&caller.actor());
        let snippet = self
            .store
            .restore_from_trash(&key, id, at, &plan)
            .await?
            .ok_or(ServiceError::NotFound("snippet"))?;
        self.snippets.restored(&key, id, at);
        tracing::info!(snippet = %id, "snippet restored from the trash");
        Ok(snippet)
    }

    /// Erases a deleted snippet and its history for good.
    pub async fn erase(&self, caller: &Principal, id: &str) -> ServiceResult<()> {
        let key = self.trash_workspace(caller, id).await?;
        let plan = self.snippets.plan().acting(&caller.actor());
        if !self.store.erase_from_trash(&key, id, now(), &plan).await? {
            return Err(ServiceError::NotFound("snippet"));
        }
        tracing::info!(snippet = %id, "snippet erased from the trash");
        Ok(())
    }

    /// The workspace whose trash holds `id`, once the caller may write there: 404 when they
    /// may not see it, as for no such snippet.
    async fn trash_workspace(&self, caller: &Principal, id: &str) -> ServiceResult<String> {
        let found = self.store.trash_workspace(id).await?;
        self.access
            .require_found(caller, found, Role::Writer, "snippet")
            .await
    }
}
