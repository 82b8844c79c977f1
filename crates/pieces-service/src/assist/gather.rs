//! What a question is answered with: the user's live workflow context and their snippets
//! most relevant to it.

use serde_json::Value;

use crate::auth::Principal;
use crate::{ContextService, SnippetService};
use pieces_model::Snippet;

/// Snippets sent along with a question, at most.
pub const SNIPPETS_PER_QUESTION: usize = 3;

/// The material of one answer.
pub struct Gathered {
    pub workflow: Option<Value>,
    /// Most relevant first.
    pub snippets: Vec<Snippet>,
}

pub async fn gather(
    snippets: &SnippetService,
    context: &ContextService,
    caller: &Principal,
    workspaces: &[String],
    query: &str,
) -> Gathered {
    let (workflow, snippets) = tokio::join!(
        context.current(&caller.user),
        relevant_snippets(snippets, workspaces, query)
    );
    Gathered { workflow, snippets }
}

/// The relevant ones, most relevant first (by text and meaning, above the relevance floor,
/// when embeddings are configured), taken from each workspace in turn (each one's best, then
/// each one's second, ...): none when none is relevant, never unrelated ones to fill. A store
/// outage costs the answer its snippets, not the answer itself.
async fn relevant_snippets(
    service: &SnippetService,
    workspaces: &[String],
    query: &str,
) -> Vec<Snippet> {
    let limit = SNIPPETS_PER_QUESTION as i64;
    let mut ranked = Vec::with_capacity(workspaces.len());
    for key in workspaces {
        match service.relevant(key, query, limit).await {
            Ok(found) => ranked.push(found.into_iter()),
            Err(e) => tracing::warn!(error = %e, "cannot search snippets for a question"),
        }
    }
    let mut chosen: Vec<Snippet> = Vec::with_capacity(SNIPPETS_PER_QUESTION);
    while chosen.len() < SNIPPETS_PER_QUESTION {
        let before = chosen.len();
        for found in ranked.iter_mut() {
            if chosen.len() == SNIPPETS_PER_QUESTION {
                break;
            }
            if let Some(snippet) = found.next() {
                chosen.push(snippet);
            }
        }
        if chosen.len() == before {
            break;
        }
    }
    chosen
}
