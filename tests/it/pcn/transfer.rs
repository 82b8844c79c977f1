//! `pcn export` and `pcn import`, against `GET /api/v1/export` and `POST /api/v1/imports`.

use serde_json::{json, Value};

use super::User;
use crate::support::{snippet, Backend, TestApp};

/// Alice's two snippets, exported to a file in her home; answers the file's path.
async fn exported(app: &TestApp, alice: &User<'_>) -> std::path::PathBuf {
    for title in ["exported one", "exported two"] {
        app.create(&alice.id, &snippet(title)).await;
    }
    let file = alice.home().join("export.jsonl");
    let run = alice
        .run(&["export", "-o", file.to_str().expect("a path")])
        .await;
    run.ok();
    assert!(run.stderr.contains("Exported"), "{run:?}");
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_imported_into_an_empty_instance_gives_back_every_snippet_once() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let alice = User::on(&app).await;
    let file = exported(&app, &alice).await;
    let text = std::fs::read_to_string(&file).expect("the export");
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        serde_json::from_str::<Value>(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
    }

    let empty = TestApp::start(&Backend::sqlite()).await;
    let there = User::on(&empty).await;
    let path = file.to_str().expect("a path");
    let imported = there.run(&["import", path, "--format", "json"]).await;
    assert!(imported.ok().contains("2 created"), "{imported:?}");
    let fields = |page: &Value| -> Vec<Value> {
        let mut kept: Vec<Value> = page["snippets"]
            .as_array()
            .expect("snippets")
            .iter()
            .map(|s| json!([s["id"], s["title"], s["code"], s["language"], s["tags"]]))
            .collect();
        kept.sort_by_key(|k| k.to_string());
        kept
    };
    assert_eq!(
        fields(&empty.listing("", &there.id).await),
        fields(&app.listing("", &alice.id).await)
    );

    let again = there.run(&["import", path, "--format", "json"]).await;
    assert!(again.ok().contains("0 created, 2 skipped"), "{again:?}");
    assert_eq!(empty.listing("", &there.id).await["total"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_reports_and_saves_nothing() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let alice = User::on(&app).await;
    let file = exported(&app, &alice).await;
    let empty = TestApp::start(&Backend::sqlite()).await;
    let there = User::on(&empty).await;
    let path = file.to_str().expect("a path");
    let checked = there
        .run(&["--json", "import", path, "--format", "json", "--dry-run"])
        .await;
    let job: Value = serde_json::from_str(checked.ok()).expect("the job's JSON");
    assert_eq!(
        (&job["created"], &job["failed"], &job["dry_run"]),
        (&json!(2), &json!(0), &json!(true)),
        "{job}"
    );
    assert_eq!(empty.listing("", &there.id).await["total"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_to_stdout_streams_every_snippet() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let alice = User::on(&app).await;
    app.create(&alice.id, &snippet("on stdout")).await;
    let run = alice.run(&["export", "--format", "json"]).await;
    assert!(run.ok().contains("on stdout"), "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vscode_file_named_after_a_language_imports_in_that_language() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let alice = User::on(&app).await;
    let snippets = json!({
        "Print a value": {"prefix": "pv", "body": ["println!(\"{:?}\", value);"], "description": "debug print"}
    });
    let file = alice.file("rust.json", &snippets.to_string());
    let imported = alice
        .run(&[
            "import",
            file.to_str().expect("a path"),
            "--format",
            "vscode",
        ])
        .await;
    assert!(imported.ok().contains("1 created"), "{imported:?}");
    let page = app.listing("", &alice.id).await;
    assert_eq!(page["snippets"][0]["language"], "rust", "{page}");
    assert!(
        page["snippets"][0]["code"]
            .as_str()
            .is_some_and(|c| c.contains("println!")),
        "{page}"
    );
}
