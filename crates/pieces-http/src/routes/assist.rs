//! `/api/v1/ai-assist`: a development question answered with the caller's context and
//! snippets, whole (JSON) or as it is produced (Server-Sent Events).

use std::convert::Infallible;

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Ai, Authorized};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::state::AppState;
use pieces_metrics::Metrics;
use pieces_model::request_id;
use pieces_model::{AssistAnswer, AssistRequest};
use pieces_service::AnswerEvent;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(assist))
}

/// Answers a development question with the user's context and snippets.
///
/// With `"stream": true`, or `Accept: text/event-stream`, the answer comes as Server-Sent
/// Events: `delta` events `{"text": "..."}` as the provider produces the answer, then one
/// `done` event holding the whole answer (as the JSON answer would be), or one `error` event
/// (the error body) if the answer breaks off once begun. A failure before the first event is
/// an ordinary JSON error answer.
#[utoipa::path(post, path = "/api/v1/ai-assist", tag = "assist", request_body = AssistRequest,
    security(("bearer" = ["ai"])),
    responses((status = 200, description = "The answer, whole or streamed",
            content((AssistAnswer = "application/json"), (String = "text/event-stream"))),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 502, body = ErrorBody),
        (status = 503, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub async fn assist(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<Ai>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<AssistRequest>,
) -> Result<Response, ApiError> {
    let assist = &state.services.assist;
    if !(body.stream == Some(true) || accepts_event_stream(&headers)) {
        return Ok(Json(assist.ask(&caller, body).await?).into_response());
    }
    let answer = assist.ask_streaming(&caller, body).await?;
    // The stream outlives the request's scope, so its errors carry the id taken now.
    let request_id = request_id::current();
    let metrics = state.metrics.clone();
    let events =
        answer.map(move |event| Ok::<_, Infallible>(sse_event(event, &request_id, &metrics)));
    Ok(crate::sse::stream_of(events))
}

fn accepts_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("text/event-stream"))
}

fn sse_event(event: AnswerEvent, request_id: &str, metrics: &Metrics) -> Event {
    match event {
        AnswerEvent::Delta(text) => Event::default()
            .event("delta")
            .data(json!({ "text": text }).to_string()),
        AnswerEvent::Done(answer) => Event::default()
            .event("done")
            .data(serde_json::to_string(&answer).unwrap_or_default()),
        AnswerEvent::Failed(error) => {
            let error = ApiError::from(error);
            metrics.errors.with_label_values(&[error.code()]).inc();
            let body = error.body(request_id.to_owned());
            Event::default()
                .event("error")
                .data(serde_json::to_string(&body).unwrap_or_default())
        }
    }
}
