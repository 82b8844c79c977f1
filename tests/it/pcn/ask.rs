//! `pcn ask`: the answer on stdout as the provider writes it.

use std::io::Read;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};

use super::User;
use crate::support::ai;
use crate::support::openai_stub::{OpenAiStub, Script};
use crate::support::{status_json, Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answer_is_printed_as_it_is_written() {
    // Long enough that the first words are read well before the next exist.
    let gap = Duration::from_millis(600);
    let stub = OpenAiStub::start(Script::paced(&["Lifetimes ", "name ", "scopes."], gap)).await;
    let app = ai::app(None, Some(stub.url.clone()), |_| {}).await;
    let alice = User::on(&app).await;
    let mut ask = alice.pcn(&["ask", "explain", "lifetimes"]);
    let (first, rest, code) = tokio::task::spawn_blocking(move || {
        let mut child = ask
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("pcn starts");
        let mut stdout = child.stdout.take().expect("stdout");
        let mut chunk = [0; 256];
        let read = stdout.read(&mut chunk).expect("a first piece");
        let mut rest = String::new();
        stdout.read_to_string(&mut rest).expect("the rest");
        let code = child.wait().expect("pcn ends").code();
        (
            String::from_utf8_lossy(&chunk[..read]).into_owned(),
            rest,
            code,
        )
    })
    .await
    .expect("the reader");
    assert_eq!(
        first, "Lifetimes ",
        "the first words arrive before the rest is written"
    );
    assert_eq!(format!("{first}{rest}"), "Lifetimes name scopes.\n");
    assert_eq!(code, Some(0));
    assert_eq!(
        stub.received()[0].body["messages"][1]["content"],
        "explain lifetimes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_with_json_prints_the_whole_answer_object() {
    let stub = OpenAiStub::start(Script::answer(&["Use ", "a trait."])).await;
    let app = ai::app(None, Some(stub.url.clone()), |_| {}).await;
    let alice = User::on(&app).await;
    let answered = alice.run(&["--json", "ask", "how do I abstract?"]).await;
    let answer: Value = serde_json::from_str(answered.ok()).expect("one JSON answer");
    assert_eq!(
        (&answer["response"], &answer["provider"], &answer["cached"]),
        (&json!("Use a trait."), &json!("openai"), &json!(false))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_without_ai_refuses_with_its_detail_on_stderr() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let alice = User::on(&app).await;
    let body = json!({"query": "anything"});
    let (_, refusal) = status_json(app.post(ai::ASSIST, &alice.id, &body).await).await;
    let detail = refusal["detail"].as_str().expect("a detail");
    let refused = alice.run(&["ask", "anything"]).await;
    assert!(refused.failed().contains(detail), "{refused:?}");
    assert_eq!(refused.stdout, "");
}
