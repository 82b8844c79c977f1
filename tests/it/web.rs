//! The web page and `/docs`: served from the binary under a Content-Security-Policy of this
//! origin only, outside the API description.

use axum::http::{Method, StatusCode};
use serde_json::Value;

use crate::support::in_process::{InProcess, Reply};

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'; \
    form-action 'self'";

fn assert_page_headers(reply: &Reply) {
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("content-security-policy"), Some(CSP));
    assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(reply.header("referrer-policy"), Some("no-referrer"));
}

/// The `src`/`href` values in `html` that point at `/assets/`.
fn asset_urls(html: &str) -> Vec<String> {
    html.split(['"', '\''])
        .filter(|part| part.starts_with("/assets/"))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn the_page_is_served_with_a_policy_that_admits_this_origin_only() {
    let app = InProcess::start().await;
    let reply = app.anonymous(Method::GET, "/").send().await;
    assert_page_headers(&reply);
    assert_eq!(
        reply.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(reply.header("cache-control"), Some("no-cache"));
    let html = String::from_utf8(reply.body.to_vec()).expect("UTF-8");
    // Nothing the policy would block: every script is a file, no style attribute or block.
    assert!(!html.contains("<script>") && !html.contains("<style") && !html.contains(" style="));
    assert!(!html.contains("{{"), "every placeholder is filled");
    let assets = asset_urls(&html);
    let main = assets
        .iter()
        .find(|url| url.ends_with("/js/main.js"))
        .expect("the page loads its script");
    let script = app.anonymous(Method::GET, main).send().await;
    assert_page_headers(&script);
    assert_eq!(
        script.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(
        script.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    for url in &assets {
        let reply = app.anonymous(Method::GET, url).send().await;
        assert_eq!(reply.status, StatusCode::OK, "{url}");
    }
}

#[tokio::test]
async fn an_unchanged_page_is_answered_304() {
    let app = InProcess::start().await;
    let first = app.anonymous(Method::GET, "/").send().await;
    let etag = first.header("etag").expect("an ETag").to_owned();
    let again = app
        .anonymous(Method::GET, "/")
        .header("if-none-match", &etag)
        .send()
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
}

#[tokio::test]
async fn an_asset_of_another_version_is_served_but_not_kept() {
    let app = InProcess::start().await;
    let reply = app
        .anonymous(Method::GET, "/assets/000000000000/app.css")
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("cache-control"), Some("no-cache"));
    let missing = app
        .anonymous(Method::GET, "/assets/000000000000/secrets.txt")
        .send()
        .await;
    missing.expect_error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn the_docs_page_loads_swagger_ui_from_this_origin() {
    let app = InProcess::start().await;
    let reply = app.anonymous(Method::GET, "/docs").send().await;
    assert_page_headers(&reply);
    let html = String::from_utf8(reply.body.to_vec()).expect("UTF-8");
    let assets = asset_urls(&html);
    for file in ["swagger-ui-bundle.js", "swagger-ui.css", "docs.js"] {
        assert!(
            assets.iter().any(|url| url.ends_with(file)),
            "{file} in {assets:?}"
        );
    }
    assert!(!html.contains("http://") && !html.contains("https://"));
}

#[tokio::test]
async fn the_pages_are_not_in_the_api_description() {
    let app = InProcess::start_local().await;
    let doc: Value = app
        .anonymous(Method::GET, "/openapi.json")
        .send()
        .await
        .json();
    let paths = doc["paths"].as_object().expect("paths");
    for path in ["/", "/docs", "/assets/{version}/{*path}", "/local/session"] {
        assert!(!paths.contains_key(path), "{path} is described");
    }
    assert!(paths.contains_key("/api/v1/snippets"));
}
