//! Stores written by the previous release, kept in tests/fixtures/previous-release (filled
//! through that release's own API by scripts/make-store-fixtures.py), opened by this one: the
//! migrations run, every row is still there, and each answers as it did.

use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use sqlx::{Connection, Executor, PgConnection};

use crate::support::backends::{Services, Store};
use crate::support::sse::SseReader;
use crate::support::{expect_error, page_field, status_json, Backend, TestApp};

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/previous-release")
        .join(name)
}

fn expected(store: &str) -> Value {
    let text = std::fs::read_to_string(fixture(&format!("{store}-expected.json")))
        .expect("the fixture's answers");
    serde_json::from_str(&text).expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_previous_releases_sqlite_store_keeps_every_row() {
    let backend = Backend::sqlite();
    let Store::Sqlite(dir) = &backend.store else {
        unreachable!("a SQLite backend")
    };
    std::fs::copy(fixture("sqlite.db"), dir.path().join("pieces.db")).expect("fixture copied");
    everything_answers_as_before(&backend, &expected("sqlite")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_previous_releases_postgres_store_keeps_every_row() {
    let test = "the_previous_releases_postgres_store_keeps_every_row";
    let Some(url) = Services::fresh_database(test).await else {
        return;
    };
    let dump = std::fs::read_to_string(fixture("postgres.sql")).expect("the dump");
    // psql's own commands (\restrict) are not SQL.
    let sql: String = dump
        .lines()
        .filter(|line| !line.starts_with('\\'))
        .map(|line| format!("{line}\n"))
        .collect();
    let mut db = PgConnection::connect(&url)
        .await
        .expect("the test database");
    db.execute(sql.as_str()).await.expect("the dump loads");
    db.close().await.ok();
    let backend = Backend {
        store: Store::Postgres(url),
        redis: None,
    };
    everything_answers_as_before(&backend, &expected("postgres")).await;
}

async fn everything_answers_as_before(backend: &Backend, expected: &Value) {
    let app = TestApp::start(backend).await;
    for (user, was) in expected["users"].as_object().expect("users") {
        // Every snippet is now in its owner's personal workspace, and says so; nothing else
        // about it changed.
        let mut was = was.clone();
        for snippet in was["snippets"].as_array_mut().expect("snippets") {
            snippet["workspace"] = Value::from("personal");
        }
        let (status, page) = status_json(app.get("/api/v1/snippets?limit=100", user).await).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(page["snippets"], was["snippets"], "{user}'s snippets");
        assert_eq!(page["total"], was["total"], "{user}'s count");
        let (_, workspaces) = status_json(app.get("/api/v1/workspaces", user).await).await;
        assert_eq!(workspaces["workspaces"][0]["id"], "personal");
        assert_eq!(workspaces["workspaces"][0]["role"], "owner");
        let (_, personal) = status_json(
            app.get("/api/v1/snippets?workspace=personal&limit=100", user)
                .await,
        )
        .await;
        assert_eq!(
            personal["snippets"], was["snippets"],
            "{user}'s personal workspace"
        );
        for snippet in was["snippets"].as_array().expect("snippets") {
            let id = snippet["id"].as_str().expect("id");
            let (status, read) =
                status_json(app.get(&format!("/api/v1/snippets/{id}"), user).await).await;
            assert_eq!((status, &read), (StatusCode::OK, snippet));
            // The tags kept before the tag index existed are in it.
            for tag in snippet["tags"].as_array().expect("tags") {
                let tag = tag.as_str().expect("a tag");
                let (_, tagged) =
                    status_json(app.get(&format!("/api/v1/snippets?tag={tag}"), user).await).await;
                assert!(page_field(&tagged, "id").contains(&id.to_owned()), "{tag}");
            }
        }
    }
    // The personal token still works; the revoked one is still revoked.
    let token = &expected["token"];
    let secret = token["secret"].as_str().expect("secret");
    let snippets = format!("{}/api/v1/snippets", app.api);
    let listed = app
        .http
        .get(&snippets)
        .bearer_auth(secret)
        .send()
        .await
        .expect("answered");
    assert_eq!(listed.status(), StatusCode::OK);
    let revoked = app
        .http
        .get(&snippets)
        .bearer_auth(token["revoked_secret"].as_str().expect("secret"))
        .send()
        .await
        .expect("answered");
    expect_error(revoked, StatusCode::UNAUTHORIZED, "token_revoked").await;
    let (_, tokens) = status_json(app.get("/api/v1/tokens", "alice").await).await;
    let ids: Vec<&Value> = tokens["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .map(|t| &t["id"])
        .collect();
    assert_eq!(ids, [&token["id"]]);
    // alice's stream resumes from its beginning: her 5 creates, the edit, the deletion and
    // her context.
    let events = app
        .request(Method::GET, "/api/v1/events?since=0", "alice")
        .send()
        .await
        .expect("a stream");
    let mut stream = SseReader::new(events);
    let events = stream.take(8, std::time::Duration::from_secs(5)).await;
    let kinds: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "snippet.created",
            "snippet.created",
            "snippet.created",
            "snippet.created",
            "snippet.created",
            "snippet.updated",
            "snippet.deleted",
            "context.updated"
        ]
    );
    assert_eq!(events[0].id.as_deref(), Some("1"));
    // What the platform is owed is still owed; the embeddings are still there.
    let counts = "SELECT (SELECT COUNT(*) FROM outbox), (SELECT COUNT(*) FROM snippet_embeddings)";
    let kept: (i64, i64) = match &backend.store {
        Store::Sqlite(_) => {
            let mut db = sqlx::SqliteConnection::connect(&backend.database_url())
                .await
                .expect("the database");
            sqlx::query_as(counts).fetch_one(&mut db).await
        }
        Store::Postgres(url) => {
            let mut db = PgConnection::connect(url).await.expect("the database");
            sqlx::query_as(counts).fetch_one(&mut db).await
        }
    }
    .expect("counts");
    assert_eq!(kept, (10, 6));
}
