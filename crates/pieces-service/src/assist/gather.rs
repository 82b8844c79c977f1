//! What a question is answered with: the user's live workflow context and their snippets
//! most relevant to it.

use serde_json::Value;

use crate::{ContextService, SnippetService};
use pieces_model::{ListParams, Snippet};

/// Snippets sent along with a question.
pub const SNIPPETS_PER_QUESTION: usize = 5;

/// The material of one answer.
pub struct Gathered {
    pub workflow: Option<Value>,
    /// Most relevant first.
    pub snippets: Vec<Snippet>,
}

pub async fn gather(
    snippets: &SnippetService,
    context: &ContextService,
    user: &str,
    query: &str,
) -> Gathered {
    let (workflow, snippets) = tokio::join!(
        context.current(user),
        relevant_snippets(snippets, user, query)
    );
    Gathered { workflow, snippets }
}

/// The most relevant first (by text and meaning when embeddings are configured), then the
/// most recent to fill. A store outage costs the answer its snippets, not the answer itself.
async fn relevant_snippets(service: &SnippetService, user: &str, query: &str) -> Vec<Snippet> {
    let limit = SNIPPETS_PER_QUESTION as i64;
    let mut chosen: Vec<Snippet> = match service.relevant(user, query, limit).await {
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
        if let Ok(page) = service.list(user, recent).await {
            for row in page.rows {
                if chosen.len() == SNIPPETS_PER_QUESTION {
                    break;
                }
                if chosen.iter().any(|c| c.id == row.id()) {
                    continue;
                }
                if let Ok(Some(whole)) = service.whole(user, row).await {
                    chosen.push(whole.snippet);
                }
            }
        }
    }
    chosen
}
