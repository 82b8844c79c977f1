//! Version history: every change keeps what it replaced, in its transaction; the versions are
//! listed, read, compared and restored (a restore is a new version, `If-Match` honoured);
//! `HISTORY_MAX_VERSIONS` holds; the history follows the snippet's access rules, survives a
//! killed process, goes to the trash and back with the snippet, and is erased with it.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::{Connection, Row};

use crate::support::backends::Store;
use crate::support::process::ServiceProcess;
use crate::support::{expect_error, settings_for, snippet, status_json, user, Backend, TestApp};

/// `request` sent with `token`, answered.
async fn sent(request: reqwest::RequestBuilder, token: &str) -> reqwest::Response {
    request.bearer_auth(token).send().await.expect("answered")
}

on_each_backend!(
    versions_are_listed_read_compared_and_restored,
    history_max_versions_holds_and_older_versions_are_gone,
    history_survives_a_killed_process_and_leaves_with_the_snippet
);

async fn versions(app: &TestApp, id: &str, who: &str) -> Value {
    let path = format!("/api/v1/snippets/{id}/versions");
    let (status, page) = status_json(app.get(&path, who).await).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page
}

fn listed(page: &Value) -> Vec<(i64, Vec<String>)> {
    page["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| {
            let changed = v["changed"].as_array().expect("changed");
            let changed = changed.iter().map(|c| c.as_str().unwrap_or("").to_owned());
            (v["version"].as_i64().expect("a version"), changed.collect())
        })
        .collect()
}

async fn versions_are_listed_read_compared_and_restored(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let alice = user();
    let mut first = snippet("retry");
    first["code"] = json!("fn retry() {\n    one();\n    two();\n}\n");
    first["description"] = json!("first words");
    let id = app.create(&alice, &first).await;
    let path = format!("/api/v1/snippets/{id}");
    let (_, v1) = status_json(app.get(&path, &alice).await).await;

    // A snippet never changed has one version, made by its author.
    let page = versions(&app, &id, &alice).await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["versions"][0]["actor"], json!(alice));

    app.patch(&path, &alice, &json!({"title": "retry with backoff"}))
        .await;
    let edit = json!({"code": "fn retry() {\n    one();\n    three();\n}\n", "description": null});
    let (_, v3) = status_json(app.patch(&path, &alice, &edit).await).await;
    assert_eq!(v3["version"], 3);

    let page = versions(&app, &id, &alice).await;
    assert_eq!(page["total"], 3);
    let expected: Vec<(i64, Vec<String>)> = vec![
        (3, vec!["code".into(), "description".into()]),
        (2, vec!["title".into()]),
        (1, vec![]),
    ];
    assert_eq!(listed(&page), expected);
    for entry in page["versions"].as_array().expect("versions") {
        assert_eq!(entry["actor"], json!(alice), "{entry}");
        assert!(entry["at"].is_string());
    }
    let paged = app
        .get(&format!("{path}/versions?limit=1&offset=1"), &alice)
        .await;
    let (_, paged) = status_json(paged).await;
    assert_eq!(listed(&paged), expected[1..2].to_vec());
    assert_eq!(paged["total"], 3);

    // Each version reads back whole, as it was.
    let (status, was) = status_json(app.get(&format!("{path}/versions/1"), &alice).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(was, v1, "version 1 as it was created");
    let (_, was) = status_json(app.get(&format!("{path}/versions/2"), &alice).await).await;
    assert_eq!(
        (&was["title"], &was["code"], &was["version"]),
        (&json!("retry with backoff"), &v1["code"], &json!(2))
    );
    let (_, now) = status_json(app.get(&format!("{path}/versions/3"), &alice).await).await;
    assert_eq!(now, v3);

    // The diff names the other fields and shows the code as a unified diff.
    let (status, diff) =
        status_json(app.get(&format!("{path}/versions/1/diff"), &alice).await).await;
    assert_eq!(status, StatusCode::OK, "{diff}");
    assert_eq!((&diff["from"], &diff["to"]), (&json!(1), &json!(3)));
    assert_eq!(
        diff["changes"]["title"],
        json!({"from": "retry", "to": "retry with backoff"})
    );
    assert_eq!(
        diff["changes"]["description"],
        json!({"from": "first words", "to": null})
    );
    let code_diff = diff["code_diff"].as_str().expect("a unified diff");
    assert!(
        code_diff.contains("-    two();\n+    three();\n"),
        "{code_diff}"
    );
    let (_, back) = status_json(
        app.get(&format!("{path}/versions/3/diff?to=2"), &alice)
            .await,
    )
    .await;
    assert!(back["code_diff"]
        .as_str()
        .expect("diff")
        .contains("-    three();\n+    two();\n"));
    assert_eq!(back["changes"].as_object().map(|c| c.len()), Some(1));

    // A stale restore changes nothing; a current one is a new version with the old content.
    let restore = format!("{path}/versions/1/restore");
    let stale = app
        .request(Method::POST, &restore, &alice)
        .header("if-match", "\"2\"")
        .send()
        .await
        .expect("answered");
    let conflict = expect_error(stale, StatusCode::PRECONDITION_FAILED, "version_conflict").await;
    assert_eq!(conflict["current"], v3);
    let done = app
        .request(Method::POST, &restore, &alice)
        .header("if-match", "\"3\"")
        .send()
        .await
        .expect("answered");
    assert_eq!(done.headers()["etag"], "\"4\"");
    let (status, v4) = status_json(done).await;
    assert_eq!(status, StatusCode::OK, "{v4}");
    for field in [
        "title",
        "code",
        "language",
        "tags",
        "metadata",
        "description",
    ] {
        assert_eq!(v4[field], v1[field], "{field} restored");
    }
    let page = versions(&app, &id, &alice).await;
    assert_eq!(page["total"], 4, "the restore kept every version");
    assert_eq!(
        listed(&page)[0],
        (4, vec!["code".into(), "description".into(), "title".into()])
    );
    let (_, was) = status_json(app.get(&format!("{path}/versions/3"), &alice).await).await;
    assert_eq!(was["code"], v3["code"]);

    // What is not there is not found: no such version, a version that is not a number,
    // another user's snippet.
    for missing in [
        "versions/9",
        "versions/0",
        "versions/two",
        "versions/9/diff",
    ] {
        let response = app.get(&format!("{path}/{missing}"), &alice).await;
        expect_error(response, StatusCode::NOT_FOUND, "not_found").await;
    }
    let stranger = user();
    for route in ["versions", "versions/1", "versions/1/diff"] {
        let response = app.get(&format!("{path}/{route}"), &stranger).await;
        expect_error(response, StatusCode::NOT_FOUND, "not_found").await;
    }
    let response = app
        .request(Method::POST, &restore, &stranger)
        .send()
        .await
        .expect("answered");
    expect_error(response, StatusCode::NOT_FOUND, "not_found").await;
    let limit = app.get(&format!("{path}/versions?limit=0"), &alice).await;
    expect_error(limit, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;

    // In a team, a reader may read the history but not restore.
    let (_, team) = status_json(
        app.post("/api/v1/workspaces", &alice, &json!({"name": "team"}))
            .await,
    )
    .await;
    let ws = team["id"].as_str().expect("id");
    let moved = app.patch(&path, &alice, &json!({"workspace": ws})).await;
    assert_eq!(moved.status(), StatusCode::OK);
    let bob = user();
    let added = app.put_member(ws, &alice, &bob, "reader").await;
    assert_eq!(added.status(), StatusCode::OK);
    let page = versions(&app, &id, &bob).await;
    assert_eq!(listed(&page)[0], (5, vec!["workspace".into()]));
    let response = app
        .request(Method::POST, &restore, &bob)
        .send()
        .await
        .expect("answered");
    expect_error(response, StatusCode::FORBIDDEN, "insufficient_role").await;
}

async fn history_max_versions_holds_and_older_versions_are_gone(backend: Backend) {
    let mut settings = settings_for(&backend);
    settings.history_max_versions = 3;
    let app = TestApp::start_with(&backend, settings).await;
    let alice = user();
    let id = app.create(&alice, &snippet("kept")).await;
    let path = format!("/api/v1/snippets/{id}");
    for n in 2..=7 {
        let body = json!({"code": format!("fn kept() {{}}\n// edit {n}\n")});
        let (status, _) = status_json(app.patch(&path, &alice, &body).await).await;
        assert_eq!(status, StatusCode::OK);
    }
    let page = versions(&app, &id, &alice).await;
    let kept: Vec<i64> = listed(&page).into_iter().map(|(v, _)| v).collect();
    assert_eq!((kept, &page["total"]), (vec![7, 6, 5], &json!(3)));
    let gone = app.get(&format!("{path}/versions/4"), &alice).await;
    expect_error(gone, StatusCode::NOT_FOUND, "not_found").await;
    let gone = app.get(&format!("{path}/versions/1/diff"), &alice).await;
    expect_error(gone, StatusCode::NOT_FOUND, "not_found").await;
    let (status, oldest) = status_json(app.get(&format!("{path}/versions/5"), &alice).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(oldest["code"], "fn kept() {}\n// edit 5\n");
    assert_eq!(rows_kept(&backend, &id).await, 3);
}

/// The history rows the store holds for snippet `id`.
async fn rows_kept(backend: &Backend, id: &str) -> i64 {
    let sql = "SELECT count(*) FROM snippet_history WHERE snippet_id = ";
    match &backend.store {
        Store::Sqlite(_) => {
            let mut db = sqlx::SqliteConnection::connect(&backend.database_url())
                .await
                .expect("the database");
            sqlx::query(&format!("{sql}?"))
                .bind(id)
                .fetch_one(&mut db)
                .await
                .expect("counted")
                .get(0)
        }
        Store::Postgres(url) => {
            let mut db = sqlx::PgConnection::connect(url)
                .await
                .expect("the database");
            sqlx::query(&format!("{sql}$1"))
                .bind(id)
                .fetch_one(&mut db)
                .await
                .expect("counted")
                .get(0)
        }
    }
}

async fn history_survives_a_killed_process_and_leaves_with_the_snippet(backend: Backend) {
    let alice = user();
    let process = ServiceProcess::start(&backend, &[]).await;
    let http = reqwest::Client::new();
    let token = process.token(&alice);
    let created = http
        .post(format!("{}/api/v1/snippets", process.api))
        .bearer_auth(&token)
        .json(&snippet("durable"))
        .send()
        .await
        .expect("answered");
    let (_, created) = status_json(created).await;
    let id = created["snippet_id"].as_str().expect("id").to_owned();
    let path = format!("{}/api/v1/snippets/{id}", process.api);
    let edited = http
        .patch(&path)
        .bearer_auth(&token)
        .json(&json!({"title": "durable, edited"}))
        .send()
        .await
        .expect("answered");
    assert_eq!(edited.status(), StatusCode::OK);
    // Killed right after the answer: what it said was kept must be there.
    process.kill();

    let process = ServiceProcess::start(&backend, &[]).await;
    let token = process.token(&alice);
    let path = format!("{}/api/v1/snippets/{id}", process.api);
    let page = sent(http.get(format!("{path}/versions")), &token).await;
    let (_, page) = status_json(page).await;
    assert_eq!(page["total"], 2, "{page}");
    let was = sent(http.get(format!("{path}/versions/1")), &token).await;
    let (_, was) = status_json(was).await;
    assert_eq!(was["title"], "durable");

    // Deleted, it goes to the trash with its history, and stays there through a kill.
    let deleted = sent(http.delete(&path), &token).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = sent(http.get(format!("{path}/versions")), &token).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    process.kill();
    assert_eq!(rows_kept(&backend, &id).await, 2);

    let process = ServiceProcess::start(&backend, &[]).await;
    let token = process.token(&alice);
    let path = format!("{}/api/v1/snippets/{id}", process.api);
    let back = sent(
        http.post(format!("{}/api/v1/trash/{id}/restore", process.api)),
        &token,
    )
    .await;
    let (status, back) = status_json(back).await;
    assert_eq!(
        (status, &back["version"]),
        (StatusCode::OK, &json!(3)),
        "{back}"
    );
    let page = sent(http.get(format!("{path}/versions")), &token).await;
    let (_, page) = status_json(page).await;
    assert_eq!(page["total"], 3, "the history came back with it: {page}");
    // Erased for good, its history goes too.
    let erased = sent(http.delete(format!("{path}?permanent=true")), &token).await;
    assert_eq!(erased.status(), StatusCode::NO_CONTENT);
    process.kill();
    assert_eq!(rows_kept(&backend, &id).await, 0);
}
