use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::rules::{check_object, check_text, whole_number, Checked, ValidationError};
use super::{JsonObject, Limits};

use super::bounds::{MAX_TOKENS_LIMIT, MODEL_MAX_CHARS, QUESTION_MAX_CHARS};

/// Body of `POST /api/v1/ai-assist`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AssistRequest {
    pub query: String,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub context: Option<JsonObject>,
    /// Defaults to `gpt-4`.
    #[serde(default)]
    pub model: Option<String>,
    /// 1 to 8192, defaults to 1000.
    #[serde(default, deserialize_with = "whole_number")]
    pub max_tokens: Option<u32>,
}

/// A validated assistance request.
#[derive(Debug)]
pub struct Question {
    pub query: String,
    pub context: JsonObject,
    pub model: String,
    pub max_tokens: u32,
}

impl AssistRequest {
    pub fn validate(self, limits: &Limits) -> Checked<Question> {
        check_text("query", &self.query, QUESTION_MAX_CHARS)?;
        let context = self.context.unwrap_or_default();
        check_object("context", &context, limits.object_bytes)?;
        let model = self.model.unwrap_or_else(|| "gpt-4".to_owned());
        check_text("model", &model, MODEL_MAX_CHARS)?;
        let max_tokens = self.max_tokens.unwrap_or(1000);
        if !(1..=MAX_TOKENS_LIMIT).contains(&max_tokens) {
            return Err(ValidationError::new(
                "max_tokens",
                format!("max_tokens must be between 1 and {MAX_TOKENS_LIMIT}"),
            ));
        }
        Ok(Question {
            query: self.query,
            context,
            model,
            max_tokens,
        })
    }
}

/// The answer, as the cognitive service gives it and as the user receives it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AssistAnswer {
    pub response: String,
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub suggestions: Vec<Value>,
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub references: Vec<Value>,
    /// 0.0 to 1.0.
    #[serde(default)]
    pub confidence: f64,
}
