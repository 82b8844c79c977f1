//! A snippet's version history: list, read one, diff two, restore one as a new version. Who
//! may see it is the snippet's own rule (`SnippetService::snippet_workspace`); a restore is
//! an edit, made by the snippet use cases like any other.

use std::sync::Arc;

use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::Principal;
use super::{ServiceError, ServiceResult, SnippetService};
use pieces_model::history::{self, HistoryRow, VersionDiff, VersionEntry, VersionPage};
use pieces_model::workspace::Role;
use pieces_model::{page_bounds, Expected, Snippet, SnippetPatch};
use pieces_store::{History, HistoryStore, Rows, StoreError};

/// Query of `GET /api/v1/snippets/{id}/versions`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionParams {
    /// 1 to 100, default 20.
    pub limit: Option<i64>,
    /// Default 0.
    pub offset: Option<i64>,
}

/// Query of `GET /api/v1/snippets/{id}/versions/{n}/diff`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DiffParams {
    /// The version to compare with (default: the current one).
    pub to: Option<i64>,
}

pub struct HistoryService {
    store: Arc<dyn HistoryStore>,
    snippets: Arc<SnippetService>,
}

impl HistoryService {
    pub fn new(store: Arc<dyn HistoryStore>, snippets: Arc<SnippetService>) -> Self {
        Self { store, snippets }
    }

    /// The snippet's kept versions, newest first.
    pub async fn list(
        &self,
        caller: &Principal,
        id: &str,
        params: VersionParams,
    ) -> ServiceResult<VersionPage> {
        let (limit, offset) = page_bounds(params.limit, params.offset, 20)?;
        let history = self.read(caller, id, Role::Reader, Rows::Listed).await?;
        let mut versions: Vec<VersionEntry> = Vec::with_capacity(history.rows.len() + 1);
        // The current version has no row until it is replaced when no change made it since
        // history was kept (a first version, or one from before).
        if history.rows.first().map(|r| r.version) != Some(history.current.version) {
            versions.push(VersionEntry {
                version: history.current.version,
                at: history.current.updated_at,
                actor: (history.current.version == 1)
                    .then(|| history.created_by.clone())
                    .flatten(),
                changed: Vec::new(),
            });
        }
        versions.extend(history.rows.into_iter().map(|row| VersionEntry {
            version: row.version,
            at: row.at,
            actor: row.actor,
            changed: row.changed,
        }));
        let total = versions.len() as i64;
        let versions = versions
            .into_iter()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(usize::try_from(limit).unwrap_or(0))
            .collect();
        Ok(VersionPage { versions, total })
    }

    /// The snippet as it was at version `n`.
    pub async fn version(&self, caller: &Principal, id: &str, n: i64) -> ServiceResult<Snippet> {
        let history = self
            .read(caller, id, Role::Reader, Rows::After(n - 1))
            .await?;
        let [wanted] = rebuild(history, [n])?;
        Ok(wanted)
    }

    /// What changed from version `from` to version `to` (default: the current one).
    pub async fn diff(
        &self,
        caller: &Principal,
        id: &str,
        from: i64,
        params: DiffParams,
    ) -> ServiceResult<VersionDiff> {
        let to = params.to.unwrap_or(i64::MAX);
        let oldest = from.min(to);
        let history = self
            .read(caller, id, Role::Reader, Rows::After(oldest - 1))
            .await?;
        let to = if to == i64::MAX {
            history.current.version
        } else {
            to
        };
        let [a, b] = rebuild(history, [from, to])?;
        Ok(history::diff(&a, &b))
    }

    /// Makes version `n`'s content the snippet's next version (with `expected`, only while
    /// the snippet is at that version). Its history keeps every version in between.
    pub async fn restore(
        &self,
        caller: &Principal,
        id: &str,
        n: i64,
        expected: Option<Expected>,
    ) -> ServiceResult<Snippet> {
        let history = self
            .read(caller, id, Role::Writer, Rows::After(n - 1))
            .await?;
        let [was] = rebuild(history, [n])?;
        let one_file = was.files.is_empty();
        let (code, language, files) = if one_file {
            (Some(was.code), Some(was.language), None)
        } else {
            (None, None, Some(was.files))
        };
        let patch = SnippetPatch {
            title: Some(was.title),
            code,
            language,
            files,
            one_file,
            tags: Some(was.tags),
            metadata: Some(was.metadata),
            description: Some(was.description),
            workspace: None,
        };
        self.snippets.update(caller, id, patch, expected).await
    }

    async fn read(
        &self,
        caller: &Principal,
        id: &str,
        least: Role,
        rows: Rows,
    ) -> ServiceResult<History> {
        let key = self.snippets.snippet_workspace(caller, id, least).await?;
        self.store
            .history(&key, id, rows)
            .await?
            .ok_or(ServiceError::NotFound("snippet"))
    }
}

/// The snippet at each of `wanted` versions, rebuilt from its current content by the deltas
/// of every version after the oldest wanted (`history` read with `Rows::After(oldest - 1)`).
/// A version no longer kept is not found.
fn rebuild<const N: usize>(history: History, wanted: [i64; N]) -> ServiceResult<[Snippet; N]> {
    let mut found: [Option<Snippet>; N] = std::array::from_fn(|_| None);
    let keep = |state: &Snippet, found: &mut [Option<Snippet>; N]| {
        for (slot, version) in found.iter_mut().zip(wanted) {
            if version == state.version && slot.is_none() {
                *slot = Some(state.clone());
            }
        }
    };
    // The current version as it is stored, its own `updated_at` included.
    let mut state = history.current;
    keep(&state, &mut found);
    let mut rows = history.rows.iter().peekable();
    while let Some(row) = rows.next() {
        if found.iter().all(Option::is_some) {
            break;
        }
        // Each row made the version `state` is at, and rebuilds the one before; rows come
        // newest first, one per version, down to the oldest kept.
        let Some(previous) = row
            .previous
            .as_deref()
            .filter(|_| row.version == state.version)
        else {
            break;
        };
        history::apply_previous(&mut state, previous)
            .map_err(|e| ServiceError::Store(StoreError::Corrupt(e.to_string())))?;
        state.version -= 1;
        // Every kept version has its row, the next one: when it was made. Without one the
        // version was pushed out (the oldest kept still holds its delta).
        let Some(made) = rows.peek().filter(|r| r.version == state.version) else {
            break;
        };
        state.updated_at = made.at;
        keep(&state, &mut found);
    }
    if found.iter().any(Option::is_none) {
        return Err(ServiceError::NotFound("version"));
    }
    Ok(found.map(Option::unwrap_or_default))
}

/// Every older version `history` (read with `Rows::After(0)`) can rebuild, newest first, each
/// with when, by whom and what its change was: what an export with history writes. One
/// version is held at a time, however many are kept.
pub(crate) struct OlderVersions {
    state: Snippet,
    rows: std::iter::Peekable<std::vec::IntoIter<HistoryRow>>,
    done: bool,
}

impl OlderVersions {
    pub(crate) fn new(history: History) -> Self {
        Self {
            state: history.current,
            rows: history.rows.into_iter().peekable(),
            done: false,
        }
    }
}

impl Iterator for OlderVersions {
    type Item = ServiceResult<(Snippet, HistoryRow)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let row = self.rows.next()?;
        let Some(previous) = row
            .previous
            .as_deref()
            .filter(|_| row.version == self.state.version)
        else {
            self.done = true;
            return None;
        };
        if let Err(e) = history::apply_previous(&mut self.state, previous) {
            self.done = true;
            return Some(Err(ServiceError::Store(StoreError::Corrupt(e.to_string()))));
        }
        self.state.version -= 1;
        let Some(made) = self.rows.peek().filter(|r| r.version == self.state.version) else {
            self.done = true;
            return None;
        };
        self.state.updated_at = made.at;
        Some(Ok((self.state.clone(), made.clone())))
    }
}
