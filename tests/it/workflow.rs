//! The workflow context: kept per user with a TTL, validated, and announced to the gateway.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{eventually, expect_error, settings_for, status_json, user, Backend, TestApp};

on_each_backend!(
    context_belongs_to_the_token_user_whatever_the_body_says,
    a_newer_context_replaces_the_older_one,
    context_expires_after_its_ttl,
    every_context_rule_is_enforced_and_names_the_field,
    every_context_update_reaches_the_gateway_with_its_headers,
    every_synced_context_is_read_back_whatever_the_cache_evicts,
    a_context_survives_a_restart,
);

const CONTEXT: &str = "/api/v1/workflow-context";

fn context(session: &str) -> Value {
    json!({
        "session_id": session,
        "context_type": "coding",
        "context_data": {"file": "src/main.rs", "line": 42, "open": ["a.rs", "b.rs"]},
    })
}

async fn context_belongs_to_the_token_user_whatever_the_body_says(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let (alice, mallory) = (user(), user());
    let mut body = context("s-1");
    body["user_id"] = json!(mallory);
    body["timestamp"] = json!("2026-01-02T03:04:05.5+02:00");
    let (status, synced) = status_json(app.post(CONTEXT, &alice, &body).await).await;
    assert_eq!(status, StatusCode::OK, "{synced}");
    let expected = json!({
        "user_id": alice,
        "session_id": "s-1",
        "context_type": "coding",
        "context_data": {"file": "src/main.rs", "line": 42, "open": ["a.rs", "b.rs"]},
        "timestamp": "2026-01-02T01:04:05.500Z",
    });
    assert_eq!(synced, json!({"status": "synced", "context": expected}));

    let (status, read) = status_json(app.get(CONTEXT, &alice).await).await;
    assert_eq!((status, read), (StatusCode::OK, expected));
    expect_error(
        app.get(CONTEXT, &mallory).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    // Without a timestamp the context is stamped now; Python's offset-less isoformat is UTC.
    let (_, now) = status_json(app.post(CONTEXT, &alice, &context("s-2")).await).await;
    let stamped =
        chrono::DateTime::parse_from_rfc3339(now["context"]["timestamp"].as_str().unwrap())
            .expect("RFC 3339");
    let age = chrono::Utc::now().signed_duration_since(stamped);
    assert!(age.num_seconds().abs() < 60, "stamped now, got {stamped}");
    let mut naive = context("s-3");
    naive["timestamp"] = json!("2026-01-02T03:04:05");
    let (_, naive) = status_json(app.post(CONTEXT, &alice, &naive).await).await;
    assert_eq!(naive["context"]["timestamp"], "2026-01-02T03:04:05Z");
}

async fn a_newer_context_replaces_the_older_one(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let alice = user();
    app.post(CONTEXT, &alice, &context("first")).await;
    let mut second = context("second");
    second["context_type"] = json!("reviewing");
    second["context_data"] = json!({"pr": 7});
    let (_, synced) = status_json(app.post(CONTEXT, &alice, &second).await).await;
    let (_, read) = status_json(app.get(CONTEXT, &alice).await).await;
    assert_eq!(read, synced["context"]);
    assert_eq!(
        (&read["session_id"], &read["context_data"]),
        (&json!("second"), &json!({"pr": 7})),
        "nothing of the older context is left"
    );
}

async fn context_expires_after_its_ttl(backend: Backend) {
    let mut settings = settings_for(&backend);
    settings.workflow_context_ttl_secs = 1;
    let app = TestApp::start_with(&backend, settings).await;
    let alice = user();
    app.post(CONTEXT, &alice, &context("short-lived")).await;
    assert_eq!(app.get(CONTEXT, &alice).await.status(), StatusCode::OK);
    let expired = eventually(Duration::from_secs(4), || async {
        app.get(CONTEXT, &alice).await.status() == StatusCode::NOT_FOUND
    })
    .await;
    assert!(expired, "the context is still served after its 1 s TTL");
    expect_error(
        app.get(CONTEXT, &alice).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

async fn every_context_rule_is_enforced_and_names_the_field(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let alice = user();
    let with = |field: &str, value: Value| {
        let mut body = context("s");
        body[field] = value;
        body
    };
    let big: serde_json::Map<String, Value> = (0..70)
        .map(|i| (format!("k{i}"), json!("x".repeat(1000))))
        .collect();
    let mut missing = context("s");
    missing.as_object_mut().unwrap().remove("session_id");
    let cases = [
        ("session_id", missing),
        ("session_id", with("session_id", json!(""))),
        ("session_id", with("session_id", json!("  "))),
        ("session_id", with("session_id", json!("s".repeat(129)))),
        ("session_id", with("session_id", json!(5))),
        ("context_type", with("context_type", json!(""))),
        ("context_type", with("context_type", json!("t".repeat(65)))),
        ("context_data", with("context_data", json!([1, 2]))),
        ("context_data", with("context_data", json!("text"))),
        ("context_data", with("context_data", Value::Object(big))),
        ("timestamp", with("timestamp", json!("yesterday"))),
        (
            "timestamp",
            with("timestamp", json!("2026-13-45T99:00:00Z")),
        ),
    ];
    for (field, body) in cases {
        let response = app.post(CONTEXT, &alice, &body).await;
        let error = expect_error(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert_eq!(error["field"], field, "{error}");
    }
    expect_error(
        app.get(CONTEXT, &alice).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let longest = with("session_id", json!("é".repeat(128)));
    let longest = app.post(CONTEXT, &alice, &longest).await;
    assert_eq!(
        longest.status(),
        StatusCode::OK,
        "128 characters, not bytes"
    );
}

async fn every_context_update_reaches_the_gateway_with_its_headers(backend: Backend) {
    let gateway = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/internal/context-update"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&gateway)
        .await;
    let mut settings = settings_for(&backend);
    settings.gateway_url = Some(gateway.uri());
    settings.api_key = Some("platform-key".into());
    let app = TestApp::start_with(&backend, settings).await;
    let alice = user();
    let mut sent = Vec::new();
    for session in ["s-1", "s-2"] {
        let response = app.post(CONTEXT, &alice, &context(session)).await;
        let request_id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let (status, synced) = status_json(response).await;
        assert_eq!(status, StatusCode::OK);
        sent.push((request_id, synced["context"].clone()));
    }
    let arrived = eventually(Duration::from_secs(5), || async {
        gateway.received_requests().await.unwrap().len() >= 2
    })
    .await;
    assert!(arrived, "the gateway was not told of both updates");
    let received = gateway.received_requests().await.unwrap();
    assert_eq!(received.len(), 2, "each update announced once");
    let header = |r: &wiremock::Request, name: &str| {
        r.headers.get(name).map(|v| v.to_str().unwrap().to_owned())
    };
    let mut keys = Vec::new();
    for (request_id, stored) in &sent {
        let request = received
            .iter()
            .find(|r| header(r, "x-request-id").as_ref() == Some(request_id))
            .unwrap_or_else(|| panic!("no notification carries request id {request_id}"));
        assert_eq!(
            &request.body_json::<Value>().unwrap(),
            stored,
            "the stored context"
        );
        assert_eq!(
            header(request, "x-api-key").as_deref(),
            Some("platform-key")
        );
        assert_eq!(
            header(request, "content-type").as_deref(),
            Some("application/json")
        );
        keys.push(header(request, "idempotency-key").expect("Idempotency-Key"));
    }
    assert_ne!(keys[0], keys[1], "each update has its own idempotency key");
    let counted = eventually(Duration::from_secs(2), || async {
        let labels = ["target=\"gateway\"", "outcome=\"delivered\""];
        app.metric("pieces_sync_deliveries_total", &labels).await == 2.0
    })
    .await;
    assert!(counted, "both deliveries are counted in /metrics");
}

/// 400 users each post a 50 KB context: together 20 MB, more than the in-process cache holds
/// (16 MiB, shared with snippets and answers). Each one said "synced", so each is there.
async fn every_synced_context_is_read_back_whatever_the_cache_evicts(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let users: Vec<String> = (0..400).map(|_| user()).collect();
    let padding = "p".repeat(50_000);
    for (n, who) in users.iter().enumerate() {
        let body = json!({"session_id": "s", "context_type": "coding",
            "context_data": {"n": n, "padding": padding}});
        let (status, _) = status_json(app.post(CONTEXT, who, &body).await).await;
        assert_eq!(status, StatusCode::OK);
    }
    for (n, who) in users.iter().enumerate() {
        let (status, read) = status_json(app.get(CONTEXT, who).await).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "user {n}'s context was lost: {read}"
        );
        assert_eq!(read["context_data"]["n"], n);
    }
}

async fn a_context_survives_a_restart(backend: Backend) {
    let alice = user();
    let app = TestApp::start(&backend).await;
    let (status, _) = status_json(app.post(CONTEXT, &alice, &context("kept")).await).await;
    assert_eq!(status, StatusCode::OK);
    app.stop().await;
    let app = TestApp::start(&backend).await;
    let (status, read) = status_json(app.get(CONTEXT, &alice).await).await;
    assert_eq!(
        (status, read["session_id"].as_str()),
        (StatusCode::OK, Some("kept"))
    );
}
