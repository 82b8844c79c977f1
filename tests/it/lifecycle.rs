//! Start-up checks, probes, and graceful shutdown.

use std::collections::HashMap;
use std::time::Duration;

use pieces_connector::config::Settings;
use reqwest::{Method, StatusCode};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{settings_for, status_json, user, Backend, TestApp};

fn load(pairs: &[(&str, &str)]) -> Result<Settings, String> {
    let vars: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Settings::from_vars(vars).map_err(|e| e.to_string())
}

#[test]
fn a_bad_setting_stops_start_up_naming_the_variable() {
    for (pairs, variable) in [
        (vec![("JWT_SECRET_KEY", "too-short")], "JWT_SECRET_KEY"),
        (vec![("API_PORT", "eighty")], "API_PORT"),
        (vec![("API_PORT", "70000")], "API_PORT"),
        (vec![("LOG_FORMAT", "xml")], "LOG_FORMAT"),
        (vec![("REDIS_URL", "localhost:6379")], "REDIS_URL"),
        (vec![("GATEWAY_URL", "not a url")], "GATEWAY_URL"),
        (vec![("DATABASE_URL", "mysql://x")], "DATABASE_URL"),
        (vec![("REQUEST_TIMEOUT_SECS", "0")], "REQUEST_TIMEOUT_SECS"),
        (vec![("MAX_CONNECTIONS", "0")], "MAX_CONNECTIONS"),
        (
            vec![
                ("DATABASE_URL", "postgres://db/pieces"),
                ("DATABASE_MAX_CONNECTIONS", "1"),
            ],
            "DATABASE_MAX_CONNECTIONS",
        ),
        (vec![("REDIS_CRITICAL", "maybe")], "REDIS_CRITICAL"),
    ] {
        let error = load(&pairs).expect_err("must be refused");
        assert!(error.contains(variable), "{error:?} should name {variable}");
        assert_eq!(error.lines().count(), 1, "one line: {error:?}");
    }
}

#[test]
fn defaults_and_environment_names_are_the_platforms() {
    let settings = load(&[
        ("COGNITIVE_SERVICES_URL", "http://cog:8000"),
        ("API_KEY", "k"),
        ("API_PORT", ""),
    ])
    .unwrap();
    assert_eq!(
        (
            settings.api_port,
            settings.metrics_port,
            settings.health_port
        ),
        (8200, 9200, 9201)
    );
    assert_eq!(
        settings.cognitive_services_url.as_deref(),
        Some("http://cog:8000")
    );
    assert_eq!(
        settings.cors_origins(),
        vec![
            "https://aiwfe.com",
            "http://aiwfe.com",
            "http://localhost:3000"
        ]
    );
}

#[test]
fn a_toml_file_sits_between_defaults_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pieces.toml");
    std::fs::write(&file, "api_port = 8300\nlog_level = \"debug\"\n").unwrap();
    let file = file.to_str().unwrap();
    let settings = load(&[("CONFIG_FILE", file), ("LOG_LEVEL", "warn")]).unwrap();
    assert_eq!(
        (settings.api_port, settings.log_level.as_str()),
        (8300, "warn")
    );
}

#[tokio::test]
async fn probes_answer_on_the_health_port_and_the_api_port() {
    let app = TestApp::start(&Backend::sqlite()).await;
    for base in [&app.health, &app.api] {
        let (status, live) = status_json(
            app.http
                .get(format!("{base}/health/live"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((status, live), (StatusCode::OK, json!({"status": "alive"})));
        let (status, ready) = status_json(
            app.http
                .get(format!("{base}/health/ready"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            ready,
            json!({"status": "ready", "checks": {"sqlite": "ok"}})
        );
    }
    let metrics_only = app
        .http
        .get(format!("{}/health/live", app.metrics))
        .send()
        .await
        .unwrap();
    assert_eq!(
        metrics_only.status(),
        StatusCode::NOT_FOUND,
        "the metrics port serves only /metrics"
    );
}

#[tokio::test]
async fn shutdown_fails_readiness_and_lets_in_flight_requests_finish() {
    let cognitive = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/chat"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"response": "slow but fine", "confidence": 0.5}))
                .set_delay(Duration::from_millis(1500)),
        )
        .mount(&cognitive)
        .await;
    let backend = Backend::sqlite();
    let mut settings = settings_for(&backend);
    settings.cognitive_services_url = Some(cognitive.uri());
    let mut app = TestApp::start_with(&backend, settings).await;
    let slow = {
        let request = app
            .request(Method::POST, "/api/v1/ai-assist", &user())
            .json(&json!({"query": "take your time"}));
        tokio::spawn(async move { status_json(request.send().await.unwrap()).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let health = app.health.clone();
    let http = app.http.clone();
    let stopping = tokio::spawn(async move { app.shutdown().await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ready = http
        .get(format!("{health}/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        ready.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "readiness fails while draining"
    );
    let (status, answer) = slow.await.unwrap();
    assert_eq!(
        (status, answer["response"].as_str()),
        (StatusCode::OK, Some("slow but fine"))
    );
    stopping.await.unwrap().expect("clean stop");
    assert!(
        http.get(format!("{health}/health/live"))
            .send()
            .await
            .is_err(),
        "listeners are closed"
    );
}

/// A client that keeps its change stream open but stopped reading it holds written events
/// the service cannot deliver: at shutdown its connection is closed after a short grace,
/// rather than holding the shutdown for the whole drain (20 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_is_never_read_does_not_hold_the_shutdown() {
    let backend = Backend::sqlite();
    let mut app = TestApp::start(&backend).await;
    let alice = user();
    let mut big = crate::support::snippet("big");
    big["code"] = json!("x\n".repeat(100_000));
    for _ in 0..40 {
        app.create(&alice, &big).await;
    }
    let addr = app.api.trim_start_matches("http://").parse().expect("addr");
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket.set_recv_buffer_size(4096).expect("a small window");
    let mut stream = socket.connect(addr).await.expect("connected");
    let request = format!(
        "GET /api/v1/events?since=0 HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n\
         Authorization: Bearer {}\r\n\r\n",
        app.token(&alice)
    );
    tokio::io::AsyncWriteExt::write_all(&mut stream, request.as_bytes())
        .await
        .expect("asked");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let started = std::time::Instant::now();
    app.shutdown().await.expect("clean stop");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(8), "the shutdown took {took:?}");
    drop(stream);
}
