//! The in-process vector index of one user: the sign bits of each embedding (48 bytes for 384
//! dimensions), scanned by Hamming distance to pick candidates that are then ranked exactly.
//! It is built from the store on a user's first semantic search and catches up on each
//! search by reading the embeddings written since (`seq` grows with every write, on every
//! replica), so an embedding made on another replica is found without any message. A deleted
//! snippet's entry is removed when the change bus says it changed and its embedding is gone
//! (`SearchService::follow`); one the bus missed stays until the index is rebuilt, costing a
//! candidate slot, never a wrong answer, since candidates are ranked by the vectors the store
//! still holds.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::hamming::{self, Codes, HEAD_WORDS};
use pieces_embeddings::vector;
use pieces_store::IndexEntry;

pub struct UserIndex {
    /// 64-bit words per vector; 0 until the first entry fixes it.
    words: usize,
    ids: Vec<Arc<str>>,
    codes: Vec<u64>,
    /// The first `HEAD_WORDS` words of each code, side by side, for a fast first pass.
    heads: Vec<u64>,
    slots: HashMap<Arc<str>, u32>,
    /// The highest `seq` applied.
    pub last_seq: i64,
    built_at: Instant,
    /// A fresh copy is being built to replace this one.
    rebuilding: bool,
}

impl Default for UserIndex {
    fn default() -> Self {
        Self::new()
    }
}

impl UserIndex {
    pub fn new() -> Self {
        Self {
            words: 0,
            ids: Vec::new(),
            codes: Vec::new(),
            heads: Vec::new(),
            slots: HashMap::new(),
            last_seq: 0,
            built_at: Instant::now(),
            rebuilding: false,
        }
    }

    /// True once for an index built longer than `age` ago, until `rebuild_failed`: the caller
    /// then builds a fresh copy and swaps it in.
    pub fn claim_rebuild(&mut self, age: Duration) -> bool {
        let due = !self.rebuilding && self.built_at.elapsed() >= age;
        self.rebuilding |= due;
        due
    }

    pub fn rebuild_failed(&mut self) {
        self.rebuilding = false;
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn contains(&self, id: &str) -> bool {
        self.slots.contains_key(id)
    }

    /// Forgets snippet `id` (deleted): the last entry moves into its slot. False if it was
    /// not held.
    pub fn remove(&mut self, id: &str) -> bool {
        let Some(slot) = self.slots.remove(id) else {
            return false;
        };
        let (slot, last) = (slot as usize, self.ids.len() - 1);
        if slot != last {
            let moved = Arc::clone(&self.ids[last]);
            self.ids.swap(slot, last);
            let w = self.words;
            self.codes.copy_within(last * w..(last + 1) * w, slot * w);
            self.heads.copy_within(
                last * HEAD_WORDS..(last + 1) * HEAD_WORDS,
                slot * HEAD_WORDS,
            );
            self.slots.insert(moved, slot as u32);
        }
        self.ids.pop();
        self.codes.truncate(last * self.words);
        self.heads.truncate(last * HEAD_WORDS);
        true
    }

    /// Bytes held, roughly, for the cache's weight.
    pub fn weight(&self) -> u32 {
        let per_entry = (self.words + HEAD_WORDS) * 8 + 96;
        u32::try_from(self.ids.len() * per_entry + 256).unwrap_or(u32::MAX)
    }

    /// Applies entries read from the store (oldest first). An entry replaces the snippet's
    /// earlier one; entries of another dimension than the index's are ignored, and so are
    /// those not newer than the last applied: two searches catching up at once may read
    /// overlapping ranges, and the slower must not put an older code back.
    pub fn apply(&mut self, entries: Vec<IndexEntry>) {
        for entry in entries {
            if entry.seq <= self.last_seq {
                continue;
            }
            self.last_seq = entry.seq;
            let words = entry.signs.len().div_ceil(8);
            if self.words == 0 {
                self.words = words;
            }
            if words != self.words {
                continue;
            }
            let code: Vec<u64> = vector::words(&entry.signs).collect();
            let mut head = [0u64; HEAD_WORDS];
            for (h, c) in head.iter_mut().zip(&code) {
                *h = *c;
            }
            match self.slots.get(entry.snippet_id.as_str()) {
                Some(&slot) => {
                    let at = slot as usize * self.words;
                    self.codes[at..at + self.words].copy_from_slice(&code);
                    let at = slot as usize * HEAD_WORDS;
                    self.heads[at..at + HEAD_WORDS].copy_from_slice(&head);
                }
                None => {
                    let id: Arc<str> = Arc::from(entry.snippet_id);
                    let slot = u32::try_from(self.ids.len()).unwrap_or(u32::MAX);
                    self.slots.insert(Arc::clone(&id), slot);
                    self.ids.push(id);
                    self.codes.extend(code);
                    self.heads.extend(head);
                }
            }
        }
    }

    /// The `count` entries nearest to `query_bits` by Hamming distance, nearest first.
    pub fn candidates(&self, query_bits: &[u8], count: usize) -> Vec<Arc<str>> {
        if self.words == 0 || count == 0 {
            return Vec::new();
        }
        let query: Vec<u64> = vector::words(query_bits).collect();
        if query.len() != self.words {
            return Vec::new();
        }
        let codes = Codes {
            codes: &self.codes,
            heads: &self.heads,
            words: self.words,
        };
        hamming::nearest(codes, &query, count)
            .into_iter()
            .map(|(_, slot)| Arc::clone(&self.ids[slot as usize]))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, bits: u8, seq: i64) -> IndexEntry {
        IndexEntry {
            snippet_id: id.into(),
            signs: vec![bits],
            seq,
        }
    }

    /// Three entries: a and c close, b far from both.
    fn abc() -> UserIndex {
        let mut index = UserIndex::new();
        index.apply(vec![
            entry("a", 0b0000_1111, 1),
            entry("b", 0b1111_0000, 2),
            entry("c", 0b0000_0111, 3),
        ]);
        index
    }

    fn ids(found: Vec<Arc<str>>) -> Vec<String> {
        found.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn nearest_by_hamming_and_replaced_on_rewrite() {
        let mut index = abc();
        assert_eq!(ids(index.candidates(&[0b0000_1111], 2)), ["a", "c"]);
        index.apply(vec![entry("a", 0b1111_0000, 4)]);
        assert_eq!(index.len(), 3);
        assert_eq!(index.last_seq, 4);
        assert_eq!(ids(index.candidates(&[0b1111_0000], 2)), ["a", "b"]);
        // A late reader of an older range changes nothing.
        index.apply(vec![entry("a", 0b0000_1111, 1), entry("c", 0b1111_0000, 3)]);
        assert_eq!(ids(index.candidates(&[0b1111_0000], 2)), ["a", "b"]);
    }

    #[test]
    fn a_removed_entry_is_never_a_candidate_and_the_others_keep_their_codes() {
        let mut index = abc();
        assert!(index.remove("a"));
        assert!(!index.remove("a"), "only once");
        assert!(!index.contains("a"));
        assert_eq!(index.len(), 2);
        assert_eq!(ids(index.candidates(&[0b0000_1111], 3)), ["c", "b"]);
        assert_eq!(ids(index.candidates(&[0b1111_0000], 1)), ["b"]);
        // The moved entry is still replaced in its new slot, and the last one removes cleanly.
        index.apply(vec![entry("c", 0b1111_0000, 4)]);
        assert_eq!(
            ids(index.candidates(&[0b1111_0000], 1)),
            ["c"],
            "c (now in a's slot, before b's) took its new code"
        );
        assert!(index.remove("b") && index.remove("c"));
        assert_eq!(index.len(), 0);
        assert!(index.candidates(&[0b1111_0000], 1).is_empty());
        index.apply(vec![entry("a", 0b0000_1111, 5)]);
        assert_eq!(
            ids(index.candidates(&[0b0000_1111], 1)),
            ["a"],
            "back after a restore"
        );
    }

    #[test]
    fn a_rebuild_is_claimed_once_when_due_and_again_after_a_failure() {
        let mut index = UserIndex::new();
        assert!(!index.claim_rebuild(Duration::from_secs(60)));
        assert!(index.claim_rebuild(Duration::ZERO));
        assert!(!index.claim_rebuild(Duration::ZERO));
        index.rebuild_failed();
        assert!(index.claim_rebuild(Duration::ZERO));
    }
}
