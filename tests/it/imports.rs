//! Import from other tools' real file formats (tests/fixtures/import, whose README cites each
//! format's sources and gives the counts asserted here), and export then import into an
//! empty instance, field for field.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::backends::Store;
use crate::support::{expect_error, settings_for, status_json, user, Backend, TestApp};

on_each_backend!(
    a_file_over_the_bound_is_refused_declared_or_not,
    each_format_imports_its_fixture_and_importing_again_creates_nothing,
    a_dry_run_saves_nothing_and_bad_files_are_refused_whole,
    export_then_import_into_an_empty_instance_gives_back_every_field
);

fn fixture(path: &str) -> Vec<u8> {
    let full = format!(
        "{}/tests/fixtures/import/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

async fn send_import(app: &TestApp, who: &str, query: &str, body: Vec<u8>) -> reqwest::Response {
    app.http
        .post(format!("{}/api/v1/imports?{query}", app.api))
        .bearer_auth(app.token(who))
        .body(body)
        .send()
        .await
        .expect("answered")
}

/// Starts an import and follows its job to the end.
pub async fn imported(app: &TestApp, who: &str, query: &str, body: Vec<u8>) -> Value {
    let (status, job) = status_json(send_import(app, who, query, body).await).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    let path = format!("/api/v1/imports/{}", job["id"].as_str().expect("id"));
    for _ in 0..300 {
        let (status, job) = status_json(app.get(&path, who).await).await;
        assert_eq!(status, StatusCode::OK, "{job}");
        if job["status"] != "running" {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the import did not end");
}

fn counts(job: &Value) -> [u64; 4] {
    ["total", "created", "skipped", "failed"].map(|k| job[k].as_u64().expect(k))
}

async fn titles(app: &TestApp, who: &str) -> Vec<String> {
    let page = app.listing("limit=100", who).await;
    let mut titles: Vec<String> = page["snippets"]
        .as_array()
        .expect("snippets")
        .iter()
        .map(|s| s["title"].as_str().expect("title").to_owned())
        .collect();
    titles.sort();
    titles
}

async fn a_file_over_the_bound_is_refused_declared_or_not(backend: Backend) {
    let mut settings = settings_for(&backend);
    settings.import_max_bytes = 8192;
    let app = TestApp::start_with(&backend, settings).await;
    let alice = user();
    let big = fixture("gist/list.json");
    assert!(big.len() > 8192);
    let declared = send_import(&app, &alice, "format=gist", big.clone()).await;
    expect_error(declared, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    // Sent in chunks with no length declared: counted as it arrives.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        big.chunks(1000).map(|c| Ok(c.to_vec())).collect();
    let streamed = app
        .http
        .post(format!("{}/api/v1/imports?format=gist", app.api))
        .bearer_auth(app.token(&alice))
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await;
    // The service answers 413 and stops reading; a client still sending may see the
    // connection close before it reads the answer (HTTP/1.1 has no way to stop a sender).
    match streamed {
        Ok(answer) => {
            expect_error(answer, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
        }
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }
    assert_eq!(app.listing("", &alice).await["total"], 0, "nothing saved");
    let fits = imported(&app, &alice, "format=gist", fixture("gist/one.json")).await;
    assert_eq!(counts(&fits), [1, 1, 0, 0]);
    app.stop().await;
}

async fn each_format_imports_its_fixture_and_importing_again_creates_nothing(backend: Backend) {
    let app = TestApp::start(&backend).await;
    // (format, file, expected [entries, created, skipped, failed], again)
    let cases = [
        ("gist", "gist/one.json", [1, 1, 0, 0], [1, 0, 1, 0]),
        ("gist", "gist/list.json", [3, 1, 0, 2], [3, 0, 1, 2]),
        (
            "gist",
            "gist/list-endpoint.json",
            [2, 0, 0, 2],
            [2, 0, 0, 2],
        ),
        (
            "vscode",
            "vscode/python.code-snippets",
            [6, 5, 0, 1],
            [6, 0, 5, 1],
        ),
        (
            "bytestash",
            "bytestash/export.json",
            [5, 4, 0, 1],
            [5, 0, 4, 1],
        ),
        ("masscode", "masscode/db.json", [6, 4, 1, 1], [6, 0, 5, 1]),
        ("pieces", "pieces/asset.json", [1, 1, 0, 0], [1, 0, 1, 0]),
        ("pieces", "pieces/assets.json", [4, 2, 1, 1], [4, 0, 3, 1]),
    ];
    for (format, file, first, again) in cases {
        let who = user();
        let query = format!("format={format}");
        let job = imported(&app, &who, &query, fixture(file)).await;
        assert_eq!(job["status"], "done", "{file}: {job}");
        assert_eq!(counts(&job), first, "{file}: {job}");
        assert_eq!(
            job["errors"].as_array().map(Vec::len),
            Some(first[3] as usize)
        );
        let stored = app.listing("", &who).await["total"].as_u64();
        assert_eq!(stored, Some(first[1]), "{file}");
        let job = imported(&app, &who, &query, fixture(file)).await;
        assert_eq!(counts(&job), again, "{file} again: {job}");
        assert_eq!(
            app.listing("", &who).await["total"].as_u64(),
            Some(first[1])
        );
    }

    // The fields of one import, as the README maps them.
    let alice = user();
    imported(&app, &alice, "format=gist", fixture("gist/one.json")).await;
    let page = app.listing("", &alice).await;
    let gist = &page["snippets"][0];
    assert_eq!(
        gist["title"],
        "Retry an HTTP call with exponential backoff (Python + shell wrapper)"
    );
    let names: Vec<&str> = gist["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["backoff.py", "retry.sh", "usage.md"]);
    assert_eq!(gist["language"], "python");
    assert_eq!(gist["metadata"]["import"]["source"], "gist");

    let bob = user();
    let job = imported(&app, &bob, "format=masscode", fixture("masscode/db.json")).await;
    let failed = &job["errors"][0];
    assert_eq!(
        (&failed["entry"], &failed["field"]),
        (&json!(4), &json!("title"))
    );
    assert_eq!(
        titles(&app, &bob).await,
        [
            "Graceful HTTP shutdown",
            "git: undo the last commit, keep the changes",
            "jq: flatten nested keys to dotted paths",
            "useLocalStorage hook"
        ]
    );

    // A language snippet file takes its language from the request.
    let carol = user();
    let job = imported(
        &app,
        &carol,
        "format=vscode&language=go",
        fixture("vscode/go.json"),
    )
    .await;
    assert_eq!(counts(&job), [4, 4, 0, 0]);
    let page = app.listing("language=go", &carol).await;
    assert_eq!(page["total"], 4);
    // Every entry counted once by what became of it (the fixtures and their second imports).
    let created = app
        .metric("pieces_import_entries_total", &["result=\"created\""])
        .await;
    assert_eq!(created, 4.0 + 18.0 + 4.0 + 1.0, "created");
    app.stop().await;
}

async fn a_dry_run_saves_nothing_and_bad_files_are_refused_whole(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let alice = user();
    let job = imported(
        &app,
        &alice,
        "format=bytestash&dry_run=true",
        fixture("bytestash/export.json"),
    )
    .await;
    assert_eq!(counts(&job), [5, 4, 0, 1]);
    assert_eq!(job["dry_run"], true);
    assert_eq!(app.listing("", &alice).await["total"], 0);

    for (format, file, status, code) in [
        (
            "gist",
            "gist/bad.json",
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            "masscode",
            "masscode/bad.json",
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            "vscode",
            "vscode/bad.code-snippets",
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "bytestash",
            "bytestash/bad.json",
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "pieces",
            "pieces/bad.json",
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
    ] {
        let refused = send_import(&app, &alice, &format!("format={format}"), fixture(file)).await;
        expect_error(refused, status, code).await;
    }
    let unknown = send_import(&app, &alice, "format=csv", b"a,b".to_vec()).await;
    expect_error(
        unknown,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    let empty = send_import(&app, &alice, "format=json", Vec::new()).await;
    expect_error(empty, StatusCode::BAD_REQUEST, "malformed_json").await;
    // Another user's workspace is as good as none; a job is its starter's alone.
    let elsewhere = send_import(
        &app,
        &alice,
        "format=gist&workspace=ws_0190aaaaaaaa7000800000000000000a",
        fixture("gist/one.json"),
    )
    .await;
    expect_error(elsewhere, StatusCode::NOT_FOUND, "not_found").await;
    let job = imported(&app, &alice, "format=gist", fixture("gist/one.json")).await;
    let theirs = app
        .get(
            &format!("/api/v1/imports/{}", job["id"].as_str().unwrap()),
            &user(),
        )
        .await;
    expect_error(theirs, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(app.listing("", &alice).await["total"], 1);
    app.stop().await;
}

async fn export_then_import_into_an_empty_instance_gives_back_every_field(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let alice = user();
    imported(
        &app,
        &alice,
        "format=bytestash",
        fixture("bytestash/export.json"),
    )
    .await;
    let plain = app
        .create(
            &alice,
            &json!({"title": "plain", "code": "x = 1\n", "language": "python",
                "tags": ["a"], "metadata": {"k": [1, 2]}, "description": "d"}),
        )
        .await;
    let path = format!("/api/v1/snippets/{plain}");
    let edited = app.patch(&path, &alice, &json!({"code": "x = 2\n"})).await;
    assert_eq!(edited.status(), StatusCode::OK);
    let before = app.listing("limit=100", &alice).await;
    assert_eq!(before["total"], 5);

    let exported = |query: &'static str| {
        let app = &app;
        let alice = alice.clone();
        async move {
            let answer = app.get(&format!("/api/v1/export?{query}"), &alice).await;
            assert_eq!(answer.status(), StatusCode::OK);
            let kind = answer.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_owned();
            (kind, answer.bytes().await.expect("body").to_vec())
        }
    };
    let (kind, lines) = exported("format=json").await;
    assert_eq!(kind, "application/x-ndjson");
    assert_eq!(lines.iter().filter(|b| **b == b'\n').count(), 5);
    let (_, with_history) = exported("format=json&history=true").await;
    let history: Vec<Value> = with_history
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("a JSON line"))
        .filter(|l: &Value| l["kind"] == "version")
        .collect();
    assert_eq!(history.len(), 1, "version 1 of the edited snippet");
    assert_eq!(history[0]["snippet"]["code"], "x = 1\n");

    let (kind, file) = exported("format=vscode").await;
    assert_eq!(kind, "application/json");
    let members: Value = serde_json::from_slice(&file).expect("one JSON object");
    assert_eq!(members["plain"]["body"], json!(["x = 2", ""]));
    let (kind, zip) = exported("format=markdown").await;
    assert_eq!(kind, "application/zip");
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).expect("a zip");
    assert_eq!(archive.len(), 5);
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut archive
            .by_name("personal/plain.md")
            .expect("named by title"),
        &mut text,
    )
    .expect("text");
    assert!(text.contains("```python\nx = 2\n```"), "{text}");

    // Into an empty instance: every snippet back, field for field.
    let other = match &backend.store {
        Store::Sqlite(_) => Backend::sqlite(),
        Store::Postgres(_) => Backend::postgres("export_round_trip_target")
            .await
            .expect("a second database"),
    };
    let empty = TestApp::start(&other).await;
    let job = imported(&empty, &alice, "format=json", with_history).await;
    assert_eq!(counts(&job), [5, 5, 0, 0], "{job}");
    let after = empty.listing("limit=100", &alice).await;
    let by_id = |page: &Value| {
        let mut all = page["snippets"].as_array().expect("snippets").clone();
        all.sort_by_key(|s| s["id"].as_str().unwrap().to_owned());
        all
    };
    assert_eq!(by_id(&after), by_id(&before));
    let again = imported(&empty, &alice, "format=json", lines.clone()).await;
    assert_eq!(counts(&again), [5, 0, 5, 0]);

    // Beside its source, in another workspace of the same store: new ids, every snippet
    // created (whether an id exists elsewhere is never told), and once only.
    let (status, team) = status_json(
        app.post("/api/v1/workspaces", &alice, &json!({"name": "copies"}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{team}");
    let query = format!("format=json&workspace={}", team["id"].as_str().expect("id"));
    let copied = imported(&app, &alice, &query, lines.clone()).await;
    assert_eq!(counts(&copied), [5, 5, 0, 0], "{copied}");
    let again = imported(&app, &alice, &query, lines).await;
    assert_eq!(counts(&again), [5, 0, 5, 0]);
    assert_eq!(
        app.listing("limit=100", &alice).await["total"],
        5,
        "the source unchanged"
    );
    empty.stop().await;
    app.stop().await;
}
