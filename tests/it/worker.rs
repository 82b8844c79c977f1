//! The outbox worker stepped by hand, one unit of work at a time, instead of waited on.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pieces_connector::cache::MemoryCache;
use pieces_connector::metrics::Metrics;
use pieces_connector::model::{EventPlan, Limits, NewEvent, PendingEvent, Recorded, Target};
use pieces_connector::outbox::{OutboxWorker, WorkerConfig};
use pieces_connector::service::{CacheKeeper, OutboxSignal, SnippetDeps, SnippetService};
use pieces_connector::store::{self, ChangeFeed, OutboxQueue, OutboxStats, StoreError};
use pieces_connector::upstream::{DataPlatformClient, HttpUpstream};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The real queue, counting how often it is scanned for its size.
struct CountingQueue {
    inner: Arc<dyn OutboxQueue>,
    counts: AtomicUsize,
}

#[async_trait]
impl OutboxQueue for CountingQueue {
    async fn enqueue(&self, recorded: &Recorded) -> Result<(), StoreError> {
        self.inner.enqueue(recorded).await
    }

    async fn claim_due(
        &self,
        limit: i64,
        lease: Duration,
    ) -> Result<Vec<PendingEvent>, StoreError> {
        self.inner.claim_due(limit, lease).await
    }

    async fn complete(&self, id: &str) -> Result<(), StoreError> {
        self.inner.complete(id).await
    }

    async fn complete_all(&self, ids: &[String]) -> Result<(), StoreError> {
        self.inner.complete_all(ids).await
    }

    async fn reschedule(
        &self,
        id: &str,
        next_attempt: DateTime<Utc>,
        error: &str,
        dead: bool,
    ) -> Result<(), StoreError> {
        self.inner.reschedule(id, next_attempt, error, dead).await
    }

    async fn expedite(&self, target: Target) -> Result<u64, StoreError> {
        self.inner.expedite(target).await
    }

    async fn stats(&self) -> Result<OutboxStats, StoreError> {
        self.counts.fetch_add(1, Ordering::SeqCst);
        self.inner.stats().await
    }
}

fn sync_event(n: usize) -> NewEvent {
    NewEvent {
        id: uuid::Uuid::now_v7().to_string(),
        target: Target::DataPlatform,
        payload: json!({"user_id": "u", "snippet": {"id": n}, "event": "created"}),
        request_id: String::new(),
        created_at: Utc::now(),
        ordering_key: None,
    }
}

#[tokio::test]
async fn draining_a_backlog_counts_the_queue_once_not_once_per_round() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/pieces.db", dir.path().display());
    let url = url.parse().expect("a SQLite URL");
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let stores = store::connect(&url, 1, Duration::from_secs(3), &metrics)
        .await
        .expect("store");
    let backlog: Vec<NewEvent> = (0..200).map(sync_event).collect();
    stores
        .outbox
        .enqueue(&Recorded::outbox(backlog))
        .await
        .expect("enqueue");
    let platform = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/snippets"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&platform)
        .await;

    let pending = metrics.sync_backlog.with_label_values(&["pending"]);
    let signal = Arc::new(OutboxSignal::new(pending.clone()));
    let queue = Arc::new(CountingQueue {
        inner: stores.outbox.clone(),
        counts: AtomicUsize::new(0),
    });
    let cache = Arc::new(MemoryCache::new(1 << 20));
    let keeper = Arc::new(CacheKeeper::new(
        cache.clone(),
        queue.clone(),
        signal.clone(),
    ));
    let snippets = Arc::new(SnippetService::new(SnippetDeps {
        store: stores.snippets.clone(),
        outbox: queue.clone(),
        cache: cache.clone(),
        keeper: keeper.clone(),
        metrics: metrics.clone(),
        plan: EventPlan::default(),
        limits: Limits::default(),
        cache_ttl: Duration::from_secs(60),
        signal: signal.clone(),
        feed: ChangeFeed::default(),
        search: None,
        embedding: None,
    }));
    let http = HttpUpstream::new(
        "data_platform",
        &platform.uri(),
        reqwest::Client::new(),
        metrics.clone(),
    )
    .expect("stub url");
    let worker = OutboxWorker {
        queue: queue.clone(),
        snippets,
        keeper,
        metrics: metrics.clone(),
        data_platform: Some(DataPlatformClient::new(http)),
        gateway: None,
        cognitive: None,
        embeddings: None,
        signal,
        config: WorkerConfig {
            poll_interval: Duration::from_secs(1),
            max_age: Duration::from_secs(3600),
        },
        last_count: Default::default(),
    };

    let mut rounds = 0;
    while worker.run_once().await.expect("a round") > 0 {
        rounds += 1;
    }
    let delivered = platform.received_requests().await.unwrap_or_default().len();
    assert_eq!(delivered, 200, "every event delivered");
    assert!(
        rounds >= 7,
        "drained in rounds of at most 32, took {rounds}"
    );
    assert_eq!(pending.get(), 0, "the gauge follows the drain");
    assert_eq!(
        queue.counts.load(Ordering::SeqCst),
        1,
        "counted once, not per round"
    );
}
