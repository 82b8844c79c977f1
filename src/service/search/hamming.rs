//! The nearest codes by Hamming distance. A full pass over a million 384-bit codes reads 48 MB
//! and costs several milliseconds however tight the loop, so a large index is searched in
//! two stages: a first pass over each code's first 128 bits (16 MB for a million) keeps the
//! best `count * 16` (at least 2,048), and only those are compared on all their bits.

use std::collections::BinaryHeap;

/// Words of the first stage.
pub const HEAD_WORDS: usize = 2;
/// Below this many codes one full pass is cheap enough.
const TWO_STAGES_FROM: usize = 20_000;
/// First-stage survivors per wanted code, and at least this many.
const SURVIVORS_PER_RESULT: usize = 16;
const MIN_SURVIVORS: usize = 2_048;

/// The `count` slots nearest to `query` as (distance, slot), nearest first; ties go to the
/// lower slot. `heads` holds the first `HEAD_WORDS` words of each of the codes.
pub fn nearest(
    codes: &[u64],
    heads: &[u64],
    words: usize,
    query: &[u64],
    count: usize,
) -> Vec<(u32, u32)> {
    let entries = codes.len() / words.max(1);
    let mut best = if entries < TWO_STAGES_FROM || words <= HEAD_WORDS {
        scan_all(codes, words, query, count)
    } else {
        let survivors = (count * SURVIVORS_PER_RESULT).max(MIN_SURVIVORS);
        let first = scan_heads(heads, &query[..HEAD_WORDS], survivors);
        let mut refined: BinaryHeap<(u32, u32)> = BinaryHeap::with_capacity(count + 1);
        for (_, slot) in first {
            let at = slot as usize * words;
            keep(
                &mut refined,
                count,
                distance(&codes[at..at + words], query),
                slot,
            );
        }
        refined.into_vec()
    };
    best.sort_unstable();
    best
}

fn distance(code: &[u64], query: &[u64]) -> u32 {
    code.iter()
        .zip(query)
        .map(|(a, b)| (a ^ b).count_ones())
        .sum()
}

/// Keeps the `count` smallest (distance, slot) in a max-heap whose top is the worst kept.
#[inline(always)]
fn keep(best: &mut BinaryHeap<(u32, u32)>, count: usize, distance: u32, slot: u32) {
    if best.len() < count {
        best.push((distance, slot));
    } else if best.peek().is_some_and(|worst| (distance, slot) < *worst) {
        best.pop();
        best.push((distance, slot));
    }
}

fn scan_all(codes: &[u64], words: usize, query: &[u64], count: usize) -> Vec<(u32, u32)> {
    with_popcnt(|| {
        let mut best = BinaryHeap::with_capacity(count + 1);
        for (slot, code) in codes.chunks_exact(words).enumerate() {
            keep(&mut best, count, distance(code, query), slot as u32);
        }
        best.into_vec()
    })
}

fn scan_heads(heads: &[u64], query: &[u64], count: usize) -> Vec<(u32, u32)> {
    let (q0, q1) = (query[0], query[1]);
    with_popcnt(|| {
        let mut best = BinaryHeap::with_capacity(count + 1);
        let mut worst = u32::MAX;
        for (slot, head) in heads.chunks_exact(HEAD_WORDS).enumerate() {
            let d = (head[0] ^ q0).count_ones() + (head[1] ^ q1).count_ones();
            // Most codes lose to the worst kept: one comparison, no heap.
            if d < worst || best.len() < count {
                keep(&mut best, count, d, slot as u32);
                if best.len() == count {
                    worst = best.peek().map_or(u32::MAX, |w: &(u32, u32)| w.0 + 1);
                }
            }
        }
        best.into_vec()
    })
}

/// Runs `scan` compiled with the POPCNT instruction where the processor has it (detected at
/// run time): without it, counting a word's bits takes about fifteen instructions.
#[inline(always)]
fn with_popcnt<T>(scan: impl FnOnce() -> T) -> T {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("popcnt") {
        // SAFETY: the processor was just found to have POPCNT.
        return unsafe { popcnt(scan) };
    }
    scan()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn popcnt<T>(scan: impl FnOnce() -> T) -> T {
    scan()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator, so the test needs no crate.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn two_stages_find_what_one_full_pass_finds() {
        let (words, n) = (6, 50_000);
        let mut state = 0x9e37_79b9_7f4a_7c15;
        let codes: Vec<u64> = (0..n * words).map(|_| next(&mut state)).collect();
        let heads: Vec<u64> = codes
            .chunks_exact(words)
            .flat_map(|c| c[..HEAD_WORDS].to_vec())
            .collect();
        // Queries near some stored codes: a few bits flipped.
        for target in [7usize, 12_345, 49_999] {
            let mut query = codes[target * words..(target + 1) * words].to_vec();
            query[0] ^= 0b1011;
            query[5] ^= 1 << 40;
            let fast = nearest(&codes, &heads, words, &query, 10);
            let exact = scan_all(&codes, words, &query, 10);
            assert_eq!(fast[0].1 as usize, target);
            let mut exact = exact;
            exact.sort_unstable();
            assert_eq!(fast[0], exact[0]);
        }
    }
}
