//! The exact step and the exact evaluation on a CPU, written for the step's data: the
//! formulas of [`Arithmetic`], bit for bit what the tensor step of [`crate::training`] gives
//! (the tests compare the two on every backend, and with a scalar `i64` implementation of the
//! spec), at a fraction of the work, for two reasons.
//!
//! **Sparse inputs.** An input is `x = (p >> s) - o`, which is `-o` for every blank pixel:
//! four pixels in five of MNIST's. With `X' = X + o` (that is `p >> s`, zero for a blank
//! pixel) the two large products become
//!
//! ```text
//! X W1q = X' W1q - o colsum(W1q)        (the forward pass, [B, 512])
//! X^T D = X'^T D - o colsum(D)          (the update of M1, [784, 512], every row)
//! ```
//!
//! and `X'` has a fifth of `X`'s nonzero entries, so each product costs a fifth of the dense
//! one. The corrections are one row of 512 sums each, kept up to date on the way.
//!
//! **One pass over the hidden weights.** The update of `M1`, its clamp, its quantisation into
//! `W1q` (the operand of the next forward pass) and the column sums of `W1q` (the next
//! forward correction) happen in one sweep over its rows, each row's share of `X'^T D`
//! accumulated in registers and never stored. The tensor step makes six passes over the
//! 401,408 hidden weights; this makes one.
//!
//! **Exactness.** As in the tensor step, every value is an integer held in `f32` (masters in
//! master units), and every intermediate is an integer below `2^24`, so no operation rounds,
//! in any order of summation. The task's bounds cover the values both steps share; the
//! kernels' own intermediates (the sparse products, before their corrections, and the
//! corrections) are [`Kernels::bounds`], which [`Kernels::new`] checks: an arithmetic that
//! breaks one is refused, and the trainer uses the tensor step for it.
//!
//! The hot loops are plain Rust compiled for the CPU's vector instructions at run time
//! (`pulp`'s dispatch: AVX-512 or AVX2 with FMA on x86-64, NEON on ARM, scalar elsewhere),
//! and parallel over the current rayon pool; neither changes a bit of the result.

use std::sync::Arc;

use rayon::prelude::*;

use crate::arithmetic::{
    Arithmetic, ArithmeticError, Bound, F32_EXACT, Fixed, SOFTMAX_INDEX_SHIFT, SOFTMAX_ONE,
    SOFTMAX_TABLE,
};
use crate::dataset::{CLASSES, IMAGE_PIXELS, Split};
use crate::model::{HIDDEN, Weights};
use crate::training::{argmax_lowest, pow2, pow2_neg};

/// Hidden units per block: the model is stored in blocks of 64 hidden units (the accumulators
/// of one block stay in vector registers while the nonzero inputs stream past: 4 AVX-512 or
/// 8 AVX2 registers), and a step's work is split between threads by blocks, so that each
/// thread keeps its blocks' weights in its own cache from step to step.
const BLOCK: usize = 64;

/// Blocks in the hidden layer.
const BLOCKS: usize = HIDDEN / BLOCK;

/// Lanes of the dot products' partial sums (one AVX-512 register).
const LANES: usize = 16;

/// Test samples per parallel task of an evaluation.
const SAMPLES_PER_TASK: usize = 64;

/// Rows of `M1` per parallel task when a model is converted to or from its canonical form.
const ROWS_PER_TASK: usize = 49;

/// The step's arithmetic, prepared for the CPU kernels.
#[derive(Clone, Debug)]
pub(crate) struct Kernels {
    arch: pulp::Arch,
    a: Arithmetic,
}

impl Kernels {
    /// Prepares `arithmetic` for batches of `batch` samples.
    ///
    /// # Errors
    /// [`ArithmeticError::Bound`] naming the first of [`Kernels::bounds`] that fails: the
    /// kernels would round there, so the caller must use the tensor step.
    pub(crate) fn new(arithmetic: &Arithmetic, batch: u32) -> Result<Self, ArithmeticError> {
        for bound in Self::bounds(arithmetic, batch) {
            if bound.worst > bound.limit {
                return Err(ArithmeticError::Bound {
                    name: bound.name,
                    worst: bound.worst,
                    limit: bound.limit,
                });
            }
        }
        Ok(Self {
            arch: pulp::Arch::new(),
            a: arithmetic.clone(),
        })
    }

    /// The worst cases of the kernels' own intermediates, beyond the task's bounds (which
    /// cover `X W1q`, `X^T D` and everything the two steps share): the sparse products
    /// before their corrections, and the corrections.
    pub(crate) fn bounds(a: &Arithmetic, batch: u32) -> Vec<Bound> {
        let x = i64::from(u8::MAX) >> a.input_shift.min(8);
        let o = a.input_offset;
        let w1 = a.hidden_weight.max;
        let d = a.delta_max;
        let b = i64::from(batch);
        let inputs = IMAGE_PIXELS as i64;
        let exact = |name, worst| Bound {
            name,
            worst,
            limit: F32_EXACT - 1,
        };
        vec![
            exact("X' W1q (sparse forward)", inputs * x * w1),
            exact("X'^T D (sparse update)", b * x * d),
            exact("o colsum(W1q)", o * inputs * w1),
            exact("o colsum(D)", o * b * d),
        ]
    }

    /// The nonzero shifted inputs of a split, built once per split and shared.
    pub(crate) fn inputs(&self, split: &Split) -> Arc<SparseRows> {
        split.nonzero_inputs(self.a.input_shift)
    }

    /// `weights` in the kernels' working form.
    pub(crate) fn model(&self, weights: &Weights) -> HostModel {
        HostModel::new(weights, &self.a, self.arch)
    }

    /// Trains one segment of `model` in place: `samples.len() / batch` steps, step `i` on
    /// the samples `i * batch .. (i + 1) * batch` of `train` (whose nonzero inputs are
    /// `inputs`), with `scratch`'s buffers (reused from segment to segment). Returns the last
    /// step's probabilities (`[batch, 10]`, before that step's update) and the number of
    /// nonzero entries of the backward signal `D` over the segment.
    pub(crate) fn train_segment(
        &self,
        scratch: &mut Scratch,
        train: &Split,
        inputs: &SparseRows,
        model: &mut HostModel,
        samples: &[u32],
        batch: usize,
    ) -> (Vec<i32>, u32) {
        let batch = batch.max(1);
        let steps: Vec<&[u32]> = samples.chunks_exact(batch).collect();
        scratch.resize(batch, steps.len());
        // Every step's inputs by pixel, before the first step: they depend only on the
        // samples, and are built in parallel.
        scratch
            .by_pixel
            .par_iter_mut()
            .zip(&steps)
            .for_each(|(by_pixel, samples)| inputs.transpose_rows(samples, by_pixel));
        let mut live = 0u32;
        for (i, samples) in steps.iter().enumerate() {
            live = live.saturating_add(self.step(model, scratch, train, inputs, samples, i));
        }
        (scratch.probabilities.clone(), live)
    }

    /// Predictions for every sample of a split whose nonzero inputs are `inputs`: the class
    /// of the largest logit (ties to the lowest class), with the step's forward pass.
    pub(crate) fn predict(&self, model: &HostModel, inputs: &SparseRows) -> Vec<u8> {
        let rows: Vec<u32> = (0..inputs.len() as u32).collect();
        let mut predictions = vec![0u8; inputs.len()];
        predictions
            .par_chunks_mut(SAMPLES_PER_TASK)
            .zip(rows.par_chunks(SAMPLES_PER_TASK))
            .for_each(|(out, samples)| {
                let mut hidden = [0.0f32; SAMPLES_PER_TASK * BLOCK];
                let mut logits = [0.0f32; SAMPLES_PER_TASK * CLASSES];
                for block in &model.blocks {
                    self.arch.dispatch(Forward {
                        block,
                        a: &self.a,
                        inputs,
                        samples,
                        hidden: &mut hidden,
                        logits: &mut logits,
                        accumulate: true,
                    });
                }
                for (prediction, z) in out.iter_mut().zip(logits.chunks_exact_mut(CLASSES)) {
                    for (z, &b2) in z.iter_mut().zip(&model.b2) {
                        *z += b2;
                    }
                    *prediction = argmax_lowest(z) as u8;
                }
            });
        predictions
    }

    /// One step on `samples` (step `i` of the segment); returns the number of nonzero
    /// entries of `D`.
    fn step(
        &self,
        model: &mut HostModel,
        s: &mut Scratch,
        train: &Split,
        inputs: &SparseRows,
        samples: &[u32],
        i: usize,
    ) -> u32 {
        let a = &self.a;
        let per_part = BLOCKS.div_ceil(rayon::current_num_threads().clamp(1, BLOCKS));

        // Forward, by blocks of hidden units: H [B, 64] and each block's share of the logits.
        model
            .blocks
            .par_chunks_mut(per_part)
            .zip(s.blocks.par_chunks_mut(per_part))
            .for_each(|(blocks, scratch)| {
                for (block, scratch) in blocks.iter().zip(scratch) {
                    self.arch.dispatch(Forward {
                        block,
                        a,
                        inputs,
                        samples,
                        hidden: &mut scratch.hidden,
                        logits: &mut scratch.logits,
                        accumulate: false,
                    });
                }
            });

        // Z = H W2q + b2 from the blocks' shares; the integer softmax; G = P - T with the
        // smoothed targets T (ls on every class, 1024 - 9 ls on the label).
        let smoothing = a.label_smoothing as i32;
        let on_label = SOFTMAX_ONE as i32 - (CLASSES as i32 - 1) * smoothing;
        let rows = s
            .logits
            .chunks_exact_mut(CLASSES)
            .zip(s.probabilities.chunks_exact_mut(CLASSES))
            .zip(s.output_error.chunks_exact_mut(CLASSES))
            .zip(samples);
        for (row, (((z, p), g), &sample)) in rows.enumerate() {
            z.copy_from_slice(&model.b2);
            for block in &s.blocks {
                for (z, &share) in z.iter_mut().zip(&block.logits[row * CLASSES..][..CLASSES]) {
                    *z += share;
                }
            }
            softmax(z, p);
            let label = train.labels().get(sample as usize).copied().unwrap_or(0);
            for (c, (g, &p)) in g.iter_mut().zip(&*p).enumerate() {
                let target = if c == usize::from(label) {
                    on_label
                } else {
                    smoothing
                };
                *g = (p - target) as f32;
            }
        }

        // Backward and updates, by the same blocks: D through the old W2q, M2 -= H^T G, C1,
        // and M1 -= X^T D in one sweep that quantises W1q for the next step.
        let (by_pixel, output_error) = (&s.by_pixel[i], &s.output_error);
        let live: u32 = model
            .blocks
            .par_chunks_mut(per_part)
            .zip(s.blocks.par_chunks_mut(per_part))
            .map(|(blocks, scratch)| {
                let mut live = 0;
                for (block, scratch) in blocks.iter_mut().zip(scratch) {
                    live += self.arch.dispatch(Backward {
                        block,
                        scratch,
                        a,
                        output_error,
                        by_pixel,
                    });
                }
                live
            })
            .sum();

        // C2 -= 2^u2 colsum(G), and b2 for the next step.
        let mut column = [0.0f32; CLASSES];
        for g in s.output_error.chunks_exact(CLASSES) {
            for (sum, &g) in column.iter_mut().zip(g) {
                *sum += g;
            }
        }
        update_bias(
            &mut model.c2,
            &column,
            a.output_bias_update_shift,
            a.output_bias,
        );
        model.quantise_output_bias(a);
        live
    }
}

// The hot loops, each a `pulp::WithSimd` operation: `with_simd` is inlined into a function
// compiled for the vector instructions that `Arch::dispatch` found, so that the loops below
// are vectorised for them. `floor` compiles to one rounding instruction there (SSE4.1 and
// later, NEON), `mul_add` to a fused multiply-add (exact here: the products and sums are
// integers below 2^24), `max` and `min` to their vector forms.

/// The forward pass through one block of 64 hidden units for `samples` (rows of `inputs`):
/// `H` (`[samples, 64]`) and the block's share of the logits, `H W2q[block]` (`[samples,
/// 10]`, added to `logits` when `accumulate`).
struct Forward<'a> {
    block: &'a Block,
    a: &'a Arithmetic,
    inputs: &'a SparseRows,
    samples: &'a [u32],
    hidden: &'a mut [f32],
    logits: &'a mut [f32],
    accumulate: bool,
}

impl pulp::WithSimd for Forward<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let shift = pow2_neg(self.a.hidden_shift);
        let hidden_max = self.a.hidden_max as f32;
        let block = self.block;
        let outputs = self
            .hidden
            .chunks_exact_mut(BLOCK)
            .zip(self.logits.chunks_exact_mut(CLASSES));
        for (&sample, (hidden, logits)) in self.samples.iter().zip(outputs) {
            // H = clamp(floor((X' W1q + b1 + 2^(hs-1) - o colsum(W1q)) / 2^hs), 0, hmax).
            let (pixels, values) = self.inputs.row(sample as usize);
            let acc = sparse_block(pixels, values, &block.w1q);
            for ((h, &acc), &offset) in hidden.iter_mut().zip(&acc).zip(&block.offset) {
                *h = ((acc + offset) * shift).floor().max(0.0).min(hidden_max);
            }
            for (c, z) in logits.iter_mut().enumerate() {
                let share = dot(hidden, &block.w2q[c * BLOCK..][..BLOCK]);
                *z = if self.accumulate { *z + share } else { share };
            }
        }
    }
}

/// `sum_i values[i] * matrix[rows[i]]` over rows of 64: a sparse product's inner loop, its
/// accumulators in registers.
#[inline(always)]
fn sparse_block(rows: &[u16], values: &[u8], matrix: &[f32]) -> [f32; BLOCK] {
    let mut acc = [0.0f32; BLOCK];
    for (&row, &x) in rows.iter().zip(values) {
        let start = usize::from(row) * BLOCK;
        if let Some(m) = matrix.get(start..start + BLOCK) {
            let x = f32::from(x);
            for (acc, &m) in acc.iter_mut().zip(m) {
                *acc = x.mul_add(m, *acc);
            }
        }
    }
    acc
}

/// `a . b` by lanes, the lanes then added in halves (a chain of fifteen additions would wait
/// on each other): exact for integer values whose products sum below `2^24`, in any order.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; LANES];
    for (a, b) in a.chunks_exact(LANES).zip(b.chunks_exact(LANES)) {
        for ((sum, &a), &b) in lanes.iter_mut().zip(a).zip(b) {
            *sum = a.mul_add(b, *sum);
        }
    }
    let mut width = LANES / 2;
    while width > 0 {
        let (low, high) = lanes.split_at_mut(width);
        for (low, &high) in low.iter_mut().zip(&*high) {
            *low += high;
        }
        width /= 2;
    }
    lanes[0]
}

/// The backward pass and the updates of one block of 64 hidden units; returns its count of
/// nonzero entries of `D`.
struct Backward<'a> {
    block: &'a mut Block,
    scratch: &'a mut BlockScratch,
    a: &'a Arithmetic,
    output_error: &'a [f32],
    /// The batch's nonzero shifted inputs, by pixel.
    by_pixel: &'a SparseRows,
}

impl pulp::WithSimd for Backward<'_> {
    type Output = u32;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) -> u32 {
        let Self {
            block,
            scratch,
            a,
            output_error,
            by_pixel,
        } = self;

        // D = clamp(floor((G W2q^T + 2^(ds-1)) / 2^ds), -dmax, dmax) * [H > 0], its column
        // sums and its nonzero count.
        let half = pow2(a.delta_shift - 1);
        let shift = pow2_neg(a.delta_shift);
        let delta_max = a.delta_max as f32;
        let rows = output_error
            .chunks_exact(CLASSES)
            .zip(scratch.hidden.chunks_exact(BLOCK))
            .zip(scratch.delta.chunks_exact_mut(BLOCK));
        for ((g, hidden), delta) in rows {
            let mut signal = [half; BLOCK];
            for (c, &g) in g.iter().enumerate() {
                for (acc, &w) in signal.iter_mut().zip(&block.w2q[c * BLOCK..][..BLOCK]) {
                    *acc = g.mul_add(w, *acc);
                }
            }
            for ((d, &acc), &h) in delta.iter_mut().zip(&signal).zip(hidden) {
                let value = (acc * shift).floor().max(-delta_max).min(delta_max);
                *d = if h > 0.0 { value } else { 0.0 };
            }
        }
        let mut delta_sum = [0.0f32; BLOCK];
        for delta in scratch.delta.chunks_exact(BLOCK) {
            for (sum, &d) in delta_sum.iter_mut().zip(delta) {
                *sum += d;
            }
        }
        let live = scratch.delta.iter().map(|&d| u32::from(d != 0.0)).sum();

        // M2 -= H^T G (with the old W2q already used above), clamped; W2q for the next step.
        let (lo, hi) = master_range(a.output_weight);
        let scale = pow2_neg(a.output_weight.fraction_bits);
        for (c, (m2, w2q)) in block
            .m2
            .chunks_exact_mut(BLOCK)
            .zip(block.w2q.chunks_exact_mut(BLOCK))
            .enumerate()
        {
            let mut update = [0.0f32; BLOCK];
            let rows = scratch
                .hidden
                .chunks_exact(BLOCK)
                .zip(output_error.chunks_exact(CLASSES));
            for (h, g) in rows {
                for (u, &h) in update.iter_mut().zip(h) {
                    *u = h.mul_add(g[c], *u);
                }
            }
            for ((m, w), &u) in m2.iter_mut().zip(w2q).zip(&update) {
                *m = (*m - u).max(lo).min(hi);
                *w = (*m * scale).floor();
            }
        }

        // C1 -= 2^u1 colsum(D).
        update_bias(
            &mut block.c1,
            &delta_sum,
            a.hidden_bias_update_shift,
            a.hidden_bias,
        );

        // M1 -= X'^T D - o colsum(D) (that is X^T D, below the task's bound like M1 - X^T D),
        // clamped; W1q = floor(M1 / 2^f1) and its column sums, row by row.
        let o = a.input_offset as f32;
        let correction = delta_sum.map(|sum| o * sum);
        let (lo, hi) = master_range(a.hidden_weight);
        let scale = pow2_neg(a.hidden_weight.fraction_bits);
        let mut colsum = [0.0f32; BLOCK];
        let rows = block
            .m1
            .chunks_exact_mut(BLOCK)
            .zip(block.w1q.chunks_exact_mut(BLOCK));
        for (pixel, (m1, w1q)) in rows.enumerate() {
            let (samples, values) = by_pixel.row(pixel);
            let acc = sparse_block(samples, values, &scratch.delta);
            let lanes = m1
                .iter_mut()
                .zip(w1q)
                .zip(&mut colsum)
                .zip(&acc)
                .zip(&correction);
            for ((((m, w), sum), &acc), &correction) in lanes {
                let value = (*m - (acc - correction)).max(lo).min(hi);
                *m = value;
                let q = (value * scale).floor();
                *w = q;
                *sum += q;
            }
        }
        block.set_offset(&colsum, a);
        live
    }
}

/// Masters to `f32` and their quantised values, for some rows of `M1` into every block
/// (canonical `[784][512]` to blocks of `[784][64]`); returns each block's column sums of the
/// quantised values over those rows.
struct LoadRows<'a> {
    masters: &'a [i32],
    /// `blocks[b]` is `(M1, W1q)` of block `b` over the same rows.
    blocks: Vec<(&'a mut [f32], &'a mut [f32])>,
    /// `2^-f1`.
    scale: f32,
}

impl pulp::WithSimd for LoadRows<'_> {
    type Output = Vec<[f32; BLOCK]>;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(mut self, _: S) -> Vec<[f32; BLOCK]> {
        let mut colsums = vec![[0.0f32; BLOCK]; self.blocks.len()];
        for (row, masters) in self.masters.chunks_exact(HIDDEN).enumerate() {
            let blocks = masters.chunks_exact(BLOCK).zip(&mut colsums);
            for ((masters, colsum), (m1, w1q)) in blocks.zip(self.blocks.iter_mut()) {
                let m1 = &mut m1[row * BLOCK..][..BLOCK];
                let w1q = &mut w1q[row * BLOCK..][..BLOCK];
                let lanes = masters.iter().zip(m1).zip(w1q).zip(colsum.iter_mut());
                for (((&master, m), w), sum) in lanes {
                    *m = master as f32;
                    let q = (*m * self.scale).floor();
                    *w = q;
                    *sum += q;
                }
            }
        }
        colsums
    }
}

/// Some rows of `M1` back from the blocks into the canonical `[784][512]` (integers below
/// `2^24`: exact).
struct StoreRows<'a> {
    masters: &'a mut [i32],
    /// `M1` of each block over the same rows.
    blocks: Vec<&'a [f32]>,
}

impl pulp::WithSimd for StoreRows<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        for (row, masters) in self.masters.chunks_exact_mut(HIDDEN).enumerate() {
            for (masters, m1) in masters.chunks_exact_mut(BLOCK).zip(&self.blocks) {
                for (master, &m) in masters.iter_mut().zip(&m1[row * BLOCK..][..BLOCK]) {
                    *master = m as i32;
                }
            }
        }
    }
}

/// One block of 64 hidden units of the model in the kernels' working form: masters and
/// quantised values as integers in `f32` (in master units).
#[derive(Clone, Debug, Default)]
struct Block {
    /// `M1[:, block]`, `[784][64]`.
    m1: Vec<f32>,
    /// `W1q[:, block] = floor(M1 / 2^f1)`, `[784][64]`.
    w1q: Vec<f32>,
    /// `b1 + 2^(hs-1) - o colsum(W1q)` of the block: what the sparse forward product misses
    /// of `X W1q + b1 + 2^(hs-1)`.
    offset: Vec<f32>,
    /// `C1[block]`, `[64]`.
    c1: Vec<i32>,
    /// `M2[block, :]^T`, `[10][64]`.
    m2: Vec<f32>,
    /// `W2q[block, :]^T = floor(M2 / 2^f2)`, `[10][64]`.
    w2q: Vec<f32>,
}

impl Block {
    /// The forward offset from the block's `W1q` column sums and `C1`.
    fn set_offset(&mut self, colsum: &[f32; BLOCK], a: &Arithmetic) {
        let half = 1i64 << (a.hidden_shift - 1);
        let o = a.input_offset as f32;
        self.offset = self
            .c1
            .iter()
            .zip(colsum)
            .map(|(&c, &colsum)| {
                let b1 = i64::from(c >> a.hidden_bias.fraction_bits);
                (b1 + half) as f32 - o * colsum
            })
            .collect();
    }
}

/// A model in the CPU kernels' working form (what [`Mlp`](crate::Mlp) holds for them):
/// eight blocks of hidden units, and the output bias. 3.2 MB: the hidden masters and their
/// quantised values, both as `f32`.
#[derive(Clone, Debug)]
pub(crate) struct HostModel {
    blocks: Vec<Block>,
    /// `C2`, `[10]`.
    c2: Vec<i32>,
    /// `b2 = floor(C2 / 2^g2)`, `[10]`.
    b2: Vec<f32>,
}

impl HostModel {
    fn new(weights: &Weights, a: &Arithmetic, arch: pulp::Arch) -> Self {
        let mut blocks = vec![Block::default(); BLOCKS];
        let scale = pow2_neg(a.hidden_weight.fraction_bits);
        for block in &mut blocks {
            block.m1 = vec![0.0; IMAGE_PIXELS * BLOCK];
            block.w1q = vec![0.0; IMAGE_PIXELS * BLOCK];
        }
        // M1 and W1q by rows, in parallel; each task writes its rows of every block.
        let mut parts: Vec<Vec<(&mut [f32], &mut [f32])>> = Vec::new();
        for block in &mut blocks {
            let rows = block
                .m1
                .chunks_mut(ROWS_PER_TASK * BLOCK)
                .zip(block.w1q.chunks_mut(ROWS_PER_TASK * BLOCK));
            for (task, (m1, w1q)) in rows.enumerate() {
                if parts.len() <= task {
                    parts.push(Vec::new());
                }
                parts[task].push((m1, w1q));
            }
        }
        let colsum = weights
            .hidden_weight
            .par_chunks(ROWS_PER_TASK * HIDDEN)
            .zip(parts)
            .map(|(masters, blocks)| {
                arch.dispatch(LoadRows {
                    masters,
                    blocks,
                    scale,
                })
            })
            .reduce(
                || vec![[0.0f32; BLOCK]; BLOCKS],
                |mut total, part| {
                    for (total, part) in total.iter_mut().zip(&part) {
                        for (t, p) in total.iter_mut().zip(part) {
                            *t += p;
                        }
                    }
                    total
                },
            );
        let output_scale = pow2_neg(a.output_weight.fraction_bits);
        for (b, (block, colsum)) in blocks.iter_mut().zip(&colsum).enumerate() {
            block.c1 = weights.hidden_bias[b * BLOCK..][..BLOCK].to_vec();
            block.set_offset(colsum, a);
            block.m2 = (0..CLASSES * BLOCK)
                .map(|i| {
                    let (c, k) = (i / BLOCK, b * BLOCK + i % BLOCK);
                    weights.output_weight[k * CLASSES + c] as f32
                })
                .collect();
            block.w2q = block
                .m2
                .iter()
                .map(|&m| (m * output_scale).floor())
                .collect();
        }
        let mut model = Self {
            blocks,
            c2: weights.output_bias.clone(),
            b2: Vec::new(),
        };
        model.quantise_output_bias(a);
        model
    }

    /// `b2` from `C2`.
    fn quantise_output_bias(&mut self, a: &Arithmetic) {
        let shift = a.output_bias.fraction_bits;
        self.b2 = self.c2.iter().map(|&c| (c >> shift) as f32).collect();
    }

    /// The masters in canonical form.
    pub(crate) fn weights(&self) -> Weights {
        let arch = pulp::Arch::new();
        let mut hidden_weight = vec![0i32; IMAGE_PIXELS * HIDDEN];
        hidden_weight
            .par_chunks_mut(ROWS_PER_TASK * HIDDEN)
            .enumerate()
            .for_each(|(task, masters)| {
                let rows = task * ROWS_PER_TASK * BLOCK..;
                let blocks = self.blocks.iter().map(|b| &b.m1[rows.clone()]).collect();
                arch.dispatch(StoreRows { masters, blocks });
            });
        let mut output_weight = vec![0i32; HIDDEN * CLASSES];
        let mut hidden_bias = Vec::with_capacity(HIDDEN);
        for (b, block) in self.blocks.iter().enumerate() {
            hidden_bias.extend_from_slice(&block.c1);
            for (i, &m) in block.m2.iter().enumerate() {
                let (c, k) = (i / BLOCK, b * BLOCK + i % BLOCK);
                output_weight[k * CLASSES + c] = m as i32;
            }
        }
        Weights {
            hidden_weight,
            hidden_bias,
            output_weight,
            output_bias: self.c2.clone(),
        }
    }
}

/// A master's range, as `f32` (below `2^23`: exact).
fn master_range(fixed: Fixed) -> (f32, f32) {
    (fixed.master_min() as f32, fixed.master_max() as f32)
}

/// A bias update: `C -= 2^u colsum`, clamped (`colsum` holds integers).
fn update_bias(bias: &mut [i32], column_sums: &[f32], update_shift: u32, fixed: Fixed) {
    let (lo, hi) = (fixed.master_min(), fixed.master_max());
    for (c, &sum) in bias.iter_mut().zip(column_sums) {
        *c = (i64::from(*c) - ((sum as i64) << update_shift)).clamp(lo, hi) as i32;
    }
}

/// The softmax from the table, in integers: `P = floor((floor(e 2^11 / rowsum(e)) + 1) / 2)`
/// with `e = TABLE[min(floor((rowmax(Z) - Z) / 2^10), 255)]` (`Z` holds integers).
fn softmax(logits: &[f32], out: &mut [i32]) {
    let max = logits.iter().copied().fold(f32::MIN, f32::max) as i32;
    let last = SOFTMAX_TABLE.len() - 1;
    let mut e = [0i32; CLASSES];
    for (e, &z) in e.iter_mut().zip(logits) {
        let index = ((max - z as i32) >> SOFTMAX_INDEX_SHIFT) as usize;
        *e = SOFTMAX_TABLE[index.min(last)];
    }
    let sum: i32 = e.iter().sum();
    for (p, e) in out.iter_mut().zip(e) {
        *p = (e * (2 * SOFTMAX_ONE as i32) / sum + 1) / 2;
    }
}

/// Rows of nonzero entries (compressed sparse rows): each row's column indices and values.
#[derive(Clone, Debug, Default)]
pub(crate) struct SparseRows {
    start: Vec<u32>,
    index: Vec<u16>,
    value: Vec<u8>,
}

impl SparseRows {
    /// The nonzero shifted inputs `x' = p >> shift` of `images` (784 bytes each), a row per
    /// image; built in parallel.
    pub(crate) fn of_images(images: &[u8], shift: u32) -> Self {
        const IMAGES_PER_TASK: usize = 1024;
        let parts: Vec<SparseRows> = images
            .par_chunks(IMAGES_PER_TASK * IMAGE_PIXELS)
            .map(|images| {
                let mut rows = SparseRows {
                    start: vec![0],
                    ..Default::default()
                };
                for image in images.chunks_exact(IMAGE_PIXELS) {
                    for (pixel, &p) in image.iter().enumerate() {
                        let x = if shift < 8 { p >> shift } else { 0 };
                        if x != 0 {
                            rows.index.push(pixel as u16);
                            rows.value.push(x);
                        }
                    }
                    rows.start.push(rows.index.len() as u32);
                }
                rows
            })
            .collect();
        let mut all = SparseRows {
            start: vec![0],
            ..Default::default()
        };
        for part in parts {
            let base = all.index.len() as u32;
            all.start.extend(part.start[1..].iter().map(|&s| base + s));
            all.index.extend_from_slice(&part.index);
            all.value.extend_from_slice(&part.value);
        }
        all
    }

    pub(crate) fn len(&self) -> usize {
        self.start.len().saturating_sub(1)
    }

    /// Row `i`'s indices and values (empty past the end).
    fn row(&self, i: usize) -> (&[u16], &[u8]) {
        match (self.start.get(i), self.start.get(i + 1)) {
            (Some(&a), Some(&b)) => (
                &self.index[a as usize..b as usize],
                &self.value[a as usize..b as usize],
            ),
            _ => (&[], &[]),
        }
    }

    /// The transpose of `rows` of this matrix, into `out`: a row per pixel (784), holding
    /// the positions in `rows` (as `u16`) and the values.
    fn transpose_rows(&self, rows: &[u32], out: &mut SparseRows) {
        out.start.clear();
        out.start.resize(IMAGE_PIXELS + 1, 0);
        let mut total = 0;
        for &row in rows {
            let (pixels, _) = self.row(row as usize);
            total += pixels.len();
            for &pixel in pixels {
                if let Some(count) = out.start.get_mut(usize::from(pixel) + 1) {
                    *count += 1;
                }
            }
        }
        for i in 1..out.start.len() {
            out.start[i] += out.start[i - 1];
        }
        out.index.resize(total, 0);
        out.value.resize(total, 0);
        let mut next = out.start.clone();
        for (position, &row) in rows.iter().enumerate() {
            let (pixels, values) = self.row(row as usize);
            for (&pixel, &x) in pixels.iter().zip(values) {
                if let Some(slot) = next.get_mut(usize::from(pixel)) {
                    let at = *slot as usize;
                    if let (Some(index), Some(value)) =
                        (out.index.get_mut(at), out.value.get_mut(at))
                    {
                        *index = position as u16;
                        *value = x;
                    }
                    *slot += 1;
                }
            }
        }
    }
}

/// A segment's inputs by pixel and a step's working buffers, reused from step to step and
/// segment to segment.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// Each step's nonzero inputs by pixel.
    by_pixel: Vec<SparseRows>,
    logits: Vec<f32>,
    probabilities: Vec<i32>,
    output_error: Vec<f32>,
    blocks: Vec<BlockScratch>,
}

/// One block's share of a step's buffers.
#[derive(Debug, Default)]
struct BlockScratch {
    /// `H[:, block]`, `[B][64]`.
    hidden: Vec<f32>,
    /// `D[:, block]`, `[B][64]`.
    delta: Vec<f32>,
    /// `H[:, block] W2q[block, :]`, `[B][10]`.
    logits: Vec<f32>,
}

impl Scratch {
    /// Sizes the buffers for `steps` batches of `batch`.
    fn resize(&mut self, batch: usize, steps: usize) {
        self.by_pixel.resize_with(steps, SparseRows::default);
        self.logits.resize(batch * CLASSES, 0.0);
        self.probabilities.resize(batch * CLASSES, 0);
        self.output_error.resize(batch * CLASSES, 0.0);
        self.blocks.resize_with(BLOCKS, BlockScratch::default);
        for block in &mut self.blocks {
            block.hidden.resize(batch * BLOCK, 0.0);
            block.delta.resize(batch * BLOCK, 0.0);
            block.logits.resize(batch * CLASSES, 0.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chains_arithmetic_fits_the_kernels() {
        let bounds = Kernels::bounds(&Arithmetic::MNIST, 64);
        for bound in &bounds {
            assert!(bound.worst <= bound.limit, "{bound:?}");
        }
        // Each worst case from its constants: inputs up to 255 >> 1 = 127, offset 16.
        let worst: Vec<i64> = bounds.iter().map(|b| b.worst).collect();
        assert_eq!(
            worst,
            [
                784 * 127 * 127,
                64 * 127 * 2047,
                16 * 784 * 127,
                16 * 64 * 2047
            ]
        );
        assert!(Kernels::new(&Arithmetic::MNIST, 64).is_ok());
    }

    #[test]
    fn a_batch_past_the_sparse_update_bound_is_refused() {
        // 65 * 127 * 2047 = 16,898,015 > 2^24 - 1.
        match Kernels::new(&Arithmetic::MNIST, 65) {
            Err(ArithmeticError::Bound { name, worst, .. }) => {
                assert_eq!(name, "X'^T D (sparse update)");
                assert_eq!(worst, 65 * 127 * 2047);
            }
            other => panic!("expected a bound error, got {other:?}"),
        }
    }

    #[test]
    fn sparse_rows_hold_the_nonzero_shifted_inputs_and_transpose_to_pixels() {
        let mut images = vec![0u8; 3 * IMAGE_PIXELS];
        images[3] = 10;
        images[700] = 255;
        images[IMAGE_PIXELS + 3] = 1; // shifts to zero: not stored
        images[IMAGE_PIXELS + 5] = 4;
        images[2 * IMAGE_PIXELS + 3] = 200;
        let rows = SparseRows::of_images(&images, 1);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows.row(0), (&[3u16, 700][..], &[5u8, 127][..]));
        assert_eq!(rows.row(1), (&[5u16][..], &[2u8][..]));
        assert_eq!(rows.row(2), (&[3u16][..], &[100u8][..]));
        assert_eq!(rows.row(3), (&[][..], &[][..]));
        // Rows 2 and 0, in that order, by pixel: positions in the list, not row numbers.
        let mut by_pixel = SparseRows::default();
        rows.transpose_rows(&[2, 0], &mut by_pixel);
        assert_eq!(by_pixel.len(), IMAGE_PIXELS);
        assert_eq!(by_pixel.row(3), (&[0u16, 1][..], &[100u8, 5][..]));
        assert_eq!(by_pixel.row(700), (&[1u16][..], &[127u8][..]));
        assert_eq!(by_pixel.row(5), (&[][..], &[][..]));
        // A shift of 8 or more leaves nothing.
        assert_eq!(SparseRows::of_images(&images, 8).row(0), (&[][..], &[][..]));
    }

    #[test]
    fn the_softmax_gives_the_tables_integers() {
        let mut p = [0i32; CLASSES];
        // One real unit (2^14) above the rest: e = 31760 against 11684 (table entry 16).
        softmax(&[0., 0., 0., 0., 0., 0., 0., 0., 0., 16384.], &mut p);
        assert_eq!(p, [87, 87, 87, 87, 87, 87, 87, 87, 87, 238]);
        // Sixteen units above: the others fall off the table's end (entry 255 is 0).
        softmax(&[-3., 0., 0., 0., 0., 0., 0., 0., 0., 262144.], &mut p);
        assert_eq!(p, [0, 0, 0, 0, 0, 0, 0, 0, 0, 1024]);
        softmax(&[5.0; CLASSES], &mut p);
        assert_eq!(p, [102; CLASSES]);
    }

    #[test]
    fn dot_products_by_lanes_are_exact_for_integers() {
        let a: Vec<f32> = (0..HIDDEN).map(|i| (i % 128) as f32).collect();
        let b: Vec<f32> = (0..HIDDEN).map(|i| (i as f32) - 255.0).collect();
        let expected: i64 = (0..HIDDEN as i64).map(|i| (i % 128) * (i - 255)).sum();
        assert_eq!(dot(&a, &b) as i64, expected);
    }
}
