//! The outbox worker stepped by hand, one unit of work at a time, instead of waited on.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pieces_connector::auth::Principal;
use pieces_connector::cache::MemoryCache;
use pieces_connector::metrics::Metrics;
use pieces_connector::model::audit::Via;
use pieces_connector::model::Scopes;
use pieces_connector::model::{EventPlan, Limits, NewEvent, PendingEvent, Recorded, Target};
use pieces_connector::outbox::{OutboxWorker, WorkerConfig};
use pieces_connector::service::{Access, CacheKeeper, OutboxSignal, SnippetDeps, SnippetService};
use pieces_connector::store::{self, ChangeFeed, OutboxQueue, OutboxStats, StoreError};
use pieces_connector::upstream::{DataPlatformClient, HttpUpstream};
use serde_json::json;
use sqlx::Connection;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The default history kept per snippet.
const KEEP: store::Keeping = store::Keeping { versions: 100 };

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

    async fn payload(&self, id: &str) -> Result<Option<String>, StoreError> {
        self.inner.payload(id).await
    }

    async fn release(&self, ids: &[String]) -> Result<(), StoreError> {
        self.inner.release(ids).await
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
    let stores = store::connect(&url, 1, Duration::from_secs(3), KEEP, &metrics)
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
    let queue = Arc::new(CountingQueue {
        inner: stores.outbox.clone(),
        counts: AtomicUsize::new(0),
    });
    let (_, worker) = stepped(&stores, queue.clone(), &metrics, &platform);

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

/// A store in a temporary directory, and the directory.
async fn sqlite_stores(metrics: &Metrics) -> (store::Stores, tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/pieces.db", dir.path().display());
    let stores = store::connect(
        &url.parse().expect("a SQLite URL"),
        1,
        Duration::from_secs(3),
        KEEP,
        metrics,
    )
    .await
    .expect("store");
    (stores, dir, url)
}

/// The snippet use cases and a worker stepped by hand on `queue`, syncing to `platform`.
fn stepped(
    stores: &store::Stores,
    queue: Arc<dyn OutboxQueue>,
    metrics: &Arc<Metrics>,
    platform: &MockServer,
) -> (Arc<SnippetService>, OutboxWorker) {
    let signal = Arc::new(OutboxSignal::new(
        metrics.sync_backlog.with_label_values(&["pending"]),
    ));
    let cache = Arc::new(MemoryCache::new(1 << 20));
    let keeper = Arc::new(CacheKeeper::new(
        cache.clone(),
        queue.clone(),
        signal.clone(),
    ));
    let snippets = Arc::new(SnippetService::new(SnippetDeps {
        store: stores.snippets.clone(),
        outbox: queue.clone(),
        cache,
        keeper: keeper.clone(),
        metrics: metrics.clone(),
        plan: EventPlan {
            sync: true,
            ..EventPlan::default()
        },
        limits: Limits::default(),
        cache_ttl: Duration::from_secs(60),
        signal: signal.clone(),
        feed: ChangeFeed::default(),
        search: None,
        embedding: None,
        access: Arc::new(Access::new(stores.workspaces.clone())),
    }));
    let http = HttpUpstream::new(
        "data_platform",
        &platform.uri(),
        reqwest::Client::new(),
        metrics.clone(),
    )
    .expect("stub url");
    let worker = OutboxWorker {
        queue,
        snippets: snippets.clone(),
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
    (snippets, worker)
}

/// What the platform received: each sync's `event`, in the order received, with the
/// status it answered.
async fn received_events(platform: &MockServer) -> Vec<String> {
    let requests = platform.received_requests().await.unwrap_or_default();
    requests
        .iter()
        .map(|r| {
            let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
            body["event"].as_str().unwrap_or_default().to_owned()
        })
        .collect()
}

#[tokio::test]
async fn one_snippets_sync_events_reach_the_platform_in_the_order_they_were_recorded() {
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let (stores, _dir, _) = sqlite_stores(&metrics).await;
    let platform = MockServer::start().await;
    // The platform's first answer is a failure, every later one a success.
    Mock::given(method("POST"))
        .and(path("/snippets"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&platform)
        .await;
    Mock::given(method("POST"))
        .and(path("/snippets"))
        .respond_with(ResponseTemplate::new(200))
        .with_priority(2)
        .mount(&platform)
        .await;
    let (snippets, worker) = stepped(&stores, stores.outbox.clone(), &metrics, &platform);
    let body = serde_json::from_value(json!({"title": "t", "code": "c", "language": "rust"}))
        .expect("a new snippet");
    let alice = Principal {
        user: "alice".to_owned(),
        scopes: Scopes::all(),
        token_id: None,
        expires_at: None,
        via: Via::Jwt,
        workspaces: None,
        groups: Arc::from(Vec::new()),
    };
    let created = snippets.create(&alice, body).await.expect("created");
    snippets
        .delete(&alice, &created.id, store::Removal::ToTrash, None)
        .await
        .expect("deleted");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while received_events(&platform).await.len() < 3 && tokio::time::Instant::now() < deadline {
        worker.run_once().await.expect("a round");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The failed `created` is retried before `deleted` goes: a `created` that landed after
    // the deletion would leave the snippet on the platform for good.
    assert_eq!(
        received_events(&platform).await,
        ["created", "created", "deleted"]
    );
}

#[tokio::test]
async fn an_outbox_row_this_release_cannot_read_is_parked_and_holds_up_no_other() {
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let (stores, _dir, url) = sqlite_stores(&metrics).await;
    let platform = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/snippets"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&platform)
        .await;
    let mut db = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("the store");
    let now = Utc::now().timestamp_micros();
    // A target of a newer release (after a rollback), and a row whose time cannot be read.
    for (id, target, created_at) in [
        ("from-a-newer-release", "archive", now),
        ("unreadable", "data_platform", i64::MAX),
    ] {
        sqlx::query(
            "INSERT INTO outbox (id, target, payload, next_attempt_at, created_at) \
             VALUES (?, ?, '{}', ?, ?)",
        )
        .bind(id)
        .bind(target)
        .bind(now)
        .bind(created_at)
        .execute(&mut db)
        .await
        .expect("a row written by other means");
    }
    let due: Vec<NewEvent> = (0..3).map(sync_event).collect();
    stores
        .outbox
        .enqueue(&Recorded::outbox(due))
        .await
        .expect("enqueue");
    let (_, worker) = stepped(&stores, stores.outbox.clone(), &metrics, &platform);
    for _ in 0..3 {
        worker
            .run_once()
            .await
            .expect("a round is not failed by one row");
    }
    assert_eq!(
        received_events(&platform).await.len(),
        3,
        "the readable events went"
    );
    let stats = stores.outbox.stats().await.expect("stats");
    assert_eq!((stats.pending, stats.dead, stats.unknown), (0, 1, 1));
    let (dead, why): (bool, Option<String>) =
        sqlx::query_as("SELECT dead, last_error FROM outbox WHERE id = 'unreadable'")
            .fetch_one(&mut db)
            .await
            .expect("the parked row is kept");
    assert!(dead, "parked");
    assert!(
        why.is_some_and(|why| why.contains("cannot read")),
        "the reason is kept"
    );
    let (attempts,): (i64,) =
        sqlx::query_as("SELECT attempts FROM outbox WHERE id = 'from-a-newer-release'")
            .fetch_one(&mut db)
            .await
            .expect("the newer release's row is kept");
    assert_eq!(attempts, 0, "left for a release that knows its target");
}
