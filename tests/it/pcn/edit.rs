//! `pcn edit`: the code in $EDITOR, saved with If-Match; a change made meanwhile is a conflict
//! that saves nothing and keeps what the user typed.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use super::{run, User};
use crate::support::{eventually, snippet, Backend, TestApp};

/// An executable editor script in the user's home.
fn editor(user: &User<'_>, script: &str) -> PathBuf {
    let path = user.file("editor.sh", &format!("#!/bin/sh\n{script}\n"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_editor_writes_is_saved_as_the_next_version() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let alice = User::on(&app).await;
    let id = app.create(&alice.id, &snippet("edited")).await;
    let script = editor(&alice, r#"printf 'fn better() {}\n' > "$1""#);
    let mut edit = alice.pcn(&["edit", &id]);
    edit.env("EDITOR", &script);
    let saved = run(edit, "").await;
    assert!(saved.ok().contains("version 2"), "{saved:?}");
    let now = alice.snippet(&id).await;
    assert_eq!(
        (&now["code"], &now["version"]),
        (&json!("fn better() {}\n"), &json!(2))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_editor_that_changes_nothing_saves_nothing() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let alice = User::on(&app).await;
    let id = app.create(&alice.id, &snippet("untouched")).await;
    let mut edit = alice.pcn(&["edit", &id]);
    edit.env("EDITOR", "true");
    let run = run(edit, "").await;
    run.ok();
    assert!(run.stderr.contains("No change"), "{run:?}");
    assert_eq!(alice.snippet(&id).await["version"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snippet_changed_while_it_is_edited_is_a_conflict_and_the_edited_text_is_kept() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let alice = User::on(&app).await;
    let id = app.create(&alice.id, &snippet("contested")).await;
    let marks = alice.home().join("marks");
    std::fs::create_dir(&marks).expect("marks directory");
    // The editor says it is open, waits for the test's go, then writes the user's text.
    let script = editor(
        &alice,
        r#": > "$MARKS/editing"
while [ ! -e "$MARKS/go" ]; do sleep 0.05; done
printf 'mine\n' > "$1""#,
    );
    let mut edit = alice.pcn(&["edit", &id]);
    edit.env("EDITOR", &script).env("MARKS", &marks);
    let editing = tokio::spawn(run(edit, ""));

    let opened = eventually(Duration::from_secs(20), || async {
        marks.join("editing").exists()
    })
    .await;
    assert!(opened, "the editor never opened");
    let path = format!("/api/v1/snippets/{id}");
    let theirs = app
        .patch(&path, &alice.id, &json!({"code": "theirs\n"}))
        .await;
    assert!(theirs.status().is_success());
    std::fs::write(marks.join("go"), "").expect("go");

    let refused = editing.await.expect("the edit's task");
    let said = refused.failed();
    assert!(said.contains("conflict"), "{refused:?}");
    let kept = said
        .lines()
        .find_map(|l| l.strip_prefix("your text is kept in "))
        .unwrap_or_else(|| panic!("no kept file named: {refused:?}"));
    assert_eq!(
        std::fs::read_to_string(kept.trim()).expect("kept file"),
        "mine\n"
    );
    let now = alice.snippet(&id).await;
    assert_eq!(
        (&now["code"], &now["version"]),
        (&json!("theirs\n"), &json!(2))
    );
}
