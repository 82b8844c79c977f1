//! The change stream: `GET /api/v1/events` (Server-Sent Events) and `GET /api/v1/ws`
//! (WebSocket), the same events either way, resumable from an event id.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::sse::Event;
use axum::response::Response;
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{bearer_token, Caller};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;
use crate::state::AppState;
use pieces_model::{Scope, StreamCursor, ValidationError};
use pieces_service::auth::Principal;
use pieces_service::{StreamItem, StreamMetrics, Subscription};

/// The subprotocol a WebSocket client asks for (browsers put their token beside it).
const PROTOCOL: &str = "pieces";
/// A WebSocket's read buffer, and the largest message a client may send (it has nothing to
/// say but pings and a close).
const READ_BUFFER: usize = 4 * 1024;
const MAX_CLIENT_MESSAGE: usize = 64 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(events))
        .routes(routes!(websocket))
}

/// Where to resume.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Resume {
    /// Resume after this event id (as `Last-Event-ID` does); without it, live from now.
    pub since: Option<String>,
}

/// The caller's changes as Server-Sent Events: `id`, `event` (the type) and `data` (the
/// event object `{id, type, at, data}`), a `reset` event when the position is no longer
/// kept, and a comment every 15 s.
#[utoipa::path(get, path = "/api/v1/events", tag = "stream", params(Resume,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id")),
    security(("bearer" = ["snippets:read"])),
    responses((status = 200, content_type = "text/event-stream", body = String,
            description = "The stream of events"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn events(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    ApiQuery(resume): ApiQuery<Resume>,
) -> Result<Response, ApiError> {
    let since = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or(resume.since);
    let subscription = subscribe(&state, &caller, since, "sse").await?;
    let stop = state.stop.clone();
    Ok(crate::sse::stream_of(sse_events(subscription, stop)))
}

fn sse_events(
    subscription: Subscription,
    stop: CancellationToken,
) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(
        (subscription, stop),
        |(mut subscription, stop)| async move {
            let event = match subscription.next(&stop).await? {
                StreamItem::Event { event, id } => Event::default()
                    .id(id.clone())
                    .event(&event.kind)
                    .data(event.to_json(&id)),
                StreamItem::Reset { from } => Event::default()
                    .id(from.clone())
                    .event("reset")
                    .data(json!({"id": from, "type": "reset"}).to_string()),
            };
            Some((Ok(event), (subscription, stop)))
        },
    )
}

/// The caller's changes over a WebSocket, one JSON text frame per event. Browsers, which
/// cannot set headers here, authenticate with the subprotocols `["pieces", "bearer.<token>"]`.
/// The credential is checked before the upgrade, so a request without one answers 401
/// whether or not it asks for a WebSocket; a request that is not a WebSocket upgrade answers
/// 400.
#[utoipa::path(get, path = "/api/v1/ws", tag = "stream", params(Resume),
    security(("bearer" = ["snippets:read"])),
    responses((status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, body = ErrorBody, description = "Not a WebSocket upgrade request"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn websocket(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(resume): ApiQuery<Resume>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let token = websocket_token(&headers)?;
    let caller = state.auth.authenticate(&token).await?;
    if !caller.allows(Scope::SnippetsRead) {
        return Err(ApiError::InsufficientScope(Scope::SnippetsRead));
    }
    let upgrade = upgrade.map_err(|_| {
        ApiError::BadRequest(
            "this route speaks WebSocket only: send a WebSocket upgrade request \
             (or read the same events from /api/v1/events)"
                .into(),
        )
    })?;
    let subscription = subscribe(&state, &caller, resume.since, "ws").await?;
    let stop = state.stop.clone();
    let write_timeout = state.settings.client_write_timeout();
    // Clients only listen, and events are written one at a time: small buffers keep an idle
    // socket small (the defaults reserve 128 KiB each way).
    Ok(upgrade
        .protocols([PROTOCOL])
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| pump(socket, subscription, stop, write_timeout)))
}

/// The token of the `Authorization` header, or of a `bearer.<token>` subprotocol.
fn websocket_token(headers: &HeaderMap) -> Result<String, ApiError> {
    let offered = headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if let Some(token) = offered
        .split(',')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("bearer."))
    {
        return Ok(token.to_owned());
    }
    let mut request = axum::http::Request::new(());
    *request.headers_mut() = headers.clone();
    let (parts, ()) = request.into_parts();
    Ok(bearer_token(&parts)?.to_owned())
}

/// At shutdown, how long the close frame may wait for a client that does not read.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Sends one message unless the client has taken nothing for `within` (it stopped reading:
/// what was written for it would be held for as long as it keeps the socket open); false
/// when the socket is done with.
async fn send(socket: &mut WebSocket, message: Message, within: Duration) -> bool {
    matches!(
        tokio::time::timeout(within, socket.send(message)).await,
        Ok(Ok(()))
    )
}

/// Writes events as they come until the client leaves or shutdown begins; pings keep the
/// connection alive through proxies.
async fn pump(
    mut socket: WebSocket,
    mut subscription: Subscription,
    stop: CancellationToken,
    write_timeout: Duration,
) {
    let mut heartbeat = tokio::time::interval(crate::sse::HEARTBEAT);
    heartbeat.tick().await;
    loop {
        tokio::select! {
            item = subscription.next(&stop) => {
                let text = match item {
                    Some(StreamItem::Event { event, id }) => event.to_json(&id),
                    Some(StreamItem::Reset { from }) => {
                        json!({"id": from, "type": "reset"}).to_string()
                    }
                    None => {
                        let close = if subscription.credential_ended() {
                            // 1008: the token is no longer good; reconnecting needs another.
                            CloseFrame { code: 1008, reason: "the token expired or was revoked".into() }
                        } else {
                            CloseFrame { code: 1001, reason: "server shutting down".into() }
                        };
                        send(&mut socket, Message::Close(Some(close)), CLOSE_GRACE).await;
                        return;
                    }
                };
                if !send(&mut socket, Message::Text(text.into()), write_timeout).await {
                    return;
                }
            }
            received = socket.recv() => match received {
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
            _ = heartbeat.tick() => {
                if !send(&mut socket, Message::Ping(Default::default()), write_timeout).await {
                    return;
                }
            }
        }
    }
}

/// Opens a subscription for a caller who may read snippets, after a valid position.
async fn subscribe(
    state: &AppState,
    caller: &Principal,
    since: Option<String>,
    transport: &'static str,
) -> Result<Subscription, ApiError> {
    if !caller.allows(Scope::SnippetsRead) {
        return Err(ApiError::InsufficientScope(Scope::SnippetsRead));
    }
    let since = match since.as_deref() {
        None | Some("") => None,
        Some(text) => Some(StreamCursor::parse(text).ok_or_else(|| {
            ValidationError::new(
                "since",
                "since (or Last-Event-ID) must be an event id this stream gave out",
            )
        })?),
    };
    let m = &state.metrics;
    let metrics = StreamMetrics {
        open: m.streams_open.with_label_values(&[transport]),
        events: m.stream_events.with_label_values(&[transport]),
        lag: m.stream_delivery_lag.with_label_values(&[transport]),
    };
    Ok(state.services.stream.open(caller, since, metrics).await?)
}
