//! Snippets related to one: `GET /api/v1/snippets/{id}/related`.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{Checked, Snippet, ValidationError};

/// Related snippets answered at most.
pub const RELATED_MAX: i64 = 20;

/// Query of `GET /api/v1/snippets/{id}/related`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RelatedParams {
    /// 1 to 20, default 5.
    #[param(minimum = 1, maximum = 20)]
    pub limit: Option<i64>,
}

impl RelatedParams {
    pub fn validate(&self) -> Checked<i64> {
        let limit = self.limit.unwrap_or(5);
        if !(1..=RELATED_MAX).contains(&limit) {
            return Err(ValidationError::new(
                "limit",
                format!("limit must be between 1 and {RELATED_MAX}"),
            ));
        }
        Ok(limit)
    }
}

/// One related snippet: enough to show and open it, without its code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RelatedSnippet {
    pub id: String,
    pub workspace: String,
    pub title: String,
    pub language: String,
    pub tags: Vec<String>,
    /// Cosine similarity of the two snippets' meaning; null when they are related by tags
    /// and language alone (no embedding model, or not yet embedded).
    pub similarity: Option<f32>,
    /// The tags both carry.
    pub shared_tags: Vec<String>,
}

impl RelatedSnippet {
    /// `other` as related to `to`, with its similarity if known.
    pub fn of(other: &Snippet, to: &Snippet, similarity: Option<f32>) -> Self {
        Self {
            id: other.id.clone(),
            workspace: other.workspace.clone(),
            title: other.title.clone(),
            language: other.language.clone(),
            tags: other.tags.clone(),
            similarity,
            shared_tags: other
                .tags
                .iter()
                .filter(|t| to.tags.contains(t))
                .cloned()
                .collect(),
        }
    }

    /// How much the two have in common besides meaning: each shared tag, and the language.
    pub fn overlap(&self, to: &Snippet) -> usize {
        self.shared_tags.len() + usize::from(self.language == to.language)
    }
}

/// `GET /api/v1/snippets/{id}/related`: the most related first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RelatedPage {
    pub snippets: Vec<RelatedSnippet>,
}
