//! Snippet use cases. The store is the truth and records each change's events in the same
//! transaction; the cache is a copy that a change invalidates once the store has committed.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::{EmbeddingService, OutboxSignal, SearchService, ServiceError, ServiceResult};
use crate::cache::{jittered, snippet_key, Cache, Lookup};
use crate::metrics::Metrics;
use crate::model::bounds::SEARCH_TOTAL_CAP;
use crate::model::{
    cache_invalidation, now, Change, EventPlan, JsonObject, Limits, ListParams, NewSnippet,
    Recorded, SearchMode, Snippet, SnippetPage, SnippetPatch,
};
use crate::store::{ChangeFeed, OutboxQueue, SnippetStore};

/// A snippet serialized as the API shows it: a cached copy is served as it is.
#[derive(Debug, Clone)]
pub struct SnippetJson(pub Bytes);

/// What a snippet service is built from.
pub struct SnippetDeps {
    pub store: Arc<dyn SnippetStore>,
    pub outbox: Arc<dyn OutboxQueue>,
    pub cache: Arc<dyn Cache>,
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
}

/// The snippet use cases, the only code that changes snippets.
pub struct SnippetService {
    deps: SnippetDeps,
}

impl SnippetService {
    pub fn new(deps: SnippetDeps) -> Self {
        Self { deps }
    }

    /// Validates and stores a new snippet; returns once it is committed.
    pub async fn create(&self, user: &str, body: NewSnippet) -> ServiceResult<Snippet> {
        let snippet = body.into_snippet(&self.deps.limits, now())?;
        self.deps
            .store
            .create_snippet(user, &snippet, &self.deps.plan)
            .await?;
        self.events_recorded(Change::Created);
        let created = Some(snippet.id.as_str());
        self.deps.feed.committed(user, created, snippet.created_at);
        tracing::info!(snippet = %snippet.id, "snippet stored");
        Ok(snippet)
    }

    /// One page of the user's snippets: newest first, or as the search ranks them.
    pub async fn list(&self, user: &str, params: ListParams) -> ServiceResult<SnippetPage> {
        let filter = params.validate(self.deps.search.is_some())?;
        if let (Some(search), SearchMode::Semantic | SearchMode::Hybrid) =
            (&self.deps.search, filter.mode)
        {
            let page = search.page(user, &filter).await?;
            return Ok(SnippetPage {
                snippets: page.snippets,
                total: page.total,
                limit: filter.limit,
                offset: filter.offset,
                total_capped: page.total_capped,
                mode: Some(page.mode),
            });
        }
        let (snippets, counted) = self.deps.store.list_snippets(user, &filter).await?;
        let total_capped = filter.query.is_some() && counted > SEARCH_TOTAL_CAP;
        Ok(SnippetPage {
            snippets,
            total: counted.min(if total_capped {
                SEARCH_TOTAL_CAP
            } else {
                i64::MAX
            }),
            limit: filter.limit,
            offset: filter.offset,
            total_capped,
            mode: filter.query.is_some().then_some(SearchMode::Text),
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
        if let Some(search) = &self.deps.search {
            return search.relevant(user, query, limit).await;
        }
        Ok(self.deps.store.search_relevant(user, query, limit).await?)
    }

    /// One snippet, from the cache when it holds it. A cache that cannot be reached only
    /// costs a store read.
    pub async fn get(&self, user: &str, id: &str) -> ServiceResult<SnippetJson> {
        let key = snippet_key(user, id);
        let ticket = match self.deps.cache.lookup(&key).await {
            Ok(Lookup::Hit(bytes)) => {
                self.deps.metrics.cache("hit");
                return Ok(SnippetJson(bytes));
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
        };
        let snippet = self
            .deps
            .store
            .get_snippet(user, id)
            .await?
            .ok_or(ServiceError::NotFound("snippet"))?;
        let bytes = Bytes::from(serde_json::to_vec(&snippet).unwrap_or_default());
        if let Some(ticket) = ticket {
            let ttl = jittered(self.deps.cache_ttl);
            if let Err(e) = self.deps.cache.fill(&key, bytes.clone(), ttl, ticket).await {
                tracing::debug!(error = %e, "cache write failed");
            }
        }
        Ok(SnippetJson(bytes))
    }

    /// Changes the fields the patch names.
    pub async fn update(
        &self,
        user: &str,
        id: &str,
        patch: SnippetPatch,
    ) -> ServiceResult<Snippet> {
        let patch = patch.validate(&self.deps.limits)?;
        let at = now();
        let snippet = self
            .deps
            .store
            .update_snippet(user, id, &patch, at, &self.deps.plan)
            .await?
            .ok_or(ServiceError::NotFound("snippet"))?;
        self.deps.feed.committed(user, Some(id), at);
        self.events_recorded(Change::Updated {
            code_changed: patch.touches_code(),
        });
        self.forget_cached(user, id).await;
        Ok(snippet)
    }

    pub async fn delete(&self, user: &str, id: &str) -> ServiceResult<()> {
        let at = now();
        if !self
            .deps
            .store
            .delete_snippet(user, id, at, &self.deps.plan)
            .await?
        {
            return Err(ServiceError::NotFound("snippet"));
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

    /// The snippet as stored now, bypassing the cache (for the outbox's enrichment).
    pub async fn stored(&self, user: &str, id: &str) -> ServiceResult<Option<Snippet>> {
        Ok(self.deps.store.get_snippet(user, id).await?)
    }

    fn events_recorded(&self, change: Change) {
        if let Some(embedding) = &self.deps.embedding {
            embedding.changed();
        }
        let count = self.deps.plan.snippet_event_count(change);
        self.deps.signal.recorded(count);
    }

    /// Invalidates the cached copy after a change. If the cache cannot be reached the drop
    /// is recorded in the outbox and retried, so the stale copy is never served once the
    /// cache returns.
    async fn forget_cached(&self, user: &str, id: &str) {
        let key = snippet_key(user, id);
        if let Err(e) = self.deps.cache.invalidate(&key).await {
            tracing::warn!(error = %e, "cache invalidation failed; queueing it for retry");
            let event = cache_invalidation(&key, now());
            match self
                .deps
                .outbox
                .enqueue(&Recorded::outbox(vec![event]))
                .await
            {
                Ok(()) => self.deps.signal.recorded(1),
                Err(e) => tracing::error!(error = %e, "cannot queue cache invalidation"),
            }
        }
    }
}
