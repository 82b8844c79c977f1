//! What a question is answered with: the user's live workflow context and their snippets
//! most relevant to it.

use serde_json::Value;

use crate::auth::Principal;
use crate::{ContextService, SnippetService};
use pieces_model::workspace::api_id;
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
    caller: &Principal,
    workspaces: &[String],
    query: &str,
) -> Gathered {
    let (workflow, snippets) = tokio::join!(
        context.current(&caller.user),
        relevant_snippets(snippets, caller, workspaces, query)
    );
    Gathered { workflow, snippets }
}

/// The most relevant first (by text and meaning when embeddings are configured), taken from
/// each workspace in turn (each one's best, then each one's second, ...), then the most
/// recent to fill. A store outage costs the answer its snippets,
/// not the answer itself.
async fn relevant_snippets(
    service: &SnippetService,
    caller: &Principal,
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
    // The most recent of the first workspace drawn on (the personal one, unless the
    // question named others).
    if let (true, Some(first)) = (chosen.len() < SNIPPETS_PER_QUESTION, workspaces.first()) {
        let recent = ListParams {
            limit: Some(limit * 2),
            workspace: Some(api_id(first).to_owned()),
            ..ListParams::default()
        };
        if let Ok(page) = service.list(caller, recent).await {
            for row in page.rows {
                if chosen.len() == SNIPPETS_PER_QUESTION {
                    break;
                }
                if chosen.iter().any(|c| c.id == row.id()) {
                    continue;
                }
                if let Ok(Some(whole)) = service.whole(row).await {
                    chosen.push(whole.snippet);
                }
            }
        }
    }
    chosen
}
