//! Answers a development question, given the user's current workflow context and their
//! most relevant snippets: from the answer cache when the same question with the same
//! material was answered lately, otherwise from the first configured provider that starts
//! answering, in the order configured.

mod answer_stream;
mod answers;
mod gather;
mod prompt;
mod redact;

pub use answer_stream::{AnswerEvent, AnswerStream};
pub use answers::AnswerCache;

use std::sync::Arc;

use super::auth::Principal;
use super::rate_limit::PerUserLimit;
use super::{Access, ContextService, ServiceError, ServiceResult, SnippetService};
use answer_stream::Keep;
use gather::Gathered;
use pieces_metrics::Metrics;
use pieces_model::request_id;
use pieces_model::{AssistAnswer, AssistRequest, Limits, Provider, Question};
use pieces_upstream::ai::{AiProvider, DeltaStream};
use pieces_upstream::UpstreamError;

/// What an assist service is built from.
pub struct AssistDeps {
    pub snippets: Arc<SnippetService>,
    /// Which workspaces' snippets a caller's question may draw on.
    pub access: Arc<Access>,
    pub context: Arc<ContextService>,
    /// The providers, in the order they are asked; empty when none is configured.
    pub providers: Vec<AiProvider>,
    pub answers: Arc<AnswerCache>,
    pub calls_per_minute: u32,
    pub limits: Limits,
    pub metrics: Arc<Metrics>,
}

pub struct AssistService {
    deps: AssistDeps,
    limit: PerUserLimit,
}

impl AssistService {
    pub fn new(deps: AssistDeps) -> Self {
        let limit = PerUserLimit::per_minute(deps.calls_per_minute);
        Self { deps, limit }
    }

    /// Answers `request` for `caller`, whole, within the user's rate limit.
    pub async fn ask(
        &self,
        caller: &Principal,
        request: AssistRequest,
    ) -> ServiceResult<AssistAnswer> {
        self.ask_streaming(caller, request).await?.finish().await
    }

    /// Answers `request` for `user` as the answer is produced, within the user's rate limit.
    /// Returns once the first words are there: every failure before them (the limit, a bad
    /// field, every provider failing) is an error here, not in the stream.
    pub async fn ask_streaming(
        &self,
        caller: &Principal,
        request: AssistRequest,
    ) -> ServiceResult<AnswerStream> {
        let d = &self.deps;
        let user = caller.user.as_str();
        self.limit
            .check(user)
            .map_err(|retry_after_secs| ServiceError::RateLimited { retry_after_secs })?;
        let question = request.validate(&d.limits)?;
        if d.providers.is_empty() {
            // Counted like any other upstream outcome, so the missing setting shows.
            d.metrics
                .upstream_requests
                .with_label_values(&[Provider::Cognitive.as_str(), "not_configured"])
                .inc();
            return Err(ServiceError::NotConfigured(
                "AI assistance is not configured on this server (set COGNITIVE_SERVICES_URL \
                 or OPENAI_BASE_URL)",
            ));
        }
        let workspaces = d
            .access
            .keys_to_read(caller, question.workspaces.as_deref())
            .await?;
        let gathered = gather::gather(
            &d.snippets,
            &d.context,
            caller,
            &workspaces,
            &question.query,
        )
        .await;
        let key = d.answers.key(user, &question, &gathered);
        if let Some(key) = &key {
            if let Some(answer) = d.answers.get(key).await {
                return Ok(AnswerStream::whole(answer));
            }
        }
        // Nothing a provider is sent holds a credential the detector knows.
        let (question, gathered) = redact::redacted(question, gathered, &d.metrics.ai_redactions);
        let request_id = request_id::current();
        let mut failure = None;
        for provider in &d.providers {
            match start(provider, &question, &gathered, &request_id).await {
                Ok((deltas, template)) => {
                    let keep = key.map(|key| Keep {
                        cache: d.answers.clone(),
                        key,
                    });
                    return Ok(AnswerStream::producing(deltas, template, keep));
                }
                Err(e) => {
                    // An open breaker is already known trouble: one line a question would flood.
                    if matches!(e, UpstreamError::CircuitOpen(_)) {
                        tracing::debug!(provider = %provider.name(), "provider skipped: circuit open");
                    } else {
                        tracing::warn!(provider = %provider.name(), error = %e,
                            "a provider failed before answering");
                    }
                    failure = Some(e);
                }
            }
        }
        Err(failure
            .unwrap_or(UpstreamError::NotConfigured("AI assistance"))
            .into())
    }

    /// Forgets users whose allowance has refilled; called periodically.
    pub fn forget_idle_users(&self) {
        self.limit.forget_idle();
    }
}

/// Asks one provider; returns once it has begun to answer, with the answer's text to come
/// and everything else about it.
async fn start(
    provider: &AiProvider,
    question: &Question,
    gathered: &Gathered,
    request_id: &str,
) -> Result<(DeltaStream, AssistAnswer), UpstreamError> {
    use futures_util::stream::{self, StreamExt};
    match provider {
        AiProvider::Cognitive(cognitive) => {
            let body = prompt::cognitive_body(question, gathered);
            let reply = cognitive.chat(&body, request_id).await?;
            let text = reply.response;
            let answer = AssistAnswer {
                response: String::new(),
                suggestions: reply.suggestions,
                references: reply.references,
                confidence: Some(reply.confidence),
                provider: Provider::Cognitive,
                cached: false,
            };
            Ok((stream::once(async { Ok(text) }).boxed(), answer))
        }
        AiProvider::Openai(openai) => {
            let (request, references) = prompt::chat_request(question, gathered);
            let deltas = openai.stream(&request, request_id).await?;
            let answer = AssistAnswer {
                response: String::new(),
                suggestions: Vec::new(),
                references,
                confidence: None,
                provider: Provider::Openai,
                cached: false,
            };
            Ok((deltas, answer))
        }
    }
}
