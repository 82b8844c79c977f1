//! `/s/<key>`: what a share link shows, to anyone who has it. A page of the snippet as text
//! (the page's CSP, no script at all), or with `Accept: application/json` its fields and
//! nothing else. Counted against the client address's allowance.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::{assets, CSP, HTML};
use crate::error::ApiError;
use crate::extract::ClientAddress;
use crate::state::AppState;
use pieces_model::share::SharedSnippet;

pub async fn shared(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> Response {
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/json"));
    let shares = &state.services.shares;
    let found = match shares.admit(&client) {
        Ok(()) => shares.open(&key).await.map_err(ApiError::from),
        Err(e) => Err(ApiError::from(e)),
    };
    match (found, wants_json) {
        (Ok(snippet), true) => Json(snippet).into_response(),
        (Ok(snippet), false) => html(StatusCode::OK, &page(&snippet)),
        (Err(error), true) => error.into_response(),
        (Err(error), false) => {
            let status = error.status();
            let body = format!(
                "<main class=\"shared\"><h1>{}</h1><p>{}</p></main>",
                escape(status.canonical_reason().unwrap_or("Error")),
                escape(&error.public_detail())
            );
            html(status, &document("pieces", &body))
        }
    }
}

fn html(status: StatusCode, body: &str) -> Response {
    let mut response = (status, body.to_owned()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(HTML));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    response
}

fn page(s: &SharedSnippet) -> String {
    let tags: String = s
        .tags
        .iter()
        .map(|t| format!("<span class=\"tag\">{}</span>", escape(t)))
        .collect();
    let description = s
        .description
        .as_deref()
        .map(|d| format!("<p class=\"shared-description\">{}</p>", escape(d)))
        .unwrap_or_default();
    let body = format!(
        "<main class=\"shared\"><h1>{title}</h1>\
         <p class=\"item-meta\"><span class=\"lang\">{language}</span>{tags}\
         <time datetime=\"{updated}\">updated {updated}</time></p>{description}\
         <pre class=\"code\"><code>{code}</code></pre>\
         <p class=\"muted\">A read-only link to a snippet kept in pieces-connector.</p></main>",
        title = escape(&s.title),
        language = escape(&s.language),
        updated = s.updated_at.to_rfc3339(),
        code = escape(&s.code),
    );
    document(&s.title, &body)
}

fn document(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\">\
         <title>{} · pieces</title>\
         <link rel=\"stylesheet\" href=\"/assets/{}/app.css\"></head><body>{body}</body></html>",
        escape(title),
        assets::VERSION.as_str()
    )
}

/// Text as HTML shows it: never markup.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}
