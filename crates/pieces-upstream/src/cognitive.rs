//! The cognitive service: `/chat` answers questions, `/analyze` enriches snippets. Each call
//! kind has its own circuit breaker: a failing `/analyze` (background work, retried by the
//! outbox) must not pause every user's questions, and a dead service costs callers nothing
//! but a fast 503.

use std::time::Instant;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{CircuitBreaker, HttpUpstream, UpstreamError};
use pieces_model::JsonObject;

/// What `/chat` answers.
#[derive(Debug, Clone, Deserialize)]
pub struct CognitiveAnswer {
    pub response: String,
    #[serde(default)]
    pub suggestions: Vec<Value>,
    #[serde(default)]
    pub references: Vec<Value>,
    /// 0.0 to 1.0 (an answer without one counts as 0).
    #[serde(default)]
    pub confidence: f64,
}

pub struct CognitiveClient {
    http: HttpUpstream,
    /// Guards `/chat`.
    answering: CircuitBreaker,
    /// Guards `/analyze`.
    enrichment: CircuitBreaker,
}

impl CognitiveClient {
    /// `new_breaker` makes one breaker per call kind.
    pub fn new(http: HttpUpstream, new_breaker: impl Fn() -> CircuitBreaker) -> Self {
        Self {
            http,
            answering: new_breaker(),
            enrichment: new_breaker(),
        }
    }

    /// `POST /chat` with the body the platform's service expects.
    pub async fn chat(
        &self,
        body: &Value,
        request_id: &str,
    ) -> Result<CognitiveAnswer, UpstreamError> {
        let mut answer: CognitiveAnswer = self
            .call(&self.answering, "chat", body, request_id, None)
            .await?;
        answer.confidence = if answer.confidence.is_finite() {
            answer.confidence.clamp(0.0, 1.0)
        } else {
            0.0
        };
        Ok(answer)
    }

    /// `POST /analyze`; the answer must be a JSON object, merged into the snippet's metadata.
    pub async fn analyze(
        &self,
        code: &str,
        language: &str,
        request_id: &str,
        idempotency_key: &str,
    ) -> Result<JsonObject, UpstreamError> {
        let body = json!({ "code": code, "language": language, "analysis_type": "comprehensive" });
        self.call(
            &self.enrichment,
            "analyze",
            &body,
            request_id,
            Some(idempotency_key),
        )
        .await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        breaker: &CircuitBreaker,
        path: &str,
        body: &Value,
        request_id: &str,
        idempotency_key: Option<&str>,
    ) -> Result<T, UpstreamError> {
        if !breaker.allow() {
            self.http.record("circuit_open", Instant::now().elapsed());
            return Err(UpstreamError::CircuitOpen(self.http.service()));
        }
        let bytes = Bytes::from(serde_json::to_vec(body).unwrap_or_default());
        let service = self.http.service();
        // A 2xx answer that is not the expected JSON is a failure too.
        let parse = |answer: Bytes| {
            serde_json::from_slice(&answer).map_err(|_| UpstreamError::Malformed(service))
        };
        let result = self
            .http
            .post_parsed(path, bytes, request_id, idempotency_key, parse)
            .await;
        match &result {
            Err(UpstreamError::Status(_, code)) if *code < 500 => breaker.record_success(),
            Err(_) => breaker.record_failure(),
            Ok(_) => breaker.record_success(),
        }
        result
    }
}
