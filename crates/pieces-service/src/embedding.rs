//! Keeps every snippet's embedding current. A change records an `embedding` event in its
//! transaction and the outbox worker calls `embed_snippets` after the commit, so a save
//! never waits for a model; at start-up `backfill` embeds what has none by the configured
//! model (snippets saved before embeddings were configured, or under another model), in
//! bounded batches. A provider outage only delays embeddings: text search goes on.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use pieces_embeddings::{content_hash, snippet_text, vector, EmbedError, SharedEmbedder, Urgency};
use pieces_metrics::Metrics;
use pieces_store::{EmbeddingStore, NewEmbedding, SnippetStore, StoreError};

/// Snippets embedded per round of the backfill: small enough that a round is a fraction of
/// a second of the model's time, so a shutdown or a burst of edits never waits long.
const BACKFILL_BATCH: i64 = 16;
/// A batch that fails this many times in a row is skipped until the next start.
const BACKFILL_TRIES: u32 = 5;
/// How often the backlog gauge is recounted while there is work.
const RECOUNT_EVERY: Duration = Duration::from_secs(2);
/// How often the backfill reports its progress in the log.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum EmbeddingFailure {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Provider(#[from] EmbedError),
}

pub struct EmbeddingDeps {
    pub embedder: SharedEmbedder,
    pub embeddings: Arc<dyn EmbeddingStore>,
    pub snippets: Arc<dyn SnippetStore>,
    pub metrics: Arc<Metrics>,
}

pub struct EmbeddingService {
    deps: EmbeddingDeps,
    /// Set when embeddings may have changed since the gauge was last counted (the backfill
    /// counts first, at start-up).
    dirty: AtomicBool,
}

impl EmbeddingService {
    pub fn new(deps: EmbeddingDeps) -> Self {
        Self {
            deps,
            dirty: AtomicBool::new(false),
        }
    }

    pub fn model_id(&self) -> &str {
        self.deps.embedder.model_id()
    }

    /// A change was recorded that will be embedded: the backlog is worth counting again.
    pub fn changed(&self) {
        self.dirty.store(true, Ordering::Relaxed);
    }

    /// `count` snippets were committed without an embedding: the gauge says so at once, not
    /// when the next count runs (a client or an alert reading it would see "done" first).
    pub fn created(&self, count: usize) {
        self.deps
            .metrics
            .embeddings_backlog
            .add(i64::try_from(count).unwrap_or(i64::MAX));
        self.changed();
    }

    /// `count` snippets that had no embedding have one now.
    fn embedded_first_time(&self, count: usize) {
        let gauge = &self.deps.metrics.embeddings_backlog;
        let left = gauge.get() - i64::try_from(count).unwrap_or(i64::MAX);
        gauge.set(left.max(0));
    }

    /// Embeds the user's snippets among `ids` whose embedded text changed (or that have none
    /// by this model); returns how many were embedded. Gone snippets are skipped.
    pub async fn embed_snippets(
        &self,
        user: &str,
        ids: &[String],
    ) -> Result<usize, EmbeddingFailure> {
        self.changed();
        let model = self.model_id();
        let snippets = self.deps.snippets.get_snippets(user, ids).await?;
        let known = self.deps.embeddings.content_hashes(model, ids).await?;
        let mut pending = Vec::new();
        let mut first_time = 0;
        for snippet in snippets {
            let text = snippet_text(&snippet);
            let hash = content_hash(&text);
            if known.get(&snippet.id) == Some(&hash) {
                self.count("unchanged", 1);
                continue;
            }
            first_time += usize::from(!known.contains_key(&snippet.id));
            pending.push((snippet.id, hash, text));
        }
        if pending.is_empty() {
            return Ok(0);
        }
        let texts = pending.iter().map(|(_, _, text)| text.clone()).collect();
        let vectors = match self.deps.embedder.embed(texts, Urgency::Background).await {
            Ok(vectors) => vectors,
            Err(e) => {
                self.count("failed", pending.len());
                return Err(e.into());
            }
        };
        let rows: Vec<NewEmbedding> = pending
            .into_iter()
            .zip(vectors)
            .map(|((snippet_id, content_hash, _), v)| NewEmbedding {
                snippet_id,
                user_id: user.to_owned(),
                content_hash,
                signs: vector::sign_bits(&v),
                vector: vector::to_bytes(&v),
            })
            .collect();
        self.deps.embeddings.put_embeddings(model, &rows).await?;
        self.count("embedded", rows.len());
        self.embedded_first_time(first_time);
        Ok(rows.len())
    }

    /// Embeds every snippet that has no embedding by the configured model, a batch at a
    /// time, until none is left or `shutdown`.
    pub async fn backfill(&self, shutdown: &CancellationToken) {
        // Most starts find nothing to do: two counts say so without probing every snippet.
        // This first count also sets the gauge; the recount loop takes over from here.
        match self.deps.embeddings.backlog(self.model_id()).await {
            Ok(left) if left <= 0 => {
                self.deps.metrics.embeddings_backlog.set(0);
                return;
            }
            Ok(left) => self.deps.metrics.embeddings_backlog.set(left),
            Err(_) => {}
        }
        self.changed();
        let started = Instant::now();
        let mut reported = Instant::now();
        let mut cursor = String::new();
        let mut embedded = 0usize;
        let mut tries = 0u32;
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            let batch = match self
                .deps
                .embeddings
                .unembedded(self.model_id(), &cursor, BACKFILL_BATCH)
                .await
            {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::warn!(error = %e, "embedding backfill cannot read the store; retrying");
                    if pause(shutdown, Duration::from_secs(5)).await {
                        return;
                    }
                    continue;
                }
            };
            let Some((_, last)) = batch.last() else {
                break;
            };
            let last = last.clone();
            match self.embed_batch(batch).await {
                Ok(n) => {
                    embedded += n;
                    tries = 0;
                    cursor = last;
                }
                Err(e) => {
                    tries += 1;
                    if tries >= BACKFILL_TRIES {
                        tracing::error!(error = %e, after = %cursor,
                            "cannot embed a batch of snippets; skipping it until the next start");
                        tries = 0;
                        cursor = last;
                    } else {
                        tracing::warn!(error = %e, "embedding backfill failed; retrying");
                        let wait = Duration::from_secs(2u64 << tries.min(5));
                        if pause(shutdown, wait).await {
                            return;
                        }
                    }
                }
            }
            if reported.elapsed() >= PROGRESS_EVERY {
                reported = Instant::now();
                let left = self.deps.metrics.embeddings_backlog.get();
                tracing::info!(embedded, left, "embedding existing snippets");
            }
        }
        if embedded > 0 {
            tracing::info!(
                embedded,
                seconds = started.elapsed().as_secs_f32(),
                model = self.model_id(),
                "embedded the snippets that had no embedding"
            );
        }
    }

    async fn embed_batch(&self, batch: Vec<(String, String)>) -> Result<usize, EmbeddingFailure> {
        let mut by_user: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (user, id) in batch {
            by_user.entry(user).or_default().push(id);
        }
        let mut embedded = 0;
        for (user, ids) in by_user {
            embedded += self.embed_snippets(&user, &ids).await?;
        }
        Ok(embedded)
    }

    /// Recounts the backlog gauge every few seconds while embeddings are changing.
    pub async fn keep_backlog_counted(&self, shutdown: CancellationToken) {
        loop {
            if self.dirty.swap(false, Ordering::Relaxed) {
                match self.deps.embeddings.backlog(self.model_id()).await {
                    Ok(n) => {
                        self.deps.metrics.embeddings_backlog.set(n.max(0));
                        if n > 0 {
                            self.changed();
                        }
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "cannot count the embedding backlog");
                        self.changed();
                    }
                }
            }
            if pause(&shutdown, RECOUNT_EVERY).await {
                return;
            }
        }
    }

    fn count(&self, outcome: &str, n: usize) {
        self.deps
            .metrics
            .embeddings
            .with_label_values(&[outcome])
            .inc_by(n as u64);
    }
}

/// Sleeps for `wait`; true when `shutdown` came first.
async fn pause(shutdown: &CancellationToken, wait: Duration) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => true,
        _ = tokio::time::sleep(wait) => false,
    }
}
