//! How vectors are kept: each unit vector as one signed byte per dimension (the exact ranking)
//! and one bit per dimension (its sign, for a fast first pass by Hamming distance). A 384-
//! dimension vector costs 384 + 48 bytes stored, and 48 bytes in the search index.

/// Scales a vector to unit length; a zero vector stays zero.
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// One signed byte per dimension, scaled so the largest component is ±127. Cosine similarity
/// is invariant to the scale, so none is stored.
pub fn to_bytes(v: &[f32]) -> Vec<i8> {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    if max == 0.0 {
        return vec![0; v.len()];
    }
    let scale = 127.0 / max;
    v.iter().map(|x| (x * scale).round() as i8).collect()
}

/// The sign bit of each dimension, eight per byte, lowest dimension in the lowest bit.
pub fn sign_bits(v: &[f32]) -> Vec<u8> {
    let mut bits = vec![0u8; v.len().div_ceil(8)];
    for (i, x) in v.iter().enumerate() {
        if *x > 0.0 {
            bits[i / 8] |= 1 << (i % 8);
        }
    }
    bits
}

/// Sign bits as 64-bit words, for counting differing bits a word at a time.
pub fn words(bits: &[u8]) -> impl Iterator<Item = u64> + '_ {
    bits.chunks(8).map(|chunk| {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        u64::from_le_bytes(word)
    })
}

/// Cosine similarity of a unit query and a stored byte vector.
pub fn cosine(query: &[f32], stored: &[i8]) -> f32 {
    if query.len() != stored.len() {
        return 0.0;
    }
    let (dot, norm) = query
        .iter()
        .zip(stored)
        .fold((0f32, 0f32), |(dot, norm), (q, s)| {
            let s = f32::from(*s);
            (dot + q * s, norm + s * s)
        });
    if norm == 0.0 {
        0.0
    } else {
        dot / norm.sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_keep_the_ranking_of_the_floats() {
        let mut q = vec![0.3, -0.2, 0.9, 0.1];
        let mut near = vec![0.25, -0.1, 0.95, 0.0];
        let mut far = vec![-0.8, 0.5, 0.1, 0.3];
        for v in [&mut q, &mut near, &mut far] {
            normalize(v);
        }
        let exact = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        assert!((cosine(&q, &to_bytes(&near)) - exact(&q, &near)).abs() < 0.01);
        assert!(cosine(&q, &to_bytes(&near)) > cosine(&q, &to_bytes(&far)));
    }

    #[test]
    fn sign_bits_pack_eight_dimensions_a_byte() {
        let v: Vec<f32> = (0..10)
            .map(|i| if i % 3 == 0 { 1.0 } else { -1.0 })
            .collect();
        assert_eq!(sign_bits(&v), vec![0b0100_1001, 0b10]);
        assert_eq!(
            words(&sign_bits(&v)).collect::<Vec<_>>(),
            vec![0b10_0100_1001]
        );
    }
}
