//! The hand-written SGD step is the true gradient step: one step of `Trainer` on each CPU
//! backend agrees with a plain f64 implementation of "mean softmax cross-entropy, backward,
//! `w <- w - lr * grad`" written independently here, and reports the same loss.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use ann_mining::training::{Trainer, preprocessing_table, segment_samples};
use ann_mining::{Backend, Task, Weights};
use common::{data, task};

const HIDDEN: usize = 512;
const CLASSES: usize = 10;
const PIXELS: usize = 784;

/// One SGD step in f64 on the samples `key` selects; returns the new weights and the loss
/// before the step.
fn reference_step(task: &Task, w: &Weights, key: &[u8; 32]) -> (Vec<f64>, f64) {
    let data = data();
    let samples = segment_samples(task, key, data.train().len());
    let table = preprocessing_table();
    let n = samples.len() as f64;
    let w1: Vec<f64> = w.hidden_weight.iter().map(|&v| f64::from(v)).collect();
    let b1: Vec<f64> = w.hidden_bias.iter().map(|&v| f64::from(v)).collect();
    let w2: Vec<f64> = w.output_weight.iter().map(|&v| f64::from(v)).collect();
    let b2: Vec<f64> = w.output_bias.iter().map(|&v| f64::from(v)).collect();
    let (mut g1, mut gb1) = (vec![0.0; PIXELS * HIDDEN], vec![0.0; HIDDEN]);
    let (mut g2, mut gb2) = (vec![0.0; HIDDEN * CLASSES], vec![0.0; CLASSES]);
    let mut loss = 0.0;
    for &index in &samples {
        let x: Vec<f64> = data.train().image(index as usize).unwrap()[..]
            .iter()
            .map(|&p| f64::from(table[p as usize]))
            .collect();
        let label = usize::from(data.train().labels()[index as usize]);
        let mut z1 = b1.clone();
        for (i, &xi) in x.iter().enumerate() {
            for (j, z) in z1.iter_mut().enumerate() {
                *z += xi * w1[i * HIDDEN + j];
            }
        }
        let h: Vec<f64> = z1.iter().map(|&z| z.max(0.0)).collect();
        let mut z2 = b2.clone();
        for (j, &hj) in h.iter().enumerate() {
            for (c, z) in z2.iter_mut().enumerate() {
                *z += hj * w2[j * CLASSES + c];
            }
        }
        let max = z2.iter().copied().fold(f64::MIN, f64::max);
        let sum: f64 = z2.iter().map(|z| (z - max).exp()).sum();
        loss += (sum.ln() + max - z2[label]) / n;
        // d(mean loss)/dz2 = (softmax - onehot) / n
        let dz2: Vec<f64> = (0..CLASSES)
            .map(|c| ((z2[c] - max).exp() / sum - f64::from(u8::from(c == label))) / n)
            .collect();
        for (j, &hj) in h.iter().enumerate() {
            for c in 0..CLASSES {
                g2[j * CLASSES + c] += hj * dz2[c];
            }
        }
        for c in 0..CLASSES {
            gb2[c] += dz2[c];
        }
        for j in 0..HIDDEN {
            if z1[j] > 0.0 {
                let dz1: f64 = (0..CLASSES).map(|c| dz2[c] * w2[j * CLASSES + c]).sum();
                for (i, &xi) in x.iter().enumerate() {
                    g1[i * HIDDEN + j] += xi * dz1;
                }
                gb1[j] += dz1;
            }
        }
    }
    let lr = f64::from(task.learning_rate);
    let updated = [(w1, g1), (b1, gb1), (w2, g2), (b2, gb2)]
        .into_iter()
        .flat_map(|(w, g)| w.into_iter().zip(g).map(move |(w, g)| w - lr * g))
        .collect();
    (updated, loss)
}

#[test]
fn one_trainer_step_is_one_sgd_step_on_the_mean_cross_entropy() {
    let mut task = task();
    task.checkpoint_interval = 1; // a segment of one step
    let w0 = Weights::initial(&[9; 32]);
    let key = [3; 32];
    let (expected, expected_loss) = reference_step(&task, &w0, &key);
    for backend in Backend::available() {
        if backend.name() == "wgpu" {
            continue; // compared with the reference in tests/wgpu.rs
        }
        let mut trainer = Trainer::new(&task, data(), &backend.device());
        let (model, loss) = trainer.train_segment(trainer.model(&w0), &key).unwrap();
        let w = model.weights().unwrap();
        let actual = w
            .hidden_weight
            .iter()
            .chain(&w.hidden_bias)
            .chain(&w.output_weight)
            .chain(&w.output_bias);
        let worst = actual
            .zip(&expected)
            .map(|(a, e)| (f64::from(*a) - e).abs())
            .fold(0.0, f64::max);
        let moved = w.differing_parameters(&w0);
        // f32 rounding of values around 0.04 is about 4e-9; a wrong gradient (sign, scale, a
        // missing ReLU mask, the new W2 used for D) is off by 1e-4 or more.
        assert!(
            worst < 1e-6,
            "{backend}: max |diff| from the f64 step {worst:e}"
        );
        assert!(
            moved > 100_000,
            "{backend}: the step moved only {moved} weights"
        );
        assert!(
            (f64::from(loss) - expected_loss).abs() < 1e-4,
            "{backend}: loss {loss} vs {expected_loss}"
        );
    }
}
