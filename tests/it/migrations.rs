//! Stores written by the previous release, kept in tests/fixtures/previous-release (filled
//! through that release's own API by scripts/make-store-fixtures.py), opened by this one: the
//! migrations run, every row is still there, and each answers as it did.

use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
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
        // Nothing about any snippet changed.
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
            // Embedding numbers go on from the highest the old store gave out (migration
            // 0019), which a deletion can no longer hand out again.
            let (last, highest): (i64, i64) = sqlx::query_as(
                "SELECT (SELECT last FROM embedding_seq), (SELECT MAX(seq) FROM snippet_embeddings)",
            )
            .fetch_one(&mut db)
            .await
            .expect("the embedding numbers");
            assert_eq!((last, highest), (8, 8));
            sqlx::query_as(counts).fetch_one(&mut db).await
        }
        Store::Postgres(url) => {
            let mut db = PgConnection::connect(url).await.expect("the database");
            sqlx::query_as(counts).fetch_one(&mut db).await
        }
    }
    .expect("counts");
    // Ten events of alice's and bob's own and one of the team snippet's; six of their
    // snippets embedded and the team's.
    assert_eq!(kept, (11, 7));
    the_team_is_kept(&app, &expected["team"]).await;
    history_starts_where_the_old_store_left_off(&app, expected).await;
    an_old_snippet_takes_several_files(&app, expected).await;
    moved_out_of_an_old_store(&app, expected).await;
}

/// The previous release's team workspace: its members, their roles, its snippet, its share
/// link and its audit log answer as they did.
async fn the_team_is_kept(app: &TestApp, team: &Value) {
    let ws = team["id"].as_str().expect("the team's id");
    let page = app.listing(&format!("workspace={ws}"), "carol").await;
    assert_eq!(page["snippets"], team["snippets"]);
    assert_eq!(page["total"], team["total"]);
    let (_, members) = status_json(
        app.get(&format!("/api/v1/workspaces/{ws}/members"), "carol")
            .await,
    )
    .await;
    assert_eq!(members["members"], team["members"]);
    // Carol reads, and may not write.
    let id = team["snippets"][0]["id"].as_str().expect("id");
    let edit = app
        .patch(
            &format!("/api/v1/snippets/{id}"),
            "carol",
            &json!({"title": "x"}),
        )
        .await;
    expect_error(edit, StatusCode::FORBIDDEN, "insufficient_role").await;
    let (status, _) = status_json(app.get(&format!("/api/v1/snippets/{id}"), "alice").await).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "alice was never in it");
    let url = team["share_url"].as_str().expect("a share url");
    let shared = app
        .http
        .get(format!("{}{url}", app.api))
        .header("accept", "application/json")
        .send()
        .await
        .expect("answered");
    let (status, shared) = status_json(shared).await;
    assert_eq!(status, StatusCode::OK, "{shared}");
    assert_eq!(shared["title"], team["snippets"][0]["title"]);
    let (_, audit) = status_json(
        app.get(&format!("/api/v1/workspaces/{ws}/audit?limit=100"), "dana")
            .await,
    )
    .await;
    let actions: Vec<&Value> = audit["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| &r["action"])
        .collect();
    let was: Vec<&Value> = team["audit_actions"]
        .as_array()
        .expect("actions")
        .iter()
        .collect();
    assert_eq!(actions, was);
}

/// A snippet the previous release wrote moves to a team workspace (migration 0013 keeps the
/// counts of a move on SQLite): it leaves its owner's count, tags and words for the team's.
async fn moved_out_of_an_old_store(app: &TestApp, expected: &Value) {
    let was = &expected["users"]["alice"];
    let snippet = &was["snippets"][0];
    let id = snippet["id"].as_str().expect("id");
    let tag = snippet["tags"][0].as_str().expect("a tag");
    let (_, team) = status_json(
        app.post("/api/v1/workspaces", "alice", &json!({"name": "moved"}))
            .await,
    )
    .await;
    let team = team["id"].as_str().expect("an id");
    let (_, before) = status_json(app.get(&format!("/api/v1/snippets/{id}"), "alice").await).await;
    let moved = app
        .patch(
            &format!("/api/v1/snippets/{id}"),
            "alice",
            &json!({"workspace": team}),
        )
        .await;
    let (status, moved) = status_json(moved).await;
    let next = before["version"].as_i64().expect("a version") + 1;
    assert_eq!(
        (status, &moved["version"]),
        (StatusCode::OK, &Value::from(next))
    );
    let home = app.listing("limit=100", "alice").await;
    assert_eq!(home["total"], was["total"].as_i64().expect("a total") - 1);
    let there = app
        .listing(&format!("workspace={team}&tag={tag}"), "alice")
        .await;
    assert_eq!(page_field(&there, "id"), [id]);
    assert_eq!(there["total"], 1);
    let here = app.listing(&format!("tag={tag}&limit=100"), "alice").await;
    assert!(!page_field(&here, "id").contains(&id.to_owned()), "{here}");
}

/// Snippets the previous release wrote have no history yet: each lists its current version
/// alone, its author not known, and its first change keeps that version whole.
async fn history_starts_where_the_old_store_left_off(app: &TestApp, expected: &Value) {
    let snippets = expected["users"]["alice"]["snippets"]
        .as_array()
        .expect("alice's snippets");
    let edited = snippets
        .iter()
        .find(|s| s["version"] == 2)
        .expect("a snippet edited by the previous release");
    let id = edited["id"].as_str().expect("id");
    let path = format!("/api/v1/snippets/{id}");
    let (status, page) = status_json(app.get(&format!("{path}/versions"), "alice").await).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["total"], 1);
    assert_eq!(
        page["versions"][0],
        json!({"version": 2, "at": edited["updated_at"], "actor": null, "changed": []})
    );
    let before = app.get(&format!("{path}/versions/1"), "alice").await;
    expect_error(before, StatusCode::NOT_FOUND, "not_found").await;
    let changed = app
        .patch(&path, "alice", &json!({"code": "print('new')"}))
        .await;
    assert_eq!(changed.status(), StatusCode::OK);
    let (_, was) = status_json(app.get(&format!("{path}/versions/2"), "alice").await).await;
    assert_eq!(&was, edited, "version 2 as the previous release stored it");
    let (_, page) = status_json(app.get(&format!("{path}/versions"), "alice").await).await;
    assert_eq!(page["total"], 2);
    assert_eq!(page["versions"][0]["actor"], "alice");

    // One of its snippets goes to the trash (migration 0016) and comes back whole.
    let other = snippets
        .iter()
        .find(|s| s["version"] == 1)
        .expect("a snippet never edited");
    let other_id = other["id"].as_str().expect("id");
    let gone = app
        .delete(&format!("/api/v1/snippets/{other_id}"), "alice")
        .await;
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    let (_, trash) = status_json(app.get("/api/v1/trash", "alice").await).await;
    assert_eq!(trash["snippets"][0]["id"], other["id"]);
    let back = app
        .request(
            Method::POST,
            &format!("/api/v1/trash/{other_id}/restore"),
            "alice",
        )
        .send()
        .await
        .expect("answered");
    let (status, mut back) = status_json(back).await;
    assert_eq!((status, &back["version"]), (StatusCode::OK, &json!(2)));
    back["version"] = json!(1);
    assert_eq!(&back, other, "the previous release's snippet, whole");
}

/// A snippet the previous release wrote (migration 0017 added `files`) reads as before, takes
/// several files, is found by a word of its second file, and is no longer found by its old
/// code's words: the text index's rows written before the migration are replaced cleanly.
async fn an_old_snippet_takes_several_files(app: &TestApp, expected: &Value) {
    let snippets = expected["users"]["alice"]["snippets"]
        .as_array()
        .expect("alice's snippets");
    let old = snippets.last().expect("a snippet");
    let id = old["id"].as_str().expect("id");
    let path = format!("/api/v1/snippets/{id}");
    let (_, read) = status_json(app.get(&path, "alice").await).await;
    assert!(read.get("files").is_none(), "{read}");
    let files = json!([
        {"name": "a.py", "language": "python", "code": "print('first')\n"},
        {"name": "b.sh", "language": "shell", "code": "echo zanzibarmigrated\n"},
    ]);
    let (status, changed) =
        status_json(app.patch(&path, "alice", &json!({"files": files})).await).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    let (_, found) = status_json(
        app.get("/api/v1/snippets?q=zanzibarmigrated&mode=text", "alice")
            .await,
    )
    .await;
    assert_eq!(page_field(&found, "id"), [id.to_owned()]);
    let (status, versions) = status_json(app.get(&format!("{path}/versions"), "alice").await).await;
    assert_eq!(status, StatusCode::OK, "{versions}");
    assert_eq!(
        versions["versions"][0]["changed"],
        json!(["code", "files", "language"])
    );
}
