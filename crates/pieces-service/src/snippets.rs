//! Snippet use cases. The store is the truth and records each change's events in the same
//! transaction; the cache is a copy that a change invalidates once the store has committed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::access::HeldRoles;
use super::auth::Principal;
use super::kept::Kept;
use super::{
    Access, CacheKeeper, EmbeddingService, OutboxSignal, SearchService, ServiceError, ServiceResult,
};
use pieces_cache::{jittered, snippet_key, snippet_key_workspace, Cache, Lookup};
use pieces_metrics::Metrics;
use pieces_model::bounds::SEARCH_TOTAL_CAP;

use pieces_model::workspace::{api_id, is_team_key, Role, WorkspaceRef, ALL_WORKSPACES_MAX};
use pieces_model::{
    now, Change, EventPlan, Expected, JsonObject, Limits, ListParams, Listed, ListedPage,
    NewSnippet, SearchMode, Snippet, SnippetPatch, ValidationError,
};
use pieces_store::{ChangeFeed, Conditions, OutboxQueue, Removal, SnippetStore, Written};

mod related;

/// A snippet serialized as the API shows it: a cached copy is served as it is.
#[derive(Debug, Clone)]
pub struct SnippetJson(pub Bytes);

/// What a snippet service is built from.
pub struct SnippetDeps {
    pub store: Arc<dyn SnippetStore>,
    pub outbox: Arc<dyn OutboxQueue>,
    pub cache: Arc<dyn Cache>,
    /// Drops cached copies after a change, also while the cache cannot be reached.
    pub keeper: Arc<CacheKeeper>,
    pub metrics: Arc<Metrics>,
    pub plan: EventPlan,
    pub limits: Limits,
    pub cache_ttl: Duration,
    /// Tells the outbox worker of recorded events.
    pub signal: Arc<OutboxSignal>,
    /// Tells this process's subscribers and caches of each committed change.
    pub feed: ChangeFeed,
    /// Search by meaning, when an embedding provider is configured.
    pub search: Option<Arc<SearchService>>,
    /// Told of changes that will be embedded, for its backlog gauge.
    pub embedding: Option<Arc<EmbeddingService>>,
    /// Who may do what in which workspace.
    pub access: Arc<Access>,
}

/// Team snippets whose workspace this replica has seen, so a warm read of one goes straight
/// to its cache key (`pieces:snippets:{workspace}:{id}`) instead of first trying the
/// caller's personal one. A stale entry costs one cache miss, never a wrong answer: the
/// cache key and the store both carry the workspace.
const KNOWN_TEAM_SNIPPETS_BYTES: usize = 8 * 1024 * 1024;
const KNOWN_TEAM_SNIPPETS_FOR: Duration = Duration::from_secs(600);

/// Large rows (see `Listed::Deferred`) on their way to clients at once, across requests:
/// each is up to a mebibyte of code and its copy as JSON.
const LARGE_ROWS_AT_ONCE: usize = 8;
/// How long a large row waits for a place; past it the answer it belongs to fails.
const PLACE_WAIT: Duration = Duration::from_secs(10);
/// Listings with large rows one user may have on their way at once: a client reading slowly
/// holds a place each, and one user's must not take them all.
const LARGE_LISTINGS_PER_USER: usize = 2;

/// A snippet of a page, whole. A large one holds one of the places for large rows until it
/// is dropped, which a front door does once it has handed the row on.
pub struct LargeRow {
    pub snippet: Snippet,
    _place: Option<OwnedSemaphorePermit>,
}

/// One of a user's listings with large rows, counted while it lives.
pub struct LargeListing {
    user: String,
    open: Arc<Mutex<HashMap<String, usize>>>,
}

impl Drop for LargeListing {
    fn drop(&mut self) {
        if let Ok(mut open) = self.open.lock() {
            if let Some(count) = open.get_mut(&self.user) {
                *count -= 1;
                if *count == 0 {
                    open.remove(&self.user);
                }
            }
        }
    }
}

/// The snippet use cases, the only code that changes snippets.
pub struct SnippetService {
    deps: SnippetDeps,
    large_rows: Arc<Semaphore>,
    large_listings: Arc<Mutex<HashMap<String, usize>>>,
    team_snippets: Kept<KnownPlace>,
}

/// Where a team snippet was found, with its workspace's roles held beside it.
#[derive(Clone)]
struct KnownPlace {
    key: String,
    roles: HeldRoles,
}

/// What this replica knows of a snippet's place, for the caller.
enum Known {
    /// In a team workspace the caller may read: its cache key there.
    Readable(String),
    /// Not seen in a team workspace: most likely the caller's own.
    Unknown,
    /// Seen in a team workspace, but the caller's role there must be asked afresh.
    Unsure,
}

impl SnippetService {
    pub fn new(deps: SnippetDeps) -> Self {
        Self {
            deps,
            large_rows: Arc::new(Semaphore::new(LARGE_ROWS_AT_ONCE)),
            large_listings: Arc::default(),
            team_snippets: Kept::new(KNOWN_TEAM_SNIPPETS_BYTES, KNOWN_TEAM_SNIPPETS_FOR),
        }
    }

    /// The stored key of the workspace a request names, once the caller is known to hold at
    /// least `least` there (404 for a workspace they cannot see).
    pub(crate) async fn workspace_key(
        &self,
        caller: &Principal,
        named: Option<&str>,
        least: Role,
    ) -> ServiceResult<String> {
        let named = WorkspaceRef::parse(named, false)?;
        let key = named.key(&caller.user).unwrap_or(&caller.user).to_owned();
        Access::may_name(caller, &key)?;
        self.deps
            .access
            .require(caller, &key, least, "workspace")
            .await?;
        Ok(key)
    }

    /// The stored key of the workspace holding snippet `id`, once the caller is known to
    /// hold at least `least` there: 404 when they cannot see it, as for no such snippet.
    pub(crate) async fn snippet_workspace(
        &self,
        caller: &Principal,
        id: &str,
        least: Role,
    ) -> ServiceResult<String> {
        let found = self.deps.store.snippet_workspace(id).await?;
        self.deps
            .access
            .require_found(caller, found, least, "snippet")
            .await
    }

    /// Validates and stores a new snippet in the workspace the body names (the caller's
    /// personal one by default); returns once it is committed.
    pub async fn create(&self, caller: &Principal, body: NewSnippet) -> ServiceResult<Snippet> {
        let key = self
            .workspace_key(caller, body.workspace.as_deref(), Role::Writer)
            .await?;
        let snippet = body.into_snippet(&self.deps.limits, now(), api_id(&key))?;
        self.store_new(caller, &key, &snippet).await?;
        tracing::info!(snippet = %snippet.id, "snippet stored");
        Ok(snippet)
    }

    /// Stores a validated new snippet in workspace `key`, where the caller was found to be
    /// a writer; returns once it is committed.
    pub(crate) async fn store_new(
        &self,
        caller: &Principal,
        key: &str,
        snippet: &Snippet,
    ) -> ServiceResult<()> {
        let plan = self.deps.plan.acting(&caller.actor());
        self.deps.store.create_snippet(key, snippet, &plan).await?;
        self.events_recorded(Change::Created);
        // When it was committed (an imported snippet keeps an older `created_at`).
        let created = Some(snippet.id.as_str());
        self.deps.feed.committed(key, created, now());
        Ok(())
    }

    /// The stored keys of the workspaces a listing names: one, or with `all` every one the
    /// caller can read (personal first).
    pub(crate) async fn keys_to_list(
        &self,
        caller: &Principal,
        named: Option<&str>,
    ) -> ServiceResult<Vec<String>> {
        if WorkspaceRef::parse(named, true)? != WorkspaceRef::All {
            return Ok(vec![self.workspace_key(caller, named, Role::Reader).await?]);
        }
        let keys = self.deps.access.keys_to_read(caller, None).await?;
        if keys.len() > ALL_WORKSPACES_MAX {
            return Err(ValidationError::new(
                "workspace",
                format!(
                    "workspace: `all` covers at most {ALL_WORKSPACES_MAX} workspaces and you \
                     can read {}; name one",
                    keys.len()
                ),
            )
            .into());
        }
        Ok(keys)
    }

    /// One page of the snippets of the workspace the query names (the caller's personal one
    /// by default, or every one they can read): newest first, or as the search ranks them.
    /// Rows too large for a page to hold at once are deferred: `whole` reads each when its
    /// turn comes.
    pub async fn list(&self, caller: &Principal, params: ListParams) -> ServiceResult<ListedPage> {
        let keys = self
            .keys_to_list(caller, params.workspace.as_deref())
            .await?;
        let filter = params.validate(self.deps.search.is_some())?;
        if let (Some(search), SearchMode::Semantic | SearchMode::Hybrid) =
            (&self.deps.search, filter.mode)
        {
            let page = search.page(&keys, &filter).await?;
            return Ok(ListedPage {
                rows: page.snippets,
                total: page.total,
                limit: filter.limit,
                offset: filter.offset,
                total_capped: page.total_capped,
                mode: Some(page.mode),
            });
        }
        let (rows, counted) = self.deps.store.list_snippets(&keys, &filter).await?;
        // Only a filtered count stops at the cap; an unfiltered one is exact.
        let total_capped = counted > SEARCH_TOTAL_CAP && filter.is_filtered();
        Ok(ListedPage {
            rows,
            total: if total_capped {
                SEARCH_TOTAL_CAP
            } else {
                counted
            },
            limit: filter.limit,
            offset: filter.offset,
            total_capped,
            mode: filter.query.is_some().then_some(SearchMode::Text),
        })
    }

    /// A row of a page, whole: a deferred one is read now, with one of the few places for
    /// large rows held while they are on their way to a client (`LargeRow` keeps it until
    /// dropped). None when the snippet was deleted since the page was read.
    pub async fn whole(&self, row: Listed) -> ServiceResult<Option<LargeRow>> {
        match row {
            Listed::Whole(snippet) => Ok(Some(LargeRow {
                snippet,
                _place: None,
            })),
            Listed::Deferred(partial) => {
                let busy = || ServiceError::RateLimited {
                    retry_after_secs: 1,
                };
                let place =
                    tokio::time::timeout(PLACE_WAIT, self.large_rows.clone().acquire_owned())
                        .await
                        .map_err(|_| busy())?
                        .map_err(|_| busy())?;
                let key = self.deps.store.snippet_workspace(&partial.id).await?;
                let snippet = match key {
                    Some(key) => self.deps.store.get_snippet(&key, &partial.id).await?,
                    None => None,
                };
                Ok(snippet.map(|snippet| LargeRow {
                    snippet,
                    _place: Some(place),
                }))
            }
        }
    }

    /// Counts a listing of the user's with large rows while the answer is written; refused
    /// when the user already has `LARGE_LISTINGS_PER_USER` on their way.
    pub fn large_listing(&self, user: &str) -> ServiceResult<LargeListing> {
        let mut open = self
            .large_listings
            .lock()
            .map_err(|_| ServiceError::NotConfigured("the listing registry is unavailable"))?;
        let count = open.entry(user.to_owned()).or_default();
        if *count >= LARGE_LISTINGS_PER_USER {
            return Err(ServiceError::RateLimited {
                retry_after_secs: 1,
            });
        }
        *count += 1;
        Ok(LargeListing {
            user: user.to_owned(),
            open: self.large_listings.clone(),
        })
    }

    /// Up to `limit` of the user's snippets most relevant to `query`, best first: by both
    /// rankings when an embedding provider is configured, else any word by text relevance.
    pub async fn relevant(
        &self,
        user: &str,
        query: &str,
        limit: i64,
    ) -> ServiceResult<Vec<Snippet>> {
        let ids = match &self.deps.search {
            Some(search) => search.relevant(user, query, limit).await?,
            None => self.deps.store.relevant_ids(user, query, limit).await?,
        };
        let mut rows: HashMap<String, Snippet> = self
            .deps
            .store
            .get_snippets(user, &ids)
            .await?
            .into_iter()
            .map(|s| (s.id.clone(), s))
            .collect();
        Ok(ids.into_iter().filter_map(|id| rows.remove(&id)).collect())
    }

    /// One snippet the caller may read, from the cache when it holds it. A cache that cannot
    /// be reached only costs a store read.
    pub async fn get(&self, caller: &Principal, id: &str) -> ServiceResult<SnippetJson> {
        match self.known_place(caller, id) {
            Known::Readable(cache_key) => {
                let key = snippet_key_workspace(&cache_key, id);
                if let Some(json) = self.cached_or_stored_at(&cache_key, key, id).await? {
                    return Ok(json);
                }
            }
            Known::Unknown => {
                // Most likely the caller's personal one, whose warm read needs no role check,
                // unless the token is limited.
                let cache_key = snippet_key(&caller.user, id);
                if let Some(json) = self
                    .cached_or_stored_at(&cache_key, &caller.user, id)
                    .await?
                {
                    if caller.workspaces.is_some() {
                        self.deps
                            .access
                            .require(caller, &caller.user, Role::Reader, "snippet")
                            .await?;
                    }
                    return Ok(json);
                }
            }
            Known::Unsure => {}
        }
        let key = self.snippet_workspace(caller, id, Role::Reader).await?;
        if is_team_key(&key) {
            if let Some(roles) = self.deps.access.hold(&key) {
                let bytes = id.len() + key.len() + 128;
                let place = KnownPlace {
                    key: key.clone(),
                    roles,
                };
                self.team_snippets.insert(id.to_owned(), place, bytes);
            }
        }
        self.cached_or_stored(&key, id)
            .await?
            .ok_or(ServiceError::NotFound("snippet"))
    }

    /// What this replica knows of where snippet `id` is and whether the caller may read it
    /// there: one look-up, with the roles held beside the place.
    fn known_place(&self, caller: &Principal, id: &str) -> Known {
        self.team_snippets
            .read_timed(id, |place, ages| {
                match self
                    .deps
                    .access
                    .role_held(caller, &place.key, &place.roles, ages.now)
                {
                    // Any role reads.
                    Some(Some(_)) => Known::Readable(snippet_key(&place.key, id)),
                    // Not a member, or the roles changed since: the store decides.
                    Some(None) | None => Known::Unsure,
                }
            })
            .unwrap_or(Known::Unknown)
    }

    /// Snippet `id` of workspace `key` as JSON, from the cache or else the store; None when
    /// that workspace holds no such snippet.
    async fn cached_or_stored(&self, key: &str, id: &str) -> ServiceResult<Option<SnippetJson>> {
        self.cached_or_stored_at(&snippet_key(key, id), key, id)
            .await
    }

    /// `cached_or_stored` with the snippet's cache key already made.
    async fn cached_or_stored_at(
        &self,
        cache_key: &str,
        key: &str,
        id: &str,
    ) -> ServiceResult<Option<SnippetJson>> {
        // A key whose drop failed may still hold the old version in the cache: read past it.
        let ticket = if self.deps.keeper.bypasses(cache_key) {
            None
        } else {
            match self.deps.cache.lookup(cache_key).await {
                Ok(Lookup::Hit(bytes)) => {
                    self.deps.metrics.cache("hit");
                    return Ok(Some(SnippetJson(bytes)));
                }
                Ok(Lookup::Miss(ticket)) => {
                    self.deps.metrics.cache("miss");
                    Some(ticket)
                }
                Err(e) => {
                    self.deps.metrics.cache("error");
                    tracing::debug!(error = %e, "cache read failed; reading the store");
                    None
                }
            }
        };
        let Some(snippet) = self.deps.store.get_snippet(key, id).await? else {
            return Ok(None);
        };
        let bytes = Bytes::from(serde_json::to_vec(&snippet).unwrap_or_default());
        if let Some(ticket) = ticket {
            let ttl = jittered(self.deps.cache_ttl);
            if let Err(e) = self
                .deps
                .cache
                .fill(cache_key, bytes.clone(), ttl, ticket)
                .await
            {
                tracing::debug!(error = %e, "cache write failed");
            }
        }
        Ok(Some(SnippetJson(bytes)))
    }

    /// Changes the fields the patch names, for a caller who may write where it is; with
    /// `expected`, only if the snippet is still at that version.
    pub async fn update(
        &self,
        caller: &Principal,
        id: &str,
        patch: SnippetPatch,
        expected: Option<Expected>,
    ) -> ServiceResult<Snippet> {
        let patch = patch.validate(&self.deps.limits)?;
        let key = self.snippet_workspace(caller, id, Role::Writer).await?;
        let user = key.as_str();
        // A move needs a writer where the snippet goes too; naming where it is moves nothing.
        let move_to = match &patch.workspace {
            Some(named) => Some(
                self.workspace_key(caller, Some(named), Role::Writer)
                    .await?,
            )
            .filter(|to| *to != key),
            None => None,
        };
        if move_to.is_none() && !patch.edits_content() {
            let snippet = self
                .stored(user, id)
                .await?
                .ok_or(ServiceError::NotFound("snippet"))?;
            if !expected.is_none_or(|e| e.holds(snippet.version)) {
                return Err(ServiceError::VersionConflict(Box::new(snippet)));
            }
            return Ok(snippet);
        }
        let at = now();
        let plan = self.deps.plan.acting(&caller.actor());
        let change = Conditions {
            move_to: move_to.as_deref(),
            expected,
        };
        let snippet = match self
            .deps
            .store
            .update_snippet(user, id, &patch, change, at, &plan)
            .await?
        {
            Written::Done(snippet) => snippet,
            Written::Missing => return Err(ServiceError::NotFound("snippet")),
            Written::Stale(current) => return Err(ServiceError::VersionConflict(current)),
        };
        self.deps.feed.committed(user, Some(id), at);
        if let Some(to) = &move_to {
            self.deps.feed.committed(to, Some(id), at);
            self.team_snippets.remove(id);
            tracing::info!(snippet = %id, "snippet moved");
        }
        self.events_recorded(Change::Updated {
            code_changed: patch.touches_code(),
        });
        self.forget_cached(user, id).await;
        Ok(snippet)
    }

    /// Deletes a snippet, to the trash or for good, for a caller who may write where it is;
    /// with `expected`, only if it is still at that version.
    pub async fn delete(
        &self,
        caller: &Principal,
        id: &str,
        removal: Removal,
        expected: Option<Expected>,
    ) -> ServiceResult<()> {
        let key = self.snippet_workspace(caller, id, Role::Writer).await?;
        let user = key.as_str();
        let at = now();
        let plan = self.deps.plan.acting(&caller.actor());
        match self
            .deps
            .store
            .delete_snippet(user, id, removal, expected, at, &plan)
            .await?
        {
            Written::Done(()) => {}
            Written::Missing => return Err(ServiceError::NotFound("snippet")),
            Written::Stale(current) => return Err(ServiceError::VersionConflict(current)),
        }
        self.deps.feed.committed(user, Some(id), at);
        self.events_recorded(Change::Deleted);
        self.forget_cached(user, id).await;
        Ok(())
    }

    /// Merges an analysis into the snippet's metadata (not an edit: `updated_at` stays).
    /// False when the snippet is gone.
    pub async fn apply_analysis(
        &self,
        user: &str,
        id: &str,
        analysis: &JsonObject,
    ) -> ServiceResult<bool> {
        let at = now();
        let merged = self
            .deps
            .store
            .merge_metadata(user, id, analysis, at, &self.deps.plan)
            .await?;
        if merged {
            self.deps.feed.committed(user, Some(id), at);
            self.forget_cached(user, id).await;
        }
        Ok(merged)
    }

    /// The events changes owe, for the use cases beside this one that change snippets.
    pub(crate) fn plan(&self) -> &EventPlan {
        &self.deps.plan
    }

    /// Tells followers and the outbox worker of a snippet the trash gave back.
    pub(crate) fn restored(&self, key: &str, id: &str, at: DateTime<Utc>) {
        self.deps.feed.committed(key, Some(id), at);
        self.events_recorded(Change::Created);
    }

    /// The snippet as stored now, bypassing the cache (for the outbox's enrichment).
    pub async fn stored(&self, user: &str, id: &str) -> ServiceResult<Option<Snippet>> {
        Ok(self.deps.store.get_snippet(user, id).await?)
    }

    fn events_recorded(&self, change: Change) {
        if let Some(embedding) = &self.deps.embedding {
            match change {
                Change::Created => embedding.created(1),
                _ => embedding.changed(),
            }
        }
        let count = self.deps.plan.snippet_event_count(change);
        self.deps.signal.recorded(count);
    }

    /// Invalidates the cached copy after a change (see `CacheKeeper` for a cache that
    /// cannot be reached).
    async fn forget_cached(&self, user: &str, id: &str) {
        self.deps.keeper.drop_key(&snippet_key(user, id)).await;
    }
}
