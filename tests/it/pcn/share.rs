//! `pcn share`: a link anyone can open; a snippet holding a credential only with --force.

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::User;
use crate::support::{snippet, status_json, Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_prints_a_link_anyone_can_open() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let alice = User::on(&app).await;
    let id = app.create(&alice.id, &snippet("shared widely")).await;
    let shared = alice.run(&["share", &id]).await;
    let link = shared.ok().trim().to_owned();
    assert!(link.starts_with(&format!("{}/s/", app.api)), "{shared:?}");

    let opened = app
        .http
        .get(&link)
        .header("accept", "application/json")
        .send()
        .await
        .expect("the link answers");
    let (status, page) = status_json(opened).await;
    assert_eq!(
        (status, &page["title"]),
        (StatusCode::OK, &json!("shared widely"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expires_sets_the_links_lifetime() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let alice = User::on(&app).await;
    let id = app.create(&alice.id, &snippet("briefly")).await;
    let shared = alice
        .run(&["--json", "share", &id, "--expires", "2d"])
        .await;
    let made: Value = serde_json::from_str(shared.ok()).expect("the API's JSON");
    let at = |field: &str| {
        made[field]
            .as_str()
            .and_then(|t| t.parse::<DateTime<Utc>>().ok())
            .unwrap_or_else(|| panic!("{field} in {made}"))
    };
    let lifetime = at("expires_at") - at("created_at");
    assert_eq!(lifetime.num_hours(), 48, "{made}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snippet_holding_a_credential_is_shared_only_with_force() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let alice = User::on(&app).await;
    let mut body = snippet("deploy keys");
    body["code"] = json!(format!("aws_access_key_id = AKIA{}\n", "Q3ZT7LMN4PRS2VWX"));
    let id = app.create(&alice.id, &body).await;

    let refused = alice.run(&["share", &id]).await;
    let said = refused.failed();
    assert!(said.contains("--force"), "{refused:?}");
    assert_eq!(refused.stdout, "");

    let forced = alice.run(&["share", &id, "--force"]).await;
    assert!(forced.ok().contains("/s/"), "{forced:?}");
}
