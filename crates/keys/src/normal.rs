//! A portable standard normal distribution, discretised to 4096 equiprobable levels.
//!
//! The chaotic network needs tens of millions of N(0, 1) weights per key, and the same key
//! must give bit-identical weights on every machine. Library samplers (and `f64::ln`,
//! `f64::exp`, `f64::cos`, which call the platform's libm) do not promise that, so this module
//! defines its own method:
//!
//! * a weight is drawn from 12 uniformly random bits `k` (two weights per three bytes of
//!   keystream, see [`crate::net`]);
//! * its value is `QUANTILES[k] = Φ⁻¹((k + ½) / 4096)`, the normal quantile at the middle of
//!   the `k`-th of 4096 equally likely slices (inverse-transform sampling of a normal
//!   distribution discretised to 4096 levels: the Kolmogorov distance to N(0, 1) is at most
//!   2⁻¹³, the support ends at ±3.67 and the variance is 0.9997);
//! * the table is computed once, with IEEE-754 `+ - * /` only (Rust never fuses or reorders
//!   them), so every conforming machine computes the same bits; a golden test pins its hash.
//!
//! One small table lookup per weight, instead of a logarithm and a cosine for Box-Muller, is
//! what lets a 1024 × 1024 × 51 network be evaluated in milliseconds. Why 4096 levels and not
//! 65 536: the network's table of weight values then fits in 16 KiB, in the processor's
//! first-level cache (with 65 536 levels, 512 KiB as `f64`, every lookup missed it and one key
//! derivation took 40 % longer), and 12 bits per weight need a quarter less keystream than 16.

use std::sync::OnceLock;

/// Number of levels of the discretised normal distribution (one per 12-bit value).
pub const LEVELS: usize = 1 << 12;

/// 1 / sqrt(2π), correctly rounded.
const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

/// `exp(y)` for `-20 <= y <= 0`, with basic arithmetic only (portable to the last bit).
///
/// exp(y) = exp(y / 2¹⁰)^(2¹⁰): a 14-term Taylor series on a tiny argument, then ten squarings.
/// The relative error is about 1e-13, ample for a table whose entries are 1/4096 apart in
/// probability.
fn portable_exp(y: f64) -> f64 {
    let r = y / 1024.0;
    let mut term = 1.0;
    let mut sum = 1.0;
    for n in 1..=14 {
        term = term * r / f64::from(n);
        sum += term;
    }
    for _ in 0..10 {
        sum *= sum;
    }
    sum
}

/// The standard normal density.
fn density(x: f64) -> f64 {
    INV_SQRT_2PI * portable_exp(-0.5 * x * x)
}

/// Φ(x) − ½ for `0 <= x <= 5`, from the everywhere-positive series
/// Φ(x) − ½ = φ(x) Σ x^(2n+1) / (1·3·5···(2n+1)) (no cancellation).
fn cdf_minus_half(x: f64) -> f64 {
    let x2 = x * x;
    let mut term = x;
    let mut sum = x;
    let mut n = 0_u32;
    // The terms peak near n ≈ x² and then fall faster than geometrically.
    while n < 200 {
        n += 1;
        term = term * x2 / f64::from(2 * n + 1);
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    density(x) * sum
}

fn compute_quantiles() -> Vec<f64> {
    let mut table = vec![0.0; LEVELS];
    let half = LEVELS / 2;
    let mut x = 0.0_f64;
    for k in half..LEVELS {
        // p − ½ for the middle of slice k; exact in binary floating point.
        let target = ((k - half) as f64 + 0.5) / LEVELS as f64;
        // Newton's method from the previous quantile, a fixed number of steps so the result
        // does not depend on a convergence test.
        for _ in 0..6 {
            x += (target - cdf_minus_half(x)) / density(x);
        }
        table[k] = x;
        table[LEVELS - 1 - k] = -x;
    }
    table
}

/// The 4096 quantiles, computed on first use (a few milliseconds) and shared.
pub fn quantiles() -> &'static [f64] {
    static TABLE: OnceLock<Vec<f64>> = OnceLock::new();
    TABLE.get_or_init(compute_quantiles)
}

/// The two 12-bit levels packed in three keystream bytes: the first is `b0` and the low
/// nibble of `b1` (as bits 8..12), the second the high nibble of `b1` and `b2` (as bits 4..12).
#[inline]
pub fn unpack_levels(b0: u8, b1: u8, b2: u8) -> (usize, usize) {
    (
        usize::from(b0) | usize::from(b1 & 0x0f) << 8,
        usize::from(b1 >> 4) | usize::from(b2) << 4,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_libm_closely() {
        for i in 0..=200 {
            let y = -f64::from(i) * 0.1;
            let rel = (portable_exp(y) - y.exp()).abs() / y.exp();
            assert!(rel < 1e-11, "exp({y}) relative error {rel}");
        }
    }

    #[test]
    fn table_is_a_standard_normal() {
        let t = quantiles();
        assert!(t.windows(2).all(|w| w[0] < w[1]), "quantiles must increase");
        let mean: f64 = t.iter().sum::<f64>() / LEVELS as f64;
        let var: f64 = t.iter().map(|x| x * x).sum::<f64>() / LEVELS as f64;
        assert!(mean.abs() < 1e-12, "mean {mean}");
        assert!((var - 0.99968).abs() < 1e-5, "variance {var}");
        // Known quantiles: Φ⁻¹(0.975) = 1.959964, slice containing it.
        let k = (0.975 * LEVELS as f64) as usize;
        assert!((t[k] - 1.959_964).abs() < 1e-3, "{}", t[k]);
        assert!((t[LEVELS - 1] - 3.67).abs() < 0.01, "{}", t[LEVELS - 1]);
    }
}
