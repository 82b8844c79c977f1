//! An OpenAI-compatible embeddings endpoint (`EMBEDDINGS_URL`): Ollama, TEI, vLLM, LiteLLM,
//! OpenAI. `POST {EMBEDDINGS_URL}/embeddings` with `{model, input: [...]}`; the URL may also
//! name the `/embeddings` route itself. Its own client: the platform's `X-API-Key` must never
//! reach a third party.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use super::{vector, EmbedError, Embedder, Urgency};

pub struct RemoteEmbedder {
    client: reqwest::Client,
    endpoint: String,
    model: String,
    id: String,
}

#[derive(Deserialize)]
struct Answer {
    data: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    embedding: Vec<f32>,
    #[serde(default)]
    index: Option<usize>,
}

impl RemoteEmbedder {
    pub fn new(
        url: &str,
        model: &str,
        api_key: Option<&SecretString>,
        connect_timeout: Duration,
        timeout: Duration,
    ) -> Result<Self, String> {
        let mut headers = HeaderMap::new();
        if let Some(key) = api_key {
            let mut value = HeaderValue::from_str(&format!("Bearer {}", key.expose_secret()))
                .map_err(|_| "EMBEDDINGS_API_KEY: not a valid header value".to_owned())?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(connect_timeout)
            .timeout(timeout)
            .user_agent(concat!("pieces-connector/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("EMBEDDINGS_URL: cannot build a client: {e}"))?;
        let base = url.trim_end_matches('/');
        let endpoint = if base.ends_with("/embeddings") {
            base.to_owned()
        } else {
            format!("{base}/embeddings")
        };
        Ok(Self {
            client,
            endpoint,
            model: model.to_owned(),
            id: format!("remote:{model}"),
        })
    }
}

#[async_trait]
impl Embedder for RemoteEmbedder {
    fn model_id(&self) -> &str {
        &self.id
    }

    async fn embed(&self, texts: Vec<String>, _: Urgency) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let expected = texts.len();
        let response = self
            .client
            .post(&self.endpoint)
            .json(&json!({ "model": self.model, "input": texts }))
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    EmbedError::Timeout
                } else {
                    EmbedError::Unreachable
                }
            })?;
        let status = response.status();
        if !status.is_success() {
            return Err(EmbedError::Status(status.as_u16()));
        }
        let answer: Answer = response
            .json()
            .await
            .map_err(|_| EmbedError::Malformed("something that is not embeddings JSON".into()))?;
        order(answer.data, expected)
    }
}

/// The vectors in the order of the inputs, unit length, all of one dimension.
fn order(mut items: Vec<Item>, expected: usize) -> Result<Vec<Vec<f32>>, EmbedError> {
    if items.len() != expected {
        return Err(EmbedError::Malformed(format!(
            "{} embeddings for {expected} inputs",
            items.len()
        )));
    }
    if items.iter().all(|i| i.index.is_some()) {
        items.sort_by_key(|i| i.index);
    }
    let dims = items[0].embedding.len();
    if dims == 0 || items.iter().any(|i| i.embedding.len() != dims) {
        return Err(EmbedError::Malformed(
            "embeddings of unequal or no length".into(),
        ));
    }
    Ok(items
        .into_iter()
        .map(|i| {
            let mut v = i.embedding;
            vector::normalize(&mut v);
            v
        })
        .collect())
}
