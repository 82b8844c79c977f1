//! The service's router driven in process with `oneshot`: no socket, no server task, for
//! tests of routing, extractors and error shapes.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use bytes::Bytes;
use http_body_util::BodyExt;
use pieces_connector::auth::JwtKeys;
use pieces_connector::{build_router, Service};
use serde_json::Value;
use tower::ServiceExt;

use super::{settings_for, Backend, SECRET};

/// The API router on a fresh SQLite file.
pub struct InProcess {
    router: Router,
    pub service: Service,
    _backend: Backend,
}

/// A request being built.
pub struct Call<'a> {
    router: &'a Router,
    request: axum::http::request::Builder,
    body: Body,
}

/// What the router answered.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl InProcess {
    pub async fn start() -> Self {
        let backend = Backend::sqlite();
        let settings = settings_for(&backend);
        Self::start_with(backend, settings).await
    }

    /// Local mode: no `JWT_SECRET_KEY`, the service signs with the keys it is given (here the
    /// test secret, so `token` still works).
    pub async fn start_local() -> Self {
        let backend = Backend::sqlite();
        let mut settings = settings_for(&backend);
        settings.jwt_secret_key = None;
        Self::start_with(backend, settings).await
    }

    async fn start_with(backend: Backend, settings: pieces_connector::config::Settings) -> Self {
        let keys = JwtKeys::new(SECRET.as_bytes(), None, None);
        let service = Service::build(settings, keys)
            .await
            .expect("service builds");
        Self {
            router: build_router(service.state().clone()),
            service,
            _backend: backend,
        }
    }

    pub fn token(&self, user: &str) -> String {
        JwtKeys::new(SECRET.as_bytes(), None, None).mint(user, 3600)
    }

    /// A request without credentials.
    pub fn anonymous(&self, method: Method, path: &str) -> Call<'_> {
        Call {
            router: &self.router,
            request: Request::builder().method(method).uri(path),
            body: Body::empty(),
        }
    }

    /// A request as `user`.
    pub fn request(&self, method: Method, path: &str, user: &str) -> Call<'_> {
        self.anonymous(method, path)
            .header("authorization", &format!("Bearer {}", self.token(user)))
    }

    pub async fn get(&self, path: &str, user: &str) -> Reply {
        self.request(Method::GET, path, user).send().await
    }

    pub async fn post(&self, path: &str, user: &str, body: &Value) -> Reply {
        self.request(Method::POST, path, user)
            .json(body)
            .send()
            .await
    }
}

impl Call<'_> {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.request = self.request.header(name, value);
        self
    }

    /// The client's address, as the listener records it for each connection.
    pub fn peer(mut self, addr: &str) -> Self {
        let addr: SocketAddr = addr.parse().expect("a socket address");
        self.request = self.request.extension(ConnectInfo(addr));
        self
    }

    pub fn body(mut self, body: impl Into<Body>) -> Self {
        self.body = body.into();
        self
    }

    pub fn json(self, value: &Value) -> Self {
        self.header("content-type", "application/json")
            .body(value.to_string())
    }

    pub async fn send(self) -> Reply {
        let request = self.request.body(self.body).expect("a valid request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router answers");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("a body").to_bytes();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            panic!(
                "not JSON ({}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the contract's error shape with `status` and `code`; returns the body.
    pub fn expect_error(&self, status: StatusCode, code: &str) -> Value {
        let body = self.json();
        assert_eq!(self.status, status, "unexpected status, body {body}");
        assert_eq!(body["error"], code, "unexpected error code in {body}");
        assert!(
            body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "no detail in {body}"
        );
        assert_eq!(
            body["request_id"].as_str(),
            self.header("x-request-id"),
            "request id in body and header"
        );
        body
    }
}
