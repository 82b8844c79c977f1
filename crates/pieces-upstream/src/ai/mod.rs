//! The providers that answer questions: the platform's cognitive service (one whole answer
//! per call) and any OpenAI-compatible Chat Completions API (the answer streamed as it is
//! produced). Each has its own timeout, circuit breaker and metrics; which are asked, and in
//! which order, is the service's business.

mod call;
mod events;
mod openai;

pub use openai::{client as openai_client, ChatMessage, ChatRequest, OpenAiClient};

use std::sync::Arc;

use futures_util::stream::BoxStream;

use super::{CognitiveClient, UpstreamError};
use pieces_model::Provider;

/// Text of an answer as the provider produces it. It ends after the last piece, or with
/// one error when the answer stops midway. Dropping it cancels the call.
pub type DeltaStream = BoxStream<'static, Result<String, UpstreamError>>;

/// A provider that can answer, configured and ready.
#[derive(Clone)]
pub enum AiProvider {
    /// `/chat`: the whole answer, with suggestions, references and confidence.
    Cognitive(Arc<CognitiveClient>),
    /// `/chat/completions`: the answer's text as a stream of deltas.
    Openai(Arc<OpenAiClient>),
}

impl AiProvider {
    pub fn name(&self) -> Provider {
        match self {
            Self::Cognitive(_) => Provider::Cognitive,
            Self::Openai(_) => Provider::Openai,
        }
    }
}
