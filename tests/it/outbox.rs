//! Events owed to the data platform and the cognitive service: recorded with the change,
//! delivered at least once with an `Idempotency-Key`, through outages and restarts.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{eventually, settings_for, snippet, status_json, user, Backend, TestApp};

on_each_backend!(
    every_snippet_change_is_synced_with_the_platforms_body_and_headers,
    a_data_platform_that_is_down_gets_every_change_once_it_is_back,
    a_backlog_left_at_shutdown_is_delivered_after_a_restart,
    enrichment_merges_the_analysis_into_metadata_without_slowing_the_create,
);

const SNIPPETS: &str = "/api/v1/snippets";
/// How long the stub takes to analyse: a create that waited for it would take at least this
/// long, which no loaded machine explains.
const ANALYSIS_DELAY: Duration = Duration::from_secs(4);

/// (event, snippet id) of each change the data platform must hear of.
type Changes = BTreeSet<(String, String)>;

/// An address nothing listens on, for a stub to start on later.
fn reserve_address() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    listener.local_addr().expect("bound address")
}

/// A data platform answering 200, on `addr` when given.
async fn data_platform(addr: Option<SocketAddr>) -> MockServer {
    let server = match addr {
        Some(addr) => {
            let listener = std::net::TcpListener::bind(addr).expect("the reserved port is free");
            MockServer::builder().listener(listener).start().await
        }
        None => MockServer::start().await,
    };
    Mock::given(method("POST"))
        .and(path("/snippets"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    server
}

async fn app_syncing_to(backend: &Backend, url: String) -> TestApp {
    let mut settings = settings_for(backend);
    settings.data_platform_url = Some(url);
    TestApp::start_with(backend, settings).await
}

/// Creates three snippets, updates two and deletes one; returns the changes made.
async fn make_changes(app: &TestApp, who: &str) -> Changes {
    let mut changes = Changes::new();
    let mut ids = Vec::new();
    for n in 0..3 {
        let id = app.create(who, &snippet(&format!("change {n}"))).await;
        changes.insert(("created".into(), id.clone()));
        ids.push(id);
    }
    for id in &ids[..2] {
        let path = format!("{SNIPPETS}/{id}");
        let response = app.patch(&path, who, &json!({"title": "renamed"})).await;
        assert_eq!(response.status(), StatusCode::OK);
        changes.insert(("updated".into(), id.clone()));
    }
    let gone = app.delete(&format!("{SNIPPETS}/{}", ids[2]), who).await;
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    changes.insert(("deleted".into(), ids[2].clone()));
    changes
}

/// What the stub has seen, deduplicated by `Idempotency-Key`: a retry carries the same key
/// and the same body.
async fn delivered(server: &MockServer) -> BTreeMap<String, Value> {
    let mut seen: BTreeMap<String, Value> = BTreeMap::new();
    for request in server.received_requests().await.unwrap_or_default() {
        let key = request.headers["idempotency-key"].to_str().unwrap();
        let body: Value = request.body_json().expect("a JSON body");
        let previous = seen.insert(key.to_owned(), body.clone());
        assert!(previous.is_none_or(|p| p == body), "a retry changed");
    }
    seen
}

fn changes_in(delivered: &BTreeMap<String, Value>) -> Changes {
    let change = |b: &Value| {
        (
            b["event"].as_str().unwrap().into(),
            b["snippet"]["id"].as_str().unwrap().into(),
        )
    };
    delivered.values().map(change).collect()
}

async fn pending(app: &TestApp) -> f64 {
    app.metric("pieces_sync_backlog", &["state=\"pending\""])
        .await
}

async fn every_snippet_change_is_synced_with_the_platforms_body_and_headers(backend: Backend) {
    let platform = data_platform(None).await;
    let mut settings = settings_for(&backend);
    settings.data_platform_url = Some(platform.uri());
    settings.api_key = Some("platform-key".into());
    let app = TestApp::start_with(&backend, settings).await;
    let alice = user();
    let created = app.post(SNIPPETS, &alice, &snippet("synced")).await;
    let created_id = created.headers()["x-request-id"].clone();
    let (_, created) = status_json(created).await;
    let path = format!("{SNIPPETS}/{}", created["snippet_id"].as_str().unwrap());
    let patch = json!({"code": "fn v2() {}"});
    let updated = app.patch(&path, &alice, &patch).await;
    let updated_id = updated.headers()["x-request-id"].clone();
    let (_, updated) = status_json(updated).await;
    let deleted_id = app.delete(&path, &alice).await.headers()["x-request-id"].clone();

    let arrived = eventually(Duration::from_secs(5), || async {
        platform.received_requests().await.unwrap().len() >= 3
    })
    .await;
    assert!(arrived, "not every change reached the platform");
    let received = platform.received_requests().await.unwrap();
    assert_eq!(received.len(), 3, "each change sent once");
    let at = |t: &Value| chrono::DateTime::parse_from_rfc3339(t.as_str().unwrap()).unwrap();
    let mut keys = BTreeSet::new();
    let (first, last) = (&created["snippet"], &updated);
    for (event, request_id, snippet, stamp) in [
        ("created", created_id, first, Some(&first["created_at"])),
        ("updated", updated_id, last, Some(&last["updated_at"])),
        ("deleted", deleted_id, last, None),
    ] {
        let request = received
            .iter()
            .find(|r| r.body_json::<Value>().unwrap()["event"] == event)
            .unwrap_or_else(|| panic!("no {event} event"));
        let headers = &request.headers;
        assert_eq!(headers["x-request-id"], request_id, "the cause's id");
        assert_eq!(headers["x-api-key"], "platform-key");
        assert_eq!(headers["content-type"], "application/json");
        keys.insert(headers["idempotency-key"].to_str().unwrap().to_owned());
        let mut body: Value = request.body_json().unwrap();
        let fields = body.as_object_mut().unwrap();
        let timestamp = fields.remove("timestamp").expect("timestamp");
        let expected = json!({"user_id": alice, "snippet": snippet, "event": event});
        assert_eq!(body, expected, "exactly the platform's body");
        match stamp {
            Some(stamp) => assert_eq!(&timestamp, stamp, "{event} when it happened"),
            None => assert!(at(&timestamp) >= at(&last["updated_at"])),
        }
    }
    assert_eq!(keys.len(), 3, "one idempotency key per change");
    let settled = eventually(Duration::from_secs(2), || async {
        let delivered = ["target=\"data_platform\"", "outcome=\"delivered\""];
        app.metric("pieces_sync_deliveries_total", &delivered).await == 3.0
            && pending(&app).await == 0.0
    })
    .await;
    assert!(settled, "three deliveries counted, none pending");
}

/// Waits until the stub has every change, once per idempotency key, and nothing is pending.
async fn expect_all_delivered(platform: &MockServer, app: &TestApp, changes: &Changes) {
    let arrived = eventually(Duration::from_secs(20), || async {
        changes_in(&delivered(platform).await) == *changes
    })
    .await;
    let got = delivered(platform).await;
    let got_changes = changes_in(&got);
    assert!(arrived, "got {got_changes:?}, not {changes:?}");
    assert_eq!(got.len(), changes.len(), "one idempotency key per change");
    let drained = eventually(Duration::from_secs(2), || async {
        pending(app).await == 0.0
    });
    assert!(drained.await, "the backlog drains once all is delivered");
}

async fn a_data_platform_that_is_down_gets_every_change_once_it_is_back(backend: Backend) {
    let addr = reserve_address();
    let app = app_syncing_to(&backend, format!("http://{addr}")).await;
    let changes = make_changes(&app, &user()).await;
    let backlog = eventually(Duration::from_secs(5), || async {
        let failed = ["target=\"data_platform\"", "outcome=\"failed\""];
        pending(&app).await == 6.0
            && app.metric("pieces_sync_deliveries_total", &failed).await >= 6.0
    })
    .await;
    assert!(backlog, "the backlog and the failed tries show in /metrics");

    let platform = data_platform(Some(addr)).await;
    expect_all_delivered(&platform, &app, &changes).await;
}

async fn a_backlog_left_at_shutdown_is_delivered_after_a_restart(backend: Backend) {
    let addr = reserve_address();
    let app = app_syncing_to(&backend, format!("http://{addr}")).await;
    let changes = make_changes(&app, &user()).await;
    let tried = eventually(Duration::from_secs(5), || async {
        pending(&app).await == 6.0
    });
    assert!(tried.await, "the backlog is pending before the restart");
    let settings = app.settings.clone();
    app.stop().await;

    let platform = data_platform(Some(addr)).await;
    let app = TestApp::start_with(&backend, settings).await;
    expect_all_delivered(&platform, &app, &changes).await;
}

async fn enrichment_merges_the_analysis_into_metadata_without_slowing_the_create(backend: Backend) {
    let cognitive = MockServer::start().await;
    let analysis = json!({"complexity": "low", "summary": "prints a greeting"});
    let slow = ResponseTemplate::new(200).set_body_json(&analysis);
    Mock::given(method("POST"))
        .and(path("/analyze"))
        .respond_with(slow.set_delay(ANALYSIS_DELAY))
        .mount(&cognitive)
        .await;
    let mut settings = settings_for(&backend);
    settings.cognitive_services_url = Some(cognitive.uri());
    let app = TestApp::start_with(&backend, settings).await;
    let alice = user();
    let body = json!({"title": "hi", "code": "print('hi')", "language": "python",
        "metadata": {"source": "cli"}});
    let started = Instant::now();
    let response = app.post(SNIPPETS, &alice, &body).await;
    let took = started.elapsed();
    assert!(
        took < ANALYSIS_DELAY,
        "the create waited for the analysis ({took:?})"
    );
    let request_id = response.headers()["x-request-id"].clone();
    let (status, created) = status_json(response).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["snippet"]["metadata"], json!({"source": "cli"}));

    let path = format!("{SNIPPETS}/{}", created["snippet_id"].as_str().unwrap());
    app.get(&path, &alice).await; // cached before the analysis lands
    let enriched = json!({"source": "cli", "complexity": "low", "summary": "prints a greeting"});
    let merged = eventually(ANALYSIS_DELAY + Duration::from_secs(8), || async {
        status_json(app.get(&path, &alice).await).await.1["metadata"] == enriched
    })
    .await;
    assert!(merged, "the analysis never reached the metadata");
    let (_, read) = status_json(app.get(&path, &alice).await).await;
    let unchanged = &created["snippet"]["updated_at"];
    assert_eq!(&read["updated_at"], unchanged, "enrichment is not an edit");

    let requests = cognitive.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let sent: Value = requests[0].body_json().unwrap();
    let expected = json!({"code": "print('hi')", "language": "python",
        "analysis_type": "comprehensive"});
    assert_eq!(sent, expected, "exactly the platform's body");
    assert_eq!(requests[0].headers["x-request-id"], request_id);
    assert!(!requests[0].headers["idempotency-key"].is_empty());
}

#[tokio::test]
async fn a_dead_cognitive_service_never_fails_a_create() {
    let backend = Backend::sqlite();
    let mut settings = settings_for(&backend);
    settings.cognitive_services_url = Some(format!("http://{}", reserve_address()));
    let app = TestApp::start_with(&backend, settings).await;
    let alice = user();
    let id = app.create(&alice, &snippet("unanalysed")).await;
    let failed = eventually(Duration::from_secs(3), || async {
        let labels = ["target=\"enrichment\"", "outcome=\"failed\""];
        app.metric("pieces_sync_deliveries_total", &labels).await >= 1.0
    })
    .await;
    assert!(failed, "the failed analysis is counted, kept to retry");
    let path = format!("{SNIPPETS}/{id}");
    let (status, read) = status_json(app.get(&path, &alice).await).await;
    assert_eq!((status, &read["metadata"]), (StatusCode::OK, &json!({})));
}
