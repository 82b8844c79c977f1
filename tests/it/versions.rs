//! Versions and safe concurrent edits: every snippet carries `version` (its `ETag`), a read
//! with `If-None-Match` answers 304 while it holds, and a write with `If-Match` changes the
//! snippet only at that version, checked in the same transaction as the write: of twenty
//! writers who read the same version, exactly one wins; a 412 changes nothing and carries
//! the snippet as it is now.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::sse::SseReader;
use crate::support::{expect_error, snippet, status_json, user, Backend, TestApp};

on_each_backend!(
    a_version_is_the_etag_and_if_match_guards_every_write,
    of_twenty_writers_expecting_one_version_exactly_one_wins
);

/// `method` on `path` as `who`, with `If-Match: if_match` and `body`.
async fn guarded(
    app: &TestApp,
    method: Method,
    path: &str,
    who: &str,
    if_match: &str,
    body: Option<&Value>,
) -> reqwest::Response {
    let mut request = app.request(method, path, who).header("if-match", if_match);
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.expect("answered")
}

async fn a_version_is_the_etag_and_if_match_guards_every_write(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let alice = user();
    let id = app.create(&alice, &snippet("versioned")).await;
    let path = format!("/api/v1/snippets/{id}");

    let read = app.get(&path, &alice).await;
    assert_eq!(read.headers()["etag"], "\"1\"");
    let (_, first) = status_json(read).await;
    assert_eq!(first["version"], 1);
    // A client holding version 1 is told it is current, with no body.
    let again = app
        .request(Method::GET, &path, &alice)
        .header("if-none-match", "W/\"1\"")
        .send()
        .await
        .expect("answered");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()["etag"], "\"1\"");
    assert!(again.bytes().await.expect("a body").is_empty());

    // A write at the version read goes through and moves the version on.
    let edit = json!({"title": "edited once"});
    let done = guarded(&app, Method::PATCH, &path, &alice, "\"1\"", Some(&edit)).await;
    assert_eq!(done.headers()["etag"], "\"2\"");
    let (status, second) = status_json(done).await;
    assert_eq!((status, &second["version"]), (StatusCode::OK, &json!(2)));
    let changed = app
        .request(Method::GET, &path, &alice)
        .header("if-none-match", "\"1\"")
        .send()
        .await
        .expect("answered");
    assert_eq!(
        changed.status(),
        StatusCode::OK,
        "version 1 is no longer current"
    );

    // A write at a version that is gone changes nothing and shows what is there now.
    let lost = json!({"title": "lost edit", "code": "lost"});
    let stale = guarded(&app, Method::PATCH, &path, &alice, "\"1\"", Some(&lost)).await;
    let conflict = expect_error(stale, StatusCode::PRECONDITION_FAILED, "version_conflict").await;
    assert_eq!(conflict["current"], second);
    let stale = guarded(&app, Method::DELETE, &path, &alice, "\"1\"", None).await;
    expect_error(stale, StatusCode::PRECONDITION_FAILED, "version_conflict").await;
    let weak = guarded(&app, Method::PATCH, &path, &alice, "W/\"2\"", Some(&lost)).await;
    expect_error(weak, StatusCode::PRECONDITION_FAILED, "version_conflict").await;
    let (_, now) = status_json(app.get(&path, &alice).await).await;
    assert_eq!(now, second, "nothing changed");

    // A malformed header is the client's mistake; `*` asks only that it exists.
    let bad = guarded(&app, Method::PATCH, &path, &alice, "2", Some(&lost)).await;
    expect_error(bad, StatusCode::BAD_REQUEST, "bad_request").await;
    let any = guarded(
        &app,
        Method::PATCH,
        &path,
        &alice,
        "*",
        Some(&json!({"tags": ["x"]})),
    )
    .await;
    let (status, third) = status_json(any).await;
    assert_eq!((status, &third["version"]), (StatusCode::OK, &json!(3)));
    // Without If-Match the last write wins, as before.
    let (_, fourth) = status_json(app.patch(&path, &alice, &json!({"title": "free"})).await).await;
    assert_eq!(fourth["version"], 4);
    // Another user's snippet is not found, whatever the header says.
    let other = guarded(&app, Method::PATCH, &path, &user(), "\"4\"", Some(&lost)).await;
    expect_error(other, StatusCode::NOT_FOUND, "not_found").await;

    let gone = guarded(&app, Method::DELETE, &path, &alice, "\"4\"", None).await;
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);

    // The change stream carries each version, the deletion's too.
    let events = app
        .request(Method::GET, "/api/v1/events?since=0", &alice)
        .send()
        .await
        .expect("a stream");
    let events = SseReader::new(events).take(5, Duration::from_secs(5)).await;
    let versions: Vec<(String, i64)> = events
        .iter()
        .map(|e| {
            let version = e.data["data"]["version"].as_i64().expect("a version");
            (e.event.clone(), version)
        })
        .collect();
    let expected = [
        ("snippet.created", 1),
        ("snippet.updated", 2),
        ("snippet.updated", 3),
        ("snippet.updated", 4),
        ("snippet.deleted", 4),
    ];
    let expected: Vec<(String, i64)> = expected.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    assert_eq!(versions, expected);
}

async fn of_twenty_writers_expecting_one_version_exactly_one_wins(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let alice = user();
    let id = app.create(&alice, &snippet("contended")).await;
    let path = format!("/api/v1/snippets/{id}");
    let writers = (0..20).map(|n| {
        let body = json!({"title": format!("writer {n}")});
        let request = app
            .request(Method::PATCH, &path, &alice)
            .header("if-match", "\"1\"")
            .json(&body);
        async move { request.send().await.expect("answered") }
    });
    let answers = futures_util::future::join_all(writers).await;
    let mut won = Vec::new();
    let mut conflicts = 0;
    for answer in answers {
        match answer.status() {
            StatusCode::OK => won.push(answer.json::<Value>().await.expect("json")),
            StatusCode::PRECONDITION_FAILED => {
                let body: Value = answer.json().await.expect("json");
                assert_eq!(body["current"]["version"], 2, "{body}");
                conflicts += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((won.len(), conflicts), (1, 19));
    let (_, now) = status_json(app.get(&path, &alice).await).await;
    assert_eq!(now["version"], 2);
    assert_eq!(
        now["title"], won[0]["title"],
        "the one that won is what is stored"
    );
}
