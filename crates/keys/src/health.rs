//! NIST SP 800-90B continuous health tests for a raw bit stream (section 4.4).
//!
//! Both tests are parameterised by the min-entropy per bit `H` that the source *claims*
//! and by the false-alarm probability `alpha = 2⁻²⁰`:
//!
//! * Repetition Count Test: fails when one value repeats `C = 1 + ⌈20 / H⌉` times in a row
//!   (a stuck source).
//! * Adaptive Proportion Test: in each window of `W = 1024` bits, counts how often the window's
//!   first bit occurs; fails when the count reaches `C = 1 + CRITBINOM(W, 2^-H, 1 − alpha)`
//!   (a source far more biased than claimed).
//!
//! For `H = 1` the cutoffs are 21 and 589, for `H = 0.5` they are 41 and 793.

/// `-log2(alpha)`: the tests' false-alarm probability is 2⁻²⁰.
pub const ALPHA_LOG2: f64 = 20.0;

/// Window of the Adaptive Proportion Test for binary samples.
pub const APT_WINDOW: usize = 1024;

/// Why raw bits were refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum HealthError {
    /// The declared min-entropy per bit is not in (0, 1].
    #[error("declared min-entropy per bit is {0}; it must be a number in (0, 1]")]
    BadMinEntropy(f64),
    /// A value repeated too often: the source looks stuck.
    #[error(
        "repetition count test failed (NIST SP 800-90B 4.4.1): bit {value} repeated {run} times \
         in a row ending at bit {position}, cutoff {cutoff} for the declared min-entropy: the \
         source looks stuck"
    )]
    RepetitionCount {
        /// The repeated bit.
        value: bool,
        /// Length of the run when it reached the cutoff.
        run: usize,
        /// The cutoff.
        cutoff: usize,
        /// Index of the bit where the test failed.
        position: usize,
    },
    /// One value was far too frequent in a window: the source is more biased than declared.
    #[error(
        "adaptive proportion test failed (NIST SP 800-90B 4.4.2): bit {value} occurred {count} \
         times in the window of {window} starting at bit {window_start}, cutoff {cutoff}: the \
         source is more biased than its declared min-entropy allows"
    )]
    AdaptiveProportion {
        /// The over-represented bit.
        value: bool,
        /// Its count when it reached the cutoff.
        count: usize,
        /// The window size.
        window: usize,
        /// Index of the window's first bit.
        window_start: usize,
        /// The cutoff.
        cutoff: usize,
    },
}

fn check_min_entropy(h: f64) -> Result<f64, HealthError> {
    if h.is_finite() && h > 0.0 && h <= 1.0 {
        Ok(h)
    } else {
        Err(HealthError::BadMinEntropy(h))
    }
}

/// Repetition Count Test cutoff, `1 + ⌈-log2(alpha) / H⌉`.
pub fn repetition_count_cutoff(min_entropy_per_bit: f64) -> Result<usize, HealthError> {
    let h = check_min_entropy(min_entropy_per_bit)?;
    Ok(1 + (ALPHA_LOG2 / h).ceil() as usize)
}

/// Adaptive Proportion Test cutoff for binary samples and window `window`:
/// `1 + CRITBINOM(window, 2^-H, 1 − alpha)`, where CRITBINOM(n, p, q) is the smallest `k` with
/// `P(Binomial(n, p) <= k) >= q`.
pub fn adaptive_proportion_cutoff(
    min_entropy_per_bit: f64,
    window: usize,
) -> Result<usize, HealthError> {
    let h = check_min_entropy(min_entropy_per_bit)?;
    let p = (-h).exp2();
    let alpha = (-ALPHA_LOG2).exp2();
    // log of every binomial probability, then the upper tail summed from the top (where the
    // terms are smallest) so the comparison with 2⁻²⁰ is not lost in rounding.
    let n = window;
    let mut ln_choose = vec![0.0_f64; n + 1];
    for k in 1..=n {
        ln_choose[k] = ln_choose[k - 1] + ((n - k + 1) as f64).ln() - (k as f64).ln();
    }
    let ln_p = p.ln();
    let ln_q = (1.0 - p).ln();
    let pmf = |k: usize| -> f64 {
        let ln_q_part = if n - k == 0 {
            0.0
        } else {
            (n - k) as f64 * ln_q
        };
        (ln_choose[k] + k as f64 * ln_p + ln_q_part).exp()
    };
    // tail = P(X > k); find the smallest k with tail <= alpha.
    let mut tail = 0.0;
    let mut k = n;
    while k > 0 {
        let next_tail = tail + pmf(k);
        if next_tail > alpha {
            break;
        }
        tail = next_tail;
        k -= 1;
    }
    Ok(1 + k)
}

/// Both continuous health tests, with cutoffs for one declared min-entropy per bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthTests {
    /// Repetition Count Test cutoff.
    pub rct_cutoff: usize,
    /// Adaptive Proportion Test cutoff.
    pub apt_cutoff: usize,
    /// Adaptive Proportion Test window.
    pub apt_window: usize,
}

impl HealthTests {
    /// The tests for a source that claims `min_entropy_per_bit` (in (0, 1]).
    pub fn new(min_entropy_per_bit: f64) -> Result<Self, HealthError> {
        Ok(Self {
            rct_cutoff: repetition_count_cutoff(min_entropy_per_bit)?,
            apt_cutoff: adaptive_proportion_cutoff(min_entropy_per_bit, APT_WINDOW)?,
            apt_window: APT_WINDOW,
        })
    }

    /// Runs both tests over `bits` (one sample per bit, in the order measured).
    pub fn check(&self, bits: &[bool]) -> Result<(), HealthError> {
        let mut run = 0_usize;
        let mut previous = None;
        for (position, &bit) in bits.iter().enumerate() {
            run = if previous == Some(bit) { run + 1 } else { 1 };
            previous = Some(bit);
            if run >= self.rct_cutoff {
                return Err(HealthError::RepetitionCount {
                    value: bit,
                    run,
                    cutoff: self.rct_cutoff,
                    position,
                });
            }
        }
        for (w, window) in bits.chunks(self.apt_window).enumerate() {
            let Some(&first) = window.first() else {
                continue;
            };
            let count = window.iter().filter(|&&b| b == first).count();
            if count >= self.apt_cutoff {
                return Err(HealthError::AdaptiveProportion {
                    value: first,
                    count,
                    window: self.apt_window,
                    window_start: w * self.apt_window,
                    cutoff: self.apt_cutoff,
                });
            }
        }
        Ok(())
    }
}

/// Min-entropy per bit of a bit that is 1 with probability `p_one`: `-log2(max(p0, p1))`.
pub fn min_entropy_of_bias(p_one: f64) -> f64 {
    -(p_one.max(1.0 - p_one)).log2()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutoffs_match_the_computed_figures() {
        assert_eq!(repetition_count_cutoff(1.0), Ok(21));
        assert_eq!(adaptive_proportion_cutoff(1.0, 1024), Ok(589));
        assert_eq!(repetition_count_cutoff(0.5), Ok(41));
        assert_eq!(adaptive_proportion_cutoff(0.5, 1024), Ok(793));
    }

    #[test]
    fn bad_min_entropy_is_refused() {
        for h in [0.0, -1.0, 1.5, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                HealthTests::new(h),
                Err(HealthError::BadMinEntropy(_))
            ));
        }
    }

    #[test]
    fn stuck_and_biased_streams_fail() {
        let tests = HealthTests::new(0.5).expect("valid");
        let stuck = vec![false; 100];
        assert!(matches!(
            tests.check(&stuck),
            Err(HealthError::RepetitionCount { run: 41, .. })
        ));
        // 7 ones then 1 zero: no long runs, but 87.5 % ones > 793/1024.
        let biased: Vec<bool> = (0..2048).map(|i| i % 8 != 7).collect();
        assert!(matches!(
            tests.check(&biased),
            Err(HealthError::AdaptiveProportion { .. })
        ));
        // Alternating bits pass both tests.
        let alternating: Vec<bool> = (0..4096).map(|i| i % 2 == 0).collect();
        assert_eq!(tests.check(&alternating), Ok(()));
    }
}
