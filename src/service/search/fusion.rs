//! Reciprocal rank fusion (Cormack, Clarke and Büttcher, 2009): each ranking gives a document
//! 1 / (K + rank), and the sums decide. It needs no score calibration between a text ranking
//! and a similarity ranking, which have nothing in common but their order.

use std::collections::HashMap;

use crate::model::Snippet;

/// The constant of the original paper; it damps the weight of the very first ranks.
const K: f64 = 60.0;

/// Fuses the text ranking (`texts`, in its order) with the vector ranking (`vector_ranked`
/// ids, nearest first); `more` holds the snippets of the vector ranking that the text
/// ranking lacks. Best first; ties go to the newer snippet.
pub fn fuse(texts: Vec<Snippet>, more: Vec<Snippet>, vector_ranked: &[&str]) -> Vec<Snippet> {
    let vector_rank: HashMap<&str, usize> = vector_ranked
        .iter()
        .enumerate()
        .map(|(rank, id)| (*id, rank))
        .collect();
    let score = |text_rank: Option<usize>, id: &str| {
        let from_text = text_rank.map_or(0.0, |r| 1.0 / (K + r as f64 + 1.0));
        let from_vector = vector_rank
            .get(id)
            .map_or(0.0, |r| 1.0 / (K + *r as f64 + 1.0));
        from_text + from_vector
    };
    let mut scored: Vec<(f64, Snippet)> = texts
        .into_iter()
        .enumerate()
        .map(|(rank, s)| (score(Some(rank), &s.id), s))
        .chain(
            more.into_iter()
                .filter(|s| vector_rank.contains_key(s.id.as_str()))
                .map(|s| (score(None, &s.id), s)),
        )
        .collect();
    scored.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then_with(|| b.1.created_at.cmp(&a.1.created_at))
    });
    scored.into_iter().map(|(_, s)| s).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snippet(id: &str) -> Snippet {
        Snippet {
            id: id.into(),
            title: id.into(),
            code: "x".into(),
            language: "text".into(),
            tags: Vec::new(),
            metadata: Default::default(),
            description: None,
            created_at: chrono::DateTime::UNIX_EPOCH,
            updated_at: chrono::DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn found_by_both_rankings_beats_found_by_one() {
        let texts = vec![snippet("t1"), snippet("both")];
        let more = vec![snippet("v1")];
        let fused = fuse(texts, more, &["v1", "both"]);
        let ids: Vec<&str> = fused.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids[0], "both");
        assert_eq!(ids.len(), 3);
    }
}
