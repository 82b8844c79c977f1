//! Snippets related to one, in its workspace: the nearest in meaning (when an embedding model
//! is configured) fused with those sharing its tags and language, so a snippet saved with
//! the same tags ranks close even when its words differ, and a snippet about the same thing
//! ranks close even without a tag in common.

use std::collections::HashMap;

use super::SnippetService;
use crate::auth::Principal;
use crate::search::fuse;
use crate::{ServiceError, ServiceResult};
use pieces_model::related::{RelatedPage, RelatedParams, RelatedSnippet};
use pieces_model::workspace::Role;
use pieces_model::{ListFilter, SearchMode, Snippet};

/// Candidates looked at per ranking: the nearest in meaning, and the newest sharing each of
/// its first tags.
const CANDIDATES: usize = 50;
/// Tags of the snippet whose fellows are candidates; each costs a listing.
const TAGS_LOOKED_AT: usize = 3;

impl SnippetService {
    /// The snippets related to `id` in its workspace, most related first, for a caller who
    /// may read it (another's answers 404, as for a missing one).
    pub async fn related(
        &self,
        caller: &Principal,
        id: &str,
        params: RelatedParams,
    ) -> ServiceResult<RelatedPage> {
        let limit = params.validate()? as usize;
        let key = self.snippet_workspace(caller, id, Role::Reader).await?;
        let snippet = self
            .deps
            .store
            .get_snippet(&key, id)
            .await?
            .ok_or(ServiceError::NotFound("snippet"))?;
        let nearest = match &self.deps.search {
            Some(search) => match search.neighbours(&key, &snippet, CANDIDATES).await {
                Ok(nearest) => nearest,
                // Meaning is one of two rankings: without it, tags and language still relate.
                Err(ServiceError::Upstream(e)) => {
                    tracing::warn!(error = %e, "cannot relate snippets by meaning");
                    Vec::new()
                }
                Err(e) => return Err(e),
            },
            None => Vec::new(),
        };
        let fellows = self.fellows(&key, &snippet).await?;
        let mut candidates: Vec<String> = nearest.iter().map(|(id, _)| id.clone()).collect();
        for fellow in fellows {
            if !candidates.contains(&fellow) {
                candidates.push(fellow);
            }
        }
        let rows = self.deps.store.listed_by_ids(&[key], &candidates).await?;
        let similarity: HashMap<&str, f32> =
            nearest.iter().map(|(id, s)| (id.as_str(), *s)).collect();
        let mut related: Vec<RelatedSnippet> = rows
            .iter()
            .map(|row| {
                let similarity = similarity.get(row.id()).copied();
                RelatedSnippet::of(row.snippet(), &snippet, similarity)
            })
            .filter(|r| r.similarity.is_some() || !r.shared_tags.is_empty())
            .collect();
        // The second ranking: most in common first, the nearer in meaning first among equals.
        let by_meaning: Vec<&str> = nearest.iter().map(|(id, _)| id.as_str()).collect();
        related.sort_by(|a, b| {
            b.overlap(&snippet).cmp(&a.overlap(&snippet)).then(
                b.similarity
                    .unwrap_or(-1.0)
                    .total_cmp(&a.similarity.unwrap_or(-1.0)),
            )
        });
        let by_overlap: Vec<&str> = related
            .iter()
            .filter(|r| r.overlap(&snippet) > 0)
            .map(|r| r.id.as_str())
            .collect();
        let order: Vec<String> = fuse(&by_meaning, &by_overlap)
            .into_iter()
            .take(limit)
            .map(str::to_owned)
            .collect();
        let mut by_id: HashMap<String, RelatedSnippet> =
            related.into_iter().map(|r| (r.id.clone(), r)).collect();
        Ok(RelatedPage {
            snippets: order.iter().filter_map(|id| by_id.remove(id)).collect(),
        })
    }

    /// The newest snippets of workspace `key` sharing one of `snippet`'s first tags (itself
    /// left out). The language alone relates too many to be a candidate: it only ranks.
    async fn fellows(&self, key: &str, snippet: &Snippet) -> ServiceResult<Vec<String>> {
        let keys = [key.to_owned()];
        let mut ids: Vec<String> = Vec::new();
        for tag in snippet.tags.iter().take(TAGS_LOOKED_AT) {
            let filter = ListFilter {
                tag: Some(tag.clone()),
                ..newest()
            };
            let (found, _) = self.deps.store.matching_ids(&keys, &filter).await?;
            for id in found {
                if id != snippet.id && !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        Ok(ids)
    }
}

/// The newest `CANDIDATES`, unfiltered.
fn newest() -> ListFilter {
    ListFilter {
        limit: CANDIDATES as i64,
        offset: 0,
        language: None,
        tag: None,
        query: None,
        mode: SearchMode::Text,
    }
}
