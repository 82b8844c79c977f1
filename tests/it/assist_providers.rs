//! AI providers: what an OpenAI-compatible provider is sent, the order providers are asked
//! in, and each way a provider can fail before its first byte sending the question on to
//! the next.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use wiremock::ResponseTemplate;

use crate::support::ai::{
    app, ask_streamed, chat_calls, cognitive, cognitive_answering, cognitive_reply, counted,
    ASSIST, MODEL,
};
use crate::support::openai_stub::{refusing_url, OpenAiStub, Script};
use crate::support::{expect_error, status_json, user};

fn question() -> Value {
    json!({"query": "how do I retry?"})
}

#[tokio::test]
async fn with_the_cognitive_service_down_openai_answers_and_the_metrics_show_the_failure() {
    let stub = OpenAiStub::start(Script::answer(&["Retry ", "with ", "backoff."])).await;
    // Down for questions; snippets' enrichment (counted under the same service) still works.
    let down = cognitive(ResponseTemplate::new(503)).await;
    let app = app(Some(down.uri()), Some(stub.url.clone()), |s| {
        s.api_key = Some("platform-key".into());
        s.openai_api_key = Some("openai-key".into());
    })
    .await;
    let alice = user();
    let backoff = json!({"title": "retry with backoff", "code": "loop {}", "language": "rust"});
    let id = app.create(&alice, &backoff).await;
    let context =
        json!({"session_id": "s", "context_type": "coding", "context_data": {"file": "net.rs"}});
    app.post("/api/v1/workflow-context", &alice, &context).await;

    let (status, answer) = status_json(app.post(ASSIST, &alice, &question()).await).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let expected = json!({
        "response": "Retry with backoff.", "suggestions": [],
        "references": [{"id": id, "title": "retry with backoff"}],
        "confidence": null, "provider": "openai", "cached": false,
    });
    assert_eq!(answer, expected);
    assert_eq!(
        chat_calls(&down).await,
        1,
        "the cognitive service was asked first"
    );
    assert_eq!(counted(&app, "cognitive", "http_5xx").await, 1.0);
    assert_eq!(counted(&app, "openai", "ok").await, 1.0);

    let sent = &stub.received()[0];
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.headers["authorization"], "Bearer openai-key");
    assert!(
        !sent.headers.contains_key("x-api-key"),
        "the platform key stays home"
    );
    assert!(sent.headers.contains_key("x-request-id"));
    assert_eq!(
        (sent.body["model"].as_str(), sent.body["stream"].as_bool()),
        (Some(MODEL), Some(true))
    );
    let messages = sent.body["messages"].as_array().expect("messages");
    assert_eq!(messages[0]["role"], "system");
    let system = messages[0]["content"].as_str().expect("system message");
    for expected in ["retry with backoff", "loop {}", "net.rs"] {
        assert!(
            system.contains(expected),
            "{expected} missing from {system}"
        );
    }
    assert_eq!(
        messages[1],
        json!({"role": "user", "content": "how do I retry?"})
    );

    let named = json!({"query": "how do I retry?", "model": "llama3.2:1b"});
    let response = app.post(ASSIST, &alice, &named).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        stub.received()[1].body["model"],
        "llama3.2:1b",
        "the client's model"
    );
}

#[tokio::test]
async fn each_way_openai_fails_before_its_first_byte_hands_the_question_to_the_cognitive_service() {
    let error = r#"{"error":{"message":"model not found"}}"#.to_owned();
    let cases = [
        (None, "unreachable"),
        (Some(Script::Status(500)), "http_5xx"),
        (Some(Script::Status(404)), "http_4xx"),
        (Some(Script::Garbage), "malformed"),
        (Some(Script::Event(error)), "malformed"),
        (Some(Script::Silent(Duration::from_secs(5))), "timeout"),
    ];
    let cognitive = cognitive_answering().await;
    for (script, outcome) in cases {
        let stub = match script {
            Some(script) => Some(OpenAiStub::start(script).await),
            None => None,
        };
        let url = stub.as_ref().map_or_else(refusing_url, |s| s.url.clone());
        let app = app(Some(cognitive.uri()), Some(url), |s| {
            s.ai_providers = "openai,cognitive".parse().expect("providers");
        })
        .await;
        let started = Instant::now();
        let (status, answer) = status_json(app.post(ASSIST, &user(), &question()).await).await;
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{outcome}: {:?}",
            started.elapsed()
        );
        assert_eq!(status, StatusCode::OK, "{outcome}: {answer}");
        assert_eq!(answer["provider"], "cognitive", "{outcome}");
        assert_eq!(
            answer["response"],
            cognitive_reply()["response"],
            "{outcome}"
        );
        assert_eq!(counted(&app, "openai", outcome).await, 1.0, "{outcome}");
        assert_eq!(counted(&app, "cognitive", "ok").await, 1.0, "{outcome}");
    }
}

#[tokio::test]
async fn each_way_the_cognitive_service_fails_hands_the_question_to_openai() {
    let slow = ResponseTemplate::new(200)
        .set_body_json(cognitive_reply())
        .set_delay(Duration::from_secs(5));
    let cases = [
        (None, "unreachable"),
        (Some(ResponseTemplate::new(500)), "http_5xx"),
        (
            Some(ResponseTemplate::new(200).set_body_string("<html>")),
            "malformed",
        ),
        (Some(slow), "timeout"),
    ];
    let stub = OpenAiStub::start(Script::answer(&["fine"])).await;
    for (answer, outcome) in cases {
        let server = match answer {
            Some(answer) => Some(cognitive(answer).await),
            None => None,
        };
        let url = server.as_ref().map_or_else(refusing_url, |s| s.uri());
        let app = app(Some(url), Some(stub.url.clone()), |_| {}).await;
        let (status, answer) = status_json(app.post(ASSIST, &user(), &question()).await).await;
        assert_eq!(
            (status, &answer["provider"]),
            (StatusCode::OK, &json!("openai")),
            "{outcome}"
        );
        assert_eq!(answer["response"], "fine");
        assert_eq!(counted(&app, "cognitive", outcome).await, 1.0, "{outcome}");
    }
}

#[tokio::test]
async fn when_every_provider_fails_the_last_ones_error_is_answered_as_json_even_to_a_stream() {
    let stub = OpenAiStub::start(Script::Status(503)).await;
    let app = app(Some(refusing_url()), Some(stub.url.clone()), |_| {}).await;
    let alice = user();
    let plain = app.post(ASSIST, &alice, &question()).await;
    let error = expect_error(plain, StatusCode::BAD_GATEWAY, "bad_gateway").await;
    assert!(
        error["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("openai"),
        "{error}"
    );
    let streamed = ask_streamed(&app, &alice, question()).await;
    let kind = streamed.headers()["content-type"].clone();
    assert_eq!(kind, "application/json", "not a stream");
    expect_error(streamed, StatusCode::BAD_GATEWAY, "bad_gateway").await;
}

#[tokio::test]
async fn an_open_breaker_skips_its_provider_without_calling_it() {
    let stub = OpenAiStub::start(Script::Status(500)).await;
    let cognitive = cognitive_answering().await;
    let app = app(Some(cognitive.uri()), Some(stub.url.clone()), |s| {
        s.ai_providers = "openai,cognitive".parse().expect("providers");
        s.circuit_breaker_threshold = 2;
        s.circuit_breaker_cooldown_secs = 60;
        s.ai_cache_ttl_secs = 0;
    })
    .await;
    let alice = user();
    for _ in 0..3 {
        let (status, answer) = status_json(app.post(ASSIST, &alice, &question()).await).await;
        assert_eq!(
            (status, &answer["provider"]),
            (StatusCode::OK, &json!("cognitive"))
        );
    }
    assert_eq!(stub.calls(), 2, "the third question does not reach openai");
    assert_eq!(counted(&app, "openai", "circuit_open").await, 1.0);
    assert_eq!(chat_calls(&cognitive).await, 3);
}
