//! Reciprocal rank fusion (Cormack, Clarke and Büttcher, 2009): each ranking gives a document
//! 1 / (K + rank), and the sums decide. It needs no score calibration between a text ranking
//! and a similarity ranking, which have nothing in common but their order.

use std::collections::HashMap;

/// The constant of the original paper; it damps the weight of the very first ranks.
const K: f64 = 60.0;

/// The ids of both rankings (best first each), best first by their fused score; a tie goes
/// to the text ranking's order, then the vector ranking's.
pub fn fuse<'a>(text_ranked: &[&'a str], vector_ranked: &[&'a str]) -> Vec<&'a str> {
    let mut scores: HashMap<&str, (f64, usize)> = HashMap::new();
    let lists = [text_ranked, vector_ranked];
    let mut order = 0;
    for list in lists {
        for (rank, id) in list.iter().enumerate() {
            let entry = scores.entry(id).or_insert_with(|| {
                order += 1;
                (0.0, order)
            });
            entry.0 += 1.0 / (K + rank as f64 + 1.0);
        }
    }
    let mut fused: Vec<(&str, (f64, usize))> = scores.into_iter().collect();
    fused.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0).then(a.1 .1.cmp(&b.1 .1)));
    fused.into_iter().map(|(id, _)| id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn found_by_both_rankings_beats_found_by_one() {
        let fused = fuse(&["t1", "both"], &["v1", "both"]);
        assert_eq!(fused, ["both", "t1", "v1"]);
    }
}
