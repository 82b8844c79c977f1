//! The cognitive service: `/chat` answers questions, `/analyze` enriches snippets. Both go
//! through one circuit breaker, so a dead service costs callers nothing but a fast 503.

use std::time::Instant;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::{CircuitBreaker, HttpUpstream, UpstreamError};
use crate::model::{AssistAnswer, JsonObject};

pub struct CognitiveClient {
    http: HttpUpstream,
    breaker: CircuitBreaker,
}

impl CognitiveClient {
    pub fn new(http: HttpUpstream, breaker: CircuitBreaker) -> Self {
        Self { http, breaker }
    }

    /// `POST /chat` with the body the platform's service expects.
    pub async fn chat(
        &self,
        body: &Value,
        request_id: &str,
    ) -> Result<AssistAnswer, UpstreamError> {
        let mut answer: AssistAnswer = self.call("chat", body, request_id, None).await?;
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
        self.call("analyze", &body, request_id, Some(idempotency_key))
            .await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &Value,
        request_id: &str,
        idempotency_key: Option<&str>,
    ) -> Result<T, UpstreamError> {
        if !self.breaker.allow() {
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
            Err(UpstreamError::Status(_, code)) if *code < 500 => self.breaker.record_success(),
            Err(_) => self.breaker.record_failure(),
            Ok(_) => self.breaker.record_success(),
        }
        result
    }
}
