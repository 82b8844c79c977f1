//! A listing's body when some of its rows are large (`Listed::Deferred`): written as the
//! client takes it, each large row read only when its turn comes and released once hyper
//! has taken its bytes. The whole page is never held at once, so a page of 100 snippets of a
//! mebibyte each costs a row at a time, not 200 MiB. The body is the same JSON as a small
//! page's; a store failure midway ends the connection, which the client sees as a cut body.

use std::collections::VecDeque;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::stream;
use serde_json::{json, Map, Value};

use crate::error::ApiError;
use pieces_model::{Listed, ListedPage};
use pieces_service::{LargeListing, LargeRow, SnippetService};

/// What the body still has to write.
struct Writing {
    /// Counts this listing against its user's while it is written.
    _listing: LargeListing,
    snippets: Arc<SnippetService>,
    rows: VecDeque<Listed>,
    /// The last large row written: its place is given back when hyper asks for more, that
    /// is once it has taken the row's bytes.
    written: Option<LargeRow>,
    first: bool,
    tail: Option<Bytes>,
}

/// The page as a streamed `application/json` body, counted as one of the user's listings with
/// large rows (429 when they already have as many as one user may).
pub fn streamed(
    snippets: Arc<SnippetService>,
    user: String,
    page: ListedPage,
) -> Result<Response, ApiError> {
    let listing = snippets.large_listing(&user)?;
    let ListedPage {
        rows,
        total,
        limit,
        offset,
        total_capped,
        mode,
    } = page;
    let mut head = Map::new();
    head.insert("total".into(), json!(total));
    head.insert("limit".into(), json!(limit));
    head.insert("offset".into(), json!(offset));
    if total_capped {
        head.insert("total_capped".into(), json!(true));
    }
    if let Some(mode) = mode {
        head.insert("mode".into(), json!(mode.as_str()));
    }
    // `{"total":...,"snippets":[` ... `]}`: the object's other keys first, then its rows.
    let head = Value::Object(head).to_string();
    let opening = format!("{},\"snippets\":[", &head[..head.len() - 1]);
    let state = Writing {
        _listing: listing,
        snippets,
        rows: rows.into(),
        written: None,
        first: true,
        tail: Some(Bytes::from_static(b"]}")),
    };
    let rows = stream::unfold(state, |mut state| async move {
        state.written = None;
        let Some(row) = state.rows.pop_front() else {
            return state.tail.take().map(|tail| (Ok(tail), state));
        };
        let whole = match state.snippets.whole(row).await {
            Ok(Some(whole)) => whole,
            // Deleted since the page was read: left out, as a page read a moment later would.
            Ok(None) => return Some((Ok(Bytes::new()), state)),
            Err(e) => {
                tracing::warn!(error = %e, "a listing could not read a row; ending its body");
                return Some((Err(std::io::Error::other(e.to_string())), state));
            }
        };
        let mut bytes = Vec::with_capacity(whole.snippet.code.len() + 512);
        if !std::mem::take(&mut state.first) {
            bytes.push(b',');
        }
        if let Err(e) = serde_json::to_writer(&mut bytes, &whole.snippet) {
            return Some((Err(std::io::Error::other(e)), state));
        }
        state.written = Some(whole);
        Some((Ok(Bytes::from(bytes)), state))
    });
    let opening = stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(opening)) });
    let mut response =
        Body::from_stream(futures_util::StreamExt::chain(opening, rows)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}
