//! The web page at `/` and the interactive API reference at `/docs`, for people who would
//! rather look than type curl. Files under `web/`, embedded at compile time, served with a
//! Content-Security-Policy that admits this origin only. Neither needs a token (the page asks
//! for one and calls the public API with it) and neither is part of the API description.

mod assets;
mod share;

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;

use crate::error::ApiError;
use crate::state::AppState;

/// Only this origin: no inline script or style, no other host. `data:` images are Swagger
/// UI's icons.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'; \
    form-action 'self'";

/// A page is checked again on every load (cheap: 304 while unchanged); an asset's URL
/// changes with its content, so it may be kept for good.
const PAGE_CACHE: &str = "no-cache";
const HTML: &str = "text/html; charset=utf-8";
const ASSET_CACHE: &str = "public, max-age=31536000, immutable";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/docs", get(docs))
        .route("/assets/{version}/{*path}", get(asset))
        .route("/s/{key}", get(share::shared))
}

/// A page with the assets' version written in.
struct Page {
    body: Bytes,
    etag: HeaderValue,
}

fn render(name: &str) -> Page {
    let template = assets::PAGES
        .iter()
        .find(|p| p.path == name)
        .map(|p| String::from_utf8_lossy(p.body))
        .unwrap_or_default();
    let version = assets::VERSION.as_str();
    let body = template.replace("{{assets}}", &format!("/assets/{version}"));
    Page {
        body: Bytes::from(body),
        etag: etag(version),
    }
}

static INDEX: LazyLock<Page> = LazyLock::new(|| render("index.html"));
static DOCS: LazyLock<Page> = LazyLock::new(|| render("docs.html"));

async fn index(headers: HeaderMap) -> Response {
    page(&INDEX, &headers)
}

async fn docs(headers: HeaderMap) -> Response {
    page(&DOCS, &headers)
}

fn page(page: &Page, request: &HeaderMap) -> Response {
    answer(request, &page.etag, HTML, PAGE_CACHE, page.body.clone())
}

/// An asset of this version is cached for good; one asked for under another version (a page
/// loaded before an upgrade) is served as it is now, but not kept.
async fn asset(
    Path((version, path)): Path<(String, String)>,
    request: HeaderMap,
) -> Result<Response, ApiError> {
    let found = assets::find(&path).ok_or(ApiError::NotFound("file"))?;
    let current = version == *assets::VERSION;
    let cache = if current { ASSET_CACHE } else { PAGE_CACHE };
    Ok(answer(
        &request,
        &etag(&assets::VERSION),
        assets::content_type(found.path),
        cache,
        Bytes::from_static(found.body),
    ))
}

fn etag(version: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"\""))
}

/// The file, or 304 when the client's copy (`If-None-Match`) is this one.
fn answer(
    request: &HeaderMap,
    etag: &HeaderValue,
    content_type: &'static str,
    cache: &'static str,
    body: Bytes,
) -> Response {
    let unchanged = request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim().trim_start_matches("W/") == etag.to_str().unwrap_or_default());
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        (header::ETAG, etag.clone()),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
    ];
    let mut response = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        body.into_response()
    };
    for (name, value) in headers {
        response.headers_mut().insert(name, value);
    }
    response
}
