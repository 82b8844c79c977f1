//! Saving, listing, searching, reading back, deleting and the history of snippets with `pcn`.

use serde_json::{json, Value};

use super::User;
use crate::support::{Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snippet_saved_from_stdin_is_listed_found_and_read_back_exactly() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let alice = User::on(&app).await;
    // No newline at the end: `get` must add nothing.
    let code = "fn retry() {\n    backoff();\n}";
    let save = [
        "save",
        "--title",
        "Retry with backoff",
        "--tags",
        "net,retry",
        "--language",
        "rust",
    ];
    let saved = alice.run_with_stdin(&save, code).await;
    let id = saved.ok().trim().to_owned();
    let snippet = alice.snippet(&id).await;
    assert_eq!(
        (
            &snippet["title"],
            &snippet["language"],
            &snippet["tags"],
            &snippet["code"]
        ),
        (
            &json!("Retry with backoff"),
            &json!("rust"),
            &json!(["net", "retry"]),
            &json!(code)
        )
    );

    let listed = alice.run(&["list"]).await;
    let row = listed
        .ok()
        .lines()
        .find(|l| l.starts_with(&id))
        .map(str::to_owned);
    let row = row.unwrap_or_else(|| panic!("{id} is not listed: {listed:?}"));
    assert!(
        row.contains("Retry with backoff") && row.contains("#net"),
        "{row}"
    );

    let found = alice.run(&["search", "backoff", "--mode", "text"]).await;
    assert!(found.ok().contains(&id), "{found:?}");
    let not_found = alice.run(&["search", "quicksort", "--mode", "text"]).await;
    assert!(!not_found.ok().contains(&id), "{not_found:?}");

    let got = alice.run(&["get", &id]).await;
    assert_eq!(got.ok(), code);

    let page = alice.run(&["--json", "list"]).await;
    let page: Value = serde_json::from_str(page.ok()).expect("the API's JSON");
    assert_eq!(
        (page["total"].as_i64(), &page["snippets"][0]["id"]),
        (Some(1), &json!(id))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_files_make_one_snippet_each_file_with_its_name_and_language() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let alice = User::on(&app).await;
    let first = alice.file("fetch.py", "import requests\n");
    let second = alice.file("fetch.rs", "fn fetch() {}\n");
    let (first, second) = (first.to_str().unwrap(), second.to_str().unwrap());
    let saved = alice.run(&["save", first, second, "--tags", "http"]).await;
    let id = saved.ok().trim().to_owned();

    let snippet = alice.snippet(&id).await;
    assert_eq!(
        (&snippet["title"], &snippet["code"], &snippet["language"]),
        (
            &json!("fetch.py, fetch.rs"),
            &json!("import requests\n"),
            &json!("python")
        )
    );
    assert_eq!(
        snippet["files"],
        json!([
            {"name": "fetch.py", "language": "python", "code": "import requests\n"},
            {"name": "fetch.rs", "language": "rust", "code": "fn fetch() {}\n"},
        ])
    );
    let page = app.listing("", &alice.id).await;
    assert_eq!(page["total"], 1, "one snippet, not two: {page}");

    let second_file = alice.run(&["get", &id, "--file", "fetch.rs"]).await;
    assert_eq!(second_file.ok(), "fn fetch() {}\n");
    let unknown = alice.run(&["get", &id, "--file", "nope.go"]).await;
    assert!(
        unknown.failed().contains("fetch.py, fetch.rs"),
        "{unknown:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_snippet_is_gone_and_reading_it_fails_with_the_services_detail() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let alice = User::on(&app).await;
    let id = app
        .create(&alice.id, &crate::support::snippet("doomed"))
        .await;
    let removed = alice.run(&["rm", &id]).await;
    assert!(removed.ok().contains("trash"), "{removed:?}");

    let gone = alice.run(&["get", &id]).await;
    assert!(gone.failed().contains("snippet not found"), "{gone:?}");
    assert_eq!(gone.stdout, "", "nothing on stdout for a pipe to take");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_lists_each_version_newest_first_with_what_it_changed() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let alice = User::on(&app).await;
    let id = app
        .create(&alice.id, &crate::support::snippet("versioned"))
        .await;
    let path = format!("/api/v1/snippets/{id}");
    app.patch(&path, &alice.id, &json!({"code": "fn two() {}"}))
        .await;
    app.patch(&path, &alice.id, &json!({"title": "renamed"}))
        .await;

    let history = alice.run(&["history", &id]).await;
    let lines: Vec<&str> = history.ok().lines().collect();
    assert_eq!(lines.len(), 3, "{history:?}");
    assert!(
        lines[0].starts_with("v3") && lines[0].contains("title"),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("v2") && lines[1].contains("code"),
        "{lines:?}"
    );
    assert!(lines[2].starts_with("v1"), "{lines:?}");
}
