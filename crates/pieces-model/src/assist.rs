use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::rules::{check_object, check_text, whole_number, Checked, ValidationError};
use super::{JsonObject, Limits};

use super::bounds::{MAX_TOKENS_LIMIT, MODEL_MAX_CHARS, QUESTION_MAX_CHARS};

/// The model named to the cognitive service when the request names none.
pub const DEFAULT_MODEL: &str = "gpt-4";

/// Body of `POST /api/v1/ai-assist`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AssistRequest {
    pub query: String,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub context: Option<JsonObject>,
    /// The model to ask. Without it the cognitive service is asked for `gpt-4` and an
    /// OpenAI-compatible provider for its configured `OPENAI_MODEL`.
    #[serde(default)]
    pub model: Option<String>,
    /// 1 to 8192, defaults to 1000.
    #[serde(default, deserialize_with = "whole_number")]
    pub max_tokens: Option<u32>,
    /// `true` answers Server-Sent Events (`delta` events as the answer is produced, then
    /// `done` with the whole answer), as `Accept: text/event-stream` does.
    #[serde(default)]
    pub stream: Option<bool>,
    /// The workspaces whose snippets may answer (`personal` or team ids, at most 100);
    /// default every workspace the caller can read.
    #[serde(default)]
    pub workspaces: Option<Vec<String>>,
}

/// Most workspaces one question may name.
pub const QUESTION_MAX_WORKSPACES: usize = 100;

/// A validated assistance request.
#[derive(Debug)]
pub struct Question {
    pub query: String,
    pub context: JsonObject,
    /// The model the client named, if any.
    pub model: Option<String>,
    pub max_tokens: u32,
    /// The workspaces named (API ids); None: every one the caller can read.
    pub workspaces: Option<Vec<String>>,
}

impl AssistRequest {
    pub fn validate(self, limits: &Limits) -> Checked<Question> {
        check_text("query", &self.query, QUESTION_MAX_CHARS)?;
        let context = self.context.unwrap_or_default();
        check_object("context", &context, limits.object_bytes)?;
        if let Some(model) = &self.model {
            check_text("model", model, MODEL_MAX_CHARS)?;
        }
        let max_tokens = self.max_tokens.unwrap_or(1000);
        if !(1..=MAX_TOKENS_LIMIT).contains(&max_tokens) {
            return Err(ValidationError::new(
                "max_tokens",
                format!("max_tokens must be between 1 and {MAX_TOKENS_LIMIT}"),
            ));
        }
        if let Some(workspaces) = &self.workspaces {
            if workspaces.is_empty() || workspaces.len() > QUESTION_MAX_WORKSPACES {
                return Err(ValidationError::new(
                    "workspaces",
                    format!("workspaces must name 1 to {QUESTION_MAX_WORKSPACES} workspaces"),
                ));
            }
            for id in workspaces {
                check_text("workspaces", id, 64)?;
            }
        }
        Ok(Question {
            query: self.query,
            context,
            model: self.model,
            max_tokens,
            workspaces: self.workspaces,
        })
    }
}

/// The providers that can answer a question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// The platform's cognitive service (`/chat`).
    Cognitive,
    /// An OpenAI-compatible Chat Completions API (Ollama, vLLM, LiteLLM, OpenAI).
    Openai,
}

impl Provider {
    pub const ALL: [Provider; 2] = [Provider::Cognitive, Provider::Openai];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cognitive => "cognitive",
            Self::Openai => "openai",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Provider {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == name)
            .ok_or_else(|| format!("unknown provider `{name}` (known: cognitive, openai)"))
    }
}

/// The answer the user receives.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AssistAnswer {
    pub response: String,
    /// The cognitive service's suggestions as it gives them (strings, as a rule; any JSON
    /// value is passed on); `[]` from an OpenAI-compatible provider.
    #[schema(value_type = Vec<Value>)]
    pub suggestions: Vec<Value>,
    /// The cognitive service's references as it gives them (any JSON value); from an
    /// OpenAI-compatible provider, the snippets the answer was given (`{id, title}`).
    #[schema(value_type = Vec<Value>)]
    pub references: Vec<Value>,
    /// 0.0 to 1.0; null when the provider gives none.
    pub confidence: Option<f64>,
    /// Which provider answered.
    pub provider: Provider,
    /// True when the answer comes from the answer cache, without a call to the provider.
    pub cached: bool,
}
