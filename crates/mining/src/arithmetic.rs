//! The integer-exact arithmetic of the training step: fixed-point formats, the softmax table,
//! and the bounds that make every matrix product exact in `f32` on every backend.
//!
//! # Why the result does not depend on the backend
//!
//! Every operand of every matrix product is an integer (or an integer times a power of two),
//! and the sum of the absolute values of the products in each dot product stays below
//! `2^24`. Then every partial sum, in any order, with or without fused multiply-add, with any
//! blocking or split-K, is an integer below `2^24`, which `f32` represents exactly: no
//! rounding ever happens, so gemm on a CPU and a tiled kernel on a GPU return the same
//! integers. Every operand is at most 2047 in magnitude, so the products are exact with
//! TF32 or `f16` operands too. Power-of-two scaling, `floor`, `clamp`, ReLU, comparisons and
//! integer division are exact as well; the step uses nothing else (no `exp`, `log` or float
//! division: the softmax comes from [`SOFTMAX_TABLE`]).
//!
//! [`Arithmetic::bounds`] recomputes each product's worst case from the constants, and
//! [`Arithmetic::validate`] refuses constants that break one, so a task that would round
//! cannot be built. `docs/proof-of-training.md` states the step and the bounds table.

/// `2^24`: every integer of smaller magnitude is exact in `f32`.
pub const F32_EXACT: i64 = 1 << 24;

/// The largest operand magnitude that stays exact when a GPU rounds matrix operands to TF32
/// or `f16` (11 significant bits).
pub const TENSOR_CORE_EXACT: i64 = 2047;

/// The softmax's fixed point: probabilities are integers in `0..=SOFTMAX_ONE`.
pub const SOFTMAX_ONE: i64 = 1024;

/// Right shift from a logit difference to a [`SOFTMAX_TABLE`] index (logits are in units of
/// `2^-14`, the table in steps of `1/16`).
pub const SOFTMAX_INDEX_SHIFT: u32 = 10;

/// `exp` as 256 integer constants: entry `i` is `round(2^15 * exp(-(i + 1/2) / 16))`, the
/// unnormalised weight of a class whose logit is `i/16 .. (i+1)/16` below the row's maximum.
/// Hard-coded because it is consensus: a platform's `exp` must not decide a block.
pub const SOFTMAX_TABLE: [i32; 256] = [
    31760, 29836, 28028, 26330, 24735, 23236, 21828, 20506, 19263, 18096, 17000, 15970, 15002,
    14093, 13239, 12437, 11684, 10976, 10311, 9686, 9099, 8548, 8030, 7544, 7087, 6657, 6254, 5875,
    5519, 5185, 4871, 4575, 4298, 4038, 3793, 3563, 3347, 3145, 2954, 2775, 2607, 2449, 2301, 2161,
    2030, 1907, 1792, 1683, 1581, 1485, 1395, 1311, 1231, 1157, 1087, 1021, 959, 901, 846, 795,
    747, 702, 659, 619, 582, 546, 513, 482, 453, 426, 400, 376, 353, 331, 311, 292, 275, 258, 242,
    228, 214, 201, 189, 177, 167, 157, 147, 138, 130, 122, 115, 108, 101, 95, 89, 84, 79, 74, 69,
    65, 61, 58, 54, 51, 48, 45, 42, 40, 37, 35, 33, 31, 29, 27, 26, 24, 23, 21, 20, 19, 18, 17, 16,
    15, 14, 13, 12, 11, 11, 10, 9, 9, 8, 8, 7, 7, 6, 6, 6, 5, 5, 5, 4, 4, 4, 4, 3, 3, 3, 3, 3, 3,
    2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0,
];

/// A fixed-point master parameter: an integer `m` whose quantised value, the one the products
/// use, is `floor(m / 2^fraction_bits)`, kept in `-max ..= max` (bias: `-max ..= max - 1`) by
/// clamping `m` after every update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fixed {
    /// Bits below the quantised value's unit.
    pub fraction_bits: u32,
    /// Largest magnitude of the quantised value.
    pub max: i64,
    /// Whether the quantised range is symmetric (`-max..=max`, weights) or two's-complement
    /// style (`-max..=max-1`, biases).
    pub symmetric: bool,
}

impl Fixed {
    /// The smallest master value.
    pub fn master_min(self) -> i64 {
        -(self.max << self.fraction_bits)
    }

    /// The largest master value.
    pub fn master_max(self) -> i64 {
        let top = if self.symmetric {
            self.max + 1
        } else {
            self.max
        };
        (top << self.fraction_bits) - 1
    }

    /// The largest master magnitude.
    pub fn master_abs_max(self) -> i64 {
        self.master_min().abs().max(self.master_max().abs())
    }

    /// `2^-fraction_bits`: the factor from a master integer to its device value.
    pub fn scale(self) -> f32 {
        (-(self.fraction_bits as f32)).exp2()
    }
}

/// The constants of the exact training step (part of the task, so of the task id).
///
/// One step on a batch `X [B, 784]` (inputs), labels `y`:
///
/// ```text
/// W1q = floor(M1 / 2^f1)   W2q = floor(M2 / 2^f2)   b1 = floor(C1 / 2^g1)   b2 = floor(C2 / 2^g2)
/// H   = clamp(floor((X W1q + b1 + 2^(hs-1)) / 2^hs), 0, hmax)
/// Z   = H W2q + b2
/// e   = TABLE[min(floor((rowmax(Z) - Z) / 2^10), 255)]
/// P   = floor((floor(e 2^11 / rowsum(e)) + 1) / 2)                 (probabilities, 1024 = 1)
/// G   = P - T,   T = ls on every class, 1024 - 9 ls on the label   (label smoothing)
/// D   = clamp(floor((G W2q^T + 2^(ds-1)) / 2^ds), -dmax, dmax) * [H > 0]
/// M2 -= H^T G          C2 -= 2^u2 colsum(G)
/// M1 -= X^T D          C1 -= 2^u1 colsum(D)      (each master then clamped to its range)
/// ```
///
/// In real units the step is SGD with learning rate 1/4 on the mean loss of a batch of 64.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arithmetic {
    /// Input `x = (pixel >> input_shift) - input_offset`.
    pub input_shift: u32,
    /// See `input_shift`.
    pub input_offset: i64,
    /// `M1` / `W1q` (hidden weights).
    pub hidden_weight: Fixed,
    /// `C1` / `b1` (hidden bias, in the units of `X W1q`).
    pub hidden_bias: Fixed,
    /// `M2` / `W2q` (output weights).
    pub output_weight: Fixed,
    /// `C2` / `b2` (output bias, in the units of the logits).
    pub output_bias: Fixed,
    /// `hs`: right shift from `X W1q + b1` to the hidden activations.
    pub hidden_shift: u32,
    /// `hmax`: the hidden activations' clamp.
    pub hidden_max: i64,
    /// `ds`: right shift from `G W2q^T` to the hidden error.
    pub delta_shift: u32,
    /// `dmax`: the hidden error's clamp.
    pub delta_max: i64,
    /// `ls`: label smoothing, in probability units of 1/1024: never zero, so that no model
    /// has a zero gradient on every sample (an over-confident model still moves).
    pub label_smoothing: i64,
    /// `u2`: the output-bias update is `2^u2 colsum(G)`.
    pub output_bias_update_shift: u32,
    /// `u1`: the hidden-bias update is `2^u1 colsum(D)`.
    pub hidden_bias_update_shift: u32,
}

impl Arithmetic {
    /// The chain's arithmetic (see `docs/proof-of-training.md` for the table of bounds).
    pub const MNIST: Arithmetic = Arithmetic {
        input_shift: 1,
        input_offset: 16,
        hidden_weight: Fixed {
            fraction_bits: 14,
            max: 127,
            symmetric: true,
        },
        hidden_bias: Fixed {
            fraction_bits: 7,
            max: 1 << 16,
            symmetric: false,
        },
        output_weight: Fixed {
            fraction_bits: 14,
            max: 255,
            symmetric: true,
        },
        output_bias: Fixed {
            fraction_bits: 8,
            max: 1 << 15,
            symmetric: false,
        },
        hidden_shift: 10,
        hidden_max: 127,
        delta_shift: 8,
        delta_max: 2047,
        label_smoothing: 4,
        output_bias_update_shift: 4,
        hidden_bias_update_shift: 3,
    };

    /// The input value of pixel byte `p`.
    pub fn input(&self, pixel: u8) -> i64 {
        (i64::from(pixel) >> self.input_shift) - self.input_offset
    }

    /// Largest input magnitude.
    pub fn input_abs_max(&self) -> i64 {
        self.input(0).abs().max(self.input(255).abs())
    }

    /// The four masters' formats in canonical order (the order of
    /// [`TENSOR_NAMES`](crate::model::TENSOR_NAMES)).
    pub fn masters(&self) -> [Fixed; 4] {
        [
            self.hidden_weight,
            self.hidden_bias,
            self.output_weight,
            self.output_bias,
        ]
    }

    /// Every bound the exactness argument needs, for batches of `batch` samples on the
    /// `inputs`-`hidden`-`classes` network: worst cases computed from the constants.
    pub fn bounds(&self, batch: u32, inputs: usize, hidden: usize, classes: usize) -> Vec<Bound> {
        let b = i64::from(batch);
        let (inputs, hidden, classes) = (inputs as i64, hidden as i64, classes as i64);
        let x = self.input_abs_max();
        let w1 = self.hidden_weight.max;
        let w2 = self.output_weight.max;
        let b1 = self.hidden_bias.max;
        let b2 = self.output_bias.max;
        let h = self.hidden_max;
        let g = SOFTMAX_ONE - self.label_smoothing.min(SOFTMAX_ONE);
        let d = self.delta_max;
        let exact = |name: &'static str, worst: i64| Bound {
            name,
            worst,
            limit: F32_EXACT - 1,
        };
        let operand = |name: &'static str, worst: i64| Bound {
            name,
            worst,
            limit: TENSOR_CORE_EXACT,
        };
        let master = |name: &'static str, fixed: Fixed| Bound {
            name,
            worst: fixed.master_abs_max(),
            limit: 1 << 23,
        };
        vec![
            exact(
                "X W1q + b1 + rounding",
                inputs * x * w1 + b1 + (1 << (self.hidden_shift - 1)),
            ),
            exact("H W2q + b2", hidden * h * w2 + b2),
            exact(
                "G W2q^T + rounding",
                classes * g * w2 + (1 << (self.delta_shift.max(1) - 1)),
            ),
            exact(
                "M2 - H^T G",
                self.output_weight.master_abs_max() + b * h * g,
            ),
            exact(
                "M1 - X^T D",
                self.hidden_weight.master_abs_max() + b * x * d,
            ),
            exact(
                "C2 - 2^u2 colsum(G)",
                self.output_bias.master_abs_max() + ((b * g) << self.output_bias_update_shift),
            ),
            exact(
                "C1 - 2^u1 colsum(D)",
                self.hidden_bias.master_abs_max() + ((b * d) << self.hidden_bias_update_shift),
            ),
            operand("operand X", x),
            operand("operand W1q", w1),
            operand("operand H", h),
            operand("operand W2q", w2),
            operand("operand G", g),
            operand("operand D", d),
            master("master M1", self.hidden_weight),
            master("master C1", self.hidden_bias),
            master("master M2", self.output_weight),
            master("master C2", self.output_bias),
        ]
    }

    /// Checks every bound, and that the shifts and the label smoothing are meaningful.
    ///
    /// # Errors
    /// [`ArithmeticError`] naming the first broken bound.
    pub fn validate(
        &self,
        batch: u32,
        inputs: usize,
        hidden: usize,
        classes: usize,
    ) -> Result<(), ArithmeticError> {
        let shifts = [
            self.input_shift,
            self.hidden_shift,
            self.delta_shift,
            self.output_bias_update_shift,
            self.hidden_bias_update_shift,
        ];
        let fractions = self.masters().map(|f| f.fraction_bits);
        if shifts.iter().chain(&fractions).any(|&s| s > 24)
            || self.hidden_shift == 0
            || self.delta_shift == 0
        {
            return Err(ArithmeticError::Shift);
        }
        let smallest = self.masters().map(|f| f.max).into_iter().min();
        if smallest.is_none_or(|m| m < 1)
            || self.hidden_max < 1
            || self.delta_max < 1
            || self.input_offset < 0
            || self.input_offset > 255
        {
            return Err(ArithmeticError::Range);
        }
        // Smoothing 0 would let an over-confident model have a zero gradient; 9 ls >= 1024
        // would leave no probability for the label.
        if self.label_smoothing < 1 || 9 * self.label_smoothing >= SOFTMAX_ONE {
            return Err(ArithmeticError::LabelSmoothing(self.label_smoothing));
        }
        for bound in self.bounds(batch, inputs, hidden, classes) {
            if bound.worst > bound.limit {
                return Err(ArithmeticError::Bound {
                    name: bound.name,
                    worst: bound.worst,
                    limit: bound.limit,
                });
            }
        }
        Ok(())
    }
}

/// One worst case of the exactness argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bound {
    /// What is bounded.
    pub name: &'static str,
    /// Its worst case magnitude under the task's constants.
    pub worst: i64,
    /// The magnitude it must not exceed.
    pub limit: i64,
}

impl Bound {
    /// `1 - worst / limit`: how much room is left.
    pub fn margin(&self) -> f64 {
        1.0 - self.worst as f64 / self.limit as f64
    }
}

/// Constants under which the training step would not be exact.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArithmeticError {
    /// A product or update could leave the exactly representable range.
    #[error(
        "the bound of {name} is broken: its worst case {worst} exceeds {limit}, so it could round"
    )]
    Bound {
        /// The bounded quantity.
        name: &'static str,
        /// Its worst case.
        worst: i64,
        /// The limit.
        limit: i64,
    },
    /// A shift is zero where rounding needs one bit, or larger than 24.
    #[error("a shift or fraction width is out of range (rounding shifts 1..=24, others 0..=24)")]
    Shift,
    /// A clamp range is empty.
    #[error("a clamp range is empty or the input offset is outside 0..=255")]
    Range,
    /// The label smoothing is outside `1 ..= 113`.
    #[error("label smoothing must be in 1..=113 (1/1024 units), got {0}")]
    LabelSmoothing(i64),
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHAPE: (usize, usize, usize) = (784, 512, 10);

    fn bounds(a: &Arithmetic) -> Vec<Bound> {
        a.bounds(64, SHAPE.0, SHAPE.1, SHAPE.2)
    }

    fn validate(a: &Arithmetic) -> Result<(), ArithmeticError> {
        a.validate(64, SHAPE.0, SHAPE.1, SHAPE.2)
    }

    #[test]
    fn the_table_is_the_rounded_exponential() {
        for (i, &entry) in SOFTMAX_TABLE.iter().enumerate() {
            let exact = 32768.0 * (-(i as f64 + 0.5) / 16.0).exp();
            // No entry is near a rounding tie, so any libm agrees with the constants.
            assert!((exact - exact.floor() - 0.5).abs() > 1e-3, "entry {i}");
            assert_eq!(i64::from(entry), exact.round() as i64, "entry {i}");
        }
    }

    #[test]
    fn every_bound_of_the_chains_arithmetic_is_recomputed_from_its_constants() {
        let a = Arithmetic::MNIST;
        let x = 111; // (255 >> 1) - 16
        assert_eq!(a.input_abs_max(), x);
        let expected = [
            ("X W1q + b1 + rounding", 784 * x * 127 + 65536 + 512),
            ("H W2q + b2", 512 * 127 * 255 + 32768),
            ("G W2q^T + rounding", 10 * 1020 * 255 + 128),
            ("M2 - H^T G", 256 * 16384 - 1 + 64 * 127 * 1020),
            ("M1 - X^T D", 128 * 16384 - 1 + 64 * x * 2047),
            ("C2 - 2^u2 colsum(G)", (1 << 23) + 16 * 64 * 1020),
            ("C1 - 2^u1 colsum(D)", (1 << 23) + 8 * 64 * 2047),
        ];
        let computed = bounds(&a);
        for (name, worst) in expected {
            let bound = computed.iter().find(|b| b.name == name).expect(name);
            assert_eq!(bound.worst, worst, "{name}");
            assert!(bound.worst < F32_EXACT, "{name}: {worst}");
        }
        // The tightest product keeps about 1 % of room; a wider range anywhere must be redone.
        let tightest = computed
            .iter()
            .filter(|b| b.limit == F32_EXACT - 1)
            .map(Bound::margin)
            .fold(f64::INFINITY, f64::min);
        assert!(tightest > 0.0 && tightest < 0.02, "{tightest}");
        assert_eq!(validate(&a), Ok(()));
    }

    #[test]
    fn a_task_that_breaks_any_bound_is_refused() {
        let base = Arithmetic::MNIST;
        let mut cases: Vec<(Arithmetic, &str)> = Vec::new();
        let mut a = base.clone();
        a.hidden_weight.max = 200;
        cases.push((a, "X W1q"));
        let mut a = base.clone();
        a.output_weight.max = 258; // 512 * 127 * 258 + 2^15 = 16,808,960 > 2^24
        cases.push((a, "H W2q"));
        let mut a = base.clone();
        a.output_bias.max = 1 << 18;
        cases.push((a, "H W2q"));
        let mut a = base.clone();
        a.hidden_max = 255;
        cases.push((a, "H W2q"));
        let mut a = base.clone();
        a.delta_max = 4095;
        cases.push((a, "M1 - X^T D"));
        let mut a = base.clone();
        a.input_offset = 0; // inputs up to 127
        cases.push((a, "M1 - X^T D"));
        let mut a = base.clone();
        a.hidden_weight.fraction_bits = 16;
        cases.push((a, "M1 - X^T D"));
        let mut a = base.clone();
        a.output_bias_update_shift = 8;
        cases.push((a, "C2"));
        let mut a = base.clone();
        a.hidden_bias_update_shift = 7;
        cases.push((a, "C1"));
        for (a, name) in cases {
            match validate(&a) {
                Err(ArithmeticError::Bound { name: n, .. }) => assert!(n.contains(name), "{n}"),
                other => panic!("expected {name} to break, got {other:?}"),
            }
        }
        // A larger batch breaks the gradient products.
        match base.validate(128, SHAPE.0, SHAPE.1, SHAPE.2) {
            Err(ArithmeticError::Bound { name, .. }) => assert!(name.contains("^T"), "{name}"),
            other => panic!("batch 128 must break a gradient product, got {other:?}"),
        }
        // Tensor-core operands.
        let mut a = base.clone();
        a.delta_max = 2048;
        a.hidden_bias_update_shift = 0;
        let err = a.validate(8, SHAPE.0, SHAPE.1, SHAPE.2).unwrap_err();
        assert!(
            matches!(
                err,
                ArithmeticError::Bound {
                    name: "operand D",
                    ..
                }
            ),
            "{err}"
        );
        let mut a = base.clone();
        a.label_smoothing = 0;
        assert_eq!(validate(&a), Err(ArithmeticError::LabelSmoothing(0)));
        let mut a = base.clone();
        a.delta_shift = 0;
        assert_eq!(validate(&a), Err(ArithmeticError::Shift));
        let mut a = base;
        a.hidden_max = 0;
        assert_eq!(validate(&a), Err(ArithmeticError::Range));
    }

    #[test]
    fn master_ranges_quantise_to_the_clamp() {
        let w = Arithmetic::MNIST.hidden_weight;
        let q = |m: i64| m.div_euclid(1 << w.fraction_bits);
        assert_eq!(q(w.master_min()), -127);
        assert_eq!(q(w.master_max()), 127);
        assert_eq!(q(w.master_max() + 1), 128);
        let b = Arithmetic::MNIST.output_bias;
        assert_eq!(b.master_min().div_euclid(1 << 8), -(1 << 15));
        assert_eq!(b.master_max().div_euclid(1 << 8), (1 << 15) - 1);
    }
}
