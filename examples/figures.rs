//! The figures of the documentation, measured on this machine and drawn as PNG:
//!
//! - `training-curve.png`: test accuracy against optimizer steps for the chain's integer-exact
//!   training and for float32 training of the same network (784-512-10, ReLU, SGD with
//!   learning rate 1/4 on batches of 64) from the same data order, both on flex;
//! - `mining-cost.png`: seconds to mine a block and seconds to verify it (the full training
//!   audit) as the work a block takes grows: each block a dot, the mean of each difficulty a
//!   line.
//!
//! ```sh
//! cargo run --release --example figures -- --out docs
//! ```
//!
//! Each figure's numbers are printed too, for the tables beside them.

// A command-line program: its output is the point.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;
#[path = "common/plot.rs"]
mod plot;

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use blockchain_ann::ledger::{BlockHash, BlockHeader, CompactTarget, MerkleRoot, ProofVerifier};
use blockchain_ann::mining::burn::prelude::*;
use blockchain_ann::mining::dataset::{CLASSES, IMAGE_PIXELS};
use blockchain_ann::mining::model::HIDDEN;
use blockchain_ann::mining::prng;
use blockchain_ann::mining::trace::segment_key;
use blockchain_ann::mining::training::{Evaluator, Trainer, argmax_lowest, segment_samples};
use blockchain_ann::mining::{
    ArtifactStore, Backend, Miner, Mnist, Task, TrainingVerifier, Weights,
};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use plot::{Chart, Series};

/// Draws the documentation's training-curve and mining-cost figures from fresh measurements.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    #[command(flatten)]
    task: common::TaskArgs,
    /// Directory the PNG files are written to.
    #[arg(long, default_value = ".")]
    out: PathBuf,
    /// Optimizer steps of the training curve (each side).
    #[arg(long, default_value_t = 1500)]
    steps: u64,
    /// Steps between two accuracy measurements on the 10,000 test images (a multiple of the
    /// task's checkpoint interval).
    #[arg(long, default_value_t = 50)]
    eval_every: u64,
    /// Expected tickets per block of the mining-cost figure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "4,16,64,256")]
    tickets: Vec<u64>,
    /// Blocks mined and verified at each difficulty.
    #[arg(long, default_value_t = 3)]
    blocks: u64,
    /// Skip the training curve.
    #[arg(long)]
    skip_curve: bool,
    /// Skip the mining-cost figure.
    #[arg(long)]
    skip_cost: bool,
}

fn main() {
    common::main_with::<Args>(run);
}

const EXACT_RGB: [u8; 3] = [30, 90, 200];
const FLOAT_RGB: [u8; 3] = [230, 120, 20];
const GATE_RGB: [u8; 3] = [150, 150, 150];

fn run(args: Args) -> Result<()> {
    let (data, task) = common::load_task(&args.task.data)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    if !args.skip_curve {
        training_curve(&args, &data, &task)?;
    }
    if !args.skip_cost {
        mining_cost(&args, &data, &task)?;
    }
    Ok(())
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>10} [{bar:30.cyan/blue}] {pos}/{len} {msg} ({elapsed})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_prefix(what.to_owned());
    bar
}

/// Accuracy against steps, exact and float, from the same W0 seed and the same batches.
fn training_curve(args: &Args, data: &Arc<Mnist>, task: &Task) -> Result<()> {
    let k = u64::from(task.checkpoint_interval);
    ensure!(
        args.eval_every > 0 && args.eval_every.is_multiple_of(k),
        "--eval-every must be a positive multiple of the checkpoint interval ({k})"
    );
    let device = Backend::DEFAULT.device();
    let seed = [11u8; 32];
    let w0 = Weights::initial(&seed, &task.arithmetic);
    let mut trainer = Trainer::new(task, Arc::clone(data), &device);
    let evaluator = Evaluator::new(data.test(), &task.arithmetic, &device);
    let mut float = FloatMlp::new(&seed, data, &device);

    let progress = bar(args.steps, "training");
    let mut model = trainer.model(&w0);
    let mut hash = w0.hash();
    let mut exact_points = vec![(0.0, percent(evaluator.accuracy(&model)?))];
    let mut float_points = vec![(0.0, float.accuracy()?)];
    let segments = args.steps / k;
    for segment in 0..segments {
        let key = segment_key(&seed, segment, &hash);
        let (next, _) = trainer.train_segment(model, &key)?;
        hash = next.weights()?.hash();
        model = next;
        // The float network trains on the very samples the exact one just did.
        let samples = segment_samples(task, &key, data.train().len());
        for batch in samples.chunks(task.batch_size as usize) {
            float.step(batch);
        }
        let steps = (segment + 1) * k;
        progress.set_position(steps);
        if steps.is_multiple_of(args.eval_every) {
            let exact = percent(evaluator.accuracy(&model)?);
            let float_accuracy = float.accuracy()?;
            progress.set_message(format!("exact {exact:.2} %, float {float_accuracy:.2} %"));
            exact_points.push((steps as f64, exact));
            float_points.push((steps as f64, float_accuracy));
        }
    }
    progress.finish_and_clear();

    println!("training curve (test accuracy, %): steps, exact, float");
    for (e, f) in exact_points.iter().zip(&float_points) {
        println!("{:>6} {:>7.2} {:>7.2}", e.0, e.1, f.1);
    }
    let max_steps = (segments * k) as f64;
    let tick_every = nice_step(max_steps / 6.0);
    let chart = Chart {
        width: 900,
        height: 420,
        x: (0.0, max_steps),
        y: (80.0, 100.0),
        x_ticks: ticks(0.0, max_steps, tick_every),
        y_ticks: (0..=4)
            .map(|i| (80.0 + 5.0 * f64::from(i), format!("{}%", 80 + 5 * i)))
            .collect(),
        rules: vec![(percent(task.accuracy_gate.basis_points()), GATE_RGB)],
        series: vec![
            Series {
                rgb: FLOAT_RGB,
                points: float_points,
                lines: true,
            },
            Series {
                rgb: EXACT_RGB,
                points: exact_points,
                lines: true,
            },
        ],
    };
    let path = args.out.join("training-curve.png");
    chart.write_png(&path)?;
    println!("wrote {}", path.display());
    Ok(())
}

/// Seconds to mine and to verify blocks as their expected tickets grow.
fn mining_cost(args: &Args, data: &Arc<Mnist>, task: &Task) -> Result<()> {
    ensure!(!args.tickets.is_empty(), "--tickets names no difficulty");
    ensure!(args.blocks > 0, "--blocks must be at least 1");
    let dir = tempfile::tempdir()?;
    let store = ArtifactStore::open(dir.path())?;
    let miner = Miner::new(task.clone(), Arc::clone(data), store.clone())?;
    let verifier = TrainingVerifier::new(task.clone(), Arc::clone(data), store)?;
    let total = args.tickets.len() as u64 * args.blocks;
    let progress = bar(total, "blocks");
    let mut mine_points = Vec::new();
    let mut verify_points = Vec::new();
    println!("mining cost: expected tickets, block, steps, seconds to mine, seconds to verify");
    for (i, &tickets) in args.tickets.iter().enumerate() {
        ensure!(tickets > 0, "expected tickets must be positive");
        let x = (tickets as f64).log2();
        for block in 0..args.blocks {
            let template = BlockHeader {
                version: 1,
                height: 1,
                prev_hash: BlockHash::ZERO,
                merkle_root: MerkleRoot::ZERO,
                timestamp: 1_700_000_000 + (i as u64) * 1000 + block,
                bits: CompactTarget::from_expected_tickets(u128::from(tickets)),
                training: Default::default(),
            };
            progress.set_message(format!("{tickets} expected tickets"));
            let started = Instant::now();
            let mined = miner.mine(&template, |_| ControlFlow::Continue(()))?;
            let mine_secs = started.elapsed().as_secs_f64();
            let started = Instant::now();
            verifier.verify_proof(&mined.header)?;
            let verify_secs = started.elapsed().as_secs_f64();
            println!(
                "{tickets:>6} {block:>3} {:>6} {mine_secs:>8.2} {verify_secs:>8.2}",
                mined.header.training.steps
            );
            mine_points.push((x, mine_secs));
            verify_points.push((x, verify_secs));
            progress.inc(1);
        }
    }
    progress.finish_and_clear();
    let mine_means = means(&mine_points);
    let verify_means = means(&verify_points);
    println!("means: expected tickets, seconds to mine, seconds to verify");
    for (m, v) in mine_means.iter().zip(&verify_means) {
        println!("{:>6} {:>8.2} {:>8.2}", m.0.exp2().round(), m.1, v.1);
    }
    let top = mine_points
        .iter()
        .chain(&verify_points)
        .map(|p| p.1)
        .fold(1.0, f64::max);
    let y_step = nice_step(top / 5.0);
    let y_max = (top / y_step).ceil() * y_step;
    let (x_min, x_max) = args
        .tickets
        .iter()
        .map(|&t| (t as f64).log2())
        .fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)));
    let pad = ((x_max - x_min) / 12.0).max(0.5);
    let chart = Chart {
        width: 900,
        height: 420,
        x: (x_min - pad, x_max + pad),
        y: (0.0, y_max),
        x_ticks: args
            .tickets
            .iter()
            .map(|&t| ((t as f64).log2(), t.to_string()))
            .collect(),
        y_ticks: ticks(0.0, y_max, y_step),
        rules: Vec::new(),
        series: vec![
            Series {
                rgb: FLOAT_RGB,
                points: mine_points,
                lines: false,
            },
            Series {
                rgb: FLOAT_RGB,
                points: mine_means,
                lines: true,
            },
            Series {
                rgb: EXACT_RGB,
                points: verify_points,
                lines: false,
            },
            Series {
                rgb: EXACT_RGB,
                points: verify_means,
                lines: true,
            },
        ],
    };
    let path = args.out.join("mining-cost.png");
    chart.write_png(&path)?;
    println!("wrote {}", path.display());
    Ok(())
}

/// The mean y of each run of points with the same x (the points come grouped by x).
fn means(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    points
        .chunk_by(|a, b| a.0 == b.0)
        .map(|group| {
            let sum: f64 = group.iter().map(|p| p.1).sum();
            (group[0].0, sum / group.len() as f64)
        })
        .collect()
}

fn percent(basis_points: u16) -> f64 {
    f64::from(basis_points) / 100.0
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let power = 10f64.powf(raw.max(1e-9).log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * power)
}

fn ticks(from: f64, to: f64, step: f64) -> Vec<(f64, String)> {
    let count = ((to - from) / step).floor() as u64;
    (0..=count)
        .map(|i| {
            let v = from + i as f64 * step;
            let label = if step >= 1.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.1}")
            };
            (v, label)
        })
        .collect()
}

/// The task's network in float32 (PyTorch's default initialisation, inputs normalised as
/// PyTorch's MNIST examples do), trained by plain SGD with the exact task's learning rate
/// (1/4) and batch size, the gradient written out as the exact step writes its own.
struct FloatMlp {
    device: Device,
    w1: Tensor<2>,
    b1: Tensor<2>,
    w2: Tensor<2>,
    b2: Tensor<2>,
    train: Vec<f32>,
    labels: Vec<u8>,
    test_images: Tensor<2>,
    test_labels: Vec<u8>,
}

const LEARNING_RATE: f32 = 0.25;

fn normalised(pixels: &[u8]) -> Vec<f32> {
    pixels
        .iter()
        .map(|&p| (f32::from(p) / 255.0 - 0.1307) / 0.3081)
        .collect()
}

impl FloatMlp {
    fn new(seed: &[u8; 32], data: &Mnist, device: &Device) -> Self {
        let mut rng = prng::stream(b"blockchain-ann/figures/float-init", seed, 0);
        let mut uniform = |n: usize, fan_in: usize| -> Vec<f32> {
            let bound = 1.0 / (fan_in as f32).sqrt();
            (0..n)
                .map(|_| prng::uniform_symmetric(&mut rng, bound))
                .collect()
        };
        let tensor = |values: Vec<f32>, shape: [usize; 2]| {
            Tensor::from_data(TensorData::new(values, shape), device)
        };
        let w1 = tensor(
            uniform(IMAGE_PIXELS * HIDDEN, IMAGE_PIXELS),
            [IMAGE_PIXELS, HIDDEN],
        );
        let b1 = tensor(uniform(HIDDEN, IMAGE_PIXELS), [1, HIDDEN]);
        let w2 = tensor(uniform(HIDDEN * CLASSES, HIDDEN), [HIDDEN, CLASSES]);
        let b2 = tensor(uniform(CLASSES, HIDDEN), [1, CLASSES]);
        let test = data.test();
        Self {
            device: device.clone(),
            w1,
            b1,
            w2,
            b2,
            train: normalised(data.train().images()),
            labels: data.train().labels().to_vec(),
            test_images: tensor(normalised(test.images()), [test.len(), IMAGE_PIXELS]),
            test_labels: test.labels().to_vec(),
        }
    }

    fn logits(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let hidden = (x.matmul(self.w1.clone()) + self.b1.clone()).clamp_min(0.0);
        let logits = hidden.clone().matmul(self.w2.clone()) + self.b2.clone();
        (hidden, logits)
    }

    /// One SGD step on the training samples `batch`.
    fn step(&mut self, batch: &[u32]) {
        let n = batch.len();
        let mut images = Vec::with_capacity(n * IMAGE_PIXELS);
        let mut targets = vec![0.0f32; n * CLASSES];
        for (row, &sample) in batch.iter().enumerate() {
            let sample = sample as usize;
            images.extend_from_slice(&self.train[sample * IMAGE_PIXELS..][..IMAGE_PIXELS]);
            targets[row * CLASSES + usize::from(self.labels[sample])] = 1.0;
        }
        let x = Tensor::from_data(TensorData::new(images, [n, IMAGE_PIXELS]), &self.device);
        let t = Tensor::from_data(TensorData::new(targets, [n, CLASSES]), &self.device);
        let (hidden, logits) = self.logits(x.clone());
        // Softmax cross-entropy's gradient on the mean loss: (softmax(z) - t) / n.
        let shifted = logits.clone() - logits.max_dim(1);
        let e = shifted.exp();
        let g = ((e.clone() / e.sum_dim(1)) - t).div_scalar(n as f32);
        let delta = g.clone().matmul(self.w2.clone().transpose()) * hidden.clone().sign();
        let lr = LEARNING_RATE;
        self.w2 = self.w2.clone() - hidden.transpose().matmul(g.clone()).mul_scalar(lr);
        self.b2 = self.b2.clone() - g.sum_dim(0).mul_scalar(lr);
        self.w1 = self.w1.clone() - x.transpose().matmul(delta.clone()).mul_scalar(lr);
        self.b1 = self.b1.clone() - delta.sum_dim(0).mul_scalar(lr);
    }

    /// Test accuracy in percent (ties to the lowest class, as the exact task counts them).
    fn accuracy(&self) -> Result<f64> {
        let (_, logits) = self.logits(self.test_images.clone());
        let z = logits
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("reading the float logits back: {e:?}"))?;
        let correct = z
            .chunks(CLASSES)
            .zip(&self.test_labels)
            .filter(|(row, label)| argmax_lowest(row) == usize::from(**label))
            .count();
        Ok(100.0 * correct as f64 / self.test_labels.len() as f64)
    }
}
