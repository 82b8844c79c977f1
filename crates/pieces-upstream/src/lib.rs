//! Clients of the platform's services. One pooled `reqwest::Client` is built at start-up and
//! shared; every call carries `X-Request-Id`, `X-API-Key` when configured, and timeouts.

pub mod ai;
mod breaker;
mod cognitive;
mod data_platform;
mod gateway;

pub use breaker::CircuitBreaker;
pub use cognitive::{CognitiveAnswer, CognitiveClient};
pub use data_platform::DataPlatformClient;
pub use gateway::GatewayClient;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use secrecy::ExposeSecret;
use url::Url;

use pieces_metrics::Metrics;
use secrecy::SecretString;

#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    #[error("{0} is not configured")]
    NotConfigured(&'static str),
    #[error("{0} is failing; calls are paused for a moment")]
    CircuitOpen(&'static str),
    #[error("{0} did not answer in time")]
    Timeout(&'static str),
    #[error("{0} cannot be reached")]
    Unreachable(&'static str),
    #[error("{0} answered HTTP {1}")]
    Status(&'static str, u16),
    #[error("{0} answered something that is not the expected JSON")]
    Malformed(&'static str),
    /// The answer had begun and stopped before its end.
    #[error("{0} stopped answering midway")]
    Interrupted(&'static str),
}

impl UpstreamError {
    /// The metric label of this outcome.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::NotConfigured(_) => "not_configured",
            Self::CircuitOpen(_) => "circuit_open",
            Self::Timeout(_) => "timeout",
            Self::Unreachable(_) => "unreachable",
            Self::Status(_, code) if *code >= 500 => "http_5xx",
            Self::Status(..) => "http_4xx",
            Self::Malformed(_) => "malformed",
            Self::Interrupted(_) => "interrupted",
        }
    }
}

/// What every upstream client shares.
#[derive(Clone)]
pub struct HttpUpstream {
    service: &'static str,
    base: Url,
    client: reqwest::Client,
    metrics: Arc<Metrics>,
}

/// Why the shared HTTP client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// `Settings::validate` refuses such a key; dropping it would fail every call instead.
    #[error("API_KEY: cannot be sent as an HTTP header")]
    ApiKey(#[from] http::header::InvalidHeaderValue),
    #[error("OPENAI_API_KEY: cannot be sent as an HTTP header")]
    OpenAiKey(#[source] http::header::InvalidHeaderValue),
    #[error("cannot build the HTTP client: {0}")]
    Build(#[from] reqwest::Error),
}

/// What the HTTP clients to other services are built with.
#[derive(Clone, Copy)]
pub struct ClientSettings<'a> {
    /// Sent as `X-API-Key` to the platform's services; as `Authorization: Bearer` to an
    /// OpenAI-compatible provider.
    pub api_key: Option<&'a SecretString>,
    pub connect_timeout: Duration,
    pub timeout: Duration,
}

/// Builds the one HTTP client all upstreams share.
pub fn build_client(settings: ClientSettings<'_>) -> Result<reqwest::Client, ClientError> {
    let mut headers = HeaderMap::new();
    if let Some(key) = settings.api_key {
        let mut value = HeaderValue::from_str(key.expose_secret())?;
        value.set_sensitive(true);
        headers.insert("x-api-key", value);
    }
    Ok(reqwest::Client::builder()
        .default_headers(headers)
        .connect_timeout(settings.connect_timeout)
        .timeout(settings.timeout)
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("pieces-connector/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

impl HttpUpstream {
    pub fn new(
        service: &'static str,
        base: &str,
        client: reqwest::Client,
        metrics: Arc<Metrics>,
    ) -> Option<Self> {
        // A trailing slash lets `join` append paths instead of replacing the last segment.
        let mut base = Url::parse(base).ok()?;
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        Some(Self {
            service,
            base,
            client,
            metrics,
        })
    }

    /// POSTs a JSON body and returns the answer's bytes when the status is 2xx.
    pub async fn post(
        &self,
        path: &str,
        body: Bytes,
        request_id: &str,
        idempotency_key: Option<&str>,
    ) -> Result<Bytes, UpstreamError> {
        self.post_parsed(path, body, request_id, idempotency_key, Ok)
            .await
    }

    /// POSTs a JSON body and hands a 2xx answer to `parse`. The call is counted once, under
    /// its final outcome: an answer `parse` refuses is not also counted as "ok".
    pub async fn post_parsed<T>(
        &self,
        path: &str,
        body: Bytes,
        request_id: &str,
        idempotency_key: Option<&str>,
        parse: impl FnOnce(Bytes) -> Result<T, UpstreamError>,
    ) -> Result<T, UpstreamError> {
        let started = Instant::now();
        let result = self
            .send(path, body, request_id, idempotency_key)
            .await
            .and_then(parse);
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.outcome(),
        };
        self.record(outcome, started.elapsed());
        result
    }

    /// Counts a call, including one that never left (circuit open, garbage answer).
    pub fn record(&self, outcome: &str, elapsed: Duration) {
        self.metrics
            .upstream_requests
            .with_label_values(&[self.service, outcome])
            .inc();
        self.metrics
            .upstream_duration
            .with_label_values(&[self.service, outcome])
            .observe(elapsed.as_secs_f64());
    }

    async fn send(
        &self,
        path: &str,
        body: Bytes,
        request_id: &str,
        idempotency_key: Option<&str>,
    ) -> Result<Bytes, UpstreamError> {
        let response = self.open(path, body, request_id, idempotency_key).await?;
        response.bytes().await.map_err(|e| self.classify(&e))
    }

    /// POSTs a JSON body and returns the answer as soon as its head says 2xx, for a caller
    /// that reads the body as it arrives. The caller counts the call (`record`) once it knows
    /// how it ended.
    pub async fn open(
        &self,
        path: &str,
        body: Bytes,
        request_id: &str,
        idempotency_key: Option<&str>,
    ) -> Result<reqwest::Response, UpstreamError> {
        let url = self
            .base
            .join(path)
            .map_err(|_| UpstreamError::NotConfigured(self.service))?;
        let mut request = self
            .client
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header("x-request-id", request_id)
            .body(body);
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        let response = request.send().await.map_err(|e| self.classify(&e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(UpstreamError::Status(self.service, status.as_u16()));
        }
        Ok(response)
    }

    pub fn classify(&self, err: &reqwest::Error) -> UpstreamError {
        if err.is_timeout() {
            UpstreamError::Timeout(self.service)
        } else {
            UpstreamError::Unreachable(self.service)
        }
    }

    pub fn service(&self) -> &'static str {
        self.service
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;

    #[tokio::test]
    async fn an_api_key_with_a_trailing_newline_is_sent_without_it() {
        let platform = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/snippets"))
            .and(header("x-api-key", "platform-key"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&platform)
            .await;
        let vars = HashMap::from([("API_KEY".to_owned(), "platform-key\n".to_owned())]);
        let settings = pieces_config::Settings::from_vars(vars)
            .expect("a Kubernetes secret's newline is fine");
        let client = build_client(ClientSettings {
            api_key: settings.api_key.as_ref(),
            connect_timeout: Duration::from_secs(1),
            timeout: Duration::from_secs(5),
        })
        .expect("client");
        let metrics = Arc::new(Metrics::new().expect("metrics"));
        let upstream =
            HttpUpstream::new("data_platform", &platform.uri(), client, metrics).expect("base URL");
        let sent = upstream
            .post("snippets", Bytes::from_static(b"{}"), "request-1", None)
            .await;
        assert!(sent.is_ok(), "the stub wants the trimmed key: {sent:?}");
    }

    #[test]
    fn every_outcome_is_a_series_the_metrics_export_from_the_start() {
        use pieces_metrics::labels::UPSTREAM_OUTCOMES;
        let s = "gateway";
        for error in [
            UpstreamError::NotConfigured(s),
            UpstreamError::CircuitOpen(s),
            UpstreamError::Timeout(s),
            UpstreamError::Unreachable(s),
            UpstreamError::Status(s, 503),
            UpstreamError::Status(s, 404),
            UpstreamError::Malformed(s),
            UpstreamError::Interrupted(s),
        ] {
            assert!(UPSTREAM_OUTCOMES.contains(&error.outcome()), "{error:?}");
        }
    }
}
