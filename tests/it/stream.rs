//! The change stream: every change becomes an event, in order, to its user only, resumable
//! without gap or duplicate, across replicas, and the near cache kept fresh by the same bus.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::support::sse::{SseEvent, SseReader};
use crate::support::{eventually, settings_for, snippet, status_json, user, Backend, TestApp};

on_each_backend!(
    every_change_arrives_in_order_and_a_resume_has_no_gap_or_duplicate,
    concurrent_context_updates_are_committed_together_and_numbered_once,
);

const EVENTS: &str = "/api/v1/events";
const WAIT: Duration = Duration::from_secs(10);

/// An SSE stream for `token`, after `since` when given.
async fn subscribe(app: &TestApp, token: &str, since: Option<&str>) -> SseReader {
    let mut request = app
        .http
        .get(format!("{}{EVENTS}", app.api))
        .bearer_auth(token);
    if let Some(since) = since {
        request = request.header("last-event-id", since);
    }
    let response = request.send().await.expect("stream opened");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    SseReader::new(response)
}

fn kinds(events: &[SseEvent]) -> Vec<&str> {
    events.iter().map(|e| e.event.as_str()).collect()
}

fn ids(events: &[SseEvent]) -> Vec<i64> {
    events
        .iter()
        .map(|e| e.id.as_deref().expect("an id").parse().expect("numeric"))
        .collect()
}

async fn every_change_arrives_in_order_and_a_resume_has_no_gap_or_duplicate(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let alice = user();
    let mut live = subscribe(&app, &app.token(&alice), None).await;
    let first = app.create(&alice, &snippet("first")).await;
    let second = app.create(&alice, &snippet("second")).await;
    let path = format!("/api/v1/snippets/{first}");
    let renamed = app.patch(&path, &alice, &json!({"title": "renamed"})).await;
    assert_eq!(renamed.status(), StatusCode::OK);
    assert_eq!(
        app.delete(&path, &alice).await.status(),
        StatusCode::NO_CONTENT
    );
    let context = json!({"session_id": "s", "context_type": "editing", "context_data": {"f": 1}});
    app.post("/api/v1/workflow-context", &alice, &context).await;

    let events = live.take(5, WAIT).await;
    assert_eq!(
        kinds(&events),
        [
            "snippet.created",
            "snippet.created",
            "snippet.updated",
            "snippet.deleted",
            "context.updated"
        ]
    );
    let numbers = ids(&events);
    assert!(
        numbers.windows(2).all(|w| w[0] < w[1]),
        "strictly increasing: {numbers:?}"
    );
    let (_, stored) =
        status_json(app.get(&format!("/api/v1/snippets/{second}"), &alice).await).await;
    assert_eq!(
        events[1].data["data"], stored,
        "the snippet as the API shows it"
    );
    assert_eq!(events[1].data["type"], "snippet.created");
    assert_eq!(events[3].data["data"], json!({"id": first, "version": 2}));
    assert_eq!(events[4].data["data"]["context_type"], "editing");

    // A client that saw the second event resumes: everything after it, once, in order.
    let resume_from = events[1].id.clone().expect("id");
    let mut resumed = subscribe(&app, &app.token(&alice), Some(&resume_from)).await;
    let replayed = resumed.take(3, WAIT).await;
    assert_eq!(ids(&replayed), numbers[2..].to_vec());
    app.create(&alice, &snippet("third")).await;
    let next = resumed.take(1, WAIT).await;
    assert_eq!(ids(&next)[0], numbers[4] + 1, "then live, with no gap");
}

#[tokio::test]
async fn a_stream_resumes_across_a_restart_of_the_service() {
    let backend = Backend::sqlite();
    let app = TestApp::start(&backend).await;
    let alice = user();
    for n in 0..3 {
        app.create(&alice, &snippet(&format!("before {n}"))).await;
    }
    let settings = app.settings.clone();
    app.stop().await;
    let app = TestApp::start_with(&backend, settings).await;
    let mut resumed = subscribe(&app, &app.token(&alice), Some("1")).await;
    let events = resumed.take(2, WAIT).await;
    assert_eq!(ids(&events), [2, 3]);
    assert_eq!(events[1].data["data"]["title"], "before 2");
}

#[tokio::test]
async fn users_receive_only_their_own_events() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let (alice, bob) = (user(), user());
    let mut bobs = subscribe(&app, &app.token(&bob), None).await;
    app.create(&alice, &snippet("alice's")).await;
    app.create(&bob, &snippet("bob's")).await;
    let events = bobs.take(1, WAIT).await;
    assert_eq!(events[0].data["data"]["title"], "bob's");
    assert!(
        bobs.next(Duration::from_millis(500)).await.is_none(),
        "nothing of alice's"
    );
}

/// A personal token for `who` with `scopes`.
async fn personal(app: &TestApp, who: &str, scopes: &[&str]) -> String {
    let body = json!({"name": "stream", "scopes": scopes});
    let (_, made) = status_json(app.post("/api/v1/tokens", who, &body).await).await;
    made["token"].as_str().expect("token").to_owned()
}

#[tokio::test]
async fn scopes_decide_what_a_stream_may_carry() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let alice = user();
    let no_read = personal(&app, &alice, &["context:read"]).await;
    let refused = app
        .http
        .get(format!("{}{EVENTS}", app.api))
        .bearer_auth(&no_read)
        .send()
        .await
        .expect("sent");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let snippets_only = personal(&app, &alice, &["snippets:read"]).await;
    let mut stream = subscribe(&app, &snippets_only, None).await;
    let context = json!({"session_id": "s", "context_type": "t", "context_data": {}});
    app.post("/api/v1/workflow-context", &alice, &context).await;
    app.create(&alice, &snippet("visible")).await;
    let events = stream.take(1, WAIT).await;
    assert_eq!(
        kinds(&events),
        ["snippet.created"],
        "no context event without context:read"
    );
}

#[tokio::test]
async fn a_position_no_longer_kept_gets_a_reset_first() {
    let backend = Backend::sqlite();
    let app = TestApp::start(&backend).await;
    let alice = user();
    for n in 0..3 {
        app.create(&alice, &snippet(&format!("old {n}"))).await;
    }
    // What retention does after EVENT_RETENTION_HOURS.
    let mut db = <sqlx::SqliteConnection as sqlx::Connection>::connect(&backend.database_url())
        .await
        .expect("the service's database");
    sqlx::query("DELETE FROM changes WHERE seq <= 2")
        .execute(&mut db)
        .await
        .expect("pruned");
    let mut stream = subscribe(&app, &app.token(&alice), Some("1")).await;
    let first = stream.next(WAIT).await.expect("an event");
    assert_eq!(first.event, "reset");
    app.create(&alice, &snippet("after the reset")).await;
    let next = stream.take(1, WAIT).await;
    assert_eq!(ids(&next), [4], "then live from now");
    let bad = app
        .http
        .get(format!("{}{EVENTS}?since=yesterday", app.api))
        .bearer_auth(app.token(&alice))
        .send()
        .await
        .expect("sent");
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_user_may_hold_only_so_many_streams() {
    let backend = Backend::sqlite();
    let mut settings = settings_for(&backend);
    settings.stream_max_per_user = 2;
    let app = TestApp::start_with(&backend, settings).await;
    let alice = user();
    let one = subscribe(&app, &app.token(&alice), None).await;
    let _two = subscribe(&app, &app.token(&alice), None).await;
    let third = app.get(EVENTS, &alice).await;
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(third.headers().contains_key("retry-after"));
    drop(one);
    let freed = eventually(WAIT, || async {
        let again = app
            .http
            .get(format!("{}{EVENTS}", app.api))
            .bearer_auth(app.token(&alice))
            .send()
            .await;
        again.is_ok_and(|r| r.status() == StatusCode::OK)
    })
    .await;
    assert!(freed, "a closed stream frees its place");
}

#[tokio::test]
async fn a_consumer_that_never_reads_holds_nothing_back() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let alice = user();
    let mut idle = subscribe(&app, &app.token(&alice), None).await;
    let body = json!({"title": "t", "language": "rust", "code": "x".repeat(64 * 1024)});
    for _ in 0..300 {
        app.post("/api/v1/snippets", &alice, &body).await;
    }
    let (status, _) = status_json(app.get("/api/v1/snippets?limit=1", &alice).await).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the service serves others meanwhile"
    );
    // Some 20 MiB of events waited in the log, not in memory; read now, all come in order.
    let events = idle.take(300, Duration::from_secs(30)).await;
    let numbers = ids(&events);
    assert_eq!(numbers, (1..=300).collect::<Vec<i64>>());
}

#[tokio::test]
async fn shutdown_ends_open_streams_cleanly() {
    let backend = Backend::sqlite();
    let mut app = TestApp::start(&backend).await;
    let alice = user();
    let mut stream = subscribe(&app, &app.token(&alice), None).await;
    let started = tokio::time::Instant::now();
    app.shutdown().await.expect("clean stop");
    assert!(stream.ends_within(WAIT).await, "the stream ended");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "streams do not hold shutdown"
    );
}

#[tokio::test]
async fn a_browser_websocket_authenticates_by_subprotocol() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let alice = user();
    let url = format!("{}/api/v1/ws", app.api.replace("http://", "ws://"));
    let mut request = url.as_str().into_client_request().expect("request");
    let protocols = format!("pieces, bearer.{}", app.token(&alice));
    request
        .headers_mut()
        .insert("sec-websocket-protocol", protocols.parse().expect("header"));
    let (mut socket, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("upgraded");
    assert_eq!(response.headers()["sec-websocket-protocol"], "pieces");
    app.create(&alice, &snippet("over ws")).await;
    let frame = tokio::time::timeout(WAIT, async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(text))) => return text.to_string(),
                Some(Ok(_)) => continue,
                other => panic!("socket ended: {other:?}"),
            }
        }
    })
    .await
    .expect("a frame in time");
    let event: Value = serde_json::from_str(&frame).expect("JSON");
    assert_eq!(
        (event["type"].as_str(), event["id"].as_str()),
        (Some("snippet.created"), Some("1"))
    );
    assert_eq!(event["data"]["title"], "over ws");
    socket.close(None).await.ok();
    let anonymous = tokio_tungstenite::connect_async(url.as_str()).await;
    assert!(anonymous.is_err(), "no token, no socket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_replica_reaches_a_subscriber_of_another() {
    let Some(backend) =
        Backend::postgres("a_change_through_one_replica_reaches_a_subscriber_of_another").await
    else {
        return;
    };
    let (one, two) = tokio::join!(TestApp::start(&backend), TestApp::start(&backend));
    let alice = user();
    let mut on_two = subscribe(&two, &two.token(&alice), None).await;
    let started = tokio::time::Instant::now();
    one.create(&alice, &snippet("from one")).await;
    let events = on_two.take(1, WAIT).await;
    assert_eq!(events[0].data["data"]["title"], "from one");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    let lag = two
        .metric(
            "pieces_stream_delivery_lag_seconds_count",
            &["transport=\"sse\""],
        )
        .await;
    assert_eq!(lag, 1.0, "the delivery was timed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_near_cache_never_serves_what_another_replica_changed() {
    let Some(backend) =
        Backend::postgres("the_near_cache_never_serves_what_another_replica_changed").await
    else {
        return;
    };
    let (one, two) = tokio::join!(TestApp::start(&backend), TestApp::start(&backend));
    let alice = user();
    let id = one.create(&alice, &snippet("v0")).await;
    let path = format!("/api/v1/snippets/{id}");
    for version in 1..=20 {
        // Replica two holds the current version in its near cache ...
        let (_, before) = status_json(two.get(&path, &alice).await).await;
        assert_eq!(before["title"], format!("v{}", version - 1));
        status_json(two.get(&path, &alice).await).await;
        let dropped = two
            .metric("pieces_near_cache_invalidation_lag_seconds_count", &[])
            .await;
        // ... one changes it ...
        let title = format!("v{version}");
        let changed = one.patch(&path, &alice, &json!({"title": title})).await;
        assert_eq!(changed.status(), StatusCode::OK);
        // ... and once the invalidation has arrived, two never answers the old version.
        let arrived = eventually(WAIT, || async {
            two.metric("pieces_near_cache_invalidation_lag_seconds_count", &[])
                .await
                > dropped
        })
        .await;
        assert!(arrived, "the bus reached replica two");
        for _ in 0..5 {
            let (_, after) = status_json(two.get(&path, &alice).await).await;
            assert_eq!(after["title"], title, "round {version}");
        }
    }
    // Once the last change has settled, reads are served from the near cache again.
    let served_near = eventually(WAIT, || async {
        status_json(two.get(&path, &alice).await).await;
        two.metric("pieces_near_cache_requests_total", &["result=\"hit\""])
            .await
            > 0.0
    })
    .await;
    assert!(served_near, "reads were served from the near cache");
}

/// Context updates that arrive together are committed together: each is answered after that
/// commit, and each still gets its own event.
async fn concurrent_context_updates_are_committed_together_and_numbered_once(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let alice = user();
    let bodies: Vec<Value> = (0..40)
        .map(|n| json!({"session_id": format!("s{n}"), "context_type": "t", "context_data": {"n": n}}))
        .collect();
    let updates = bodies
        .iter()
        .map(|body| app.post("/api/v1/workflow-context", &alice, body));
    let answers = futures_util::future::join_all(updates).await;
    assert!(answers.iter().all(|r| r.status() == StatusCode::OK));
    let mut stream = subscribe(&app, &app.token(&alice), Some("0")).await;
    let events = stream.take(40, WAIT).await;
    assert_eq!(ids(&events), (1..=40).collect::<Vec<i64>>());
    let mut sessions: Vec<String> = events
        .iter()
        .map(|e| {
            e.data["data"]["session_id"]
                .as_str()
                .expect("a session")
                .to_owned()
        })
        .collect();
    sessions.sort();
    sessions.dedup();
    assert_eq!(sessions.len(), 40, "each update once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_changes_through_two_replicas_are_numbered_without_gap_or_repeat() {
    let Some(backend) = Backend::postgres(
        "concurrent_changes_through_two_replicas_are_numbered_without_gap_or_repeat",
    )
    .await
    else {
        return;
    };
    let (one, two) = tokio::join!(TestApp::start(&backend), TestApp::start(&backend));
    let alice = user();
    let bodies: Vec<Value> = (0..60)
        .map(|n| snippet(&format!("concurrent {n}")))
        .collect();
    let context = json!({"session_id": "s", "context_type": "t", "context_data": {}});
    let creates = bodies.iter().enumerate().map(|(n, body)| {
        let app = if n % 2 == 0 { &one } else { &two };
        app.post("/api/v1/snippets", &alice, body)
    });
    let contexts = (0..20).map(|n| {
        let app = if n % 2 == 0 { &two } else { &one };
        app.post("/api/v1/workflow-context", &alice, &context)
    });
    let (created, updated) = tokio::join!(
        futures_util::future::join_all(creates),
        futures_util::future::join_all(contexts)
    );
    assert!(created.iter().all(|r| r.status() == StatusCode::CREATED));
    assert!(updated.iter().all(|r| r.status() == StatusCode::OK));
    let mut stream = subscribe(&one, &one.token(&alice), Some("0")).await;
    let events = stream.take(80, WAIT).await;
    assert_eq!(
        ids(&events),
        (1..=80).collect::<Vec<i64>>(),
        "every number once, in order"
    );
    let created = kinds(&events)
        .iter()
        .filter(|k| **k == "snippet.created")
        .count();
    assert_eq!(created, 60);
}

#[tokio::test]
async fn events_pruned_behind_a_subscription_give_a_reset_not_a_gap() {
    let backend = Backend::sqlite();
    let app = TestApp::start(&backend).await;
    let alice = user();
    for n in 0..3 {
        app.create(&alice, &snippet(&format!("kept or not {n}")))
            .await;
    }
    // Event 2 went (pruned by age) while 1 and 3 stayed: a resume from 1 must not skip it
    // silently.
    let mut db = <sqlx::SqliteConnection as sqlx::Connection>::connect(&backend.database_url())
        .await
        .expect("the service's database");
    sqlx::query("DELETE FROM changes WHERE seq = 2")
        .execute(&mut db)
        .await
        .expect("pruned");
    let mut stream = subscribe(&app, &app.token(&alice), Some("1")).await;
    let reset = stream.next(WAIT).await.expect("an event");
    assert_eq!(
        (reset.event.as_str(), reset.id.as_deref()),
        ("reset", Some("3"))
    );
    assert_eq!(reset.data["type"], "reset");
    app.create(&alice, &snippet("next")).await;
    assert_eq!(
        ids(&stream.take(1, WAIT).await),
        [4],
        "then on from the reset's id"
    );
}

#[tokio::test]
async fn a_stream_ends_when_its_token_is_revoked() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let alice = user();
    let body = json!({"name": "stream", "scopes": ["snippets:read"]});
    let (_, made) = status_json(app.post("/api/v1/tokens", &alice, &body).await).await;
    let token = made["token"].as_str().expect("token").to_owned();
    let mut stream = subscribe(&app, &token, None).await;
    app.create(&alice, &snippet("seen")).await;
    assert_eq!(stream.take(1, WAIT).await.len(), 1);
    let revoked = app
        .delete(
            &format!("/api/v1/tokens/{}", made["id"].as_str().expect("id")),
            &alice,
        )
        .await;
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    assert!(
        stream.ends_within(WAIT).await,
        "the revoked token's stream ended"
    );
    let again = app
        .http
        .get(format!("{}{EVENTS}", app.api))
        .bearer_auth(&token)
        .send()
        .await
        .expect("sent");
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
}
