//! Answers a development question with the cognitive service, given the user's current
//! workflow context and their most relevant snippets.

use std::sync::Arc;

use chrono::Utc;
use serde_json::{json, Value};

use super::rate_limit::PerUserLimit;
use super::{ContextService, ServiceError, ServiceResult, SnippetService};
use crate::metrics::Metrics;
use crate::model::{AssistAnswer, AssistRequest, Limits, ListParams, Snippet};
use crate::request_id;
use crate::upstream::CognitiveClient;

/// Snippets sent along with a question.
const SNIPPETS_PER_QUESTION: usize = 5;
/// Code beyond this many characters is cut from snippets sent along with a question.
const CODE_EXCERPT_CHARS: usize = 8_000;

pub struct AssistService {
    snippets: Arc<SnippetService>,
    context: Arc<ContextService>,
    /// The cognitive service, when configured.
    cognitive: Option<Arc<CognitiveClient>>,
    limit: PerUserLimit,
    limits: Limits,
    metrics: Arc<Metrics>,
}

impl AssistService {
    pub fn new(
        snippets: Arc<SnippetService>,
        context: Arc<ContextService>,
        cognitive: Option<Arc<CognitiveClient>>,
        calls_per_minute: u32,
        limits: Limits,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            snippets,
            context,
            cognitive,
            limit: PerUserLimit::per_minute(calls_per_minute),
            limits,
            metrics,
        }
    }

    /// Answers `request` for `user`, within the user's rate limit.
    pub async fn ask(&self, user: &str, request: AssistRequest) -> ServiceResult<AssistAnswer> {
        self.limit
            .check(user)
            .map_err(|retry_after_secs| ServiceError::RateLimited { retry_after_secs })?;
        let question = request.validate(&self.limits)?;
        let Some(cognitive) = &self.cognitive else {
            // Counted like any other upstream outcome, so the missing setting shows.
            self.metrics
                .upstream_requests
                .with_label_values(&["cognitive", "not_configured"])
                .inc();
            return Err(ServiceError::NotConfigured(
                "AI assistance is not configured on this server (COGNITIVE_SERVICES_URL is unset)",
            ));
        };
        let workflow = self.context.current(user).await;
        let snippets = self.relevant_snippets(user, &question.query).await;
        let mut context = serde_json::Map::new();
        context.insert("workflow".into(), workflow.unwrap_or(Value::Null));
        context.insert("recent_snippets".into(), Value::Array(snippets));
        context.insert("timestamp".into(), json!(Utc::now()));
        context.extend(question.context);
        let body = json!({
            "query": question.query,
            "context": context,
            "model": question.model,
            "max_tokens": question.max_tokens,
            "service": "pieces_integration",
        });
        Ok(cognitive.chat(&body, &request_id::current()).await?)
    }

    /// Forgets users whose allowance has refilled; called periodically.
    pub fn forget_idle_users(&self) {
        self.limit.forget_idle();
    }

    /// Full-text matches first, then the most recent to fill. A store outage costs the answer
    /// its snippets, not the answer itself.
    async fn relevant_snippets(&self, user: &str, query: &str) -> Vec<Value> {
        let limit = SNIPPETS_PER_QUESTION as i64;
        let mut chosen: Vec<Snippet> = match self.snippets.relevant(user, query, limit).await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, "cannot search snippets for a question");
                Vec::new()
            }
        };
        if chosen.len() < SNIPPETS_PER_QUESTION {
            let recent = ListParams {
                limit: Some(limit * 2),
                ..ListParams::default()
            };
            if let Ok(page) = self.snippets.list(user, recent).await {
                for s in page.snippets {
                    if chosen.len() == SNIPPETS_PER_QUESTION {
                        break;
                    }
                    if !chosen.iter().any(|c| c.id == s.id) {
                        chosen.push(s);
                    }
                }
            }
        }
        chosen.into_iter().map(excerpt).collect()
    }
}

fn excerpt(mut snippet: Snippet) -> Value {
    if let Some((cut, _)) = snippet.code.char_indices().nth(CODE_EXCERPT_CHARS) {
        snippet.code.truncate(cut);
    }
    serde_json::to_value(snippet).unwrap_or(Value::Null)
}
