//! An OpenAI-compatible Chat Completions API: `POST {OPENAI_BASE_URL}/chat/completions`,
//! always asked to stream, so the first words reach the user as soon as they exist. Ollama,
//! vLLM, LiteLLM and OpenAI all speak it.
//!
//! It has a client of its own: the platform's `X-API-Key` must never reach a third party,
//! and a streamed answer may take longer than any total timeout, so only silence is bounded
//! (no byte for `UPSTREAM_TIMEOUT_SECS`, before the first and between any two).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use secrecy::ExposeSecret;
use serde::Serialize;

use super::call::Call;
use super::events::{events, Chunk, Reading, SERVICE};
use super::DeltaStream;
use crate::{CircuitBreaker, ClientError, ClientSettings, HttpUpstream, UpstreamError};

/// The client for OpenAI-compatible providers: the bearer key when configured, a connect
/// timeout, and no total timeout (see the module's comment).
pub fn client(settings: ClientSettings<'_>) -> Result<reqwest::Client, ClientError> {
    let mut headers = HeaderMap::new();
    if let Some(key) = settings.api_key {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", key.expose_secret()))
            .map_err(ClientError::OpenAiKey)?;
        value.set_sensitive(true);
        headers.insert(AUTHORIZATION, value);
    }
    Ok(reqwest::Client::builder()
        .default_headers(headers)
        .connect_timeout(settings.connect_timeout)
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("pieces-connector/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

/// One message of a conversation.
#[derive(Debug, Clone, Serialize)]
pub struct ChatMessage {
    /// `system` or `user`.
    pub role: &'static str,
    pub content: String,
}

/// A question in Chat Completions terms.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    /// The client's model; the configured one when none.
    pub model: Option<String>,
    pub messages: Vec<ChatMessage>,
    pub max_tokens: u32,
}

#[derive(Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    messages: &'a [ChatMessage],
    max_tokens: u32,
    stream: bool,
}

pub struct OpenAiClient {
    http: HttpUpstream,
    breaker: Arc<CircuitBreaker>,
    /// `OPENAI_MODEL`, asked when the request names no model.
    model: String,
    /// Longest silence from the provider.
    idle: Duration,
}

impl OpenAiClient {
    pub fn new(http: HttpUpstream, breaker: CircuitBreaker, model: String, idle: Duration) -> Self {
        Self {
            http,
            breaker: Arc::new(breaker),
            model,
            idle,
        }
    }

    /// Starts an answer and waits for its first words. A failure before them (refused,
    /// an error status, silence, garbage, an open breaker) is returned here, so another
    /// provider may answer instead; a failure after them ends the stream with an error.
    pub async fn stream(
        &self,
        request: &ChatRequest,
        request_id: &str,
    ) -> Result<DeltaStream, UpstreamError> {
        if !self.breaker.allow() {
            self.http.record("circuit_open", Duration::ZERO);
            return Err(UpstreamError::CircuitOpen(SERVICE));
        }
        let mut call = Call::new(self.http.clone(), self.breaker.clone());
        let body = WireRequest {
            model: request.model.as_deref().unwrap_or(&self.model),
            messages: &request.messages,
            max_tokens: request.max_tokens,
            stream: true,
        };
        let body = Bytes::from(serde_json::to_vec(&body).unwrap_or_default());
        let opened = tokio::time::timeout(
            self.idle,
            self.http.open("chat/completions", body, request_id, None),
        )
        .await
        .unwrap_or(Err(UpstreamError::Timeout(SERVICE)));
        let response = match opened {
            Ok(response) => response,
            Err(e) => return Err(call.failed(e)),
        };
        let kind = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if kind.starts_with("application/json") {
            return self.whole(response, call).await;
        }
        if !kind.starts_with("text/event-stream") {
            return Err(call.failed(UpstreamError::Malformed(SERVICE)));
        }
        let mut reading = Reading::new(events(response, self.idle), call);
        match reading.next().await {
            Some(Ok(first)) => {
                let rest = stream::unfold(reading, |mut reading| async move {
                    let delta = reading.next().await?;
                    Some((delta, reading))
                });
                Ok(stream::once(async { Ok(first) }).chain(rest).boxed())
            }
            Some(Err(e)) => Err(e),
            // An answer without a word is no answer: the next provider is asked, and nothing
            // empty is cached.
            None => Err(UpstreamError::Malformed(SERVICE)),
        }
    }

    /// A server that answered the whole completion as JSON despite `stream: true`.
    async fn whole(
        &self,
        response: reqwest::Response,
        mut call: Call,
    ) -> Result<DeltaStream, UpstreamError> {
        let body = match tokio::time::timeout(self.idle, response.bytes()).await {
            Ok(Ok(body)) => body,
            Ok(Err(e)) => return Err(call.failed(self.http.classify(&e))),
            Err(_) => return Err(call.failed(UpstreamError::Timeout(SERVICE))),
        };
        let text = serde_json::from_slice::<Chunk>(&body)
            .ok()
            .and_then(|chunk| chunk.choices.into_iter().next())
            .and_then(|choice| choice.message)
            .and_then(|message| message.content);
        match text {
            Some(text) => {
                call.settle(None);
                Ok(stream::once(async { Ok(text) }).boxed())
            }
            None => Err(call.failed(UpstreamError::Malformed(SERVICE))),
        }
    }
}
