//! Redis and PostgreSQL stopped for real in the middle of a test, then started again.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::support::backends::{Services, Store};
use crate::support::chaos::ChaosProxy;
use crate::support::servers::{PgServer, RedisServer};
use crate::support::{
    eventually, expect_error, settings_for, snippet, status_json, user, Backend, TestApp,
};

async fn ready(app: &TestApp) -> (StatusCode, serde_json::Value) {
    status_json(
        app.http
            .get(format!("{}/health/ready", app.health))
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_falls_back_to_the_store_and_recovers_by_itself() {
    let test = "redis_outage_falls_back_to_the_store_and_recovers_by_itself";
    let Some(database) = Services::fresh_database(test).await else {
        return;
    };
    let Some(mut redis) = RedisServer::start(test).await else {
        return;
    };
    let backend = Backend {
        store: Store::Postgres(database),
        redis: Some(redis.url()),
    };
    let app = TestApp::start(&backend).await;
    let alice = user();
    let id = app.create(&alice, &snippet("cached")).await;
    let cold = app.create(&alice, &snippet("never read")).await;
    let path = format!("/api/v1/snippets/{id}");
    app.get(&path, &alice).await;
    app.get(&path, &alice).await;
    assert_eq!(
        app.metric("pieces_cache_requests_total", &["hit"]).await,
        1.0
    );

    redis.stop().await;
    let started = Instant::now();
    let (status, read) = status_json(app.get(&path, &alice).await).await;
    assert_eq!(
        (status, read["title"].as_str()),
        (StatusCode::OK, Some("cached")),
        "reads fall through to PostgreSQL"
    );
    // The read above may be answered by this replica's near copy, depending on when the change
    // bus dropped it; a snippet never read has no copy, so its read must ask Redis and then
    // fall through to PostgreSQL.
    let (status, read) =
        status_json(app.get(&format!("/api/v1/snippets/{cold}"), &alice).await).await;
    assert_eq!(
        (status, read["title"].as_str()),
        (StatusCode::OK, Some("never read")),
        "a read no copy answers falls through to PostgreSQL"
    );
    let during = app
        .create(&alice, &snippet("written during the outage"))
        .await;
    let (status, _) = status_json(
        app.patch(&path, &alice, &json!({"title": "edited during the outage"}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "writes keep working");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "no request hangs on a dead Redis"
    );
    assert!(app.metric("pieces_cache_requests_total", &["error"]).await >= 1.0);
    let (status, checks) = ready(&app).await;
    assert_eq!(
        (status, checks["checks"]["redis"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("failing"))
    );
    // A context is kept in the store: Redis holds only a copy.
    let (status, _) = status_json(
        app.post(
            "/api/v1/workflow-context",
            &alice,
            &json!({"session_id": "s", "context_type": "t", "context_data": {"during": true}}),
        )
        .await,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a context is stored during the outage"
    );
    let (status, context) = status_json(app.get("/api/v1/workflow-context", &alice).await).await;
    assert_eq!(
        (status, &context["context_data"]),
        (StatusCode::OK, &json!({"during": true})),
        "and read back from the store"
    );

    redis.resume().await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            ready(&app).await.0 == StatusCode::OK
        })
        .await,
        "ready again"
    );
    // The key whose drop failed is read past Redis until the drop is made, moments after
    // Redis answers; then Redis serves it again, never the old title.
    let used_again = eventually(Duration::from_secs(5), || async {
        let (_, read) = status_json(app.get(&path, &alice).await).await;
        assert_eq!(read["title"], "edited during the outage");
        app.metric("pieces_cache_requests_total", &["hit"]).await >= 2.0
    })
    .await;
    assert!(used_again, "Redis is used again");
    let (status, _) =
        status_json(app.get(&format!("/api/v1/snippets/{during}"), &alice).await).await;
    assert_eq!(status, StatusCode::OK);
}

/// Redis was unreachable (not restarted: it keeps the old copy) while a snippet changed: once
/// it answers again, no read serves the old version, though the drop that failed was queued
/// with a backoff of up to minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snippet_changed_while_redis_was_unreachable_is_never_read_stale_once_it_is_back() {
    let test = "a_snippet_changed_while_redis_was_unreachable_is_never_read_stale_once_it_is_back";
    let Some(redis) = RedisServer::start(test).await else {
        return;
    };
    let proxy = ChaosProxy::start(([127, 0, 0, 1], redis.port).into()).await;
    let backend = Backend {
        redis: Some(format!("redis://{}/0", proxy.addr)),
        ..Backend::sqlite()
    };
    let app = TestApp::start(&backend).await;
    let alice = user();
    let id = app.create(&alice, &snippet("old title")).await;
    let path = format!("/api/v1/snippets/{id}");
    app.get(&path, &alice).await;
    let hit = eventually(Duration::from_secs(5), || async {
        app.get(&path, &alice).await;
        app.metric("pieces_cache_requests_total", &["hit"]).await >= 1.0
    })
    .await;
    assert!(hit, "Redis holds the old title");

    proxy.cut();
    let (status, _) = status_json(
        app.patch(&path, &alice, &json!({"title": "new title"}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // Long enough for the queued drop to fail a few times: its next try is seconds away.
    let failing = eventually(Duration::from_secs(20), || async {
        let failed = ["cache_invalidation", "failed"];
        app.metric("pieces_sync_deliveries_total", &failed).await >= 3.0
    })
    .await;
    assert!(failing, "the drop was retried while Redis was unreachable");
    proxy.restore();
    let back = eventually(Duration::from_secs(10), || async {
        ready(&app).await.0 == StatusCode::OK
    })
    .await;
    assert!(back, "Redis answers again");
    for _ in 0..40 {
        let (_, read) = status_json(app.get(&path, &alice).await).await;
        assert_eq!(read["title"], "new title", "the old copy was served");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_can_be_declared_non_critical_for_readiness() {
    let test = "redis_can_be_declared_non_critical_for_readiness";
    let Some(mut redis) = RedisServer::start(test).await else {
        return;
    };
    let backend = Backend {
        redis: Some(redis.url()),
        ..Backend::sqlite()
    };
    let mut settings = settings_for(&backend);
    settings.redis_critical = false;
    let app = TestApp::start_with(&backend, settings).await;
    redis.stop().await;
    let (status, checks) = ready(&app).await;
    assert_eq!(
        (status, checks["checks"]["redis"].as_str()),
        (StatusCode::OK, Some("failing"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_started_while_redis_is_down_uses_it_once_it_is_up() {
    let test = "a_service_started_while_redis_is_down_uses_it_once_it_is_up";
    let Some(mut redis) = RedisServer::start(test).await else {
        return;
    };
    redis.stop().await;
    let backend = Backend {
        redis: Some(redis.url()),
        ..Backend::sqlite()
    };
    let app = TestApp::start(&backend).await;
    let alice = user();
    let id = app.create(&alice, &snippet("early")).await;
    assert_eq!(
        app.get(&format!("/api/v1/snippets/{id}"), &alice)
            .await
            .status(),
        StatusCode::OK
    );
    redis.resume().await;
    let path = format!("/api/v1/snippets/{id}");
    let used = eventually(Duration::from_secs(10), || async {
        app.get(&path, &alice).await;
        app.metric("pieces_cache_requests_total", &["hit"]).await >= 1.0
    })
    .await;
    assert!(used, "the cache is picked up without a restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_answers_503_quickly_and_recovers_without_losing_data() {
    let test = "postgres_outage_answers_503_quickly_and_recovers_without_losing_data";
    let Some(pg) = PgServer::start(test).await else {
        return;
    };
    let backend = Backend {
        store: Store::Postgres(pg.url()),
        redis: None,
    };
    let mut settings = settings_for(&backend);
    settings.database_timeout_ms = 1_000;
    let app = TestApp::start_with(&backend, settings).await;
    let alice = user();
    let mut stored = Vec::new();
    for n in 0..5 {
        stored.push(app.create(&alice, &snippet(&format!("before {n}"))).await);
    }

    pg.stop().await;
    let started = Instant::now();
    expect_error(
        app.get("/api/v1/snippets", &alice).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
    )
    .await;
    expect_error(
        app.post("/api/v1/snippets", &alice, &snippet("lost?"))
            .await,
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
    )
    .await;
    let never_read = format!("/api/v1/snippets/{}", stored[0]);
    expect_error(
        app.get(&never_read, &alice).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "503s come within the timeout, took {:?}",
        started.elapsed()
    );
    let (status, checks) = ready(&app).await;
    assert_eq!(
        (status, checks["checks"]["postgres"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("failing"))
    );
    let live = app
        .http
        .get(format!("{}/health/live", app.health))
        .send()
        .await
        .unwrap();
    assert_eq!(
        live.status(),
        StatusCode::OK,
        "liveness never depends on the database"
    );

    pg.resume().await;
    let back = eventually(Duration::from_secs(15), || async {
        app.get("/api/v1/snippets", &alice).await.status() == StatusCode::OK
    })
    .await;
    assert!(back, "the service recovers by itself");
    let (_, page) = status_json(app.get("/api/v1/snippets?limit=100", &alice).await).await;
    assert_eq!(
        page["total"], 5,
        "every snippet answered 201 is still there, and the refused one is not"
    );
    app.create(&alice, &snippet("after")).await;
    assert_eq!(ready(&app).await.0, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_streams_survive_a_database_outage_and_miss_nothing_after_it() {
    let test = "open_streams_survive_a_database_outage_and_miss_nothing_after_it";
    let Some(pg) = PgServer::start(test).await else {
        return;
    };
    let Some(mut redis) = RedisServer::start(test).await else {
        return;
    };
    let backend = Backend {
        store: Store::Postgres(pg.url()),
        redis: Some(redis.url()),
    };
    let mut settings = settings_for(&backend);
    settings.database_timeout_ms = 1_000;
    let (one, two) = tokio::join!(
        TestApp::start_with(&backend, settings.clone()),
        TestApp::start_with(&backend, settings)
    );
    let alice = user();
    let stream = two
        .http
        .get(format!("{}/api/v1/events", two.api))
        .bearer_auth(two.token(&alice))
        .send()
        .await
        .expect("stream opened");
    let mut stream = crate::support::sse::SseReader::new(stream);
    one.create(&alice, &snippet("before")).await;
    assert_eq!(
        stream.take(1, Duration::from_secs(10)).await[0]
            .id
            .as_deref(),
        Some("1")
    );

    pg.stop().await;
    let refused = one
        .post("/api/v1/snippets", &alice, &snippet("during"))
        .await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    tokio::time::sleep(Duration::from_secs(2)).await;
    pg.resume().await;
    let back = eventually(Duration::from_secs(20), || async {
        one.post("/api/v1/snippets", &alice, &snippet("after"))
            .await
            .status()
            == StatusCode::CREATED
    })
    .await;
    assert!(back, "writes resume by themselves");
    // The stream stayed open through the outage, and the listener that lost its connection
    // resynced: the change made after it arrives, in order, with no gap.
    let after = stream.take(1, Duration::from_secs(20)).await;
    assert_eq!(after[0].id.as_deref(), Some("2"));
    assert_eq!(after[0].data["data"]["title"], "after");

    redis.stop().await;
    one.create(&alice, &snippet("without redis")).await;
    let without = stream.take(1, Duration::from_secs(20)).await;
    assert_eq!(
        without[0].data["data"]["title"], "without redis",
        "the bus needs no Redis"
    );
    redis.resume().await;
}
