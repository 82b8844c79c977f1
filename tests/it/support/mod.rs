//! A real service on port 0, driven over HTTP, on a chosen backend.

pub mod ai;
pub mod backends;
pub mod chaos;
pub mod in_process;
pub mod model;
pub mod openai_stub;
pub mod process;
pub mod round_robin;
pub mod servers;
pub mod sse;

pub use backends::Backend;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use pieces_connector::auth::JwtKeys;
use pieces_connector::config::Settings;
use pieces_connector::{Listeners, Service};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const SECRET: &str = "test-secret-key-that-is-long-enough-for-hs256";

/// A running service.
pub struct TestApp {
    pub api: String,
    pub metrics: String,
    pub health: String,
    pub http: reqwest::Client,
    pub settings: Settings,
    /// Keeps a temporary SQLite directory alive while the service runs.
    _backend: Backend,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

/// Settings for a test service on `backend`, with ports chosen by the OS.
pub fn settings_for(backend: &Backend) -> Settings {
    let mut vars: HashMap<String, String> = HashMap::new();
    vars.insert("JWT_SECRET_KEY".into(), SECRET.into());
    vars.insert("BIND_ADDRESS".into(), "127.0.0.1".into());
    vars.insert("LOG_LEVEL".into(), "warn".into());
    vars.insert("OUTBOX_POLL_INTERVAL_MS".into(), "100".into());
    vars.insert("DATABASE_URL".into(), backend.database_url());
    if let Some(redis) = backend.redis_url() {
        vars.insert("REDIS_URL".into(), redis);
    }
    Settings::from_vars(vars).expect("test settings are valid")
}

impl TestApp {
    pub async fn start(backend: &Backend) -> Self {
        Self::start_with(backend, settings_for(backend)).await
    }

    pub async fn start_with(backend: &Backend, mut settings: Settings) -> Self {
        if let Ok(level) = std::env::var("TEST_LOG") {
            settings.log_level = level;
            settings.log_format = pieces_connector::config::LogFormat::Text;
            pieces_connector::telemetry::init(&settings);
        }
        let bind = || async { TcpListener::bind("127.0.0.1:0").await.expect("bind port 0") };
        let listeners = Listeners {
            api: bind().await,
            metrics: bind().await,
            health: bind().await,
        };
        let addr = |l: &TcpListener| l.local_addr().expect("bound address");
        let url = |a: SocketAddr| format!("http://{a}");
        let (api, metrics, health) = (
            url(addr(&listeners.api)),
            url(addr(&listeners.metrics)),
            url(addr(&listeners.health)),
        );
        settings.api_port = addr(&listeners.api).port();
        let keys = JwtKeys::new(
            SECRET.as_bytes(),
            settings.jwt_issuer.as_deref(),
            settings.jwt_audience.as_deref(),
        )
        .with_groups_claim(settings.jwt_groups_claim.as_deref());
        let service = Service::build(settings.clone(), keys)
            .await
            .expect("service builds");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(service.serve(listeners, async move {
            let _ = stopped.await;
        }));
        Self {
            api,
            metrics,
            health,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            settings,
            _backend: backend.clone(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Sends the shutdown signal and waits for the service to stop.
    pub async fn stop(mut self) {
        self.shutdown().await.expect("service stops cleanly");
    }

    pub async fn shutdown(&mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.expect("serve task did not panic"),
            None => Ok(()),
        }
    }

    pub fn token(&self, user: &str) -> String {
        JwtKeys::new(SECRET.as_bytes(), None, None).mint(user, 3600)
    }

    /// A token for `user` whose `groups` claim lists `groups`.
    pub fn token_in_groups(&self, user: &str, groups: &[&str]) -> String {
        let mut extra = serde_json::Map::new();
        extra.insert("groups".into(), serde_json::json!(groups));
        JwtKeys::new(SECRET.as_bytes(), None, None).mint_with(user, 3600, extra)
    }

    pub fn request(&self, method: Method, path: &str, user: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.api))
            .bearer_auth(self.token(user))
    }

    pub async fn get(&self, path: &str, user: &str) -> Response {
        self.request(Method::GET, path, user)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post(&self, path: &str, user: &str, body: &Value) -> Response {
        self.request(Method::POST, path, user)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn patch(&self, path: &str, user: &str, body: &Value) -> Response {
        self.request(Method::PATCH, path, user)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn delete(&self, path: &str, user: &str) -> Response {
        self.request(Method::DELETE, path, user)
            .send()
            .await
            .expect("request sent")
    }

    /// A request carrying `token` (a personal token, say) instead of a test user's JWT.
    pub async fn with_token(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Response {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.api))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("request sent")
    }

    /// Sends `method` to `path` as `user`, with no body.
    pub async fn call(&self, method: Method, path: &str, user: &str) -> Response {
        self.request(method, path, user)
            .send()
            .await
            .expect("request sent")
    }

    /// `by` gives `member` the role `role` in workspace `ws`.
    pub async fn put_member(&self, ws: &str, by: &str, member: &str, role: &str) -> Response {
        self.request(
            Method::PUT,
            &format!("/api/v1/workspaces/{ws}/members/{member}"),
            by,
        )
        .json(&serde_json::json!({ "role": role }))
        .send()
        .await
        .expect("request sent")
    }

    /// Creates a snippet and returns its id.
    pub async fn create(&self, user: &str, body: &Value) -> String {
        let response = self.post("/api/v1/snippets", user, body).await;
        let (status, json) = status_json(response).await;
        assert_eq!(status, StatusCode::CREATED, "create failed: {json}");
        json["snippet_id"].as_str().expect("snippet_id").to_owned()
    }

    /// The page `GET /api/v1/snippets?{query}` answers `user` with, which must be a 200.
    pub async fn listing(&self, query: &str, user: &str) -> Value {
        let response = self.get(&format!("/api/v1/snippets?{query}"), user).await;
        let (status, page) = status_json(response).await;
        assert_eq!(status, StatusCode::OK, "{query}: {page}");
        page
    }

    /// The value of one metric series, summed over label sets containing `labels`.
    pub async fn metric(&self, name: &str, labels: &[&str]) -> f64 {
        let text = self
            .http
            .get(format!("{}/metrics", self.metrics))
            .send()
            .await
            .expect("metrics answer")
            .text()
            .await
            .expect("metrics text");
        text.lines()
            .filter(|l| l.starts_with(name) && labels.iter().all(|lab| l.contains(lab)))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A snippet body with the given title.
pub fn snippet(title: &str) -> Value {
    serde_json::json!({
        "title": title,
        "code": format!("fn {}() {{}}", title.replace(' ', "_")),
        "language": "rust",
        "tags": ["test"],
    })
}

/// One field of each snippet of a listing's page, in the page's order.
pub fn page_field(page: &Value, name: &str) -> Vec<String> {
    page["snippets"]
        .as_array()
        .expect("a page of snippets")
        .iter()
        .map(|s| s[name].as_str().expect("a text field").to_owned())
        .collect()
}

/// A fresh user id, so tests sharing Redis or PostgreSQL never see each other's data.
pub fn user() -> String {
    format!("user-{}", uuid::Uuid::new_v4())
}

pub async fn status_json(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("body");
    let json =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text:?}"));
    (status, json)
}

/// Asserts the SPEC error shape and returns the body.
pub async fn expect_error(response: Response, status: StatusCode, code: &str) -> Value {
    let request_id = response
        .headers()
        .get("x-request-id")
        .map(|v| v.to_str().expect("ascii").to_owned());
    let (got, body) = status_json(response).await;
    assert_eq!(got, status, "unexpected status, body {body}");
    assert_eq!(body["error"], code, "unexpected error code in {body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "no detail in {body}"
    );
    assert_eq!(
        body["request_id"].as_str().map(str::to_owned),
        request_id,
        "request id in body and header"
    );
    body
}

/// Polls `check` until it holds or `within` passes.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
