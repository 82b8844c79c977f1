//! The answer cache: the same question with the same material is answered once per TTL.
//! The key is a hash of everything the answer depends on, so a changed snippet, a new
//! workflow context or another model is a different key, and a stale answer is never served.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::gather::Gathered;
use pieces_cache::Cache;
use pieces_metrics::Metrics;
use pieces_model::{AssistAnswer, JsonObject, Question};

pub struct AnswerCache {
    cache: Arc<dyn Cache>,
    /// Zero: no caching.
    ttl: Duration,
    /// The providers and their models as configured: a changed configuration is a new key.
    setup: String,
    metrics: Arc<Metrics>,
}

/// What an answer depends on.
#[derive(Serialize)]
struct Material<'a> {
    setup: &'a str,
    user: &'a str,
    query: &'a str,
    context: &'a JsonObject,
    model: Option<&'a str>,
    max_tokens: u32,
    workflow: Option<&'a Value>,
    snippets: Vec<(&'a str, DateTime<Utc>)>,
}

impl AnswerCache {
    pub fn new(cache: Arc<dyn Cache>, ttl: Duration, setup: String, metrics: Arc<Metrics>) -> Self {
        Self {
            cache,
            ttl,
            setup,
            metrics,
        }
    }

    /// The key of this question with this material; none when the cache is off.
    pub fn key(&self, user: &str, question: &Question, gathered: &Gathered) -> Option<String> {
        if self.ttl.is_zero() {
            return None;
        }
        let material = Material {
            setup: &self.setup,
            user,
            query: &question.query,
            context: &question.context,
            model: question.model.as_deref(),
            max_tokens: question.max_tokens,
            workflow: gathered.workflow.as_ref(),
            snippets: gathered
                .snippets
                .iter()
                .map(|s| (s.id.as_str(), s.updated_at))
                .collect(),
        };
        let bytes = serde_json::to_vec(&material).ok()?;
        Some(format!("pieces:answers:{:x}", Sha256::digest(&bytes)))
    }

    /// The cached answer, marked as such. A cache that cannot be reached is a miss.
    pub async fn get(&self, key: &str) -> Option<AssistAnswer> {
        let found = match self.cache.get(key).await {
            Ok(found) => found,
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the answer cache; asking a provider");
                self.count("error");
                return None;
            }
        };
        let answer = found.and_then(|bytes| serde_json::from_slice::<AssistAnswer>(&bytes).ok());
        self.count(if answer.is_some() { "hit" } else { "miss" });
        answer.map(|answer| AssistAnswer {
            cached: true,
            ..answer
        })
    }

    /// Keeps a fresh answer; a cache that cannot be reached only costs the next ask a call.
    pub async fn put(&self, key: &str, answer: &AssistAnswer) {
        let Ok(bytes) = serde_json::to_vec(answer) else {
            return;
        };
        if let Err(e) = self.cache.set(key, Bytes::from(bytes), self.ttl).await {
            tracing::debug!(error = %e, "cannot store an answer in the cache");
        }
    }

    fn count(&self, result: &str) {
        self.metrics
            .answer_cache_requests
            .with_label_values(&[result])
            .inc();
    }
}
