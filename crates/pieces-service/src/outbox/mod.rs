//! Delivers outbox events: claims due rows, posts them with their `Idempotency-Key`, deletes
//! them on success and retries with exponential backoff on failure. Events older than the
//! configured age are marked dead (kept and counted), never dropped.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use rand::Rng;
use serde::Deserialize;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::{CacheKeeper, EmbeddingFailure, EmbeddingService, OutboxSignal, SnippetService};
use pieces_metrics::Metrics;
use pieces_model::{PendingEvent, Target};
use pieces_store::{OutboxQueue, OutboxStats, StoreError};
use pieces_upstream::{CognitiveClient, DataPlatformClient, GatewayClient, UpstreamError};

/// Events claimed per round.
const BATCH: i64 = 32;
/// Deliveries in flight at once.
const IN_FLIGHT: usize = 64;
/// Bytes of payload in flight at once: a sync carries the whole snippet, up to a mebibyte of
/// code, so 64 of them would hold 64 MiB and their copies.
const IN_FLIGHT_BYTES: usize = 8 * 1024 * 1024;
/// How long a claimed event is reserved for its deliverer.
const LEASE: Duration = Duration::from_secs(120);
/// Longest wait between two tries of one event.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How often the backlog gauge is recounted from the table. Counting is a scan, so between
/// counts the gauge follows the deliveries this worker settles.
const BACKLOG_RECOUNT: Duration = Duration::from_secs(5);

pub struct WorkerConfig {
    pub poll_interval: Duration,
    pub max_age: Duration,
}

pub struct OutboxWorker {
    pub queue: Arc<dyn OutboxQueue>,
    /// Enrichment merges its analysis through the snippet use cases.
    pub snippets: Arc<SnippetService>,
    /// For cache drops that failed when their change was made.
    pub keeper: Arc<CacheKeeper>,
    pub metrics: Arc<Metrics>,
    pub data_platform: Option<DataPlatformClient>,
    pub gateway: Option<GatewayClient>,
    pub cognitive: Option<Arc<CognitiveClient>>,
    /// Embeds snippets after their change, when an embedding provider is configured.
    pub embeddings: Option<Arc<EmbeddingService>>,
    /// Woken when a use case records events, so delivery need not wait for the next poll;
    /// it also keeps the backlog gauge.
    pub signal: Arc<OutboxSignal>,
    pub config: WorkerConfig,
    /// When the backlog was last counted.
    pub last_count: std::sync::Mutex<Option<std::time::Instant>>,
}

/// The snippet an enrichment or embedding event is about.
#[derive(Deserialize)]
struct EnrichmentTask {
    user_id: String,
    snippet_id: String,
}

impl OutboxWorker {
    /// Runs until `shutdown` is cancelled, then waits up to `drain` for deliveries in flight.
    /// Each delivery runs on its own task, so one slow receiver never holds up the others.
    pub async fn run(self, shutdown: CancellationToken, drain: Duration) {
        let worker = Arc::new(self);
        let slots = Arc::new(Semaphore::new(IN_FLIGHT));
        let bytes = Arc::new(Semaphore::new(IN_FLIGHT_BYTES));
        loop {
            let claimed = match worker.dispatch(&slots, &bytes).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox round failed; will retry");
                    0
                }
            };
            worker.recount_backlog_when_due().await;
            if claimed > 0 && slots.available_permits() > 0 {
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                () = worker.signal.woken() => {}
                _ = tokio::time::sleep(worker.config.poll_interval) => {}
            }
        }
        // Deliveries cut short would wait out their lease; give them a moment to settle.
        let all = u32::try_from(IN_FLIGHT).unwrap_or(u32::MAX);
        let _ = tokio::time::timeout(drain, slots.acquire_many(all)).await;
    }

    /// Claims as many due events as there are free delivery slots and starts delivering them,
    /// each once its payload fits in the bytes in flight.
    async fn dispatch(
        self: &Arc<Self>,
        slots: &Arc<Semaphore>,
        bytes: &Arc<Semaphore>,
    ) -> Result<usize, StoreError> {
        let free = slots.available_permits().min(BATCH as usize);
        if free == 0 {
            return Ok(0);
        }
        let events = self.queue.claim_due(free as i64, LEASE).await?;
        let claimed = events.len();
        // Embeddings go together: one run of the model and one commit for the batch.
        let (embeddings, events): (Vec<_>, Vec<_>) = events
            .into_iter()
            .partition(|e| e.target == Target::Embedding && self.embeddings.is_some());
        if !embeddings.is_empty() {
            if let Ok(slot) = slots.clone().acquire_owned().await {
                let worker = Arc::clone(self);
                tokio::spawn(async move {
                    worker.settle_embeddings(embeddings).await;
                    drop(slot);
                });
            }
        }
        let mut events = events.into_iter();
        while let Some(event) = events.next() {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                break;
            };
            // Waiting here could outlast the claim's lease, and another deliverer would then
            // send the event (and the next of its key) meanwhile: what does not fit now is
            // given back, due again at once.
            let size = u32::try_from(event.size.clamp(1, IN_FLIGHT_BYTES)).unwrap_or(1);
            let Ok(share) = bytes.clone().try_acquire_many_owned(size) else {
                let unstarted: Vec<String> =
                    std::iter::once(event).chain(events).map(|e| e.id).collect();
                self.queue.release(&unstarted).await?;
                break;
            };
            let worker = Arc::clone(self);
            tokio::spawn(async move {
                worker.settle(event).await;
                drop((slot, share));
            });
        }
        Ok(claimed)
    }

    /// One unit of work: claims the events due now and settles each (delivered, or
    /// rescheduled). Returns how many were claimed; tests step the worker with it.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let events = self.queue.claim_due(BATCH, LEASE).await?;
        let claimed = events.len();
        futures_util::future::join_all(events.into_iter().map(|e| self.settle(e))).await;
        self.recount_backlog_when_due().await;
        Ok(claimed)
    }

    /// Recounts the backlog if the last count is older than `BACKLOG_RECOUNT`.
    async fn recount_backlog_when_due(&self) {
        let due = self
            .last_count
            .lock()
            .map(|last| last.is_none_or(|t| t.elapsed() >= BACKLOG_RECOUNT))
            .unwrap_or(true);
        if !due {
            return;
        }
        if let Ok(OutboxStats {
            pending,
            dead,
            unknown,
        }) = self.queue.stats().await
        {
            self.signal.counted(pending);
            self.metrics
                .sync_backlog
                .with_label_values(&["dead"])
                .set(dead);
            self.metrics
                .sync_backlog
                .with_label_values(&["unknown"])
                .set(unknown);
            if let Ok(mut last) = self.last_count.lock() {
                *last = Some(std::time::Instant::now());
            }
        }
    }

    async fn settle(&self, mut event: PendingEvent) {
        let payload = match event.payload.take() {
            Some(payload) => payload,
            // Left out of the claim for its size: read now that its delivery starts.
            None => match self.queue.payload(&event.id).await {
                Ok(Some(payload)) => payload,
                Ok(None) => return,
                Err(e) => {
                    let unreachable = UpstreamError::Unreachable("store");
                    tracing::warn!(error = %e, "cannot read an outbox event's payload");
                    return self.record(event, Err(unreachable)).await;
                }
            },
        };
        // The payload goes to the request as it is: no copy of a mebibyte of code.
        let delivered = self.deliver(&event, Bytes::from(payload)).await;
        self.record(event, delivered).await;
    }

    /// Embeds the snippets of several embedding events at once and completes them in one
    /// transaction; on failure each is rescheduled as any failed delivery is.
    async fn settle_embeddings(&self, events: Vec<PendingEvent>) {
        let Some(embeddings) = &self.embeddings else {
            return;
        };
        let mut by_user: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for event in &events {
            let payload = event.payload.as_deref().unwrap_or_default();
            match serde_json::from_str::<EnrichmentTask>(payload) {
                Ok(task) => by_user
                    .entry(task.user_id)
                    .or_default()
                    .push(task.snippet_id),
                Err(_) => {
                    tracing::error!(event = %event.id, "unreadable embedding event; dropping it")
                }
            }
        }
        let mut outcome = Ok(());
        for (user, ids) in by_user {
            if let Err(e) = embeddings.embed_snippets(&user, &ids).await {
                outcome = Err(embedding_failure(e));
                break;
            }
        }
        if outcome.is_ok() {
            let ids: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
            match self.queue.complete_all(&ids).await {
                Ok(()) => {
                    for _ in &events {
                        self.count(Target::Embedding.as_str(), "delivered");
                        self.signal.settled();
                    }
                    return;
                }
                Err(e) => {
                    // Their leases run out and they are embedded again, found unchanged.
                    tracing::warn!(error = %e, "cannot record embedding deliveries");
                    return;
                }
            }
        }
        for event in events {
            self.record(event, outcome.clone()).await;
        }
    }

    /// Records a delivery's outcome: the event is removed, rescheduled, or marked dead.
    async fn record(&self, event: PendingEvent, delivered: Result<(), UpstreamError>) {
        let target = event.target.as_str();
        let result = match delivered {
            Ok(()) => {
                self.count(target, "delivered");
                let done = self.queue.complete(&event.id).await;
                if done.is_ok() {
                    self.signal.settled();
                }
                done
            }
            Err(err) => {
                let age = (Utc::now() - event.created_at).to_std().unwrap_or_default();
                let dead = age >= self.config.max_age;
                let next = Utc::now() + backoff(event.attempts);
                if dead {
                    self.count(target, "dead");
                    tracing::error!(event = %event.id, target, attempts = event.attempts, error = %err,
                        "giving up on outbox event; it stays in the outbox marked dead");
                } else {
                    self.count(target, "failed");
                    tracing::warn!(event = %event.id, target, attempts = event.attempts, error = %err,
                        "outbox delivery failed; will retry");
                }
                let done = self
                    .queue
                    .reschedule(&event.id, next, &err.to_string(), dead)
                    .await;
                if dead && done.is_ok() {
                    self.signal.settled();
                    self.metrics.sync_backlog.with_label_values(&["dead"]).inc();
                }
                done
            }
        };
        if let Err(e) = result {
            // The lease runs out and the event is tried again: at least once, never lost.
            tracing::warn!(event = %event.id, error = %e, "cannot record outbox delivery result");
        }
    }

    async fn deliver(&self, event: &PendingEvent, body: Bytes) -> Result<(), UpstreamError> {
        let request_id = if event.request_id.is_empty() {
            &event.id
        } else {
            &event.request_id
        };
        match event.target {
            Target::DataPlatform => match &self.data_platform {
                Some(client) => client.sync(body, request_id, &event.id).await,
                None => Err(UpstreamError::NotConfigured("data platform")),
            },
            Target::Gateway => match &self.gateway {
                Some(client) => client.context_updated(body, request_id, &event.id).await,
                None => Err(UpstreamError::NotConfigured("gateway")),
            },
            Target::Enrichment => self.enrich(event, &body, request_id).await,
            Target::Embedding => self.embed(event, &body).await,
            Target::CacheInvalidation => self.invalidate(&body).await,
        }
    }

    /// Embeds the snippet as it is now. Without a provider (it was configured when the event
    /// was recorded) there is nothing to do: a later start with one backfills.
    async fn embed(&self, event: &PendingEvent, payload: &[u8]) -> Result<(), UpstreamError> {
        let Some(embeddings) = &self.embeddings else {
            return Ok(());
        };
        let Ok(task) = serde_json::from_slice::<EnrichmentTask>(payload) else {
            tracing::error!(event = %event.id, "unreadable embedding event; dropping it");
            return Ok(());
        };
        embeddings
            .embed_snippets(&task.user_id, &[task.snippet_id])
            .await
            .map(drop)
            .map_err(embedding_failure)
    }

    /// Analyses the snippet as it is now (it may have changed or gone since the event).
    async fn enrich(
        &self,
        event: &PendingEvent,
        payload: &[u8],
        request_id: &str,
    ) -> Result<(), UpstreamError> {
        let Some(cognitive) = &self.cognitive else {
            return Err(UpstreamError::NotConfigured("cognitive service"));
        };
        let Ok(task) = serde_json::from_slice::<EnrichmentTask>(payload) else {
            tracing::error!(event = %event.id, "unreadable enrichment event; dropping it");
            return Ok(());
        };
        let store_down = |_| UpstreamError::Unreachable("store");
        let snippet = self
            .snippets
            .stored(&task.user_id, &task.snippet_id)
            .await
            .map_err(store_down)?;
        let Some(snippet) = snippet else {
            return Ok(());
        };
        let analysis = cognitive
            .analyze(&snippet.code, &snippet.language, request_id, &event.id)
            .await?;
        self.snippets
            .apply_analysis(&task.user_id, &task.snippet_id, &analysis)
            .await
            .map_err(store_down)?;
        Ok(())
    }

    async fn invalidate(&self, payload: &[u8]) -> Result<(), UpstreamError> {
        let key = serde_json::from_slice::<serde_json::Value>(payload)
            .ok()
            .and_then(|v| v.get("key").and_then(|k| k.as_str()).map(str::to_owned));
        let Some(key) = key else {
            return Ok(());
        };
        // Invalidate, not delete: a fill begun before the change must not land afterwards.
        self.keeper
            .deliver_drop(&key)
            .await
            .map_err(|_| UpstreamError::Unreachable("cache"))
    }

    fn count(&self, target: &str, outcome: &str) {
        self.metrics
            .sync_deliveries
            .with_label_values(&[target, outcome])
            .inc();
    }
}

/// An embedding that failed, as a delivery failure.
fn embedding_failure(failure: EmbeddingFailure) -> UpstreamError {
    use pieces_embeddings::EmbedError;
    const NAME: &str = "embedding provider";
    match failure {
        EmbeddingFailure::Store(_) => UpstreamError::Unreachable("store"),
        EmbeddingFailure::Provider(EmbedError::Timeout) => UpstreamError::Timeout(NAME),
        EmbeddingFailure::Provider(EmbedError::Status(code)) => UpstreamError::Status(NAME, code),
        EmbeddingFailure::Provider(EmbedError::Malformed(_)) => UpstreamError::Malformed(NAME),
        EmbeddingFailure::Provider(_) => UpstreamError::Unreachable(NAME),
    }
}

/// 1 s, 2 s, 4 s ... up to five minutes, with up to 20% jitter so replicas do not retry in step.
fn backoff(attempts: i32) -> Duration {
    let exp = attempts.clamp(1, 16) as u32 - 1;
    let base = Duration::from_secs(1u64 << exp).min(MAX_BACKOFF);
    let jitter = rand::rng().random_range(0..=base.as_millis() as u64 / 5);
    base + Duration::from_millis(jitter)
}

#[cfg(test)]
mod tests {
    use super::backoff;
    use std::time::Duration;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert!(backoff(1) >= Duration::from_secs(1) && backoff(1) < Duration::from_secs(2));
        assert!(backoff(3) >= Duration::from_secs(4));
        assert!(backoff(40) <= Duration::from_secs(360));
    }
}
