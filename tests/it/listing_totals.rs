//! An unfiltered listing's total comes from a per-user count the database keeps beside the
//! rows, not from counting them; it must stay exact through every kind of change.

use futures_util::future::join_all;
use reqwest::StatusCode;
use sqlx::migrate::Migrate;
use sqlx::{Connection, PgConnection};

use crate::support::{snippet, status_json, user, Backend, TestApp};

on_each_backend!(the_unfiltered_total_follows_creates_deletes_and_group_commits);

async fn the_unfiltered_total_follows_creates_deletes_and_group_commits(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let (alice, bob) = (user(), user());

    // Enough at once that creates are committed in groups, with bob's in the same groups.
    let (ids, bobs) = tokio::join!(create_many(&app, &alice, 200), create_many(&app, &bob, 20));
    assert_total(&app, &alice, 200).await;
    assert_total(&app, &bob, 20).await;

    let deletes = join_all(ids[..50].iter().map(|id| delete(&app, &alice, id))).await;
    assert!(
        deletes.iter().all(|s| *s == StatusCode::NO_CONTENT),
        "{deletes:?}"
    );
    assert_total(&app, &alice, 150).await;

    // Creates and deletes of the same user racing each other.
    let (more, deletes) = tokio::join!(
        create_many(&app, &alice, 100),
        join_all(ids[50..100].iter().map(|id| delete(&app, &alice, id)))
    );
    assert_eq!(more.len(), 100);
    assert!(
        deletes.iter().all(|s| *s == StatusCode::NO_CONTENT),
        "{deletes:?}"
    );
    assert_total(&app, &alice, 200).await;

    // A delete that finds nothing, of one's own or of another user's snippet, counts nothing.
    assert_eq!(delete(&app, &alice, &ids[0]).await, StatusCode::NOT_FOUND);
    assert_eq!(delete(&app, &bob, &ids[100]).await, StatusCode::NOT_FOUND);
    assert_eq!(delete(&app, &alice, &bobs[0]).await, StatusCode::NOT_FOUND);
    assert_total(&app, &alice, 200).await;
    assert_total(&app, &bob, 20).await;
    assert_total(&app, &user(), 0).await;
}

/// Snippets stored before the count existed are in it from the start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_counts_migration_counts_snippets_stored_before_it() {
    let Some(backend) =
        Backend::postgres("the_counts_migration_counts_snippets_stored_before_it").await
    else {
        return;
    };
    let migrations = sqlx::migrate!("./migrations/postgres");
    let first = migrations.iter().next().expect("a first migration");
    assert_eq!(first.version, 1);
    let (alice, bob) = (user(), user());
    let mut conn = PgConnection::connect(&backend.database_url())
        .await
        .expect("connect to the test database");
    conn.ensure_migrations_table()
        .await
        .expect("migrations table");
    conn.apply(first).await.expect("apply migration 0001");
    sqlx::query(
        "INSERT INTO snippets (id, user_id, title, code, language, created_at, updated_at) \
         SELECT '00000000-0000-7000-8000-' || lpad(g::text, 12, '0'), CASE WHEN g % 4 = 0 THEN $2 ELSE $1 END, 'old ' || g, 'x', 'rust', \
         g, g FROM generate_series(1, 1000) g",
    )
    .bind(&alice)
    .bind(&bob)
    .execute(&mut conn)
    .await
    .expect("rows stored under migration 0001");
    conn.close().await.expect("close");

    // The service applies the rest as it starts.
    let app = TestApp::start(&backend).await;
    assert_total(&app, &alice, 750).await;
    assert_total(&app, &bob, 250).await;
    create_many(&app, &alice, 10).await;
    assert_eq!(
        delete(&app, &bob, "00000000-0000-7000-8000-000000000004").await,
        StatusCode::NO_CONTENT
    );
    assert_total(&app, &alice, 760).await;
    assert_total(&app, &bob, 249).await;
}

async fn create_many(app: &TestApp, user: &str, n: usize) -> Vec<String> {
    let bodies: Vec<_> = (0..n).map(|i| snippet(&format!("counted {i}"))).collect();
    join_all(bodies.iter().map(|body| app.create(user, body))).await
}

async fn delete(app: &TestApp, user: &str, id: &str) -> StatusCode {
    app.delete(&format!("/api/v1/snippets/{id}"), user)
        .await
        .status()
}

/// Checks the unfiltered total against `expected` and against a filtered listing that every
/// snippet here matches, which the store counts from the rows themselves.
async fn assert_total(app: &TestApp, user: &str, expected: i64) {
    let (status, page) = status_json(app.get("/api/v1/snippets?limit=100", user).await).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["total"], expected, "unfiltered total");
    let shown = page["snippets"].as_array().map_or(0, Vec::len);
    assert_eq!(shown as i64, expected.min(100), "rows on the first page");
    let (_, rust) = status_json(app.get("/api/v1/snippets?language=rust", user).await).await;
    assert_eq!(rust["total"], expected, "total counted from the rows");
}
