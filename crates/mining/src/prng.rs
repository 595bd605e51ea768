//! The portable randomness of proof of training: every random choice (initial weights, batch
//! order, audited segments) is a ChaCha20 stream keyed by SHA-256 of a domain tag and the
//! block's seed, turned into numbers by the integer-only formulas below.
//!
//! Nothing here uses a backend's RNG or a floating-point library function, so the same seed
//! gives the same bits on every machine, backend and thread count.
//!
//! - Stream: `ChaCha20Rng::from_seed(SHA-256(tag || seed || index as u64 LE))`, words read with
//!   `next_u32` (rand_chacha's little-endian word order).
//! - Uniform `f32` in `[-b, b)`: `u = (x >> 8) * 2^-24` (exact, 24 bits), then
//!   `(2u - 1) * b` (the subtraction is exact; the one multiplication rounds to nearest-even).
//! - Uniform integer below `n`: draw `x` until `x >= 2^32 mod n`, return `x mod n` (rejection,
//!   no bias).
//! - Permutation of `0..n`: Fisher-Yates from `i = n-1` down to `1`, swapping `i` with a
//!   uniform integer below `i + 1`.

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

/// Domain tag of the initial-weights stream.
pub const INIT_TAG: &[u8] = b"blockchain-ann/init-weights/v1";
/// Domain tag of the per-epoch batch-order streams.
pub const BATCH_ORDER_TAG: &[u8] = b"blockchain-ann/batch-order/v1";
/// Domain tag of the audit-challenge stream (keyed by the audit challenge).
pub const AUDIT_TAG: &[u8] = b"blockchain-ann/audit/v2";

/// A deterministic ChaCha20 stream for `(tag, seed, index)`.
pub fn stream(tag: &[u8], seed: &[u8; 32], index: u64) -> ChaCha20Rng {
    let mut hasher = Sha256::new();
    hasher.update(tag);
    hasher.update(seed);
    hasher.update(index.to_le_bytes());
    ChaCha20Rng::from_seed(hasher.finalize().into())
}

/// A uniform `f32` in `[-bound, bound)` (formula in the module docs).
pub fn uniform_symmetric(rng: &mut ChaCha20Rng, bound: f32) -> f32 {
    let u = (rng.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0);
    (2.0 * u - 1.0) * bound
}

/// A uniform integer in `0..n` by rejection sampling; `n` must be at least 1.
pub fn uniform_below(rng: &mut ChaCha20Rng, n: u32) -> u32 {
    debug_assert!(n > 0);
    let n = n.max(1);
    // 2^32 mod n: values below it would make the low residues more likely.
    let threshold = n.wrapping_neg() % n;
    loop {
        let x = rng.next_u32();
        if x >= threshold {
            return x % n;
        }
    }
}

/// A uniform integer in `0..n` by rejection sampling, for ranges past `u32`; `n` must be at
/// least 1.
pub fn uniform_below_u64(rng: &mut ChaCha20Rng, n: u64) -> u64 {
    debug_assert!(n > 0);
    let n = n.max(1);
    let threshold = n.wrapping_neg() % n;
    loop {
        let x = rng.next_u64();
        if x >= threshold {
            return x % n;
        }
    }
}

/// A uniformly random permutation of `0..n` (Fisher-Yates).
pub fn permutation(rng: &mut ChaCha20Rng, n: u32) -> Vec<u32> {
    let mut items: Vec<u32> = (0..n).collect();
    for i in (1..n).rev() {
        let j = uniform_below(rng, i + 1);
        items.swap(i as usize, j as usize);
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_stays_in_range_and_uses_both_signs() {
        let mut rng = stream(INIT_TAG, &[7; 32], 0);
        let draws: Vec<f32> = (0..10_000)
            .map(|_| uniform_symmetric(&mut rng, 0.5))
            .collect();
        assert!(draws.iter().all(|&x| (-0.5..0.5).contains(&x)));
        assert!(draws.iter().any(|&x| x < -0.45) && draws.iter().any(|&x| x > 0.45));
    }

    #[test]
    fn permutation_is_a_permutation_and_depends_on_the_seed() {
        let a = permutation(&mut stream(BATCH_ORDER_TAG, &[1; 32], 0), 1000);
        let b = permutation(&mut stream(BATCH_ORDER_TAG, &[2; 32], 0), 1000);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
        assert_ne!(a, b);
        assert_ne!(a, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn streams_are_separated_by_tag_and_index() {
        let mut a = stream(INIT_TAG, &[0; 32], 0);
        let mut b = stream(BATCH_ORDER_TAG, &[0; 32], 0);
        let mut c = stream(INIT_TAG, &[0; 32], 1);
        let (x, y, z) = (a.next_u64(), b.next_u64(), c.next_u64());
        assert!(x != y && x != z && y != z);
    }

    #[test]
    fn uniform_below_covers_every_residue() {
        let mut rng = stream(AUDIT_TAG, &[3; 32], 0);
        let mut seen = [false; 7];
        for _ in 0..1000 {
            seen[uniform_below(&mut rng, 7) as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }
}
