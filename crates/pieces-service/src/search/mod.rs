//! Search by meaning, and hybrid search: the text ranking and the vector ranking fused by
//! reciprocal rank fusion. The vector ranking picks candidates from the user's in-process
//! index by Hamming distance of sign bits, then ranks them exactly by the cosine of their
//! stored byte vectors. Nothing here grows with the collection but the index scan, a few
//! nanoseconds per snippet.

mod fusion;
mod hamming;
mod index;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use moka::future::Cache as AsyncCache;
use moka::sync::Cache;

use self::fusion::fuse;
use self::index::UserIndex;
use super::{ServiceError, ServiceResult};
use pieces_embeddings::{vector, EmbedError, SharedEmbedder, Urgency};
use pieces_model::bounds::SEARCH_TOTAL_CAP;
use pieces_model::{ListFilter, Listed, SearchMode};
use pieces_store::{EmbeddingStore, SnippetStore, StoreError};
use pieces_upstream::UpstreamError;

/// Entries read from the store per round when building or catching up an index.
const INDEX_PAGE: i64 = 20_000;
/// An index is rebuilt this often, dropping the entries of deleted snippets. The rebuild runs
/// behind the searches, which use the old copy until the new one is swapped in.
const REBUILD_AFTER: Duration = Duration::from_secs(600);
/// The index of a user who has not searched for this long is dropped.
const DROP_IDLE_AFTER: Duration = Duration::from_secs(1_800);
/// Candidates ranked exactly per result wanted, and at least this many.
const CANDIDATES_PER_RESULT: usize = 2;
const MIN_CANDIDATES: usize = 100;
/// How deep each ranking of a search by meaning goes: the text ranking's newest 100 matches
/// and the 100 nearest are fused, whatever page is asked, so every page of one search is a
/// slice of one ranking with one total (a window that grew with the page asked made the
/// total, and the order, change from page to page).
const DEPTH: i64 = 100;
/// Queries whose vectors are kept: a person pages through the same search.
const QUERY_CACHE: u64 = 4_096;
/// Workspaces' indexes asked at once by a search over several: each may be built or read
/// from the store, and all of them at once would take every connection.
const INDEXES_AT_ONCE: usize = 4;

pub struct SearchDeps {
    pub embedder: SharedEmbedder,
    pub embeddings: Arc<dyn EmbeddingStore>,
    pub snippets: Arc<dyn SnippetStore>,
    /// Below this cosine similarity a snippet is not a semantic match.
    pub min_similarity: f32,
    /// Bytes the users' indexes may hold together; the least recently searched go first.
    pub index_max_bytes: u64,
}

/// One page of a search, as the listing answers it.
pub struct SearchPage {
    pub snippets: Vec<Listed>,
    pub total: i64,
    pub total_capped: bool,
    /// How it was ranked: hybrid falls back to text when the provider cannot embed the query.
    pub mode: SearchMode,
}

type SharedIndex = Arc<RwLock<UserIndex>>;

pub struct SearchService {
    deps: SearchDeps,
    indexes: AsyncCache<String, SharedIndex>,
    queries: Cache<String, Arc<Vec<f32>>>,
}

impl SearchService {
    pub fn new(deps: SearchDeps) -> Self {
        let indexes = AsyncCache::builder()
            .max_capacity(deps.index_max_bytes)
            .weigher(|_: &String, index: &SharedIndex| {
                index.read().map(|i| i.weight()).unwrap_or(1)
            })
            .time_to_idle(DROP_IDLE_AFTER)
            .build();
        Self {
            deps,
            indexes,
            queries: Cache::new(QUERY_CACHE),
        }
    }

    pub fn model_id(&self) -> &str {
        self.deps.embedder.model_id()
    }

    /// One page of a `semantic` or `hybrid` search. The ranking is the same for every page:
    /// hybrid fuses the text ranking's first `DEPTH` ids with the `DEPTH` nearest, then
    /// goes on with the rest of the text matches (up to the cap); semantic is the `DEPTH`
    /// nearest. Only ids are read for the rankings, and rows only for the page.
    /// Over several workspaces (`keys`), both rankings span them all: the text one newest
    /// first across them, the vector one by similarity across their indexes.
    pub async fn page(&self, keys: &[String], filter: &ListFilter) -> ServiceResult<SearchPage> {
        let query = filter.query.as_deref().unwrap_or_default();
        let hybrid = filter.mode == SearchMode::Hybrid;
        let text_window = ListFilter {
            limit: DEPTH,
            offset: 0,
            mode: SearchMode::Text,
            ..filter.clone()
        };
        // The two legs side by side: a hybrid search costs its slower leg, not their sum.
        let text_leg = async {
            if hybrid {
                self.deps.snippets.matching_ids(keys, &text_window).await
            } else {
                Ok((Vec::new(), 0))
            }
        };
        let (texts, nearest) = tokio::join!(text_leg, self.nearest_in(keys, query, DEPTH as usize));
        let (texts, counted) = texts?;
        let nearest = match nearest {
            Ok(nearest) => nearest,
            Err(e) if hybrid => {
                tracing::warn!(error = %e, "cannot rank by meaning; answering by text alone");
                return self.text_only(keys, filter).await;
            }
            Err(e) => return Err(e),
        };
        let ranked_deep = nearest.len() as i64 == DEPTH;
        let mut vector: Vec<String> = nearest.into_iter().map(|(id, _)| id).collect();
        if filter.language.is_some() || filter.tag.is_some() {
            let narrowed = ListFilter {
                query: None,
                ..filter.clone()
            };
            let kept: HashSet<String> = self
                .deps
                .snippets
                .matching_among(keys, &narrowed, &vector)
                .await?
                .into_iter()
                .collect();
            vector.retain(|id| kept.contains(id));
        }
        let in_window: HashSet<&str> = texts.iter().map(String::as_str).collect();
        let beyond: Vec<String> = vector
            .iter()
            .filter(|id| !in_window.contains(id.as_str()))
            .cloned()
            .collect();
        // Nearest ones that also match the text past its window are counted (and ranked)
        // once, in the fused part.
        let text_past_window: HashSet<String> = if hybrid && counted > DEPTH {
            let among = self.deps.snippets.matching_among(keys, filter, &beyond);
            among.await?.into_iter().collect()
        } else {
            HashSet::new()
        };
        let text_order: Vec<&str> = texts.iter().map(String::as_str).collect();
        let vector_order: Vec<&str> = vector.iter().map(String::as_str).collect();
        let fused: Vec<String> = fuse(&text_order, &vector_order)
            .into_iter()
            .map(str::to_owned)
            .collect();
        let semantic_only = (beyond.len() - text_past_window.len()) as i64;
        let (total, total_capped) = if hybrid {
            let matched = counted.min(SEARCH_TOTAL_CAP + 1) + semantic_only;
            (matched.min(SEARCH_TOTAL_CAP), matched > SEARCH_TOTAL_CAP)
        } else {
            (vector.len() as i64, ranked_deep)
        };
        let (start, end) = (filter.offset, (filter.offset + filter.limit).min(total));
        if start >= end {
            return Ok(SearchPage {
                snippets: Vec::new(),
                total,
                total_capped,
                mode: filter.mode,
            });
        }
        let mut page_ids: Vec<String> = fused
            .iter()
            .skip(start as usize)
            .take((end - start).max(0) as usize)
            .cloned()
            .collect();
        let fused_len = fused.len() as i64;
        if hybrid && end > fused_len && counted > DEPTH {
            // The page reaches past the fused part, into the text matches past the window.
            let tail_from = start.max(fused_len) - fused_len;
            let wanted = end - start.max(fused_len);
            let past = ListFilter {
                offset: DEPTH,
                limit: (tail_from + wanted + text_past_window.len() as i64).min(SEARCH_TOTAL_CAP),
                ..text_window
            };
            let (tail, _) = self.deps.snippets.matching_ids(keys, &past).await?;
            page_ids.extend(
                tail.into_iter()
                    .filter(|id| !text_past_window.contains(id))
                    .skip(tail_from as usize)
                    .take(wanted as usize),
            );
        }
        Ok(SearchPage {
            snippets: self.rows_in_order(keys, page_ids).await?,
            total,
            total_capped,
            mode: filter.mode,
        })
    }

    /// The page by text alone, when the query cannot be ranked by meaning.
    async fn text_only(&self, keys: &[String], filter: &ListFilter) -> ServiceResult<SearchPage> {
        let text = ListFilter {
            mode: SearchMode::Text,
            ..filter.clone()
        };
        let (snippets, counted) = self.deps.snippets.list_snippets(keys, &text).await?;
        Ok(SearchPage {
            snippets,
            total: counted.min(SEARCH_TOTAL_CAP),
            total_capped: counted > SEARCH_TOTAL_CAP,
            mode: SearchMode::Text,
        })
    }

    /// The snippets of `ids` in that order, as a page holds them; one deleted in between is
    /// left out.
    async fn rows_in_order(&self, keys: &[String], ids: Vec<String>) -> ServiceResult<Vec<Listed>> {
        let rows = self.deps.snippets.listed_by_ids(keys, &ids).await?;
        let mut rows: HashMap<String, Listed> =
            rows.into_iter().map(|r| (r.id().to_owned(), r)).collect();
        Ok(ids.into_iter().filter_map(|id| rows.remove(&id)).collect())
    }

    /// The ids of the user's snippets most relevant to `query` by both rankings, best first
    /// (for ai-assist): the text ranking is any word by relevance, as ai-assist has always
    /// matched.
    pub async fn relevant(
        &self,
        user: &str,
        query: &str,
        limit: i64,
    ) -> ServiceResult<Vec<String>> {
        let window = (limit * 4).max(20);
        let (texts, nearest) = tokio::join!(
            self.deps.snippets.relevant_ids(user, query, window),
            self.nearest(user, query, window as usize)
        );
        let texts = texts?;
        let nearest = match nearest {
            Ok(nearest) => nearest,
            Err(e) => {
                tracing::warn!(error = %e, "cannot rank by meaning; choosing by text alone");
                return Ok(texts.into_iter().take(limit as usize).collect());
            }
        };
        let text_order: Vec<&str> = texts.iter().map(String::as_str).collect();
        let vector_order: Vec<&str> = nearest.iter().map(|(id, _)| id.as_str()).collect();
        Ok(fuse(&text_order, &vector_order)
            .into_iter()
            .take(limit as usize)
            .map(str::to_owned)
            .collect())
    }

    /// Up to `count` of the snippets of the workspaces `keys` nearest in meaning to `query`,
    /// nearest first across them all (cosine similarities of one model compare).
    async fn nearest_in(
        &self,
        keys: &[String],
        query: &str,
        count: usize,
    ) -> ServiceResult<Vec<(String, f32)>> {
        // A few workspaces' indexes are asked at once, once the query is embedded (and
        // cached), so it is embedded once, not once per workspace.
        if keys.len() > 1 {
            self.query_vector(query).await?;
        }
        let mut all = Vec::new();
        for some in keys.chunks(INDEXES_AT_ONCE) {
            let each = some.iter().map(|key| self.nearest(key, query, count));
            for nearest in futures_util::future::join_all(each).await {
                all.extend(nearest?);
            }
        }
        if keys.len() > 1 {
            all.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
            all.truncate(count);
        }
        Ok(all)
    }

    /// Up to `count` of the user's snippets nearest in meaning to `query`, with their cosine
    /// similarity, nearest first; only those at or above the minimum similarity.
    pub async fn nearest(
        &self,
        user: &str,
        query: &str,
        count: usize,
    ) -> ServiceResult<Vec<(String, f32)>> {
        let query_vector = self.query_vector(query).await?;
        let index = self.index(user).await?;
        let bits = vector::sign_bits(&query_vector);
        let wanted = (count * CANDIDATES_PER_RESULT).max(MIN_CANDIDATES);
        let candidates: Vec<String> = index
            .read()
            .map(|i| i.candidates(&bits, wanted))
            .unwrap_or_default()
            .iter()
            .map(|id| id.to_string())
            .collect();
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let vectors = self
            .deps
            .embeddings
            .vectors(user, self.model_id(), &candidates)
            .await?;
        let mut scored: Vec<(String, f32)> = vectors
            .into_iter()
            .map(|(id, v)| {
                let score = vector::cosine(&query_vector, &v);
                (id, score)
            })
            .filter(|(_, score)| *score >= self.deps.min_similarity)
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
        scored.truncate(count);
        Ok(scored)
    }

    async fn query_vector(&self, query: &str) -> ServiceResult<Arc<Vec<f32>>> {
        if let Some(cached) = self.queries.get(query) {
            return Ok(cached);
        }
        let mut vectors = self
            .deps
            .embedder
            .embed(vec![query.to_owned()], Urgency::Query)
            .await
            .map_err(provider_error)?;
        let vector = Arc::new(vectors.pop().unwrap_or_default());
        self.queries.insert(query.to_owned(), Arc::clone(&vector));
        Ok(vector)
    }

    /// The user's index, built on first use and brought up to date with the store.
    async fn index(&self, user: &str) -> ServiceResult<SharedIndex> {
        let store = self.deps.embeddings.as_ref();
        let index = self
            .indexes
            .try_get_with(user.to_owned(), async {
                let index = SharedIndex::default();
                catch_up(store, self.model_id(), user, &index).await?;
                Ok::<_, StoreError>(index)
            })
            .await
            .map_err(|e| ServiceError::Store((*e).clone()))?;
        catch_up(store, self.model_id(), user, &index).await?;
        if index
            .write()
            .is_ok_and(|mut i| i.claim_rebuild(REBUILD_AFTER))
        {
            self.rebuild_behind(user, &index);
        }
        Ok(index)
    }

    /// Builds a fresh copy of the user's index on its own task and swaps it in.
    fn rebuild_behind(&self, user: &str, index: &SharedIndex) {
        let store = Arc::clone(&self.deps.embeddings);
        let model = self.model_id().to_owned();
        let user = user.to_owned();
        let index = Arc::clone(index);
        tokio::spawn(async move {
            let fresh = SharedIndex::default();
            match catch_up(store.as_ref(), &model, &user, &fresh).await {
                Ok(()) => {
                    if let (Ok(mut old), Ok(mut fresh)) = (index.write(), fresh.write()) {
                        // Anything newer than the fresh copy is read by the next catch-up.
                        std::mem::swap(&mut *old, &mut *fresh);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "rebuilding a search index failed; keeping the old one");
                    if let Ok(mut old) = index.write() {
                        old.rebuild_failed();
                    }
                }
            }
        });
    }
}

/// Applies the embeddings written since the index's last; no lock is held while the store is
/// read.
async fn catch_up(
    store: &dyn EmbeddingStore,
    model: &str,
    user: &str,
    index: &SharedIndex,
) -> Result<(), StoreError> {
    loop {
        let after = index.read().map(|i| i.last_seq).unwrap_or(i64::MAX);
        let entries = store.index_entries(user, model, after, INDEX_PAGE).await?;
        if entries.is_empty() {
            return Ok(());
        }
        let full = entries.len() as i64 == INDEX_PAGE;
        if let Ok(mut index) = index.write() {
            // Another search may have applied some meanwhile; `apply` skips those.
            index.apply(entries);
        }
        if !full {
            return Ok(());
        }
    }
}

/// A query that cannot be embedded is the provider's trouble, answered as such.
fn provider_error(e: EmbedError) -> ServiceError {
    const NAME: &str = "embedding provider";
    tracing::warn!(error = %e, "embedding a query failed");
    ServiceError::Upstream(match e {
        EmbedError::Timeout => UpstreamError::Timeout(NAME),
        EmbedError::Unreachable | EmbedError::Model(_) => UpstreamError::Unreachable(NAME),
        EmbedError::Status(code) => UpstreamError::Status(NAME, code),
        EmbedError::Malformed(_) => UpstreamError::Malformed(NAME),
    })
}
