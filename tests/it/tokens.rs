//! Personal access tokens: made with a platform JWT, used like one, held to their scopes,
//! revoked at once, and never written to a log.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::process::ServiceProcess;
use crate::support::{
    eventually, expect_error, settings_for, snippet, status_json, user, Backend, TestApp,
};

on_each_backend!(
    a_personal_token_works_within_its_scopes_until_revoked,
    a_user_holds_at_most_the_cap_of_live_tokens,
    the_token_list_is_paged,
);

const TOKENS: &str = "/api/v1/tokens";

/// Makes a token for `who` with `scopes`; returns (id, secret).
async fn make_token(app: &TestApp, who: &str, scopes: &[&str]) -> (String, String) {
    let body = json!({"name": "agent", "scopes": scopes});
    let (status, made) = status_json(app.post(TOKENS, who, &body).await).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let secret = made["token"].as_str().expect("secret").to_owned();
    (made["id"].as_str().expect("id").to_owned(), secret)
}

async fn a_personal_token_works_within_its_scopes_until_revoked(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let alice = user();
    let id = app.create(&alice, &snippet("readable")).await;
    let (token_id, token) = make_token(&app, &alice, &["snippets:read"]).await;
    assert!(
        token.starts_with("pcn_") && token.len() >= 4 + 43,
        "{token}"
    );

    let path = format!("/api/v1/snippets/{id}");
    let (status, read) = status_json(app.with_token(Method::GET, &path, &token, None).await).await;
    assert_eq!(
        (status, read["title"].as_str()),
        (StatusCode::OK, Some("readable"))
    );

    let write = app
        .with_token(
            Method::POST,
            "/api/v1/snippets",
            &token,
            Some(&snippet("no")),
        )
        .await;
    let challenge = write.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        challenge,
        r#"Bearer error="insufficient_scope", scope="snippets:write""#
    );
    let refused = expect_error(write, StatusCode::FORBIDDEN, "insufficient_scope").await;
    assert_eq!(refused["scope"], "snippets:write");
    let ask = app
        .with_token(
            Method::POST,
            "/api/v1/ai-assist",
            &token,
            Some(&json!({"query": "q"})),
        )
        .await;
    expect_error(ask, StatusCode::FORBIDDEN, "insufficient_scope").await;
    let context = app
        .with_token(Method::GET, "/api/v1/workflow-context", &token, None)
        .await;
    expect_error(context, StatusCode::FORBIDDEN, "insufficient_scope").await;

    let (status, listed) = status_json(app.get(TOKENS, &alice).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["tokens"][0]["id"], token_id.as_str());
    assert_eq!(listed["tokens"][0]["scopes"], json!(["snippets:read"]));
    assert!(
        !listed.to_string().contains(&token),
        "the secret is never listed"
    );

    let gone = app.delete(&format!("{TOKENS}/{token_id}"), &alice).await;
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    let revoked = app.with_token(Method::GET, &path, &token, None).await;
    expect_error(revoked, StatusCode::UNAUTHORIZED, "token_revoked").await;
    let (_, listed) = status_json(app.get(TOKENS, &alice).await).await;
    assert_eq!(listed["tokens"], json!([]));
}

#[tokio::test]
async fn a_personal_token_cannot_manage_tokens() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let alice = user();
    let (token_id, token) = make_token(
        &app,
        &alice,
        &[
            "snippets:read",
            "snippets:write",
            "context:read",
            "context:write",
            "ai",
        ],
    )
    .await;
    let body = json!({"name": "escalate", "scopes": ["ai"]});
    let mint = app
        .with_token(Method::POST, TOKENS, &token, Some(&body))
        .await;
    expect_error(mint, StatusCode::FORBIDDEN, "token_not_allowed").await;
    let list = app.with_token(Method::GET, TOKENS, &token, None).await;
    expect_error(list, StatusCode::FORBIDDEN, "token_not_allowed").await;
    let revoke = app
        .with_token(
            Method::DELETE,
            &format!("{TOKENS}/{token_id}"),
            &token,
            None,
        )
        .await;
    expect_error(revoke, StatusCode::FORBIDDEN, "token_not_allowed").await;
}

#[tokio::test]
async fn unknown_forged_and_other_users_tokens_are_refused() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let (alice, mallory) = (user(), user());
    let (alice_token_id, _) = make_token(&app, &alice, &["snippets:read"]).await;
    let forged = format!("pcn_{}", "A".repeat(43));
    let unknown = app
        .with_token(Method::GET, "/api/v1/snippets", &forged, None)
        .await;
    expect_error(unknown, StatusCode::UNAUTHORIZED, "token_invalid").await;
    let not_hers = app
        .delete(&format!("{TOKENS}/{alice_token_id}"), &mallory)
        .await;
    expect_error(not_hers, StatusCode::NOT_FOUND, "not_found").await;
    let (_, listed) = status_json(app.get(TOKENS, &mallory).await).await;
    assert_eq!(
        listed["tokens"],
        json!([]),
        "another user's tokens are not listed"
    );
}

#[tokio::test]
async fn token_requests_break_no_rule_unnoticed() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let alice = user();
    for (body, field) in [
        (json!({"name": "x", "scopes": ["admin"]}), "scopes"),
        (json!({"name": "x", "scopes": []}), "scopes"),
        (json!({"name": " ", "scopes": ["ai"]}), "name"),
        (
            json!({"name": "x", "scopes": ["ai"], "expires_in_days": 0}),
            "expires_in_days",
        ),
        (
            json!({"name": "x", "scopes": ["ai"], "expires_in_days": 366}),
            "expires_in_days",
        ),
    ] {
        let response = app.post(TOKENS, &alice, &body).await;
        let error = expect_error(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert_eq!(error["field"], field, "{body}");
    }
    let (_, listed) = status_json(app.get(TOKENS, &alice).await).await;
    assert_eq!(listed["tokens"], json!([]), "nothing was made");
}

async fn a_user_holds_at_most_the_cap_of_live_tokens(backend: Backend) {
    let mut settings = settings_for(&backend);
    settings.tokens_max_per_user = 3;
    let app = TestApp::start_with(&backend, settings).await;
    let (alice, bob) = (user(), user());
    let mut made = Vec::new();
    for _ in 0..3 {
        made.push(make_token(&app, &alice, &["snippets:read"]).await.0);
    }
    let body = json!({"name": "one too many", "scopes": ["snippets:read"]});
    let refused = expect_error(
        app.post(TOKENS, &alice, &body).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "too_many_tokens",
    )
    .await;
    assert!(refused["detail"].as_str().unwrap_or_default().contains('3'));
    // Another user's count is their own; a revoked token frees its place.
    make_token(&app, &bob, &["snippets:read"]).await;
    let revoked = app.delete(&format!("{TOKENS}/{}", made[0]), &alice).await;
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    make_token(&app, &alice, &["snippets:read"]).await;
    // Concurrent creates cannot both take the last place.
    let revoked = app.delete(&format!("{TOKENS}/{}", made[1]), &alice).await;
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    let racing = (0..4).map(|_| app.post(TOKENS, &alice, &body));
    let statuses: Vec<StatusCode> = futures_util::future::join_all(racing)
        .await
        .iter()
        .map(|r| r.status())
        .collect();
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "one place, one token: {statuses:?}");
    let (_, listed) = status_json(app.get(TOKENS, &alice).await).await;
    assert_eq!(listed["total"], 3);
}

async fn the_token_list_is_paged(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let alice = user();
    let mut made = Vec::new();
    for _ in 0..5 {
        made.push(make_token(&app, &alice, &["ai"]).await.0);
    }
    let (status, first) = status_json(app.get(&format!("{TOKENS}?limit=2"), &alice).await).await;
    assert_eq!(status, StatusCode::OK);
    let (_, rest) = status_json(app.get(&format!("{TOKENS}?limit=2&offset=2"), &alice).await).await;
    let ids = |page: &Value| -> Vec<String> {
        page["tokens"]
            .as_array()
            .expect("tokens")
            .iter()
            .map(|t| t["id"].as_str().expect("id").to_owned())
            .collect()
    };
    assert_eq!(
        (first["total"].as_i64(), first["limit"].as_i64()),
        (Some(5), Some(2))
    );
    assert_eq!(ids(&first), made[..2], "oldest first");
    assert_eq!(ids(&rest), made[2..4]);
    let (_, all) = status_json(app.get(TOKENS, &alice).await).await;
    assert_eq!(ids(&all), made, "by default one page holds them all");
    for bad in ["limit=0", "limit=101", "offset=-1"] {
        expect_error(
            app.get(&format!("{TOKENS}?{bad}"), &alice).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
    }
}

#[tokio::test]
async fn an_expired_token_is_refused_and_last_use_is_recorded_by_shutdown() {
    let backend = Backend::sqlite();
    let app = TestApp::start(&backend).await;
    let alice = user();
    let (_, token) = make_token(&app, &alice, &["snippets:read"]).await;
    let used = app
        .with_token(Method::GET, "/api/v1/snippets", &token, None)
        .await;
    assert_eq!(used.status(), StatusCode::OK);
    let settings = app.settings.clone();
    app.stop().await;

    let mut db = <sqlx::SqliteConnection as sqlx::Connection>::connect(&backend.database_url())
        .await
        .expect("the service's database");
    let last_used: Option<i64> = sqlx::query_scalar("SELECT last_used_at FROM access_tokens")
        .fetch_one(&mut db)
        .await
        .expect("the token row");
    assert!(last_used.is_some(), "the use was written at shutdown");
    sqlx::query("UPDATE access_tokens SET expires_at = 0")
        .execute(&mut db)
        .await
        .expect("age the token");

    let app = TestApp::start_with(&backend, settings).await;
    let expired = app
        .with_token(Method::GET, "/api/v1/snippets", &token, None)
        .await;
    expect_error(expired, StatusCode::UNAUTHORIZED, "token_expired").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_reaches_another_replica_within_five_seconds() {
    let Some(backend) =
        Backend::postgres("a_revocation_reaches_another_replica_within_five_seconds").await
    else {
        return;
    };
    let (one, two) = tokio::join!(TestApp::start(&backend), TestApp::start(&backend));
    let alice = user();
    let (token_id, token) = make_token(&one, &alice, &["snippets:read"]).await;
    let before = two
        .with_token(Method::GET, "/api/v1/snippets", &token, None)
        .await;
    assert_eq!(before.status(), StatusCode::OK, "replica two trusts it");
    let gone = one.delete(&format!("{TOKENS}/{token_id}"), &alice).await;
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    let refused = eventually(Duration::from_secs(5), || async {
        two.with_token(Method::GET, "/api/v1/snippets", &token, None)
            .await
            .status()
            == StatusCode::UNAUTHORIZED
    })
    .await;
    assert!(
        refused,
        "replica two still accepts the revoked token after 5 s"
    );
}

#[tokio::test]
async fn a_personal_token_never_reaches_the_logs() {
    // The service's own binary, logging at DEBUG to a pipe the test reads.
    let probe = ServiceProcess::start(&Backend::sqlite(), &[("LOG_LEVEL", "debug")]).await;
    let alice = user();
    let jwt = probe.token(&alice);
    let http = reqwest::Client::new();
    let made: Value = http
        .post(format!("{}/api/v1/tokens", probe.api))
        .bearer_auth(&jwt)
        .json(&json!({"name": "logged?", "scopes": ["snippets:read"]}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let token = made["token"].as_str().expect("token").to_owned();
    for path in [
        "/api/v1/snippets",
        "/api/v1/snippets/00000000-0000-7000-8000-000000000000",
        "/api/v1/tokens",
    ] {
        http.get(format!("{}{path}", probe.api))
            .bearer_auth(&token)
            .send()
            .await
            .expect("sent");
    }
    let logs = probe.stop().await;
    assert!(
        logs.contains("personal access token created"),
        "the logs were captured"
    );
    assert!(
        !logs.contains(&token),
        "a personal token appeared in the logs"
    );
    assert!(
        !logs.contains(&token["pcn_".len()..]),
        "a token's secret appeared in the logs"
    );
    assert!(!logs.contains(&jwt), "a JWT appeared in the logs");
}
