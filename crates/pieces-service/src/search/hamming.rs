//! The nearest codes by Hamming distance. A full pass over a million 384-bit codes reads 48 MB
//! and costs several milliseconds however tight the loop, so a large index is searched in
//! two stages: a first pass over each code's first 128 bits (16 MB for a million) keeps the
//! best `count * 16` (at least 2,048), and only those are compared on all their bits.

/// Words of the first stage.
pub const HEAD_WORDS: usize = 2;
/// Below this many codes one full pass is cheap enough.
const TWO_STAGES_FROM: usize = 20_000;
/// First-stage survivors per wanted code, and at least this many.
const SURVIVORS_PER_RESULT: usize = 16;
const MIN_SURVIVORS: usize = 2_048;

/// Codes of `words` 64-bit words each, side by side, and the first `HEAD_WORDS` words of
/// each in `heads`.
#[derive(Clone, Copy)]
pub struct Codes<'a> {
    pub codes: &'a [u64],
    pub heads: &'a [u64],
    pub words: usize,
}

/// The `count` slots nearest to `query` as (distance, slot), nearest first; ties go to the
/// lower slot.
pub fn nearest(codes: Codes<'_>, query: &[u64], count: usize) -> Vec<(u32, u32)> {
    if count == 0 || codes.words == 0 || query.len() != codes.words {
        return Vec::new();
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("popcnt") {
        // SAFETY: the processor was just found to have POPCNT.
        return unsafe { nearest_with_popcnt(codes, query, count) };
    }
    nearest_by_passes(codes, query, count)
}

/// The search compiled with the POPCNT instruction: without it, counting a word's bits takes
/// about fifteen instructions. What the passes call in their loops is `inline(always)`, so it
/// is compiled with the instruction too.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn nearest_with_popcnt(codes: Codes<'_>, query: &[u64], count: usize) -> Vec<(u32, u32)> {
    nearest_by_passes(codes, query, count)
}

#[inline(always)]
fn nearest_by_passes(codes: Codes<'_>, query: &[u64], count: usize) -> Vec<(u32, u32)> {
    let Codes {
        codes,
        heads,
        words,
    } = codes;
    if codes.len() / words < TWO_STAGES_FROM || words <= HEAD_WORDS {
        return scan(codes.chunks_exact(words), query, count);
    }
    let survivors = (count * SURVIVORS_PER_RESULT).max(MIN_SURVIVORS);
    let mut first = scan(
        heads.chunks_exact(HEAD_WORDS),
        &query[..HEAD_WORDS],
        survivors,
    );
    // In slot order, so ties still go to the lower slot and memory is read forwards.
    first.sort_unstable_by_key(|&(_, slot)| slot);
    let mut best = Nearest::new(count);
    for (_, slot) in first {
        let at = slot as usize * words;
        best.offer(distance(&codes[at..at + words], query), slot);
    }
    best.finish()
}

/// One pass over `codes` (in slot order) keeping the `count` nearest to `query`.
#[inline(always)]
fn scan<'a>(
    codes: impl Iterator<Item = &'a [u64]>,
    query: &[u64],
    count: usize,
) -> Vec<(u32, u32)> {
    let mut best = Nearest::new(count);
    for (slot, code) in codes.enumerate() {
        best.offer(distance(code, query), slot as u32);
    }
    best.finish()
}

#[inline(always)]
fn distance(code: &[u64], query: &[u64]) -> u32 {
    code.iter()
        .zip(query)
        .map(|(a, b)| (a ^ b).count_ones())
        .sum()
}

/// The `count` smallest (distance, slot) pairs of a stream whose slots ascend, at a constant
/// cost per pair: pairs nearer than the worst of the last selection are gathered, and each
/// time `count * GATHER` are held the best `count` are selected (a heap would pay a
/// logarithm on every replacement, and a large first stage makes many).
struct Nearest {
    count: usize,
    kept: Vec<(u32, u32)>,
    /// Only a distance below this can still be among the best; a pair at this distance
    /// arrives after those kept, so loses the tie.
    bound: u32,
}

const GATHER: usize = 4;

impl Nearest {
    fn new(count: usize) -> Self {
        Self {
            count,
            kept: Vec::with_capacity(count * GATHER),
            bound: u32::MAX,
        }
    }

    #[inline(always)]
    fn offer(&mut self, distance: u32, slot: u32) {
        if distance < self.bound {
            self.kept.push((distance, slot));
            if self.kept.len() == self.count * GATHER {
                self.select();
                self.bound = self.kept[self.count - 1].0;
            }
        }
    }

    fn select(&mut self) {
        if self.kept.len() > self.count {
            self.kept.select_nth_unstable(self.count - 1);
            self.kept.truncate(self.count);
        }
    }

    fn finish(mut self) -> Vec<(u32, u32)> {
        self.select();
        self.kept.sort_unstable();
        self.kept
    }
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
            let all = Codes {
                codes: &codes,
                heads: &heads,
                words,
            };
            let fast = nearest(all, &query, 10);
            let exact = scan(codes.chunks_exact(words), &query, 10);
            assert_eq!(fast[0].1 as usize, target);
            assert_eq!(fast[0], exact[0]);
        }
    }

    #[test]
    fn a_pass_keeps_exactly_what_sorting_everything_keeps_ties_to_the_lower_slot() {
        // One-byte codes: distances 0 to 8, so most pairs tie.
        let mut state = 0x2545_f491_4f6c_dd1d;
        let codes: Vec<u64> = (0..5_000).map(|_| next(&mut state) & 0xff).collect();
        let query = [0x5a];
        for count in [1, 7, 100, 1_250, 4_999, 6_000] {
            let mut all: Vec<(u32, u32)> = codes
                .iter()
                .enumerate()
                .map(|(slot, c)| ((c ^ query[0]).count_ones(), slot as u32))
                .collect();
            all.sort_unstable();
            all.truncate(count);
            let one_word = Codes {
                codes: &codes,
                heads: &codes,
                words: 1,
            };
            assert_eq!(nearest(one_word, &query, count), all, "count {count}");
        }
    }
}
