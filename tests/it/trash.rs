//! The trash: a deleted snippet is gone from every read path at once and comes back whole,
//! with its id and history; erasing it (from the trash, at once with `?permanent=true`, or
//! by age) leaves its text in no table of the store.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::{Connection, Row};

use crate::support::backends::Store;
use crate::support::sse::SseReader;
use crate::support::{expect_error, settings_for, snippet, status_json, user, Backend, TestApp};
use pieces_connector::metrics::Metrics;
use pieces_connector::store;

on_each_backend!(
    the_trash_hides_a_snippet_everywhere_and_restores_it_whole,
    erasing_leaves_the_text_in_no_table,
    the_trash_is_emptied_after_its_retention
);

/// A snippet whose title and code carry `marker`, a word no other snippet has.
fn marked(marker: &str) -> Value {
    json!({"title": format!("note {marker}"), "code": format!("let {marker} = 1;\n"),
        "language": "rust", "tags": [marker]})
}

async fn listed_ids(app: &TestApp, query: &str, who: &str) -> Vec<String> {
    let (status, page) =
        status_json(app.get(&format!("/api/v1/snippets?{query}"), who).await).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["snippets"]
        .as_array()
        .expect("snippets")
        .iter()
        .map(|s| s["id"].as_str().expect("id").to_owned())
        .collect()
}

async fn trash(app: &TestApp, who: &str) -> Value {
    let (status, page) = status_json(app.get("/api/v1/trash", who).await).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page
}

async fn the_trash_hides_a_snippet_everywhere_and_restores_it_whole(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let alice = user();
    let marker = format!("trashed{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let id = app.create(&alice, &marked(&marker)).await;
    let path = format!("/api/v1/snippets/{id}");
    let (_, edited) = status_json(
        app.patch(&path, &alice, &json!({"description": "kept"}))
            .await,
    )
    .await;
    let (_, share) = status_json(
        app.post(
            &format!("{path}/shares"),
            &alice,
            &json!({"expires_in_hours": 2}),
        )
        .await,
    )
    .await;
    let link = format!("{}{}", app.api, share["url"].as_str().expect("url"));
    let opened = app.http.get(&link).send().await.expect("answered");
    assert_eq!(opened.status(), StatusCode::OK);

    let deleted = app.delete(&path, &alice).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    // Gone from every read path at once.
    expect_error(
        app.get(&path, &alice).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let versions = app.get(&format!("{path}/versions"), &alice).await;
    expect_error(versions, StatusCode::NOT_FOUND, "not_found").await;
    assert!(listed_ids(&app, &format!("q={marker}"), &alice)
        .await
        .is_empty());
    assert!(listed_ids(&app, &format!("tag={marker}"), &alice)
        .await
        .is_empty());
    assert!(listed_ids(&app, "limit=100", &alice).await.is_empty());
    let opened = app.http.get(&link).send().await.expect("answered");
    assert_eq!(opened.status(), StatusCode::NOT_FOUND, "the share link");
    let again = app.delete(&path, &alice).await;
    expect_error(again, StatusCode::NOT_FOUND, "not_found").await;

    // The trash lists it, with who deleted it and when; others see nothing of it.
    let page = trash(&app, &alice).await;
    assert_eq!(page["total"], 1);
    let entry = &page["snippets"][0];
    assert_eq!(
        (&entry["id"], &entry["version"], &entry["deleted_by"]),
        (&json!(id), &json!(2), &json!(alice))
    );
    assert_eq!(entry["code_bytes"], json!(marker.len() + 10));
    assert!(entry.get("code").is_none(), "a trash page holds no code");
    let stranger = user();
    assert_eq!(trash(&app, &stranger).await["total"], 0);
    let theirs = app
        .call(
            Method::POST,
            &format!("/api/v1/trash/{id}/restore"),
            &stranger,
        )
        .await;
    expect_error(theirs, StatusCode::NOT_FOUND, "not_found").await;
    let theirs = app
        .call(Method::DELETE, &format!("/api/v1/trash/{id}"), &stranger)
        .await;
    expect_error(theirs, StatusCode::NOT_FOUND, "not_found").await;

    // Restored: the same id and content, one version on, its history whole, found again.
    let restored = app
        .call(Method::POST, &format!("/api/v1/trash/{id}/restore"), &alice)
        .await;
    assert_eq!(restored.headers()["etag"], "\"3\"");
    let (status, back) = status_json(restored).await;
    assert_eq!(status, StatusCode::OK, "{back}");
    let mut expected = edited.clone();
    expected["version"] = json!(3);
    assert_eq!(back, expected);
    let (_, read) = status_json(app.get(&path, &alice).await).await;
    assert_eq!(read, expected);
    let (_, history) = status_json(app.get(&format!("{path}/versions"), &alice).await).await;
    assert_eq!(history["total"], 3, "{history}");
    assert_eq!(history["versions"][0]["changed"], json!([]));
    let (_, first) = status_json(app.get(&format!("{path}/versions/1"), &alice).await).await;
    assert_eq!(first["description"], Value::Null);
    assert_eq!(
        listed_ids(&app, &format!("q={marker}"), &alice).await,
        [id.as_str()]
    );
    assert_eq!(
        listed_ids(&app, &format!("tag={marker}"), &alice).await,
        [id.as_str()]
    );
    let opened = app.http.get(&link).send().await.expect("answered");
    assert_eq!(
        opened.status(),
        StatusCode::OK,
        "the share link works again"
    );
    assert_eq!(trash(&app, &alice).await["total"], 0);

    // The stream told followers of each step.
    let events = app
        .request(Method::GET, "/api/v1/events?since=0", &alice)
        .send()
        .await
        .expect("a stream");
    let events = SseReader::new(events).take(4, Duration::from_secs(5)).await;
    let kinds: Vec<(String, i64)> = events
        .iter()
        .map(|e| {
            (
                e.event.clone(),
                e.data["data"]["version"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    let expected: Vec<(String, i64)> = [
        ("snippet.created", 1),
        ("snippet.updated", 2),
        ("snippet.deleted", 2),
        ("snippet.created", 3),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), *v))
    .collect();
    assert_eq!(kinds, expected);

    // In a team, a reader sees no trash and may not restore from it.
    let (_, team) = status_json(
        app.post("/api/v1/workspaces", &alice, &json!({"name": "team"}))
            .await,
    )
    .await;
    let ws = team["id"].as_str().expect("id");
    let mut body = marked(&format!("{marker}team"));
    body["workspace"] = json!(ws);
    let team_id = app.create(&alice, &body).await;
    let bob = user();
    assert_eq!(
        app.put_member(ws, &alice, &bob, "reader").await.status(),
        StatusCode::OK
    );
    let gone = app
        .delete(&format!("/api/v1/snippets/{team_id}"), &alice)
        .await;
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    assert_eq!(trash(&app, &bob).await["total"], 0);
    let (_, named) = status_json(
        app.get(&format!("/api/v1/trash?workspace={ws}"), &alice)
            .await,
    )
    .await;
    assert_eq!(named["snippets"][0]["workspace"], json!(ws));
    let refused = app
        .call(
            Method::POST,
            &format!("/api/v1/trash/{team_id}/restore"),
            &bob,
        )
        .await;
    expect_error(refused, StatusCode::FORBIDDEN, "insufficient_role").await;
}

async fn erasing_leaves_the_text_in_no_table(backend: Backend) {
    // The data platform cannot be reached: its events, each carrying the whole snippet,
    // stay in the outbox.
    let mut settings = settings_for(&backend);
    settings.data_platform_url = Some("http://127.0.0.1:9".into());
    let app = TestApp::start_with(&backend, settings).await;
    let alice = user();
    let mut markers = Vec::new();
    for how in ["permanent", "fromtrash"] {
        let marker = format!("{how}{}", uuid::Uuid::new_v4().simple());
        let id = app.create(&alice, &marked(&marker)).await;
        let path = format!("/api/v1/snippets/{id}");
        let edit = json!({"code": format!("let {marker} = 2;\n")});
        assert_eq!(
            app.patch(&path, &alice, &edit).await.status(),
            StatusCode::OK
        );
        let shared = app
            .post(
                &format!("{path}/shares"),
                &alice,
                &json!({"expires_in_hours": 1}),
            )
            .await;
        assert_eq!(shared.status(), StatusCode::CREATED);
        assert!(
            tables_holding(&backend, &marker).await.len() > 2,
            "the text is stored before"
        );
        if how == "permanent" {
            let erased = app.delete(&format!("{path}?permanent=true"), &alice).await;
            assert_eq!(erased.status(), StatusCode::NO_CONTENT);
        } else {
            assert_eq!(
                app.delete(&path, &alice).await.status(),
                StatusCode::NO_CONTENT
            );
            let erased = app
                .call(Method::DELETE, &format!("/api/v1/trash/{id}"), &alice)
                .await;
            assert_eq!(erased.status(), StatusCode::NO_CONTENT);
        }
        let restore = app
            .call(Method::POST, &format!("/api/v1/trash/{id}/restore"), &alice)
            .await;
        expect_error(restore, StatusCode::NOT_FOUND, "not_found").await;
        markers.push(marker);
    }
    assert_eq!(trash(&app, &alice).await["total"], 0);
    for marker in &markers {
        assert_eq!(
            tables_holding(&backend, marker).await,
            Vec::<String>::new(),
            "{marker} is in no table"
        );
    }
}

/// The tables of the store with a row whose text holds `marker`. SQLite's full-text index
/// keeps its words in binary segments, which are not searched here.
async fn tables_holding(backend: &Backend, marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    match &backend.store {
        Store::Sqlite(_) => {
            let mut db = sqlx::SqliteConnection::connect(&backend.database_url())
                .await
                .expect("the database");
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'snippets_fts%' AND name NOT LIKE 'sqlite_%'",
            )
            .fetch_all(&mut db)
            .await
            .expect("tables");
            for table in tables {
                let columns: Vec<String> =
                    sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{table}')"))
                        .fetch_all(&mut db)
                        .await
                        .expect("columns");
                let any = columns
                    .iter()
                    .map(|c| format!("CAST(\"{c}\" AS TEXT) LIKE $1"))
                    .collect::<Vec<_>>()
                    .join(" OR ");
                let hits: i64 =
                    sqlx::query_scalar(&format!("SELECT count(*) FROM \"{table}\" WHERE {any}"))
                        .bind(format!("%{marker}%"))
                        .fetch_one(&mut db)
                        .await
                        .expect("searched");
                if hits > 0 {
                    found.push(table);
                }
            }
        }
        Store::Postgres(url) => {
            let mut db = sqlx::PgConnection::connect(url)
                .await
                .expect("the database");
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'",
            )
            .fetch_all(&mut db)
            .await
            .expect("tables");
            for table in tables {
                let row = sqlx::query(&format!(
                    "SELECT count(*) FROM \"{table}\" AS t WHERE t::text LIKE $1"
                ))
                .bind(format!("%{marker}%"))
                .fetch_one(&mut db)
                .await
                .expect("searched");
                if row.get::<i64, _>(0) > 0 {
                    found.push(table);
                }
            }
        }
    }
    found
}

async fn the_trash_is_emptied_after_its_retention(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let alice = user();
    let id = app.create(&alice, &snippet("old news")).await;
    let gone = app.delete(&format!("/api/v1/snippets/{id}"), &alice).await;
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    assert_eq!(trash(&app, &alice).await["total"], 1);
    // The pruner's own call, as it makes it once TRASH_RETENTION_DAYS have passed.
    let metrics = Metrics::new().expect("metrics");
    let stores = store::connect(
        &backend.database_url().parse().expect("a URL"),
        2,
        Duration::from_secs(5),
        store::Keeping { versions: 100 },
        &metrics,
    )
    .await
    .expect("the store");
    let now = chrono::Utc::now();
    let kept = stores
        .trash
        .prune_trash(now - chrono::Duration::days(30), 100)
        .await
        .expect("pruned");
    assert_eq!(kept, 0, "deleted just now: kept");
    let erased = stores
        .trash
        .prune_trash(now + chrono::Duration::seconds(1), 100)
        .await
        .expect("pruned");
    assert_eq!(erased, 1);
    assert_eq!(trash(&app, &alice).await["total"], 0);
    let restore = app
        .call(Method::POST, &format!("/api/v1/trash/{id}/restore"), &alice)
        .await;
    expect_error(restore, StatusCode::NOT_FOUND, "not_found").await;
}
