//! Headers that keep browsers from sniffing, framing or caching API answers.

use axum::http::{header, HeaderMap, HeaderName, HeaderValue};

// Values made at compile time: `from_static` checks each byte when it runs.
const HEADERS: [(HeaderName, HeaderValue); 5] = [
    (
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    ),
    (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    (
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    ),
    (
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    ),
    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
];

/// Adds each header the handler did not set itself.
pub fn add(headers: &mut HeaderMap) {
    // Room for all at once: growing the map a header at a time rehashes it twice.
    headers.reserve(HEADERS.len());
    for (name, value) in HEADERS {
        headers.entry(name).or_insert(value);
    }
}
