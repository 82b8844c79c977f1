//! Several replicas sharing one PostgreSQL and one Redis act as one service.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{expect_error, page_field, snippet, status_json, user, Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_sharing_postgres_and_redis_act_as_one() {
    let Some(backend) =
        Backend::postgres("two_replicas_sharing_postgres_and_redis_act_as_one").await
    else {
        return;
    };
    let (one, two) = tokio::join!(TestApp::start(&backend), TestApp::start(&backend));
    let alice = user();
    let id = one.create(&alice, &snippet("shared")).await;
    let path = format!("/api/v1/snippets/{id}");

    let (status, read) = status_json(two.get(&path, &alice).await).await;
    assert_eq!(
        (status, read["title"].as_str()),
        (StatusCode::OK, Some("shared"))
    );

    // Replica two has it cached in Redis now; an update through one must not leave it stale.
    two.get(&path, &alice).await;
    let (status, _) =
        status_json(one.patch(&path, &alice, &json!({"title": "changed"})).await).await;
    assert_eq!(status, StatusCode::OK);
    let (_, read) = status_json(two.get(&path, &alice).await).await;
    assert_eq!(
        read["title"], "changed",
        "no stale copy after an update elsewhere"
    );

    let (_, listed) = status_json(two.get("/api/v1/snippets", &alice).await).await;
    assert_eq!(
        (
            listed["total"].as_i64(),
            listed["snippets"][0]["title"].as_str()
        ),
        (Some(1), Some("changed"))
    );

    one.get(&path, &alice).await;
    assert_eq!(
        two.delete(&path, &alice).await.status(),
        StatusCode::NO_CONTENT
    );
    expect_error(
        one.get(&path, &alice).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        two.get(&path, &alice).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_together_on_an_empty_database_both_migrate_safely() {
    let Some(backend) =
        Backend::postgres("replicas_starting_together_on_an_empty_database_both_migrate_safely")
            .await
    else {
        return;
    };
    let apps = futures_util::future::join_all((0..3).map(|_| TestApp::start(&backend))).await;
    let alice = user();
    let id = apps[0].create(&alice, &snippet("after a racy start")).await;
    for app in &apps {
        let response = app.get(&format!("/api/v1/snippets/{id}"), &alice).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_on_one_replica_sees_changes_made_through_another() {
    let Some(backend) =
        Backend::postgres("a_search_on_one_replica_sees_changes_made_through_another").await
    else {
        return;
    };
    let (one, two) = tokio::join!(TestApp::start(&backend), TestApp::start(&backend));
    let alice = user();
    // The code names no word of a title, so a changed title alone decides a match.
    let titled = |title: &str| json!({"title": title, "code": "x", "language": "go"});
    let first = one.create(&alice, &titled("needle one")).await;
    assert_eq!(needles(&two, &alice).await, ["needle one"]);

    one.create(&alice, &titled("needle two")).await;
    assert_eq!(
        needles(&two, &alice).await,
        ["needle two", "needle one"],
        "created elsewhere"
    );

    let path = format!("/api/v1/snippets/{first}");
    let status = one
        .patch(&path, &alice, &json!({"title": "haystack one"}))
        .await
        .status();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        needles(&two, &alice).await,
        ["needle two"],
        "changed elsewhere"
    );

    assert_eq!(needles(&one, &alice).await, ["needle two"]);
    let status = two
        .patch(&path, &alice, &json!({"title": "needle again"}))
        .await
        .status();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(needles(&one, &alice).await, ["needle two", "needle again"]);
    assert_eq!(
        two.delete(&path, &alice).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        needles(&one, &alice).await,
        ["needle two"],
        "deleted elsewhere"
    );
    // Replica two found its page, brought it up to date after a create, and found it again
    // after the change to a title.
    let found = two
        .metric("pieces_search_pages_total", &["result=\"found\""])
        .await;
    let kept = two
        .metric("pieces_search_pages_total", &["result=\"kept\""])
        .await;
    assert_eq!((found, kept), (2.0, 1.0));
}

/// The titles a search for "needle" answers `user` through `app`, newest first.
async fn needles(app: &TestApp, user: &str) -> Vec<String> {
    page_field(&app.listing("q=needle", user).await, "title")
}

/// A page of `?workspace=all` kept on one replica is answered again only while none of its
/// workspaces changed, whichever replica changed one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_page_of_all_workspaces_follows_changes_made_through_another_replica() {
    let Some(backend) = Backend::postgres(
        "a_kept_page_of_all_workspaces_follows_changes_made_through_another_replica",
    )
    .await
    else {
        return;
    };
    let (one, two) = tokio::join!(TestApp::start(&backend), TestApp::start(&backend));
    let (alice, bob) = (user(), user());
    let (status, made) = status_json(
        one.post("/api/v1/workspaces", &bob, &json!({"name": "bob's team"}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let team = made["id"].as_str().expect("an id").to_owned();
    let (status, _) = status_json(one.put_member(&team, &bob, &alice, "writer").await).await;
    assert_eq!(status, StatusCode::OK);
    let in_team = |title: &str| {
        let mut body = snippet(title);
        body["workspace"] = json!(team);
        body
    };
    one.create(&alice, &snippet("own one")).await;
    let teams = one.create(&bob, &in_team("team one")).await;
    let titles = |page: Value| page_field(&page, "title");
    let all = "workspace=all&limit=10";

    assert_eq!(
        titles(one.listing(all, &alice).await),
        ["team one", "own one"]
    );
    assert_eq!(
        titles(one.listing(all, &alice).await),
        ["team one", "own one"]
    );
    two.create(&bob, &in_team("team two")).await;
    assert_eq!(
        titles(one.listing(all, &alice).await),
        ["team two", "team one", "own one"],
        "created elsewhere"
    );
    let path = format!("/api/v1/snippets/{teams}");
    let status = two
        .patch(&path, &bob, &json!({"title": "team one, renamed"}))
        .await
        .status();
    assert_eq!(status, StatusCode::OK);
    let page = one.listing(all, &alice).await;
    assert_eq!(
        titles(page.clone()),
        ["team two", "team one, renamed", "own one"],
        "changed elsewhere"
    );
    assert_eq!(page["total"], 3);
    assert_eq!(
        two.delete(&path, &bob).await.status(),
        StatusCode::NO_CONTENT
    );
    let page = one.listing(all, &alice).await;
    assert_eq!(
        (titles(page.clone()), page["total"].as_i64()),
        (vec!["team two".to_owned(), "own one".to_owned()], Some(2)),
        "deleted elsewhere"
    );
    // Read four times (the first, and after each change elsewhere) and kept once.
    let read = one
        .metric("pieces_merged_pages_total", &["result=\"read\""])
        .await;
    let kept = one
        .metric("pieces_merged_pages_total", &["result=\"kept\""])
        .await;
    assert_eq!((read, kept), (4.0, 1.0));
}
