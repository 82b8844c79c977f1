//! A service with AI providers: the cognitive service as a wiremock stub, an OpenAI-compatible
//! one as `OpenAiStub`, and what the tests of both ask and count.

use std::time::Duration;

use pieces_connector::config::Settings;
use reqwest::header::ACCEPT;
use reqwest::{Method, Response};
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::sse::{SseEvent, SseReader};
use super::{settings_for, Backend, TestApp};

pub const ASSIST: &str = "/api/v1/ai-assist";
pub const MODEL: &str = "stub-model";

/// What the cognitive stub answers.
pub fn cognitive_reply() -> Value {
    json!({
        "response": "Use exponential backoff with jitter.",
        "suggestions": ["cap the delay"],
        "references": [{"kind": "doc", "url": "https://example.com/backoff"}],
        "confidence": 0.87,
    })
}

/// A cognitive service answering `/chat` with `answer` (and `/analyze` with nothing).
pub async fn cognitive(answer: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/analyze"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/chat"))
        .respond_with(answer)
        .mount(&server)
        .await;
    server
}

pub async fn cognitive_answering() -> MockServer {
    cognitive(ResponseTemplate::new(200).set_body_json(cognitive_reply())).await
}

pub async fn chat_calls(cognitive: &MockServer) -> usize {
    let requests = cognitive.received_requests().await.unwrap_or_default();
    requests.iter().filter(|r| r.url.path() == "/chat").count()
}

/// A service on `backend` with these providers (an OpenAI-compatible one asks `MODEL`).
pub async fn app_on(
    backend: &Backend,
    cognitive: Option<String>,
    openai: Option<String>,
    adjust: impl FnOnce(&mut Settings),
) -> TestApp {
    let mut settings = settings_for(backend);
    settings.cognitive_services_url = cognitive;
    if openai.is_some() {
        settings.openai_model = Some(MODEL.into());
    }
    settings.openai_base_url = openai;
    settings.ai_assist_rate_per_minute = 10_000;
    settings.upstream_timeout_secs = 1;
    adjust(&mut settings);
    TestApp::start_with(backend, settings).await
}

pub async fn app(
    cognitive: Option<String>,
    openai: Option<String>,
    adjust: impl FnOnce(&mut Settings),
) -> TestApp {
    app_on(&Backend::sqlite(), cognitive, openai, adjust).await
}

/// `pieces_upstream_requests_total` of one provider and outcome.
pub async fn counted(app: &TestApp, service: &str, outcome: &str) -> f64 {
    let service = format!("service=\"{service}\"");
    let outcome = format!("outcome=\"{outcome}\"");
    app.metric("pieces_upstream_requests_total", &[&service, &outcome])
        .await
}

/// Asks for a streamed answer (`stream: true`).
pub async fn ask_streamed(app: &TestApp, user: &str, question: Value) -> Response {
    let mut question = question;
    question["stream"] = json!(true);
    app.post(ASSIST, user, &question).await
}

/// Asks with `Accept: text/event-stream` and no `stream` field.
pub async fn ask_accepting_events(app: &TestApp, user: &str, question: &Value) -> Response {
    app.request(Method::POST, ASSIST, user)
        .header(ACCEPT, "text/event-stream")
        .json(question)
        .send()
        .await
        .expect("request sent")
}

/// Every event of a streamed answer, until the server ends it.
pub async fn all_events(response: Response) -> Vec<SseEvent> {
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let kind = response.headers()["content-type"]
        .to_str()
        .unwrap_or_default();
    assert!(kind.starts_with("text/event-stream"), "{kind}");
    let mut reader = SseReader::new(response);
    let mut events = Vec::new();
    while let Some(event) = reader.next(Duration::from_secs(10)).await {
        events.push(event);
    }
    events
}

/// The text of the `delta` events.
pub fn deltas(events: &[SseEvent]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.event == "delta")
        .map(|e| e.data["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}
