//! The benchmark's yardstick: bare axum doing only the JWT check and answering a fixed body.
//! No service can be faster on the same machine, so each scenario is reported as a ratio of it.
//!
//! `cargo run --release --example ceiling -- PORT` with `JWT_SECRET_KEY` set.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::get;
use axum::Router;
use pieces_connector::auth::JwtKeys;

const BODY: &str = r#"{"id":"01900000-0000-7000-8000-000000000000","title":"fixed","code":"fn main() {}","language":"rust","tags":[],"metadata":{},"description":null,"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}"#;

async fn fixed(
    State(keys): State<&'static JwtKeys>,
    headers: HeaderMap,
) -> (
    StatusCode,
    [(header::HeaderName, &'static str); 1],
    &'static str,
) {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let json = [(header::CONTENT_TYPE, "application/json")];
    match token.map(|t| keys.verify(t)) {
        Some(Ok(_)) => (StatusCode::OK, json, BODY),
        _ => (
            StatusCode::UNAUTHORIZED,
            json,
            r#"{"detail":"unauthorized"}"#,
        ),
    }
}

#[tokio::main]
async fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(8299);
    let secret = std::env::var("JWT_SECRET_KEY").expect("set JWT_SECRET_KEY");
    let keys: &'static JwtKeys = Box::leak(Box::new(JwtKeys::new(secret.as_bytes(), None, None)));
    let app = Router::new()
        .route("/api/v1/snippets/{id}", get(fixed))
        .with_state(keys);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    axum::serve(listener, app).await.expect("serve");
}
