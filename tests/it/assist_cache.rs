//! The answer cache: the same question with the same material is answered once, and a
//! changed snippet or workflow context asks the provider again.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::ai::{all_events, app_on, ask_streamed, deltas, ASSIST};
use crate::support::openai_stub::{OpenAiStub, Script};
use crate::support::{status_json, user, Backend, TestApp};

on_each_backend!(
    a_repeated_question_is_answered_from_the_cache_without_calling_the_provider,
    a_changed_snippet_or_workflow_context_asks_the_provider_again,
);

fn question() -> Value {
    json!({"query": "how do I parse json?"})
}

async fn ask(app: &TestApp, who: &str) -> Value {
    let (status, answer) = status_json(app.post(ASSIST, who, &question()).await).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

async fn a_repeated_question_is_answered_from_the_cache_without_calling_the_provider(
    backend: Backend,
) {
    let stub = OpenAiStub::start(Script::answer(&["Use ", "serde_json."])).await;
    let app = app_on(&backend, None, Some(stub.url.clone()), |_| {}).await;
    let alice = user();
    app.create(
        &alice,
        &json!({"title": "json parsing", "code": "serde", "language": "rust"}),
    )
    .await;
    let first = ask(&app, &alice).await;
    assert_eq!(first["cached"], false);
    let second = ask(&app, &alice).await;
    assert_eq!(stub.calls(), 1, "no second call");
    let mut expected = first.clone();
    expected["cached"] = json!(true);
    assert_eq!(second, expected);

    let events = all_events(ask_streamed(&app, &alice, question()).await).await;
    assert_eq!(
        deltas(&events),
        ["Use serde_json."],
        "the cached answer in one delta"
    );
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].event, "done");
    assert_eq!(events[1].data, expected);
    assert_eq!(stub.calls(), 1);
    let hits = app
        .metric("pieces_answer_cache_requests_total", &["result=\"hit\""])
        .await;
    assert_eq!(hits, 2.0);

    ask(&app, &user()).await;
    assert_eq!(stub.calls(), 2, "another user's answer is never served");
}

async fn a_changed_snippet_or_workflow_context_asks_the_provider_again(backend: Backend) {
    let stub = OpenAiStub::start(Script::answer(&["answer"])).await;
    let app = app_on(&backend, None, Some(stub.url.clone()), |_| {}).await;
    let alice = user();
    let body = json!({"title": "json parsing", "code": "serde", "language": "rust"});
    let id = app.create(&alice, &body).await;
    ask(&app, &alice).await;
    assert_eq!(ask(&app, &alice).await["cached"], true);
    assert_eq!(stub.calls(), 1);

    let path = format!("/api/v1/snippets/{id}");
    let patched = app
        .patch(&path, &alice, &json!({"code": "serde_json::from_str"}))
        .await;
    assert_eq!(patched.status(), StatusCode::OK);
    assert_eq!(
        ask(&app, &alice).await["cached"],
        false,
        "the snippet changed"
    );
    assert_eq!(stub.calls(), 2);
    let system = stub.received()[1].body["messages"][0]["content"].clone();
    assert!(system
        .as_str()
        .is_some_and(|s| s.contains("serde_json::from_str")));
    assert_eq!(ask(&app, &alice).await["cached"], true);

    let context = json!({"session_id": "s", "context_type": "coding", "context_data": {"f": 2}});
    app.post("/api/v1/workflow-context", &alice, &context).await;
    assert_eq!(
        ask(&app, &alice).await["cached"],
        false,
        "a new workflow context"
    );
    assert_eq!(stub.calls(), 3);
}
