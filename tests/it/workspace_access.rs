//! The ways into a team workspace besides membership, and the one stream over all of them:
//! personal tokens limited to workspaces, platform groups, MCP's `workspace`, and the change
//! stream merging every workspace a caller can read, resumable across membership changes.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::sse::{SseEvent, SseReader};
use crate::support::{expect_error, settings_for, snippet, status_json, user, Backend, TestApp};

async fn team(app: &TestApp, owner: &str) -> String {
    let (status, created) = status_json(
        app.post("/api/v1/workspaces", owner, &json!({"name": "team"}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["id"].as_str().expect("id").to_owned()
}

async fn add(app: &TestApp, ws: &str, owner: &str, member: &str, role: &str) {
    let response = app.put_member(ws, owner, member, role).await;
    assert_eq!(response.status(), StatusCode::OK);
}

fn in_workspace(title: &str, ws: &str) -> Value {
    let mut body = snippet(title);
    body["workspace"] = json!(ws);
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_limited_to_a_workspace_reaches_that_workspace_only() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let alice = user();
    let ws = team(&app, &alice).await;
    let mine = app.create(&alice, &snippet("personal")).await;
    let shared = app.create(&alice, &in_workspace("team's", &ws)).await;
    let (status, made) = status_json(
        app.post("/api/v1/tokens", &alice, &json!({"name": "ci", "scopes": ["snippets:read", "snippets:write"], "workspaces": [ws]}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!(made["workspaces"], json!([ws]));
    let token = made["token"].as_str().expect("secret").to_owned();

    let read = app
        .with_token(
            Method::GET,
            &format!("/api/v1/snippets/{shared}"),
            &token,
            None,
        )
        .await;
    assert_eq!(read.status(), StatusCode::OK);
    let elsewhere = app
        .with_token(
            Method::GET,
            &format!("/api/v1/snippets/{mine}"),
            &token,
            None,
        )
        .await;
    expect_error(elsewhere, StatusCode::NOT_FOUND, "not_found").await;
    // A team snippet whose place (and its workspace's roles) this replica already holds from
    // the owner's reads, in a workspace outside the token's: 404 just the same.
    let other_ws = team(&app, &alice).await;
    let other = app
        .create(&alice, &in_workspace("other team's", &other_ws))
        .await;
    let other_path = format!("/api/v1/snippets/{other}");
    for _ in 0..2 {
        assert_eq!(app.get(&other_path, &alice).await.status(), StatusCode::OK);
    }
    let known_elsewhere = app.with_token(Method::GET, &other_path, &token, None).await;
    expect_error(known_elsewhere, StatusCode::NOT_FOUND, "not_found").await;
    let named = app
        .with_token(
            Method::GET,
            "/api/v1/snippets?workspace=personal",
            &token,
            None,
        )
        .await;
    expect_error(named, StatusCode::FORBIDDEN, "workspace_not_allowed").await;
    let created = app
        .with_token(
            Method::POST,
            "/api/v1/snippets",
            &token,
            Some(&in_workspace("by ci", &ws)),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let (_, listed) = status_json(
        app.with_token(Method::GET, "/api/v1/workspaces", &token, None)
            .await,
    )
    .await;
    let ids: Vec<&str> = listed["workspaces"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|w| w["id"].as_str())
        .collect();
    assert_eq!(ids, [ws.as_str()]);
    // Another's workspace cannot be named when the token is made.
    let foreign = team(&app, &user()).await;
    let refused = app
        .post(
            "/api/v1/tokens",
            &alice,
            &json!({"name": "x", "scopes": ["snippets:read"], "workspaces": [foreign]}),
        )
        .await;
    // One the caller cannot read is, to them, one that does not exist.
    expect_error(refused, StatusCode::NOT_FOUND, "not_found").await;
    // The token's creation is in the caller's audit log, its secret is not.
    let (_, audit) = status_json(app.get("/api/v1/audit?action=token.created", &alice).await).await;
    assert_eq!(
        audit["records"].as_array().map(Vec::len),
        Some(1),
        "{audit}"
    );
    assert!(!audit.to_string().contains(&token));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_bound_to_a_group_admits_every_caller_whose_token_lists_it() {
    let backend = Backend::sqlite();
    let mut settings = settings_for(&backend);
    settings.jwt_groups_claim = Some("groups".into());
    let app = TestApp::start_with(&backend, settings).await;
    let owner = user();
    let ws = team(&app, &owner).await;
    let bound = app
        .patch(
            &format!("/api/v1/workspaces/{ws}"),
            &owner,
            &json!({"group": "platform-eng", "group_role": "writer"}),
        )
        .await;
    let (status, body) = status_json(bound).await;
    assert_eq!(
        (status, body["group"].as_str()),
        (StatusCode::OK, Some("platform-eng")),
        "{body}"
    );
    let id = app.create(&owner, &in_workspace("runbook", &ws)).await;

    let colleague = user();
    let token = app.token_in_groups(&colleague, &["platform-eng", "other"]);
    let read = app
        .with_token(Method::GET, &format!("/api/v1/snippets/{id}"), &token, None)
        .await;
    assert_eq!(read.status(), StatusCode::OK);
    let wrote = app
        .with_token(
            Method::POST,
            "/api/v1/snippets",
            &token,
            Some(&in_workspace("mine", &ws)),
        )
        .await;
    assert_eq!(
        wrote.status(),
        StatusCode::CREATED,
        "the group's role is writer"
    );
    let (_, listed) = status_json(
        app.with_token(Method::GET, "/api/v1/workspaces", &token, None)
            .await,
    )
    .await;
    assert_eq!(listed["workspaces"][1]["id"], json!(ws));
    assert_eq!(listed["workspaces"][1]["role"], "writer");
    // Without the group: nothing.
    let outsider = app.token_in_groups(&user(), &["other"]);
    let read = app
        .with_token(
            Method::GET,
            &format!("/api/v1/snippets/{id}"),
            &outsider,
            None,
        )
        .await;
    expect_error(read, StatusCode::NOT_FOUND, "not_found").await;
    // Explicit membership wins over the group's role.
    let demoted = user();
    add(&app, &ws, &owner, &demoted, "reader").await;
    let token = app.token_in_groups(&demoted, &["platform-eng"]);
    let wrote = app
        .with_token(
            Method::POST,
            "/api/v1/snippets",
            &token,
            Some(&in_workspace("no", &ws)),
        )
        .await;
    expect_error(wrote, StatusCode::FORBIDDEN, "insufficient_role").await;
    // Only an owner binds a group.
    add(&app, &ws, &owner, &demoted, "admin").await;
    let rebound = app
        .patch(
            &format!("/api/v1/workspaces/{ws}"),
            &demoted,
            &json!({"group": "x"}),
        )
        .await;
    expect_error(rebound, StatusCode::FORBIDDEN, "insufficient_role").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_groups_claim_no_group_can_be_bound() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let owner = user();
    let ws = team(&app, &owner).await;
    let bound = app
        .patch(
            &format!("/api/v1/workspaces/{ws}"),
            &owner,
            &json!({"group": "eng"}),
        )
        .await;
    let body = expect_error(bound, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(body["field"], "group");
}

/// The events of `reader` until `count` are in, as (type, title or workspace) pairs.
async fn take(reader: &mut SseReader, count: usize) -> Vec<SseEvent> {
    let events = reader.take(count, Duration::from_secs(10)).await;
    assert_eq!(events.len(), count, "{:?}", kinds(&events));
    events
}

fn kinds(events: &[SseEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let data = &e.data["data"];
            let what = data["title"]
                .as_str()
                .or(data["workspace"].as_str())
                .unwrap_or_default();
            format!("{} {what}", e.event)
        })
        .collect()
}

async fn stream(app: &TestApp, who: &str, since: Option<&str>) -> SseReader {
    let mut request = app.request(Method::GET, "/api/v1/events", who);
    if let Some(since) = since {
        request = request.header("last-event-id", since);
    }
    SseReader::new(request.send().await.expect("a stream"))
}

async fn one_stream_follows_every_workspace_and_resumes_exactly(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let (alice, bob) = (user(), user());
    let ws = team(&app, &bob).await;
    app.create(&alice, &snippet("p1")).await;
    let mut live = stream(&app, &alice, Some("0")).await;
    let first = take(&mut live, 1).await;
    assert_eq!(kinds(&first), ["snippet.created p1"]);
    let after_p1 = first[0].id.clone().expect("an id");
    assert!(
        !after_p1.contains("ws_"),
        "a personal-only stream keeps bare numbers: {after_p1}"
    );

    add(&app, &ws, &bob, &alice, "writer").await;
    app.create(&bob, &in_workspace("w1", &ws)).await;
    let joined = take(&mut live, 2).await;
    assert_eq!(
        kinds(&joined),
        [
            format!("member.added {ws}"),
            "snippet.created w1".to_owned()
        ]
    );
    assert_eq!(joined[1].data["data"]["workspace"], json!(ws));
    let after_w1 = joined[1].id.clone().expect("an id");
    assert!(after_w1.contains(&ws), "{after_w1}");
    drop(live);

    // While away: one change in each workspace, then resume.
    app.create(&bob, &in_workspace("w2", &ws)).await;
    app.create(&alice, &snippet("p2")).await;
    let mut resumed = stream(&app, &alice, Some(&after_w1)).await;
    let missed = take(&mut resumed, 2).await;
    assert_eq!(kinds(&missed), ["snippet.created w2", "snippet.created p2"]);
    assert!(
        resumed.next(Duration::from_millis(500)).await.is_none(),
        "no duplicate"
    );

    // Removed: the removal arrives, and nothing of the workspace after it.
    let removed = app
        .delete(&format!("/api/v1/workspaces/{ws}/members/{alice}"), &bob)
        .await;
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    app.create(&bob, &in_workspace("w3", &ws)).await;
    app.create(&alice, &snippet("p3")).await;
    let news = take(&mut resumed, 2).await;
    assert_eq!(
        kinds(&news),
        [
            format!("member.removed {ws}"),
            "snippet.created p3".to_owned()
        ]
    );
    drop(resumed);

    // From before the joining, the story again as alice may see it now: she is no longer a
    // member, so nothing of the workspace's own snippets (w1, w2, w3), only her news.
    let mut replay = stream(&app, &alice, Some(&after_p1)).await;
    let story = take(&mut replay, 4).await;
    assert_eq!(
        kinds(&story),
        [
            format!("member.added {ws}"),
            "snippet.created p2".to_owned(),
            format!("member.removed {ws}"),
            "snippet.created p3".to_owned(),
        ]
    );
    assert!(
        replay.next(Duration::from_millis(500)).await.is_none(),
        "nothing after p3"
    );
    drop(replay);
    // Added again: a resume from before the first joining now shows what she may read, each
    // membership in its turn: the workspace from each joining to its leaving, nothing twice,
    // and nothing of the time she was out (w3).
    add(&app, &ws, &bob, &alice, "reader").await;
    app.create(&bob, &in_workspace("w4", &ws)).await;
    let mut again = stream(&app, &alice, Some(&after_p1)).await;
    let story = take(&mut again, 8).await;
    assert_eq!(
        kinds(&story),
        [
            format!("member.added {ws}"),
            "snippet.created w1".to_owned(),
            "snippet.created w2".to_owned(),
            "snippet.created p2".to_owned(),
            format!("member.removed {ws}"),
            "snippet.created p3".to_owned(),
            format!("member.added {ws}"),
            "snippet.created w4".to_owned(),
        ]
    );
    assert!(
        again.next(Duration::from_millis(500)).await.is_none(),
        "nothing after w4"
    );
    // A cursor that is not one answers 422.
    let bad = app
        .request(Method::GET, "/api/v1/events?since=7,alice:3", &alice)
        .send()
        .await
        .expect("answered");
    expect_error(bad, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
}

on_each_backend!(one_stream_follows_every_workspace_and_resumes_exactly);
