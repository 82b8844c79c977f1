//! A fault in the store is told apart from an outage: corrupt data is a 500 that raises an
//! alarm (logged, never sent), not a 503 that says "try again".

use reqwest::StatusCode;
use sqlx::Connection;

use crate::support::{expect_error, snippet, user, Backend, TestApp};

#[tokio::test]
async fn a_corrupt_row_answers_500_not_503() {
    let backend = Backend::sqlite();
    let app = TestApp::start(&backend).await;
    let alice = user();
    let id = app.create(&alice, &snippet("to be damaged")).await;
    let mut db = sqlx::SqliteConnection::connect(&backend.database_url())
        .await
        .expect("open the service's database");
    // Metadata: the tag index's trigger refuses malformed tags before they are stored.
    sqlx::query("UPDATE snippets SET metadata = 'not json' WHERE id = ?")
        .bind(&id)
        .execute(&mut db)
        .await
        .expect("damage the row");
    db.close().await.ok();

    let response = app.get(&format!("/api/v1/snippets/{id}"), &alice).await;
    let body = expect_error(
        response,
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
    )
    .await;
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        !detail.contains("json") && !detail.contains("metadata"),
        "no cause sent: {detail}"
    );
    let listed = app.get("/api/v1/snippets", &alice).await;
    expect_error(listed, StatusCode::INTERNAL_SERVER_ERROR, "internal_error").await;
}
