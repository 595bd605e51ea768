//! Every step is the written step: two steps of `Trainer` on every compiled backend and
//! engine (the CPU kernels and the tensor step) give exactly the masters of an independent
//! scalar `i64` implementation of the formulas in `Arithmetic`'s docs (and
//! `docs/proof-of-training.md`), written here from the spec alone, from ordinary weights and
//! from weights at their limits, where every clamp fires. Any deviation (a rounding, a shift,
//! the ReLU mask, the old W2 used for D, a clamp) changes some integer, so the comparison is
//! equality.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use ann_mining::arithmetic::{Arithmetic, Fixed, SOFTMAX_TABLE};
use ann_mining::training::segment_samples;
use ann_mining::{Task, Weights};
use common::{data, every_trainer, task};

const HIDDEN: usize = 512;
const CLASSES: usize = 10;
const PIXELS: usize = 784;

fn floor_shift(v: i64, shift: u32) -> i64 {
    v.div_euclid(1 << shift)
}

/// How often each clamp of a reference step fired (changed a value).
#[derive(Debug, Default)]
struct Clamps {
    hidden: usize,
    delta: usize,
    masters: usize,
}

/// One step in `i64` on `samples`; returns the new masters, the number of nonzero entries
/// of the backward signal `D` (the liveness count) and the clamps that fired.
fn reference_step(a: &Arithmetic, w: &Weights, samples: &[u32]) -> (Weights, u32, Clamps) {
    let mut clamps = Clamps::default();
    let data = data();
    let m1: Vec<i64> = w.hidden_weight.iter().map(|&v| i64::from(v)).collect();
    let c1: Vec<i64> = w.hidden_bias.iter().map(|&v| i64::from(v)).collect();
    let m2: Vec<i64> = w.output_weight.iter().map(|&v| i64::from(v)).collect();
    let c2: Vec<i64> = w.output_bias.iter().map(|&v| i64::from(v)).collect();
    let w1q: Vec<i64> = m1
        .iter()
        .map(|&m| floor_shift(m, a.hidden_weight.fraction_bits))
        .collect();
    let b1: Vec<i64> = c1
        .iter()
        .map(|&m| floor_shift(m, a.hidden_bias.fraction_bits))
        .collect();
    let w2q: Vec<i64> = m2
        .iter()
        .map(|&m| floor_shift(m, a.output_weight.fraction_bits))
        .collect();
    let b2: Vec<i64> = c2
        .iter()
        .map(|&m| floor_shift(m, a.output_bias.fraction_bits))
        .collect();
    let (mut gm1, mut gc1) = (vec![0i64; PIXELS * HIDDEN], vec![0i64; HIDDEN]);
    let (mut gm2, mut gc2) = (vec![0i64; HIDDEN * CLASSES], vec![0i64; CLASSES]);
    let mut live = 0u32;
    for &index in samples {
        let x: Vec<i64> = data.train().image(index as usize).unwrap()[..]
            .iter()
            .map(|&p| a.input(p))
            .collect();
        let label = usize::from(data.train().labels()[index as usize]);
        let h: Vec<i64> = (0..HIDDEN)
            .map(|j| {
                let sum: i64 = (0..PIXELS).map(|i| x[i] * w1q[i * HIDDEN + j]).sum::<i64>()
                    + b1[j]
                    + (1 << (a.hidden_shift - 1));
                let h = floor_shift(sum, a.hidden_shift);
                clamps.hidden += usize::from(h > a.hidden_max);
                h.clamp(0, a.hidden_max)
            })
            .collect();
        let z: Vec<i64> = (0..CLASSES)
            .map(|c| {
                (0..HIDDEN)
                    .map(|j| h[j] * w2q[j * CLASSES + c])
                    .sum::<i64>()
                    + b2[c]
            })
            .collect();
        let max = *z.iter().max().unwrap();
        let e: Vec<i64> = z
            .iter()
            .map(|&v| i64::from(SOFTMAX_TABLE[((max - v) >> 10).min(255) as usize]))
            .collect();
        let sum: i64 = e.iter().sum();
        let g: Vec<i64> = (0..CLASSES)
            .map(|c| {
                let p = (e[c] * 2048 / sum + 1) / 2;
                let t = if c == label {
                    1024 - 9 * a.label_smoothing
                } else {
                    a.label_smoothing
                };
                p - t
            })
            .collect();
        for j in 0..HIDDEN {
            for c in 0..CLASSES {
                gm2[j * CLASSES + c] += h[j] * g[c];
            }
        }
        for c in 0..CLASSES {
            gc2[c] += g[c];
        }
        for j in 0..HIDDEN {
            if h[j] == 0 {
                continue;
            }
            let back: i64 = (0..CLASSES).map(|c| g[c] * w2q[j * CLASSES + c]).sum();
            let d = floor_shift(back + (1 << (a.delta_shift - 1)), a.delta_shift);
            clamps.delta += usize::from(d.abs() > a.delta_max);
            let d = d.clamp(-a.delta_max, a.delta_max);
            live += u32::from(d != 0);
            for i in 0..PIXELS {
                gm1[i * HIDDEN + j] += x[i] * d;
            }
            gc1[j] += d;
        }
    }
    let mut update = |m: Vec<i64>, g: Vec<i64>, scale: i64, fixed: Fixed| {
        m.into_iter()
            .zip(g)
            .map(|(m, g)| {
                let value = m - scale * g;
                let clamped = value.clamp(fixed.master_min(), fixed.master_max());
                clamps.masters += usize::from(clamped != value);
                clamped as i32
            })
            .collect()
    };
    let weights = Weights {
        hidden_weight: update(m1, gm1, 1, a.hidden_weight),
        hidden_bias: update(c1, gc1, 1 << a.hidden_bias_update_shift, a.hidden_bias),
        output_weight: update(m2, gm2, 1, a.output_weight),
        output_bias: update(c2, gc2, 1 << a.output_bias_update_shift, a.output_bias),
    };
    (weights, live, clamps)
}

/// Two steps of every backend and engine from `w0` against two reference steps; returns the
/// clamps the reference steps fired.
fn compare_two_steps(mut task: Task, w0: &Weights, key: [u8; 32]) -> Clamps {
    task.checkpoint_interval = 2; // a segment of two steps: the second sees updated masters
    let a = task.arithmetic.clone();
    let samples = segment_samples(&task, &key, data().train().len());
    let batch = task.batch_size as usize;
    let (one, live_one, first) = reference_step(&a, w0, &samples[..batch]);
    let (expected, live_two, second) = reference_step(&a, &one, &samples[batch..2 * batch]);
    // The step moves most weights (an all-zero update would make the test vacuous).
    let moved = expected.differing_parameters(w0);
    assert!(moved > 100_000, "the reference moved only {moved} weights");
    for (backend, mut trainer) in every_trainer(&task) {
        let (model, stats) = trainer.train_segment(trainer.model(w0), &key).unwrap();
        let actual = model.weights().unwrap();
        let loss = stats.loss;
        assert!(loss.is_finite() && loss > 0.0, "{backend}: loss {loss}");
        assert_eq!(
            stats.live_deltas,
            vec![live_one + live_two],
            "{backend}: the liveness count"
        );
        assert_eq!(
            actual.differing_parameters(&expected),
            0,
            "{backend}: the step differs from the scalar step"
        );
        assert_eq!(actual.hash(), expected.hash(), "{backend}");
    }
    Clamps {
        hidden: first.hidden + second.hidden,
        delta: first.delta + second.delta,
        masters: first.masters + second.masters,
    }
}

#[test]
fn two_trainer_steps_equal_the_scalar_integer_step_on_every_backend() {
    let w0 = Weights::initial(&[9; 32], &task().arithmetic);
    let clamps = compare_two_steps(task(), &w0, [3; 32]);
    // Training from W0 is live and far from every clamp but ReLU's.
    assert_eq!(clamps.masters, 0, "{clamps:?}");
}

#[test]
fn every_clamp_fires_and_still_every_backend_equals_the_scalar_step() {
    // A third of every master at its top, a third at its bottom: the hidden activations
    // saturate, the backward signal saturates, and the updates push masters past their
    // ranges, so each clamp of the step decides values. The chain's D clamp (2047) is out of
    // reach (|G W2q^T| <= 255 (1029 + 1024) < 2048 * 2^8): this task halves it so that it
    // fires too.
    let mut t = task();
    t.arithmetic.delta_max = 1023;
    t.validate().unwrap();
    let a = t.arithmetic.clone();
    let w0 = Weights::initial(&[10; 32], &a);
    let extreme = |values: &[i32], fixed: Fixed| -> Vec<i32> {
        values
            .iter()
            .enumerate()
            .map(|(i, &m)| match i % 3 {
                0 => fixed.master_max() as i32,
                1 => fixed.master_min() as i32,
                _ => m,
            })
            .collect()
    };
    let w = Weights {
        hidden_weight: extreme(&w0.hidden_weight, a.hidden_weight),
        hidden_bias: extreme(&w0.hidden_bias, a.hidden_bias),
        output_weight: extreme(&w0.output_weight, a.output_weight),
        output_bias: extreme(&w0.output_bias, a.output_bias),
    };
    let clamps = compare_two_steps(t, &w, [4; 32]);
    assert!(clamps.hidden > 100, "{clamps:?}");
    assert!(clamps.delta > 1_000, "{clamps:?}");
    assert!(clamps.masters > 1_000, "{clamps:?}");
}
