//! Streamed answers: deltas as the provider produces them, then the whole answer; an error
//! event once begun; the upstream call cancelled when the client goes away.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::ai::{
    all_events, app, ask_accepting_events, ask_streamed, cognitive_answering, cognitive_reply,
    counted, deltas,
};
use crate::support::openai_stub::{End, OpenAiStub, Script};
use crate::support::sse::SseReader;
use crate::support::{expect_error, user};

fn question() -> Value {
    json!({"query": "explain lifetimes"})
}

fn script(pieces: &[&str], gap: Duration, end: End) -> Script {
    Script::Stream {
        pieces: pieces.iter().map(|p| p.to_string()).collect(),
        gap,
        end,
    }
}

#[tokio::test]
async fn a_streamed_answer_arrives_as_deltas_as_they_are_produced_then_done() {
    let gap = Duration::from_millis(300);
    let stub = OpenAiStub::start(Script::paced(&["Lifetimes ", "name ", "scopes."], gap)).await;
    let app = app(None, Some(stub.url.clone()), |_| {}).await;
    let started = Instant::now();
    let response = ask_streamed(&app, &user(), question()).await;
    assert_eq!(response.headers()["cache-control"], "no-cache");
    let mut reader = SseReader::new(response);
    let first = reader
        .next(Duration::from_secs(5))
        .await
        .expect("a first event");
    assert_eq!(
        (first.event.as_str(), &first.data),
        ("delta", &json!({"text": "Lifetimes "}))
    );
    assert!(
        started.elapsed() < gap,
        "the first words before the rest exist: {:?}",
        started.elapsed()
    );
    let mut events = vec![first];
    while let Some(event) = reader.next(Duration::from_secs(5)).await {
        events.push(event);
    }
    assert_eq!(deltas(&events), ["Lifetimes ", "name ", "scopes."]);
    let done = events.last().expect("done");
    assert_eq!(done.event, "done");
    assert_eq!(done.data["response"], "Lifetimes name scopes.");
    assert_eq!(
        (&done.data["provider"], &done.data["cached"]),
        (&json!("openai"), &json!(false))
    );
    assert_eq!(events.len(), 4, "nothing after done: {events:?}");
}

#[tokio::test]
async fn accept_text_event_stream_asks_for_a_stream_too() {
    let stub = OpenAiStub::start(Script::answer(&["a", "b"])).await;
    let app = app(None, Some(stub.url.clone()), |_| {}).await;
    let events = all_events(ask_accepting_events(&app, &user(), &question()).await).await;
    assert_eq!(deltas(&events), ["a", "b"]);
    assert_eq!(events.last().map(|e| e.event.as_str()), Some("done"));
}

#[tokio::test]
async fn the_cognitive_service_streams_its_whole_answer_as_one_delta() {
    let cognitive = cognitive_answering().await;
    let app = app(Some(cognitive.uri()), None, |_| {}).await;
    let events = all_events(ask_streamed(&app, &user(), question()).await).await;
    let response = cognitive_reply()["response"].clone();
    assert_eq!(deltas(&events), [response.as_str().expect("text")]);
    let mut whole = cognitive_reply();
    whole["provider"] = json!("cognitive");
    whole["cached"] = json!(false);
    assert_eq!(events[1].event, "done");
    assert_eq!(
        events[1].data, whole,
        "the same answer as without streaming"
    );
}

#[tokio::test]
async fn a_stream_cut_midway_ends_with_an_error_event_after_its_deltas() {
    let stub = OpenAiStub::start(script(&["one ", "two "], Duration::ZERO, End::Cut)).await;
    let cognitive = cognitive_answering().await;
    let app = app(Some(cognitive.uri()), Some(stub.url.clone()), |s| {
        s.ai_providers = "openai,cognitive".parse().expect("providers");
    })
    .await;
    let response = ask_streamed(&app, &user(), question()).await;
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .expect("id")
        .to_owned();
    let events = all_events(response).await;
    assert_eq!(
        deltas(&events),
        ["one ", "two "],
        "no second provider once begun"
    );
    let error = events.last().expect("an error event");
    assert_eq!(error.event, "error", "{events:?}");
    assert_eq!(error.data["error"], "bad_gateway");
    assert_eq!(error.data["request_id"], request_id.as_str());
    assert!(
        error.data["detail"]
            .as_str()
            .is_some_and(|d| d.contains("midway")),
        "{error:?}"
    );
    assert_eq!(counted(&app, "openai", "interrupted").await, 1.0);
    let labels = ["error_type=\"bad_gateway\""];
    assert_eq!(app.metric("pieces_errors_total", &labels).await, 1.0);
    // A broken answer is not kept: the same question is asked again.
    let again = all_events(ask_streamed(&app, &user(), question()).await).await;
    assert_eq!(again.last().map(|e| e.event.as_str()), Some("error"));
}

#[tokio::test]
async fn a_provider_falling_silent_midway_ends_the_stream_with_a_timeout_error() {
    let stub = OpenAiStub::start(script(&["thinking..."], Duration::ZERO, End::Hang)).await;
    let app = app(None, Some(stub.url.clone()), |s| {
        s.upstream_timeout_secs = 1
    })
    .await;
    let started = Instant::now();
    let events = all_events(ask_streamed(&app, &user(), question()).await).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(deltas(&events), ["thinking..."]);
    assert_eq!(
        events.last().map(|e| (e.event.as_str(), &e.data["error"])),
        Some(("error", &json!("upstream_timeout")))
    );
    assert_eq!(counted(&app, "openai", "timeout").await, 1.0);
}

#[tokio::test]
async fn a_stream_still_producing_outlives_the_request_timeout() {
    let pieces = ["a"; 8];
    let stub = OpenAiStub::start(Script::paced(&pieces, Duration::from_millis(250))).await;
    let app = app(None, Some(stub.url.clone()), |s| s.request_timeout_secs = 1).await;
    let started = Instant::now();
    let events = all_events(ask_streamed(&app, &user(), question()).await).await;
    assert!(started.elapsed() > Duration::from_millis(1500));
    assert_eq!(deltas(&events).len(), 8);
    assert_eq!(events.last().map(|e| e.event.as_str()), Some("done"));
}

#[tokio::test]
async fn a_client_that_goes_away_mid_stream_cancels_the_upstream_call() {
    let endless = vec!["more "; 400];
    let stub = OpenAiStub::start(Script::paced(&endless, Duration::from_millis(50))).await;
    let app = app(None, Some(stub.url.clone()), |_| {}).await;
    let response = ask_streamed(&app, &user(), question()).await;
    let mut reader = SseReader::new(response);
    let first = reader.take(2, Duration::from_secs(5)).await;
    assert!(first.iter().all(|e| e.event == "delta"));
    drop(reader);
    let hung_up = stub.sees_a_hang_up_within(Duration::from_secs(2)).await;
    assert!(hung_up, "the provider's connection is still open");
    let cancelled = crate::support::eventually(Duration::from_secs(2), || async {
        counted(&app, "openai", "cancelled").await == 1.0
    })
    .await;
    assert!(cancelled, "counted as cancelled");
    assert_eq!(counted(&app, "openai", "ok").await, 0.0);
}

#[tokio::test]
async fn failures_before_the_first_byte_of_a_stream_are_ordinary_json_errors() {
    let stub = OpenAiStub::start(Script::answer(&["x"])).await;
    let app = app(None, Some(stub.url.clone()), |s| {
        s.ai_assist_rate_per_minute = 1
    })
    .await;
    let alice = user();
    let invalid = ask_streamed(&app, &alice, json!({"query": ""})).await;
    let error = expect_error(
        invalid,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(error["field"], "query");
    let bob = user();
    assert_eq!(
        ask_streamed(&app, &bob, question()).await.status(),
        StatusCode::OK
    );
    let limited = ask_streamed(&app, &bob, question()).await;
    assert!(limited.headers().contains_key("retry-after"));
    expect_error(limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}
