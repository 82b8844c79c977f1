//! Team workspaces: every row of the role matrix on both stores, isolation (a non-member sees
//! exactly what a missing id shows), the last owner, removal seen by another replica, and an
//! audit record for every change, also after a kill right after the answer.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::process::ServiceProcess;
use crate::support::{eventually, expect_error, snippet, status_json, user, Backend, TestApp};

/// The people of one workspace, one per role, and one who is not in it.
struct Team {
    ws: String,
    owner: String,
    admin: String,
    writer: String,
    reader: String,
    outsider: String,
}

impl Team {
    async fn make(app: &TestApp) -> Self {
        let owner = user();
        let (status, created) = status_json(
            app.post(
                "/api/v1/workspaces",
                &owner,
                &json!({"name": "Platform team"}),
            )
            .await,
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(created["role"], "owner");
        let ws = created["id"].as_str().expect("an id").to_owned();
        assert!(ws.starts_with("ws_"), "{ws}");
        let team = Self {
            ws,
            owner,
            admin: user(),
            writer: user(),
            reader: user(),
            outsider: user(),
        };
        for (member, role) in [
            (&team.admin, "admin"),
            (&team.writer, "writer"),
            (&team.reader, "reader"),
        ] {
            let (status, body) = put_member(app, &team.ws, &team.owner, member, role).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(body["role"], role);
        }
        team
    }

    /// Everyone, with the role each has (None: the outsider).
    fn everyone(&self) -> [(&str, Option<&'static str>); 5] {
        [
            (&self.outsider, None),
            (&self.reader, Some("reader")),
            (&self.writer, Some("writer")),
            (&self.admin, Some("admin")),
            (&self.owner, Some("owner")),
        ]
    }
}

async fn put_member(
    app: &TestApp,
    ws: &str,
    by: &str,
    member: &str,
    role: &str,
) -> (StatusCode, Value) {
    status_json(app.put_member(ws, by, member, role).await).await
}

fn rank(role: Option<&str>) -> u8 {
    match role {
        None => 0,
        Some("reader") => 1,
        Some("writer") => 2,
        Some("admin") => 3,
        Some(_) => 4,
    }
}

/// What `who` gets: 404 below reader, 403 `insufficient_role` naming `least` below it,
/// else `ok`.
async fn expect_role(
    response: reqwest::Response,
    role: Option<&str>,
    least: &str,
    ok: StatusCode,
) -> Value {
    match role {
        None => expect_error(response, StatusCode::NOT_FOUND, "not_found").await,
        Some(_) if rank(role) < rank(Some(least)) => {
            let body = expect_error(response, StatusCode::FORBIDDEN, "insufficient_role").await;
            assert_eq!(body["role"], least, "{body}");
            body
        }
        Some(_) => {
            let (status, body) = status_json_or_empty(response).await;
            assert_eq!(status, ok, "{role:?} wanted {ok}: {body}");
            body
        }
    }
}

async fn status_json_or_empty(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn role_matrix(app: &TestApp) {
    let team = Team::make(app).await;
    let ws = team.ws.clone();
    let in_ws = |title: &str| {
        let mut body = snippet(title);
        body["workspace"] = json!(ws);
        body
    };
    let shared = app.create(&team.writer, &in_ws("shared runbook")).await;
    let missing = uuid::Uuid::now_v7().to_string();
    let (_, none) = status_json(
        app.get(&format!("/api/v1/snippets/{missing}"), &team.outsider)
            .await,
    )
    .await;

    for (who, role) in team.everyone() {
        // Reading the workspace, its members, its snippets.
        let got = expect_role(
            app.get(&format!("/api/v1/workspaces/{ws}"), who).await,
            role,
            "reader",
            StatusCode::OK,
        )
        .await;
        if let Some(role) = role {
            assert_eq!(got["role"], role);
            assert_eq!(got["member_count"], 4);
        }
        expect_role(
            app.get(&format!("/api/v1/workspaces/{ws}/members"), who)
                .await,
            role,
            "reader",
            StatusCode::OK,
        )
        .await;
        let page = expect_role(
            app.get(&format!("/api/v1/snippets?workspace={ws}"), who)
                .await,
            role,
            "reader",
            StatusCode::OK,
        )
        .await;
        if role.is_some() {
            let ids: Vec<&str> = page["snippets"]
                .as_array()
                .expect("snippets")
                .iter()
                .filter_map(|s| s["id"].as_str())
                .collect();
            assert!(ids.contains(&shared.as_str()), "{page}");
        }
        let read = app.get(&format!("/api/v1/snippets/{shared}"), who).await;
        let body = expect_role(read, role, "reader", StatusCode::OK).await;
        if role.is_none() {
            // Exactly what an id that does not exist answers.
            assert_eq!(
                (body["error"].clone(), body["detail"].clone()),
                (none["error"].clone(), none["detail"].clone())
            );
        } else {
            assert_eq!(body["workspace"], json!(ws));
        }
        // Writing snippets.
        let created = app
            .post("/api/v1/snippets", who, &in_ws(&format!("by {who}")))
            .await;
        let created = expect_role(created, role, "writer", StatusCode::CREATED).await;
        let edited = app
            .patch(
                &format!("/api/v1/snippets/{shared}"),
                who,
                &json!({"description": who}),
            )
            .await;
        expect_role(edited, role, "writer", StatusCode::OK).await;
        let doomed = app.create(&team.writer, &in_ws("doomed")).await;
        let deleted = app.delete(&format!("/api/v1/snippets/{doomed}"), who).await;
        expect_role(deleted, role, "writer", StatusCode::NO_CONTENT).await;
        if rank(role) >= rank(Some("writer")) {
            assert_eq!(created["snippet"]["workspace"], json!(ws));
        }
        // Managing the workspace.
        let renamed = app
            .patch(
                &format!("/api/v1/workspaces/{ws}"),
                who,
                &json!({"description": "ours"}),
            )
            .await;
        expect_role(renamed, role, "admin", StatusCode::OK).await;
        let audit = app
            .get(&format!("/api/v1/workspaces/{ws}/audit"), who)
            .await;
        expect_role(audit, role, "admin", StatusCode::OK).await;
        let newcomer = user();
        let path = format!("/api/v1/workspaces/{ws}/members/{newcomer}");
        let added = app
            .request(Method::PUT, &path, who)
            .json(&json!({"role": "reader"}))
            .send()
            .await
            .expect("answered");
        expect_role(added, role, "admin", StatusCode::OK).await;
        let granted = app
            .request(Method::PUT, &path, who)
            .json(&json!({"role": "owner"}))
            .send()
            .await
            .expect("answered");
        match rank(role) {
            0 => {
                expect_error(granted, StatusCode::NOT_FOUND, "not_found").await;
            }
            4 => assert_eq!(granted.status(), StatusCode::OK),
            // Granting owner takes an owner.
            _ => {
                expect_error(granted, StatusCode::FORBIDDEN, "insufficient_role").await;
            }
        }
        let removed = app.delete(&path, who).await;
        match rank(role) {
            0 => {
                expect_error(removed, StatusCode::NOT_FOUND, "not_found").await;
            }
            1 | 2 => {
                expect_error(removed, StatusCode::FORBIDDEN, "insufficient_role").await;
            }
            // An admin removes the reader they added; an owner the owner they made.
            _ => assert_eq!(removed.status(), StatusCode::NO_CONTENT),
        }
        // Deleting the workspace: an owner's, refused while it holds snippets.
        let dropped = app.delete(&format!("/api/v1/workspaces/{ws}"), who).await;
        match rank(role) {
            0 => {
                expect_error(dropped, StatusCode::NOT_FOUND, "not_found").await;
            }
            4 => {
                expect_error(dropped, StatusCode::CONFLICT, "workspace_not_empty").await;
            }
            _ => {
                let body = expect_error(dropped, StatusCode::FORBIDDEN, "insufficient_role").await;
                assert_eq!(body["role"], "owner");
            }
        }
    }

    // The outsider's list names only their personal workspace; the reader's names the team's.
    let (_, listed) = status_json(app.get("/api/v1/workspaces", &team.outsider).await).await;
    let ids: Vec<&str> = listed["workspaces"]
        .as_array()
        .expect("workspaces")
        .iter()
        .filter_map(|w| w["id"].as_str())
        .collect();
    assert_eq!(ids, ["personal"]);
    let (_, listed) = status_json(app.get("/api/v1/workspaces", &team.reader).await).await;
    let ids: Vec<&str> = listed["workspaces"]
        .as_array()
        .expect("workspaces")
        .iter()
        .filter_map(|w| w["id"].as_str())
        .collect();
    assert_eq!(ids, ["personal", ws.as_str()]);

    // An admin cannot demote an owner; the last owner cannot leave or be demoted.
    let (status, body) = put_member(app, &ws, &team.admin, &team.owner, "reader").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("insufficient_role"))
    );
    let (status, body) = put_member(app, &ws, &team.owner, &team.owner, "admin").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("last_owner"))
    );
    let leave = app
        .delete(
            &format!("/api/v1/workspaces/{ws}/members/{}", team.owner),
            &team.owner,
        )
        .await;
    expect_error(leave, StatusCode::CONFLICT, "last_owner").await;
    // A removed member loses access at once.
    let removed = app
        .delete(
            &format!("/api/v1/workspaces/{ws}/members/{}", team.writer),
            &team.admin,
        )
        .await;
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    let read = app
        .get(&format!("/api/v1/snippets/{shared}"), &team.writer)
        .await;
    expect_error(read, StatusCode::NOT_FOUND, "not_found").await;
    // A member may leave.
    let left = app
        .delete(
            &format!("/api/v1/workspaces/{ws}/members/{}", team.reader),
            &team.reader,
        )
        .await;
    assert_eq!(left.status(), StatusCode::NO_CONTENT);

    // The personal workspace cannot be renamed; another's id names nothing.
    let renamed = app
        .patch(
            "/api/v1/workspaces/personal",
            &team.owner,
            &json!({"name": "x"}),
        )
        .await;
    expect_error(renamed, StatusCode::CONFLICT, "personal_workspace").await;
    let (status, _) = status_json(
        app.get(
            &format!("/api/v1/workspaces/{}", team.owner),
            &team.outsider,
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The audit log holds ids, never titles or code, and each change's record.
    let (_, audit) = status_json(
        app.get(
            &format!("/api/v1/workspaces/{ws}/audit?limit=500"),
            &team.owner,
        )
        .await,
    )
    .await;
    let text = audit.to_string();
    assert!(
        !text.contains("shared runbook") && !text.contains("doomed"),
        "{text}"
    );
    let actions: Vec<&str> = audit["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter_map(|r| r["action"].as_str())
        .collect();
    for action in [
        "workspace.created",
        "member.added",
        "member.updated",
        "member.removed",
        "snippet.created",
        "snippet.updated",
        "snippet.deleted",
        "workspace.updated",
    ] {
        assert!(
            actions.contains(&action),
            "{action} missing from {actions:?}"
        );
    }
    let created: Vec<&Value> = audit["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter(|r| r["action"] == "snippet.created")
        .collect();
    // The shared one, one per writer, admin and owner, and the four doomed ones.
    assert_eq!(created.len(), 1 + 3 + 5, "{created:?}");
    assert!(created
        .iter()
        .all(|r| r["workspace"] == json!(ws) && r["target"]["type"] == "snippet"));
    // Filters and the cursor: pages of two walk the same records.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let after = cursor
            .as_ref()
            .map(|c| format!("&cursor={c}"))
            .unwrap_or_default();
        let (status, page) = status_json(
            app.get(
                &format!("/api/v1/workspaces/{ws}/audit?action=snippet.created&limit=2{after}"),
                &team.admin,
            )
            .await,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(
            page["records"]
                .as_array()
                .expect("records")
                .iter()
                .map(|r| r["id"].clone()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        seen,
        created.iter().map(|r| r["id"].clone()).collect::<Vec<_>>()
    );
    // The same as JSON lines.
    let lines = app
        .request(
            Method::GET,
            &format!("/api/v1/workspaces/{ws}/audit?action=snippet.created&limit=3"),
            &team.owner,
        )
        .header("accept", "application/x-ndjson")
        .send()
        .await
        .expect("answered");
    assert_eq!(lines.headers()["content-type"], "application/x-ndjson");
    let text = lines.text().await.expect("lines");
    assert_eq!(text.lines().count(), created.len(), "{text}");
    // A caller's own actions.
    let (_, mine) = status_json(
        app.get("/api/v1/audit?action=snippet.deleted", &team.writer)
            .await,
    )
    .await;
    let records = mine["records"].as_array().expect("records");
    assert_eq!(
        records.len(),
        1,
        "the writer deleted the doomed snippet of their round: {mine}"
    );
    assert!(records
        .iter()
        .all(|r| r["actor"]["user_id"] == json!(team.writer) && r["actor"]["via"] == "jwt"));
    let bad = app
        .get("/api/v1/audit?action=snippet.exploded", &team.writer)
        .await;
    expect_error(bad, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;

    // Once empty, the owner deletes it, and it is gone for everyone.
    for id in page_ids(app, &ws, &team.owner).await {
        let gone = app
            .delete(&format!("/api/v1/snippets/{id}"), &team.owner)
            .await;
        assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    }
    let dropped = app
        .delete(&format!("/api/v1/workspaces/{ws}"), &team.owner)
        .await;
    assert_eq!(dropped.status(), StatusCode::NO_CONTENT);
    let (status, _) = status_json(
        app.get(&format!("/api/v1/workspaces/{ws}"), &team.admin)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn page_ids(app: &TestApp, ws: &str, who: &str) -> Vec<String> {
    let page = app.listing(&format!("workspace={ws}&limit=100"), who).await;
    page["snippets"]
        .as_array()
        .expect("snippets")
        .iter()
        .filter_map(|s| s["id"].as_str().map(str::to_owned))
        .collect()
}

on_each_backend!(every_role_does_what_it_may_and_no_more);

async fn every_role_does_what_it_may_and_no_more(backend: Backend) {
    let app = TestApp::start(&backend).await;
    role_matrix(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_names_no_workspace_keeps_its_personal_snippets() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let alice = user();
    let id = app.create(&alice, &snippet("mine")).await;
    let (_, read) = status_json(app.get(&format!("/api/v1/snippets/{id}"), &alice).await).await;
    assert_eq!(read["workspace"], "personal");
    let page = app.listing("", &alice).await;
    assert_eq!(page["total"], 1);
    // Naming a workspace that is not one is a 404, never another's data.
    let other = app.get("/api/v1/snippets?workspace=ws_0000", &alice).await;
    expect_error(other, StatusCode::NOT_FOUND, "not_found").await;
    let mut body = snippet("there");
    body["workspace"] = json!("ws_0000");
    let refused = app.post("/api/v1/snippets", &alice, &body).await;
    expect_error(refused, StatusCode::NOT_FOUND, "not_found").await;
    // A token may not name a user that looks like a workspace.
    let forged = app.get("/api/v1/snippets", "ws_0190f1e0a1b2").await;
    expect_error(forged, StatusCode::UNAUTHORIZED, "token_invalid_user").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_member_loses_access_on_another_replica_within_five_seconds() {
    let Some(backend) = Backend::postgres("a_removed_member_loses_access_on_another_replica").await
    else {
        return;
    };
    let (one, two) = tokio::join!(TestApp::start(&backend), TestApp::start(&backend));
    let (owner, member) = (user(), user());
    let (_, created) = status_json(
        one.post("/api/v1/workspaces", &owner, &json!({"name": "ops"}))
            .await,
    )
    .await;
    let ws = created["id"].as_str().expect("id").to_owned();
    let (status, _) = put_member(&one, &ws, &owner, &member, "writer").await;
    assert_eq!(status, StatusCode::OK);
    let mut body = snippet("runbook");
    body["workspace"] = json!(ws);
    let id = one.create(&owner, &body).await;
    let path = format!("/api/v1/snippets/{id}");
    // Replica two keeps the member's role (and the snippet) once it has read them.
    for _ in 0..3 {
        let (status, _) = status_json(two.get(&path, &member).await).await;
        assert_eq!(status, StatusCode::OK);
    }
    let removed = one
        .delete(&format!("/api/v1/workspaces/{ws}/members/{member}"), &owner)
        .await;
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    let started = std::time::Instant::now();
    let lost = eventually(Duration::from_secs(5), || async {
        two.get(&path, &member).await.status() == StatusCode::NOT_FOUND
    })
    .await;
    assert!(lost, "replica two still serves a removed member after 5 s");
    eprintln!(
        "removal seen by the other replica after {:?}",
        started.elapsed()
    );
    // A write there is refused too, and the owner still reads it.
    let edit = two
        .patch(&path, &member, &json!({"title": "mine now"}))
        .await;
    expect_error(edit, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(two.get(&path, &owner).await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_keeps_its_audit_record_when_the_process_is_killed_after_the_answer() {
    let backend = Backend::sqlite();
    let owner = user();
    let mut expected = Vec::new();
    let mut ws = String::new();
    let mut ids = Vec::new();
    for round in 0..4 {
        let process = ServiceProcess::start(&backend, &[]).await;
        let http = reqwest::Client::new();
        let token = process.token(&owner);
        let send = |method: Method, path: String, body: Option<Value>| {
            let mut request = http
                .request(method, format!("{}{path}", process.api))
                .bearer_auth(&token);
            if let Some(body) = body {
                request = request.json(&body);
            }
            request.send()
        };
        let answered = match round {
            0 => {
                let response = send(
                    Method::POST,
                    "/api/v1/workspaces".into(),
                    Some(json!({"name": "kept"})),
                )
                .await
                .expect("answered");
                let (_, body) = status_json(response).await;
                ws = body["id"].as_str().expect("id").to_owned();
                "workspace.created"
            }
            1 => {
                let mut body = snippet("kept");
                body["workspace"] = json!(ws);
                let (_, body) = status_json(
                    send(Method::POST, "/api/v1/snippets".into(), Some(body))
                        .await
                        .expect("answered"),
                )
                .await;
                ids.push(body["snippet_id"].as_str().expect("id").to_owned());
                "snippet.created"
            }
            2 => {
                let response = send(
                    Method::PATCH,
                    format!("/api/v1/snippets/{}", ids[0]),
                    Some(json!({"title": "edited"})),
                )
                .await
                .expect("answered");
                assert_eq!(response.status(), StatusCode::OK);
                "snippet.updated"
            }
            _ => {
                let response = send(
                    Method::PUT,
                    format!("/api/v1/workspaces/{ws}/members/{}", user()),
                    Some(json!({"role": "reader"})),
                )
                .await
                .expect("answered");
                assert_eq!(response.status(), StatusCode::OK);
                "member.added"
            }
        };
        expected.push(answered);
        // Killed the moment the answer is in: nothing may have waited for a later flush.
        process.kill();
    }
    let app = TestApp::start(&backend).await;
    let (_, audit) = status_json(
        app.get(&format!("/api/v1/workspaces/{ws}/audit"), &owner)
            .await,
    )
    .await;
    let mut actions: Vec<&str> = audit["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter_map(|r| r["action"].as_str())
        .collect();
    actions.reverse();
    assert_eq!(actions, expected, "{audit}");
}
