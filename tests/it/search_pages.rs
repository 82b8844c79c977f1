//! PostgreSQL keeps the pages of text searches and brings them up to date from the change log
//! (`crates/pieces-store/src/postgres_pages/search.rs`). These tests change rows in the database behind the
//! service's back, to put it in states that otherwise only a race reaches, and check that a
//! kept page is never served wrong.

use serde_json::json;
use sqlx::{Connection, PgConnection};

use crate::support::{page_field, user, Backend, TestApp};

/// A snippet whose code names no word of its title, so the title alone decides a match.
fn titled(title: &str) -> serde_json::Value {
    json!({"title": title, "code": "x", "language": "go"})
}

async fn needles(app: &TestApp, user: &str) -> (Vec<String>, i64) {
    let page = app.listing("q=needle", user).await;
    (page_field(&page, "title"), page["total"].as_i64().unwrap())
}

fn owned(titles: &[&str], total: i64) -> (Vec<String>, i64) {
    (titles.iter().map(|t| t.to_string()).collect(), total)
}

async fn database(backend: &Backend) -> PgConnection {
    PgConnection::connect(&backend.database_url())
        .await
        .expect("open the service's database")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_page_never_serves_a_snippet_that_stopped_matching() {
    let Some(backend) =
        Backend::postgres("a_kept_page_never_serves_a_snippet_that_stopped_matching").await
    else {
        return;
    };
    let app = TestApp::start(&backend).await;
    let alice = user();
    app.create(&alice, &titled("needle a")).await;
    let b = app.create(&alice, &titled("needle b")).await;
    assert_eq!(
        needles(&app, &alice).await,
        owned(&["needle b", "needle a"], 2)
    );

    // A change between a kept page's catch-up and the read of its rows: the removal mark has
    // not moved when the catch-up reads it. Without triggers this state stays put.
    let mut db = database(&backend).await;
    sqlx::query("SET session_replication_role = replica")
        .execute(&mut db)
        .await
        .unwrap();
    sqlx::query("UPDATE snippets SET title = 'plain b' WHERE id = $1")
        .bind(&b)
        .execute(&mut db)
        .await
        .unwrap();
    db.close().await.ok();

    assert_eq!(
        needles(&app, &alice).await,
        owned(&["needle a"], 1),
        "a row that no longer matches is never shown; the page is found afresh"
    );
    let found = app
        .metric("pieces_search_pages_total", &["result=\"found\""])
        .await;
    assert_eq!(found, 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snippet_moved_to_another_user_shows_in_their_kept_searches() {
    let Some(backend) =
        Backend::postgres("a_snippet_moved_to_another_user_shows_in_their_kept_searches").await
    else {
        return;
    };
    let app = TestApp::start(&backend).await;
    let (alice, bob) = (user(), user());
    let moved = app.create(&alice, &titled("needle from alice")).await;
    app.create(&bob, &titled("needle of bob")).await;
    assert_eq!(needles(&app, &bob).await, owned(&["needle of bob"], 1));

    let mut db = database(&backend).await;
    sqlx::query("UPDATE snippets SET user_id = $1 WHERE id = $2")
        .bind(&bob)
        .bind(&moved)
        .execute(&mut db)
        .await
        .unwrap();
    db.close().await.ok();

    assert_eq!(
        needles(&app, &bob).await,
        owned(&["needle of bob", "needle from alice"], 2),
        "the new owner's kept page is found afresh"
    );
    assert_eq!(needles(&app, &alice).await, owned(&[], 0));
}
