//! What `pcn` says when it cannot do what was asked: usage errors exit 2, failures exit 1
//! with the reason on stderr; and the completion scripts.

use super::{run, User};
use crate::support::{Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completion_scripts_are_printed_for_bash_zsh_and_fish() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let alice = User::on(&app).await;
    for shell in ["bash", "zsh", "fish"] {
        let script = alice.run(&["completions", shell]).await;
        let text = script.ok();
        assert!(
            text.contains("pcn") && text.contains("search"),
            "{shell}: {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_usage_exits_2_before_any_request() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let alice = User::on(&app).await;
    let bad: [&[&str]; 5] = [
        &["frobnicate"],
        &["get"],
        &["search", "x", "--mode", "psychic"],
        &["share", "some-id", "--expires", "soon"],
        &["list", "--limit", "1000"],
    ];
    for args in bad {
        let refused = alice.run(args).await;
        assert_eq!(refused.code, Some(2), "{args:?}: {refused:?}");
        assert!(
            !refused.stderr.is_empty() && refused.stdout.is_empty(),
            "{refused:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_login_pcn_says_how_to_log_in() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let alice = User::on(&app).await;
    let refused = run(alice.pcn_without_login(&["list"]), "").await;
    assert!(refused.failed().contains("pcn login"), "{refused:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_without_the_scope_gets_the_services_detail() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let reader = User::with_scopes(&app, &["snippets:read"]).await;
    let refused = reader
        .run_with_stdin(&["save", "--title", "t"], "code")
        .await;
    assert!(
        refused
            .failed()
            .contains("the token lacks the `snippets:write` scope"),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_that_is_not_there_is_named() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let alice = User::on(&app).await;
    let mut list = alice.pcn(&["list"]);
    // Port 1 on loopback: nothing listens there.
    list.env("PCN_URL", "http://127.0.0.1:1");
    let refused = run(list, "").await;
    assert!(
        refused
            .failed()
            .contains("could not reach http://127.0.0.1:1"),
        "{refused:?}"
    );
}
