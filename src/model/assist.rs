use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::rules::{check_object, check_text, Checked, ValidationError};
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

/// A whole number, also when a client's JSON writes it as `1000.0`.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    let whole = number.as_u64().or_else(|| {
        number
            .as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= f64::from(u32::MAX))
            .map(|f| f as u64)
    });
    match whole.and_then(|n| u32::try_from(n).ok()) {
        Some(n) => Ok(Some(n)),
        None => Err(serde::de::Error::custom(format!(
            "expected a whole number from 1 to {MAX_TOKENS_LIMIT}, got {number}"
        ))),
    }
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
