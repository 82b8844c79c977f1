//! Reading a streamed Chat Completions answer: its Server-Sent Events, each chunk's text,
//! its end (`[DONE]`, or a finish reason), and every way it can break off.

use std::time::Duration;

use eventsource_stream::{EventStreamError, Eventsource};
use futures_util::stream::{self, BoxStream, StreamExt};
use serde::Deserialize;

use super::call::Call;
use crate::UpstreamError;

/// The metric label and error name of OpenAI-compatible providers.
pub(super) const SERVICE: &str = "openai";

/// One streamed chunk, or (`message` instead of `delta`) a whole completion from a server
/// that does not stream. An error object has no `choices`, so it does not parse.
#[derive(Deserialize)]
pub(super) struct Chunk {
    pub(super) choices: Vec<Choice>,
}

#[derive(Deserialize)]
pub(super) struct Choice {
    #[serde(default)]
    delta: Option<Content>,
    #[serde(default)]
    pub(super) message: Option<Content>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Content {
    #[serde(default)]
    pub(super) content: Option<String>,
}

pub(super) type Events =
    BoxStream<'static, Result<eventsource_stream::Event, EventStreamError<UpstreamError>>>;

/// The answer's Server-Sent Events, each read bounded by `idle`.
pub(super) fn events(response: reqwest::Response, idle: Duration) -> Events {
    let bytes = stream::unfold(Some(response.bytes_stream()), move |body| async move {
        let mut body = body?;
        match tokio::time::timeout(idle, body.next()).await {
            Ok(Some(Ok(bytes))) => Some((Ok(bytes), Some(body))),
            Ok(Some(Err(e))) if e.is_timeout() => {
                Some((Err(UpstreamError::Timeout(SERVICE)), None))
            }
            Ok(Some(Err(_))) => Some((Err(UpstreamError::Interrupted(SERVICE)), None)),
            Ok(None) => None,
            Err(_) => Some((Err(UpstreamError::Timeout(SERVICE)), None)),
        }
    });
    bytes.eventsource().boxed()
}

/// An answer being read.
pub(super) struct Reading {
    events: Events,
    call: Call,
    ended: bool,
}

impl Reading {
    pub(super) fn new(events: Events, call: Call) -> Self {
        Self {
            events,
            call,
            ended: false,
        }
    }

    /// The next piece of text; None once the answer is complete. The call is settled at its
    /// end, with its outcome.
    pub(super) async fn next(&mut self) -> Option<Result<String, UpstreamError>> {
        while !self.ended {
            let failure = match self.events.next().await {
                Some(Ok(event)) => match parse(&event.data) {
                    Ok(Parsed::Text(text)) => return Some(Ok(text)),
                    Ok(Parsed::Nothing) => continue,
                    Ok(Parsed::Done) => {
                        self.ended = true;
                        self.call.settle(None);
                        let rest = std::mem::replace(&mut self.events, stream::empty().boxed());
                        tokio::spawn(drain(rest));
                        return None;
                    }
                    Err(e) => e,
                },
                Some(Err(EventStreamError::Transport(e))) => e,
                Some(Err(_)) => UpstreamError::Malformed(SERVICE),
                // Closed before `[DONE]`: cut.
                None => UpstreamError::Interrupted(SERVICE),
            };
            self.ended = true;
            return Some(Err(self.call.failed(failure)));
        }
        None
    }
}

/// How long the end of a finished answer's body is waited for.
const DRAIN: Duration = Duration::from_secs(1);

/// Reads what follows `[DONE]` (the body's end), so the connection goes back to the pool
/// instead of being closed, without holding the answer's `done` back for it.
async fn drain(mut rest: Events) {
    let _ = tokio::time::timeout(DRAIN, async { while rest.next().await.is_some() {} }).await;
}

enum Parsed {
    Text(String),
    /// A chunk without text (the role, usage, a keep-alive).
    Nothing,
    Done,
}

fn parse(data: &str) -> Result<Parsed, UpstreamError> {
    let data = data.trim();
    if data == "[DONE]" {
        return Ok(Parsed::Done);
    }
    let chunk: Chunk = serde_json::from_str(data).map_err(|_| UpstreamError::Malformed(SERVICE))?;
    let text: String = chunk
        .choices
        .iter()
        .filter_map(|c| c.delta.as_ref()?.content.as_deref())
        .collect();
    if !text.is_empty() {
        return Ok(Parsed::Text(text));
    }
    // Some servers end with a finish reason and close without `[DONE]`.
    if chunk.choices.iter().any(|c| c.finish_reason.is_some()) {
        return Ok(Parsed::Done);
    }
    Ok(Parsed::Nothing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_give_their_text_and_the_end_is_recognised() {
        let text = r#"{"choices":[{"index":0,"delta":{"content":"Hel"}}]}"#;
        assert!(matches!(parse(text), Ok(Parsed::Text(t)) if t == "Hel"));
        let role = r#"{"choices":[{"index":0,"delta":{"role":"assistant"}}]}"#;
        assert!(matches!(parse(role), Ok(Parsed::Nothing)));
        let usage = r#"{"choices":[],"usage":{"total_tokens":3}}"#;
        assert!(matches!(parse(usage), Ok(Parsed::Nothing)));
        let last = r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#;
        assert!(matches!(parse(last), Ok(Parsed::Done)));
        assert!(matches!(parse(" [DONE]"), Ok(Parsed::Done)));
        let error = r#"{"error":{"message":"model not found"}}"#;
        assert!(matches!(parse(error), Err(UpstreamError::Malformed(_))));
        assert!(matches!(parse("<html>"), Err(UpstreamError::Malformed(_))));
    }
}
