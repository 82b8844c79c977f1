//! AI assistance: the body the cognitive service receives, what the user gets back, and how
//! each kind of upstream trouble reaches the user and /metrics.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use pieces_connector::config::Settings;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{
    eventually, expect_error, settings_for, snippet, status_json, user, Backend, TestApp,
};

on_each_backend!(ai_assist_sends_context_and_relevant_snippets_and_answers_the_reply);

const ASSIST: &str = "/api/v1/ai-assist";

fn reply() -> Value {
    json!({
        "response": "Use exponential backoff with jitter.",
        "suggestions": ["cap the delay"],
        "references": [{"kind": "doc", "url": "https://example.com/backoff"}],
        "confidence": 0.87,
    })
}

/// The reply as the user receives it.
fn answered() -> Value {
    let mut answer = reply();
    answer["provider"] = json!("cognitive");
    answer["cached"] = json!(false);
    answer
}

fn ok() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(reply())
}

/// Sets what `/chat` answers, replacing any earlier answer; `/analyze` finds nothing to add.
async fn chat_answers(cognitive: &MockServer, answer: ResponseTemplate) {
    cognitive.reset().await;
    let analysis = ResponseTemplate::new(200).set_body_json(json!({}));
    Mock::given(method("POST"))
        .and(path("/analyze"))
        .respond_with(analysis)
        .mount(cognitive)
        .await;
    Mock::given(method("POST"))
        .and(path("/chat"))
        .respond_with(answer)
        .mount(cognitive)
        .await;
}

/// A service on SQLite whose cognitive service is at `url`, without the answer cache (these
/// tests count calls).
async fn app_with(url: String, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let backend = Backend::sqlite();
    let mut settings = settings_for(&backend);
    settings.cognitive_services_url = Some(url);
    settings.ai_cache_ttl_secs = 0;
    adjust(&mut settings);
    TestApp::start_with(&backend, settings).await
}

async fn ask(app: &TestApp, who: &str) -> Response {
    let question = json!({"query": "how do I retry?"});
    app.post(ASSIST, who, &question).await
}

async fn chat_calls(cognitive: &MockServer) -> Vec<wiremock::Request> {
    let mut requests = cognitive.received_requests().await.unwrap_or_default();
    requests.retain(|r| r.url.path() == "/chat");
    requests
}

/// `pieces_upstream_requests_total` of the cognitive service, for one outcome or all ("").
async fn counted(app: &TestApp, outcome: &str) -> f64 {
    let outcome = format!("outcome=\"{outcome}");
    let labels = ["service=\"cognitive\"", outcome.as_str()];
    app.metric("pieces_upstream_requests_total", &labels).await
}

async fn ai_assist_sends_context_and_relevant_snippets_and_answers_the_reply(backend: Backend) {
    let cognitive = MockServer::start().await;
    chat_answers(&cognitive, ok()).await;
    let mut settings = settings_for(&backend);
    settings.cognitive_services_url = Some(cognitive.uri());
    settings.api_key = Some("platform-key".into());
    let app = TestApp::start_with(&backend, settings).await;
    let (alice, bob) = (user(), user());
    let of_bob = json!({"title": "backoff of bob", "code": "b", "language": "go"});
    app.create(&bob, &of_bob).await;
    let oldest = json!({"title": "exponential backoff", "code": "loop {}", "language": "rust"});
    let oldest_match = app.create(&alice, &oldest).await;
    let mut unrelated = Vec::new();
    for n in 0..5 {
        unrelated.push(app.create(&alice, &snippet(&format!("item {n}"))).await);
    }
    let newest = json!({"title": "t", "code": "x", "language": "go", "description": "add jitter"});
    let newest_match = app.create(&alice, &newest).await;
    let context = json!({"session_id": "s", "context_type": "coding", "context_data": {"f": 1}});
    let (_, workflow) =
        status_json(app.post("/api/v1/workflow-context", &alice, &context).await).await;

    let question = json!({
        "query": "backoff jitter", "context": {"editor": "vim", "line": 12},
        "model": "gpt-4o", "max_tokens": 200,
    });
    let response = app.post(ASSIST, &alice, &question).await;
    let request_id = response.headers()["x-request-id"].clone();
    let (status, answer) = status_json(response).await;
    assert_eq!((status, answer), (StatusCode::OK, answered()));

    let chats = chat_calls(&cognitive).await;
    assert_eq!(chats.len(), 1, "one call per question");
    assert_eq!(chats[0].headers["x-api-key"], "platform-key");
    assert_eq!(chats[0].headers["x-request-id"], request_id);
    let mut body: Value = chats[0].body_json().unwrap();
    let sent = body["context"].as_object_mut().unwrap();
    let timestamp = sent.remove("timestamp").expect("a timestamp");
    let snippets = sent.remove("recent_snippets").expect("recent snippets");
    let expected = json!({
        "query": "backoff jitter", "model": "gpt-4o", "max_tokens": 200,
        "service": "pieces_integration",
        "context": {"workflow": workflow["context"], "editor": "vim", "line": 12},
    });
    assert_eq!(body, expected, "exactly the platform's body");
    chrono::DateTime::parse_from_rfc3339(timestamp.as_str().unwrap()).expect("RFC 3339");
    let snippets = snippets.as_array().unwrap();
    let ids: Vec<&str> = snippets.iter().map(|s| s["id"].as_str().unwrap()).collect();
    let matches: BTreeSet<&str> = ids.iter().copied().collect();
    let both = [oldest_match.as_str(), newest_match.as_str()];
    assert_eq!(
        matches,
        both.into(),
        "the full-text matches, only alice's, and no unrelated ones to fill"
    );
    for unrelated in &unrelated {
        assert!(!ids.contains(&unrelated.as_str()));
    }
    let oldest_sent = snippets.iter().find(|s| s["id"] == oldest_match.as_str());
    assert_eq!(
        oldest_sent.expect("sent")["code"],
        "loop {}",
        "whole snippets are sent"
    );

    // A snippet in the trash is never sent.
    let trashed = app
        .delete(&format!("/api/v1/snippets/{oldest_match}"), &alice)
        .await;
    assert_eq!(trashed.status(), StatusCode::NO_CONTENT);
    let again = json!({"query": "exponential backoff, again"});
    assert_eq!(
        app.post(ASSIST, &alice, &again).await.status(),
        StatusCode::OK
    );
    let chats = chat_calls(&cognitive).await;
    let sent: Value = chats.last().expect("a second call").body_json().unwrap();
    let ids: Vec<&str> = sent["context"]["recent_snippets"]
        .as_array()
        .expect("snippets")
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert!(!ids.contains(&oldest_match.as_str()), "{ids:?}");
}

#[tokio::test]
async fn without_a_cognitive_service_ai_assist_answers_503() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let response = ask(&app, &user()).await;
    let error = expect_error(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "upstream_unavailable",
    )
    .await;
    let detail = error["detail"].as_str().unwrap();
    assert!(detail.contains("COGNITIVE_SERVICES_URL"), "{detail}");
    assert_eq!(counted(&app, "not_configured").await, 1.0);
}

#[tokio::test]
async fn each_kind_of_upstream_trouble_answers_its_own_status_and_is_counted() {
    let hang = ok().set_delay(Duration::from_secs(10));
    let failing = ResponseTemplate::new(500).set_body_string("Traceback: db password");
    let cut = ResponseTemplate::new(200).set_body_raw("{\"response\": \"cu", "application/json");
    let shape = ResponseTemplate::new(200).set_body_json(json!({"answer": "wrong shape"}));
    let (late, bad) = (StatusCode::GATEWAY_TIMEOUT, StatusCode::BAD_GATEWAY);
    let cases = [
        (Some(hang), late, "upstream_timeout", "timeout"),
        (Some(failing), bad, "bad_gateway", "http_5xx"),
        (Some(cut), bad, "bad_gateway", "malformed"),
        (Some(shape), bad, "bad_gateway", "malformed"),
        (None, bad, "bad_gateway", "unreachable"),
    ];
    for (answer, status, code, outcome) in cases {
        let cognitive = MockServer::start().await;
        let url = match answer {
            Some(answer) => {
                chat_answers(&cognitive, answer).await;
                cognitive.uri()
            }
            None => {
                let refusing = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                format!("http://{}", refusing.local_addr().unwrap())
            }
        };
        let app = app_with(url, |s| s.upstream_timeout_secs = 1).await;
        let started = Instant::now();
        let response = ask(&app, &user()).await;
        let waited = started.elapsed();
        let error = expect_error(response, status, code).await;
        assert!(waited < Duration::from_secs(3), "took {waited:?}");
        assert!(!error.to_string().contains("Traceback"), "leaked: {error}");
        assert_eq!(counted(&app, outcome).await, 1.0, "{outcome}");
        assert_eq!(counted(&app, "").await, 1.0, "{outcome}: counted once");
        if let Some(sent) = chat_calls(&cognitive).await.first() {
            assert!(!sent.headers.contains_key("x-api-key"), "no API_KEY");
        }
    }
}

#[tokio::test]
async fn repeated_failures_open_the_circuit_and_it_closes_by_itself() {
    let cognitive = MockServer::start().await;
    let garbage = ResponseTemplate::new(200).set_body_string("<html>oops</html>");
    chat_answers(&cognitive, garbage).await;
    let app = app_with(cognitive.uri(), |s| {
        s.circuit_breaker_threshold = 2;
        s.circuit_breaker_cooldown_secs = 1;
        s.ai_assist_rate_per_minute = 10_000;
    })
    .await;
    let alice = user();
    for _ in 0..2 {
        let response = ask(&app, &alice).await;
        expect_error(response, StatusCode::BAD_GATEWAY, "bad_gateway").await;
    }
    // The service now hangs; an open circuit answers at once instead of waiting for it.
    chat_answers(&cognitive, ok().set_delay(Duration::from_secs(10))).await;
    let started = Instant::now();
    let response = ask(&app, &alice).await;
    let waited = started.elapsed();
    expect_error(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "upstream_unavailable",
    )
    .await;
    assert!(waited < Duration::from_millis(500), "took {waited:?}");
    assert!(chat_calls(&cognitive).await.is_empty(), "no call goes out");
    assert_eq!(counted(&app, "circuit_open").await, 1.0);

    chat_answers(&cognitive, ok()).await;
    let closed = eventually(Duration::from_secs(4), || async {
        ask(&app, &alice).await.status() == StatusCode::OK
    })
    .await;
    assert!(closed, "the circuit never closed after the recovery");
    let (status, answer) = status_json(ask(&app, &alice).await).await;
    assert_eq!(
        (status, answer),
        (StatusCode::OK, answered()),
        "stays closed"
    );
}

#[tokio::test]
async fn ai_assist_is_rate_limited_per_user() {
    let cognitive = MockServer::start().await;
    chat_answers(&cognitive, ok()).await;
    let app = app_with(cognitive.uri(), |s| s.ai_assist_rate_per_minute = 2).await;
    let (alice, bob) = (user(), user());
    for _ in 0..2 {
        assert_eq!(ask(&app, &alice).await.status(), StatusCode::OK);
    }
    let limited = ask(&app, &alice).await;
    // Two a minute: the next question is due 30 s after the first. Rounded down, a client
    // honouring Retry-After would be refused again.
    assert_eq!(limited.headers()["retry-after"], "30", "rounded up");
    expect_error(limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_eq!(ask(&app, &bob).await.status(), StatusCode::OK, "bob");
    let sent = chat_calls(&cognitive).await.len();
    assert_eq!(sent, 3, "a limited question never goes out");
}

#[tokio::test]
async fn every_assist_rule_is_enforced_before_any_call() {
    let cognitive = MockServer::start().await;
    chat_answers(&cognitive, ok()).await;
    let app = app_with(cognitive.uri(), |s| s.ai_assist_rate_per_minute = 1_000).await;
    let big: serde_json::Map<String, Value> = (0..70)
        .map(|i| (format!("k{i}"), json!("x".repeat(1000))))
        .collect();
    let cases = [
        ("query", json!({})),
        ("query", json!({"query": ""})),
        ("query", json!({"query": "q".repeat(8001)})),
        ("max_tokens", json!({"query": "q", "max_tokens": 0})),
        ("max_tokens", json!({"query": "q", "max_tokens": 8193})),
        ("max_tokens", json!({"query": "q", "max_tokens": -1})),
        ("model", json!({"query": "q", "model": ""})),
        ("model", json!({"query": "q", "model": "m".repeat(101)})),
        ("context", json!({"query": "q", "context": [1]})),
        ("context", json!({"query": "q", "context": big})),
    ];
    let alice = user();
    for (field, body) in cases {
        let response = app.post(ASSIST, &alice, &body).await;
        let error = expect_error(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert_eq!(error["field"], field, "{error}");
    }
    assert!(chat_calls(&cognitive).await.is_empty());
    let longest = json!({"query": "q".repeat(8000), "max_tokens": 8192});
    let response = app.post(ASSIST, &alice, &longest).await;
    assert_eq!(response.status(), StatusCode::OK, "limits are inclusive");
}

#[tokio::test]
async fn failing_enrichment_does_not_open_the_answering_circuit() {
    let cognitive = MockServer::start().await;
    chat_answers(&cognitive, ok()).await;
    cognitive.reset().await;
    Mock::given(method("POST"))
        .and(path("/analyze"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&cognitive)
        .await;
    Mock::given(method("POST"))
        .and(path("/chat"))
        .respond_with(ok())
        .mount(&cognitive)
        .await;
    let app = app_with(cognitive.uri(), |s| {
        s.circuit_breaker_threshold = 2;
        s.circuit_breaker_cooldown_secs = 60;
        s.ai_assist_rate_per_minute = 10_000;
    })
    .await;
    let alice = user();
    // Three creates, three failed analyses: past the threshold of the enrichment breaker.
    for n in 0..3 {
        app.create(&alice, &snippet(&format!("analyse me {n}")))
            .await;
    }
    let failed = eventually(Duration::from_secs(5), || async {
        let labels = ["target=\"enrichment\"", "outcome=\"failed\""];
        app.metric("pieces_sync_deliveries_total", &labels).await >= 3.0
    })
    .await;
    assert!(failed, "the analyses failed and were counted");
    let (status, answer) = status_json(ask(&app, &alice).await).await;
    assert_eq!(
        (status, answer),
        (StatusCode::OK, answered()),
        "questions are still answered"
    );
}

#[tokio::test]
async fn a_question_draws_on_every_workspace_the_caller_can_read_or_on_those_named() {
    let cognitive = MockServer::start().await;
    chat_answers(&cognitive, ok()).await;
    let app = app_with(cognitive.uri(), |_| {}).await;
    let (alice, bob) = (user(), user());
    let (_, created) = status_json(
        app.post("/api/v1/workspaces", &bob, &json!({"name": "team"}))
            .await,
    )
    .await;
    let ws = created["id"].as_str().expect("id").to_owned();
    let mut team = json!({"title": "team backoff", "code": "t", "language": "go"});
    team["workspace"] = json!(ws);
    let team_id = app.create(&bob, &team).await;
    let mine = app
        .create(
            &alice,
            &json!({"title": "my backoff", "code": "m", "language": "go"}),
        )
        .await;
    let sent_ids = |body: Value| -> Vec<String> {
        body["context"]["recent_snippets"]
            .as_array()
            .expect("snippets")
            .iter()
            .filter_map(|s| s["id"].as_str().map(str::to_owned))
            .collect()
    };
    // Not a member yet: bob's team snippet is never sent.
    app.post(ASSIST, &alice, &json!({"query": "backoff"})).await;
    let first = chat_calls(&cognitive).await[0]
        .body_json::<Value>()
        .unwrap();
    assert_eq!(sent_ids(first), std::slice::from_ref(&mine));
    let joined = app.put_member(&ws, &bob, &alice, "reader").await;
    assert_eq!(joined.status(), StatusCode::OK);
    app.post(ASSIST, &alice, &json!({"query": "backoff"})).await;
    let second = chat_calls(&cognitive).await[1]
        .body_json::<Value>()
        .unwrap();
    assert_eq!(sent_ids(second), [mine.clone(), team_id.clone()]);
    let named = json!({"query": "backoff", "workspaces": [ws]});
    app.post(ASSIST, &alice, &named).await;
    let third = chat_calls(&cognitive).await[2]
        .body_json::<Value>()
        .unwrap();
    assert_eq!(sent_ids(third), [team_id], "the named workspace's only");
    let elsewhere = json!({"query": "backoff", "workspaces": ["ws_0190"]});
    let refused = app.post(ASSIST, &alice, &elsewhere).await;
    expect_error(refused, StatusCode::NOT_FOUND, "not_found").await;
}
