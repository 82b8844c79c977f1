//! No credential reaches an AI provider: a key planted in a snippet, in the workflow context,
//! in the context sent with the question and in the question itself arrives at either
//! provider as `[REDACTED:<kind>]`, and each replacement is counted by kind.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::ai::{app, cognitive_answering, ASSIST};
use crate::support::openai_stub::{OpenAiStub, Script};
use crate::support::{status_json, user};

/// A made-up AWS access key id of the documented shape, assembled so no file holds one.
fn planted_key() -> String {
    format!("AKIA{}", "Q3ZT7LMN4PRS2VWX")
}

const REDACTED: &str = "[REDACTED:aws-access-token]";

#[tokio::test]
async fn a_planted_key_never_reaches_either_provider() {
    let key = planted_key();
    let stub = OpenAiStub::start(Script::answer(&["Rotate it."])).await;
    let cognitive = cognitive_answering().await;
    let app = app(Some(cognitive.uri()), Some(stub.url.clone()), |s| {
        s.ai_providers = "openai,cognitive".parse().expect("providers");
    })
    .await;
    let alice = user();
    let snippet = json!({
        "title": "deploy to s3", "tags": ["deploy"],
        "files": [
            {"name": "deploy.py", "language": "python", "code": format!("KEY = \"{key}\"\nupload()")},
            {"name": "ci.env", "language": "shell", "code": format!("AWS_ACCESS_KEY_ID={key}")},
        ],
    });
    app.create(&alice, &snippet).await;
    let workflow = json!({"session_id": "s", "context_type": "coding",
                          "context_data": {"open_file": "deploy.py", "selection": format!("KEY = '{key}'")}});
    app.post("/api/v1/workflow-context", &alice, &workflow)
        .await;
    let question = json!({
        "query": format!("why does s3 deploy refuse {key}?"),
        "context": {"terminal": format!("error: key {key} is not valid")},
    });

    let (status, answer) = status_json(app.post(ASSIST, &alice, &question).await).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["provider"], "openai");
    let sent = stub.received()[0].body.to_string();
    assert!(
        !sent.contains(&key),
        "the OpenAI-compatible provider got the key: {sent}"
    );
    assert!(!sent.contains(&key[..8]), "a part of the key was sent");
    assert!(
        sent.contains("deploy to s3"),
        "the snippet was sent: {sent}"
    );
    // The question, its context, the workflow context, and the snippet's two files.
    assert_eq!(sent.matches(REDACTED).count(), 5, "{sent}");
    let counted = app
        .metric("pieces_ai_redactions_total", &["kind=\"aws-access-token\""])
        .await;
    assert_eq!(counted, 5.0);

    // The platform's own service gets the same material redacted.
    let only_cognitive = crate::support::ai::app(Some(cognitive.uri()), None, |_| {}).await;
    only_cognitive.create(&alice, &snippet).await;
    only_cognitive
        .post("/api/v1/workflow-context", &alice, &workflow)
        .await;
    let (status, answer) = status_json(only_cognitive.post(ASSIST, &alice, &question).await).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let requests = cognitive.received_requests().await.unwrap_or_default();
    let chat: Vec<Value> = requests
        .iter()
        .filter(|r| r.url.path() == "/chat")
        .map(|r| serde_json::from_slice(&r.body).expect("a JSON body"))
        .collect();
    assert_eq!(chat.len(), 1, "asked once");
    let sent = chat[0].to_string();
    assert!(
        !sent.contains(&key),
        "the cognitive service got the key: {sent}"
    );
    assert!(sent.contains(REDACTED), "{sent}");
}
