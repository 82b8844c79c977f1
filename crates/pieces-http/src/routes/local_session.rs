//! `POST /local/session`: in local mode only, a short-lived token for `local-user`, so the
//! web page opened on this machine signs in by itself. The route is mounted only in local
//! mode and answers only a loopback peer that names a loopback host and, from a browser, the
//! service's own origin: no other page, not even one on another port of this machine, nor
//! one reached by DNS rebinding, can get a token. Anyone else gets the 404 of a route that
//! does not exist. It sends no CORS headers and is not in the API description.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, Method};
use axum::routing::any;
use axum::{Extension, Json, Router};
use chrono::{DateTime, Utc};
use serde::Serialize;
use url::{Host, Url};

use crate::error::ApiError;
use crate::state::AppState;
use pieces_service::auth::LOCAL_USER;

pub const PATH: &str = "/local/session";

/// Long enough for a sitting; the page asks again when it runs out.
const SESSION_TTL: Duration = Duration::from_secs(3600);

/// The route, in local mode; `None` otherwise.
pub fn router(state: &AppState) -> Option<Router<AppState>> {
    state.local.as_ref()?;
    Some(Router::new().route(PATH, any(session)))
}

#[derive(Serialize)]
struct Session {
    token: String,
    user: &'static str,
    expires_at: DateTime<Utc>,
}

async fn session(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    method: Method,
    headers: HeaderMap,
) -> Result<Json<Session>, ApiError> {
    let local = state.local.as_ref().ok_or(ApiError::NotFound("route"))?;
    let from_loopback =
        peer.is_some_and(|Extension(ConnectInfo(addr))| addr.ip().to_canonical().is_loopback());
    let names_loopback = header_names_loopback(&headers, header::HOST, |host| {
        Url::parse(&format!("http://{host}/")).ok()
    });
    let origin_ok = !headers.contains_key(header::ORIGIN) || is_own_origin(&headers);
    if !(from_loopback && names_loopback && origin_ok) {
        return Err(ApiError::NotFound("route"));
    }
    if method != Method::POST {
        return Err(ApiError::MethodNotAllowed);
    }
    let minted = local.mint(SESSION_TTL);
    Ok(Json(Session {
        token: minted.token,
        user: LOCAL_USER,
        expires_at: minted.expires_at,
    }))
}

/// Whether `Origin` is this service as the browser reached it: `http://` and the `Host` the
/// request was sent to (a page of this service is served on that origin, any other is not).
fn is_own_origin(headers: &HeaderMap) -> bool {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(origin), Some(host)) = (header(header::ORIGIN), header(header::HOST)) else {
        return false;
    };
    let (Ok(origin), Ok(own)) = (Url::parse(origin), Url::parse(&format!("http://{host}/"))) else {
        return false;
    };
    origin.scheme() == "http" && origin.origin() == own.origin()
}

/// Whether header `name` is present and names a loopback host (`localhost`, 127.0.0.0/8,
/// `::1`), read as a URL by `parse`.
fn header_names_loopback(
    headers: &HeaderMap,
    name: header::HeaderName,
    parse: impl Fn(&str) -> Option<Url>,
) -> bool {
    let Some(url) = headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(parse)
    else {
        return false;
    };
    match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.to_canonical().is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_loopback(host: &str) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, host.parse().expect("a header value"));
        header_names_loopback(&headers, header::HOST, |h| {
            Url::parse(&format!("http://{h}/")).ok()
        })
    }

    fn origin_is_own(origin: &str, host: &str) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, host.parse().expect("a header value"));
        headers.insert(header::ORIGIN, origin.parse().expect("a header value"));
        is_own_origin(&headers)
    }

    #[test]
    fn only_the_services_own_origin_passes() {
        assert!(origin_is_own("http://localhost:8200", "localhost:8200"));
        assert!(origin_is_own("http://127.0.0.1:8200", "127.0.0.1:8200"));
        assert!(origin_is_own("http://localhost", "localhost:80"));
        for (origin, host) in [
            ("http://localhost:3000", "localhost:8200"),
            ("http://127.0.0.1:8200", "localhost:8200"),
            ("https://localhost:8200", "localhost:8200"),
            ("null", "localhost:8200"),
            ("http://evil.example:8200", "localhost:8200"),
        ] {
            assert!(!origin_is_own(origin, host), "{origin} on {host}");
        }
    }

    #[test]
    fn only_loopback_host_names_pass() {
        for host in [
            "localhost",
            "localhost:8200",
            "127.0.0.1:8200",
            "127.1.2.3",
            "[::1]:8200",
        ] {
            assert!(names_loopback(host), "{host}");
        }
        for host in [
            "example.com",
            "10.0.0.5:8200",
            "localhost.evil.com",
            "[::2]:80",
            "",
        ] {
            assert!(!names_loopback(host), "{host}");
        }
    }
}
