//! Share links: what `/s/<key>` shows to anyone with it (the snippet as it is now, as text),
//! expiry, revocation, the refusal of snippets holding credentials, and the per-address limit.

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Connection;

use crate::support::backends::Store;
use crate::support::{expect_error, settings_for, snippet, status_json, user, Backend, TestApp};

on_each_backend!(a_link_shows_the_snippet_as_it_is_now_until_it_expires_or_is_revoked);

async fn share(app: &TestApp, who: &str, id: &str, body: Value) -> reqwest::Response {
    app.post(&format!("/api/v1/snippets/{id}/shares"), who, &body)
        .await
}

/// `GET /s/<key>` without any credential.
async fn open(app: &TestApp, url: &str, json: bool) -> reqwest::Response {
    let accept = if json {
        "application/json"
    } else {
        "text/html"
    };
    app.http
        .get(format!("{}{url}", app.api))
        .header("accept", accept)
        .send()
        .await
        .expect("answered")
}

async fn a_link_shows_the_snippet_as_it_is_now_until_it_expires_or_is_revoked(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let alice = user();
    let mut body = snippet("<img src=x onerror=alert(1)>");
    body["metadata"] = json!({"internal": "not for the link"});
    let id = app.create(&alice, &body).await;
    let (status, made) =
        status_json(share(&app, &alice, &id, json!({"expires_in_hours": 2})).await).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let url = made["url"].as_str().expect("a url").to_owned();
    let key = url.strip_prefix("/s/").expect("/s/<key>");
    assert_eq!(key.len(), 43, "256 random bits, base64url");

    let (status, shown) = status_json(open(&app, &url, true).await).await;
    assert_eq!(status, StatusCode::OK);
    let mut fields: Vec<&str> = shown
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "code",
            "description",
            "language",
            "tags",
            "title",
            "updated_at"
        ]
    );
    // As it is now.
    app.patch(
        &format!("/api/v1/snippets/{id}"),
        &alice,
        &json!({"code": "changed()"}),
    )
    .await;
    let (_, shown) = status_json(open(&app, &url, true).await).await;
    assert_eq!(shown["code"], "changed()");
    // As text in a page that runs nothing.
    let page = open(&app, &url, false).await;
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("default-src 'self'"),
        "{csp}"
    );
    let html = page.text().await.expect("html");
    assert!(
        html.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{html}"
    );
    assert!(!html.contains("<img src=x") && !html.contains("not for the link"));

    let (_, listed) = status_json(
        app.get(&format!("/api/v1/snippets/{id}/shares"), &alice)
            .await,
    )
    .await;
    let link = &listed["shares"][0];
    assert_eq!(link["view_count"], 3, "{listed}");
    assert!(
        link.get("url").is_none(),
        "a listing never holds a key: {listed}"
    );
    // Someone else cannot list or revoke it.
    let stranger = user();
    let listed = app
        .get(&format!("/api/v1/snippets/{id}/shares"), &stranger)
        .await;
    expect_error(listed, StatusCode::NOT_FOUND, "not_found").await;
    let share_id = link["id"].as_str().expect("id").to_owned();
    let revoked = app
        .delete(&format!("/api/v1/shares/{share_id}"), &stranger)
        .await;
    expect_error(revoked, StatusCode::NOT_FOUND, "not_found").await;

    // Revoked: gone at once.
    let revoked = app
        .delete(&format!("/api/v1/shares/{share_id}"), &alice)
        .await;
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    expect_error(open(&app, &url, true).await, StatusCode::GONE, "gone").await;
    // A retried revocation answers the same and changes nothing.
    let again = app
        .delete(&format!("/api/v1/shares/{share_id}"), &alice)
        .await;
    assert_eq!(again.status(), StatusCode::NO_CONTENT);
    assert_eq!(open(&app, &url, false).await.status(), StatusCode::GONE);
    // Expired: gone.
    let (_, second) = status_json(share(&app, &alice, &id, json!({})).await).await;
    let second_url = second["url"].as_str().expect("url").to_owned();
    let second_id = second["id"].as_str().expect("id").to_owned();
    assert_eq!(open(&app, &second_url, true).await.status(), StatusCode::OK);
    let past = "UPDATE share_links SET expires_at = 0 WHERE id = $1";
    match &backend.store {
        Store::Sqlite(_) => {
            let mut db = sqlx::SqliteConnection::connect(&backend.database_url())
                .await
                .expect("db");
            sqlx::query(past)
                .bind(&second_id)
                .execute(&mut db)
                .await
                .expect("expired");
        }
        Store::Postgres(url) => {
            let mut db = sqlx::PgConnection::connect(url).await.expect("db");
            sqlx::query(past)
                .bind(&second_id)
                .execute(&mut db)
                .await
                .expect("expired");
        }
    }
    expect_error(
        open(&app, &second_url, true).await,
        StatusCode::GONE,
        "gone",
    )
    .await;
    // Unknown and made-up keys, and a deleted snippet's link: 404.
    let unknown = format!("/s/{}", "A".repeat(43));
    expect_error(
        open(&app, &unknown, true).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        open(&app, "/s/short", true).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let (_, third) = status_json(share(&app, &alice, &id, json!({})).await).await;
    let third_url = third["url"].as_str().expect("url").to_owned();
    app.delete(&format!("/api/v1/snippets/{id}"), &alice).await;
    expect_error(
        open(&app, &third_url, true).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    let (_, audit) = status_json(app.get("/api/v1/audit?limit=500", &alice).await).await;
    let actions: Vec<&str> = audit["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter_map(|r| r["action"].as_str())
        .collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "share.created").count(),
        3,
        "{actions:?}"
    );
    assert_eq!(
        actions.iter().filter(|a| **a == "share.revoked").count(),
        1,
        "{actions:?}"
    );
    assert!(
        !audit.to_string().contains(key),
        "the audit log never holds a key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snippet_holding_a_credential_is_shared_only_when_the_caller_insists() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let alice = user();
    // A made-up key of the AWS shape, assembled so this file holds none.
    let aws = format!("AKIA{}", "Q3ZT7LMN4PRS2VWX");
    let body = json!({"title": "deploy", "code": format!("set -e\nexport AWS_ACCESS_KEY_ID={aws}\n"), "language": "bash"});
    let id = app.create(&alice, &body).await;
    let refused = share(&app, &alice, &id, json!({})).await;
    let error = expect_error(
        refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "contains_secrets",
    )
    .await;
    let detail = error["detail"].as_str().expect("detail");
    assert!(
        detail.contains("aws-access-token") && detail.contains("line 2"),
        "{detail}"
    );
    let (status, _) =
        status_json(share(&app, &alice, &id, json!({"allow_secrets": true})).await).await;
    assert_eq!(status, StatusCode::CREATED);
    // A connection string with its password, too.
    let url = json!({"title": "db", "code": "DATABASE_URL=postgres://app:hunter2-pw@db:5432/app", "language": "bash"});
    let id = app.create(&alice, &url).await;
    let refused = share(&app, &alice, &id, json!({})).await;
    let error = expect_error(
        refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "contains_secrets",
    )
    .await;
    assert!(
        error["detail"]
            .as_str()
            .is_some_and(|d| d.contains("url-password")),
        "{error}"
    );
    // A reader of a team workspace may not share; a writer may.
    let (_, ws) = status_json(
        app.post("/api/v1/workspaces", &alice, &json!({"name": "t"}))
            .await,
    )
    .await;
    let ws = ws["id"].as_str().expect("id").to_owned();
    let reader = user();
    let added = app.put_member(&ws, &alice, &reader, "reader").await;
    assert_eq!(added.status(), StatusCode::OK);
    let mut team = snippet("team");
    team["workspace"] = json!(ws);
    let team_id = app.create(&alice, &team).await;
    let refused = share(&app, &reader, &team_id, json!({})).await;
    expect_error(refused, StatusCode::FORBIDDEN, "insufficient_role").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_routes_are_limited_per_client_address() {
    let backend = Backend::sqlite();
    let mut settings = settings_for(&backend);
    settings.share_rate_per_minute = 3;
    let app = TestApp::start_with(&backend, settings).await;
    let alice = user();
    let id = app.create(&alice, &snippet("limited")).await;
    let (_, made) = status_json(share(&app, &alice, &id, json!({})).await).await;
    let url = made["url"].as_str().expect("url").to_owned();
    assert_eq!(open(&app, &url, true).await.status(), StatusCode::OK);
    assert_eq!(open(&app, &url, true).await.status(), StatusCode::OK);
    let limited = open(&app, &url, true).await;
    assert!(limited.headers().contains_key("retry-after"));
    expect_error(limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}
