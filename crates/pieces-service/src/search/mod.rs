//! Search by meaning, and hybrid search: the text ranking and the vector ranking fused by
//! reciprocal rank fusion. The vector ranking picks candidates from the user's in-process
//! index by Hamming distance of sign bits, then ranks them exactly by the cosine of their
//! stored byte vectors. Nothing here grows with the collection but the index scan, a few
//! nanoseconds per snippet.

mod fusion;
mod hamming;
mod index;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use moka::future::Cache as AsyncCache;
use moka::notification::RemovalCause;
use moka::sync::Cache;
use tokio_util::sync::CancellationToken;

pub(crate) use self::fusion::fuse;
use self::index::UserIndex;
use super::{ServiceError, ServiceResult};
use pieces_embeddings::{vector, EmbedError, SharedEmbedder, Urgency};
use pieces_metrics::Metrics;
use pieces_model::bounds::SEARCH_TOTAL_CAP;
use pieces_model::bus::{ChangeFeed, FeedMessage};
use pieces_model::{ListFilter, Listed, SearchMode, Snippet};
use pieces_store::{EmbeddingStore, SnippetStore, StoreError, TextRanking};
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
/// Changed snippets waiting to be checked for deletion (each an id and a workspace key).
const REMOVAL_CHECKS: usize = 4_096;

pub struct SearchDeps {
    pub embedder: SharedEmbedder,
    pub embeddings: Arc<dyn EmbeddingStore>,
    pub snippets: Arc<dyn SnippetStore>,
    /// Below this cosine similarity a snippet is not a semantic match.
    pub min_similarity: f32,
    /// Bytes the users' indexes may hold together; the least recently searched go first.
    pub index_max_bytes: u64,
    /// Which snippets are relevant enough to go along with a question to an AI provider.
    pub relevance: RelevanceFloor,
    pub metrics: Arc<Metrics>,
}

/// The relevance floor of ai-assist's context: a snippet goes along with a question when its
/// meaning is at least `min_similarity` close to the question's (cosine), and not much
/// further than the closest one's: a clear best answer is sent alone, several about as close
/// are sent together.
#[derive(Debug, Clone, Copy)]
pub struct RelevanceFloor {
    pub min_similarity: f32,
    pub within_best: f32,
}

impl RelevanceFloor {
    /// How much less close than the closest candidate a snippet may be and still be sent
    /// (`benches/relevance.py --assist`: README, "What ai-assist sends").
    const WITHIN_BEST: f32 = 0.05;

    pub fn at(min_similarity: f32) -> Self {
        Self {
            min_similarity,
            within_best: Self::WITHIN_BEST,
        }
    }

    fn admits(&self, similarity: f32, best: f32) -> bool {
        similarity >= self.min_similarity && similarity >= best - self.within_best
    }
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
    /// When the resident bytes were last counted, in milliseconds since `started` (0: never).
    counted_at: AtomicU64,
    started: Instant,
}

impl SearchService {
    pub fn new(deps: SearchDeps) -> Self {
        let evictions = deps.metrics.vector_index_evictions.clone();
        let indexes = AsyncCache::builder()
            .max_capacity(deps.index_max_bytes)
            .weigher(|_: &String, index: &SharedIndex| {
                index.read().map(|i| i.weight()).unwrap_or(1)
            })
            .time_to_idle(DROP_IDLE_AFTER)
            .eviction_listener(move |_, _, cause| {
                let reason = match cause {
                    RemovalCause::Size => "size",
                    RemovalCause::Expired => "idle",
                    RemovalCause::Explicit | RemovalCause::Replaced => return,
                };
                evictions.with_label_values(&[reason]).inc();
            })
            .build();
        Self {
            deps,
            indexes,
            queries: Cache::new(QUERY_CACHE),
            counted_at: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    pub fn model_id(&self) -> &str {
        self.deps.embedder.model_id()
    }

    /// Follows the change bus until `stop`: a snippet that changed in a workspace whose index
    /// this replica holds, and whose embedding is gone (it was deleted), leaves the index at
    /// once, on every replica the bus reaches. Checks wait in a bounded queue; one that finds
    /// it full is dropped, and the index's next rebuild forgets that snippet instead.
    pub async fn follow(self: Arc<Self>, feed: ChangeFeed, stop: CancellationToken) {
        let (checks, mut queued) =
            tokio::sync::mpsc::channel::<(Arc<str>, Arc<str>)>(REMOVAL_CHECKS);
        let checking = Arc::clone(&self);
        let worker = tokio::spawn(async move {
            while let Some((key, id)) = queued.recv().await {
                checking.forget_if_deleted(&key, &id).await;
            }
        });
        feed.follow(stop, |message| {
            if let FeedMessage::Changed {
                user,
                subject: Some(id),
                ..
            } = message
            {
                let _ = checks.try_send((user, id));
            }
        })
        .await;
        drop(checks);
        let _ = worker.await;
    }

    /// Removes snippet `id` from workspace `key`'s index if the index holds it and the store
    /// holds no embedding of it any more.
    async fn forget_if_deleted(&self, key: &str, id: &str) {
        let Some(index) = self.indexes.get(key).await else {
            return;
        };
        if !index.read().is_ok_and(|i| i.contains(id)) {
            return;
        }
        let ids = [id.to_owned()];
        match self
            .deps
            .embeddings
            .vectors(key, self.model_id(), &ids)
            .await
        {
            Ok(found) if found.is_empty() => {
                if index.write().is_ok_and(|mut i| i.remove(id)) {
                    self.deps.metrics.vector_index_removals.inc();
                }
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "cannot tell whether an indexed snippet went"),
        }
    }

    /// Sets the gauge of the bytes the indexes hold now (each as `weight` counts it, growth
    /// since it was built included), at most once a second: it reads every index.
    fn count_resident(&self) {
        let now = self.started.elapsed().as_millis() as u64;
        let last = self.counted_at.load(Ordering::Relaxed);
        if now.saturating_sub(last) < 1_000 && last != 0 {
            return;
        }
        if self
            .counted_at
            .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        let bytes: u64 = self
            .indexes
            .iter()
            .map(|(_, index)| index.read().map_or(0, |i| u64::from(i.weight())))
            .sum();
        self.deps
            .metrics
            .vector_index_bytes
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
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
        let text = ListFilter {
            mode: SearchMode::Text,
            ..filter.clone()
        };
        // The two legs side by side: a hybrid search costs its slower leg, not their sum.
        let text_leg = async {
            if hybrid {
                self.deps.snippets.text_ranking(keys, &text, DEPTH).await
            } else {
                Ok(TextRanking::default())
            }
        };
        let (ranking, nearest) =
            tokio::join!(text_leg, self.nearest_in(keys, query, DEPTH as usize));
        let ranking = ranking?;
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
        let counted = ranking.counted;
        let in_window: HashSet<&str> = ranking.window.iter().map(String::as_str).collect();
        let beyond: Vec<String> = vector
            .iter()
            .filter(|id| !in_window.contains(id.as_str()))
            .cloned()
            .collect();
        let text_order: Vec<&str> = ranking.window.iter().map(String::as_str).collect();
        let vector_order: Vec<&str> = vector.iter().map(String::as_str).collect();
        let fused: Vec<String> = fuse(&text_order, &vector_order)
            .into_iter()
            .map(str::to_owned)
            .collect();
        let fused_len = fused.len() as i64;
        // The nearest ones past the text window that also match the text are counted (and
        // ranked) once, in the fused part. They change the total only while the text matches
        // are under the cap (past it the total is the cap), and the order only of a page
        // reaching past the fused part. A store that read every match answers them at once.
        let past_window = hybrid && counted > DEPTH;
        let reaches_tail = past_window && filter.offset + filter.limit > fused_len;
        let asked = past_window && (counted <= SEARCH_TOTAL_CAP || reaches_tail);
        let also_text = async {
            match &ranking.past {
                Some(past) => {
                    let past: HashSet<&str> = past.iter().map(String::as_str).collect();
                    let among = beyond.iter().filter(|id| past.contains(id.as_str()));
                    Ok::<_, ServiceError>(among.cloned().collect())
                }
                None if asked => {
                    let among = self.deps.snippets.matching_among(keys, &text, &beyond);
                    Ok(among.await?.into_iter().collect())
                }
                None => Ok(HashSet::new()),
            }
        };
        if reaches_tail {
            let also_text: HashSet<String> = also_text.await?;
            let (total, total_capped) = hybrid_total(counted, beyond.len(), also_text.len());
            let page_ids = self
                .fused_then_tail(keys, &text, &fused, ranking.past, &also_text, total)
                .await?;
            return Ok(SearchPage {
                snippets: self.rows_in_order(keys, page_ids).await?,
                total,
                total_capped,
                mode: filter.mode,
            });
        }
        // The page lies within the fused part: its rows are read while the matches past the
        // text window are sorted out.
        let page_ids = slice(&fused, filter.offset, filter.offset + filter.limit);
        let (rows, also_text) = tokio::join!(self.rows_in_order(keys, page_ids), also_text);
        let (rows, also_text) = (rows?, also_text?);
        let (total, total_capped) = if hybrid {
            hybrid_total(counted, beyond.len(), also_text.len())
        } else {
            (vector.len() as i64, ranked_deep)
        };
        Ok(SearchPage {
            snippets: rows,
            total,
            total_capped,
            mode: filter.mode,
        })
    }

    /// The ids of a hybrid page that reaches past the fused part: the fused part's, then the
    /// text matches past the window that are not in the fused part, newest first (`past`
    /// when the store read them, else read now).
    async fn fused_then_tail(
        &self,
        keys: &[String],
        text: &ListFilter,
        fused: &[String],
        past: Option<Vec<String>>,
        also_text: &HashSet<String>,
        total: i64,
    ) -> ServiceResult<Vec<String>> {
        let fused_len = fused.len() as i64;
        let (start, end) = (text.offset, (text.offset + text.limit).min(total));
        if start >= end {
            return Ok(Vec::new());
        }
        let mut page_ids = slice(fused, start, end);
        let tail_from = start.max(fused_len) - fused_len;
        let wanted = end - start.max(fused_len);
        let tail = match past {
            Some(past) => past,
            None => {
                let past = ListFilter {
                    offset: DEPTH,
                    limit: (tail_from + wanted + also_text.len() as i64).min(SEARCH_TOTAL_CAP),
                    ..text.clone()
                };
                self.deps.snippets.matching_ids(keys, &past).await?.0
            }
        };
        page_ids.extend(
            tail.into_iter()
                .filter(|id| !also_text.contains(id))
                .skip(tail_from as usize)
                .take(wanted as usize),
        );
        Ok(page_ids)
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

    /// The ids of the user's snippets relevant enough to `query` to be sent along with it to
    /// an AI provider, closest in meaning first, at most `limit`. The candidates are the text
    /// ranking's (any word, by relevance) and the nearest in meaning; one is relevant when its
    /// meaning is close to the question's (`RelevanceFloor`), so a question about something
    /// never saved gets none rather than the closest of unrelated ones.
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
        let mut similarity: HashMap<String, f32> = nearest.iter().cloned().collect();
        let unscored: Vec<String> = texts
            .iter()
            .filter(|id| !similarity.contains_key(*id))
            .cloned()
            .collect();
        similarity.extend(self.similarities(user, query, &unscored).await?);
        let mut candidates: Vec<(String, f32)> = similarity.into_iter().collect();
        candidates.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
        let best = candidates.first().map_or(f32::MIN, |(_, s)| *s);
        let floor = &self.deps.relevance;
        let chosen: Vec<String> = candidates
            .iter()
            .take_while(|(_, s)| floor.admits(*s, best))
            .take(limit as usize)
            .map(|(id, _)| id.clone())
            .collect();
        // Why a snippet was or was not sent: each candidate's similarity and text rank.
        tracing::debug!(
            query,
            candidates = ?candidates
                .iter()
                .map(|(id, s)| (id, s, texts.iter().position(|t| t == id)))
                .collect::<Vec<_>>(),
            chosen = ?chosen,
            "context candidates for a question"
        );
        Ok(chosen)
    }

    /// The cosine similarity to `query` of each of the user's snippets `ids` that has a vector.
    async fn similarities(
        &self,
        user: &str,
        query: &str,
        ids: &[String],
    ) -> ServiceResult<Vec<(String, f32)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let query_vector = self.query_vector(query).await?;
        let vectors = self
            .deps
            .embeddings
            .vectors(user, self.model_id(), ids)
            .await?;
        Ok(vectors
            .into_iter()
            .map(|(id, v)| {
                let score = vector::cosine(&query_vector, &v);
                (id, score)
            })
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
        self.nearest_to(user, &query_vector, count).await
    }

    /// Up to `count` of the snippets of workspace `key` nearest in meaning to snippet
    /// `snippet` (itself left out), with their cosine similarity, nearest first: by its
    /// stored vector, or, before it has one, by its text embedded now.
    pub async fn neighbours(
        &self,
        key: &str,
        snippet: &Snippet,
        count: usize,
    ) -> ServiceResult<Vec<(String, f32)>> {
        let ids = [snippet.id.clone()];
        let stored = self
            .deps
            .embeddings
            .vectors(key, self.model_id(), &ids)
            .await?;
        let vector = match stored.into_iter().next() {
            Some((_, stored)) => {
                let mut vector: Vec<f32> = stored.iter().map(|x| f32::from(*x)).collect();
                vector::normalize(&mut vector);
                vector
            }
            None => {
                let text = pieces_embeddings::snippet_text(snippet);
                let mut vectors = self
                    .deps
                    .embedder
                    .embed(vec![text], Urgency::Query)
                    .await
                    .map_err(provider_error)?;
                vectors.pop().unwrap_or_default()
            }
        };
        let mut nearest = self.nearest_to(key, &vector, count + 1).await?;
        nearest.retain(|(id, _)| *id != snippet.id);
        nearest.truncate(count);
        Ok(nearest)
    }

    /// Up to `count` of the snippets of `user`'s index nearest to `query_vector`.
    async fn nearest_to(
        &self,
        user: &str,
        query_vector: &[f32],
        count: usize,
    ) -> ServiceResult<Vec<(String, f32)>> {
        let index = self.index(user).await?;
        let bits = vector::sign_bits(query_vector);
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
                let score = vector::cosine(query_vector, &v);
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
        self.count_resident();
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

/// The ids of `fused` from `start` to `end`, as far as it goes.
fn slice(fused: &[String], start: i64, end: i64) -> Vec<String> {
    let skip = usize::try_from(start).unwrap_or(0);
    let take = usize::try_from(end - start).unwrap_or(0);
    fused.iter().skip(skip).take(take).cloned().collect()
}

/// A hybrid search's total: the text matches (up to the cap and one more) and the nearest
/// past the text window that do not also match the text; at most the cap, and whether it
/// was passed.
fn hybrid_total(counted: i64, beyond: usize, beyond_matching_text: usize) -> (i64, bool) {
    let semantic_only = (beyond - beyond_matching_text) as i64;
    let matched = counted.min(SEARCH_TOTAL_CAP + 1) + semantic_only;
    (matched.min(SEARCH_TOTAL_CAP), matched > SEARCH_TOTAL_CAP)
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
