//! The exact training step and the exact evaluation, shared by the miner and the verifier so
//! that both run the same operations; every operation is exact (see [`crate::arithmetic`]),
//! so every backend computes the same bits.
//!
//! One optimizer step: build the batch on the host (pixels to integer inputs by a 256-entry
//! table), then the quantised forward pass, the integer softmax gradient and the update of the
//! masters. A segment is `k` such steps on the samples that its chain key selects. Several
//! candidate models (each with its own key) can train side by side.
//!
//! Two engines compute it (see [`Engine`]): the step written out as burn tensor operations,
//! which every backend runs (GPUs batch the candidates into one product per operation), and
//! CPU kernels written for the step's data (sparse inputs, one fused pass over the hidden
//! weights), which the flex backend runs by default. Both give the same bits; the tests
//! compare them on every backend, and against a scalar `i64` implementation of the spec.

use std::sync::Arc;

use burn::prelude::*;

use crate::arithmetic::{
    Arithmetic, ArithmeticError, Fixed, SOFTMAX_INDEX_SHIFT, SOFTMAX_ONE, SOFTMAX_TABLE,
};
use crate::dataset::{CLASSES, IMAGE_PIXELS, Mnist, Split};
use crate::kernels::{Kernels, Scratch, SparseRows};
use crate::model::{Mlp, Parameters, TensorReadError, Weights};
use crate::prng;
use crate::task::Task;
use crate::trace::{Trace, segment_key};

/// The input table: entry `p` is the integer input of pixel byte `p`, as `f32`.
pub fn input_table(arithmetic: &Arithmetic) -> [f32; 256] {
    let mut table = [0.0f32; 256];
    for (p, entry) in table.iter_mut().enumerate() {
        *entry = arithmetic.input(p as u8) as f32;
    }
    table
}

/// The training-sample indices of one segment: the first `k * batch` entries of a partial
/// Fisher-Yates shuffle of `0..60000` driven by the ChaCha20 stream `(BATCH_ORDER_TAG, key, 0)`.
/// Step `i` of the segment uses entries `i*batch .. (i+1)*batch`.
pub fn segment_samples(task: &Task, key: &[u8; 32], train_len: usize) -> Vec<u32> {
    let mut rng = prng::stream(prng::BATCH_ORDER_TAG, key, 0);
    let wanted = (task.checkpoint_interval as usize * task.batch_size as usize).min(train_len);
    let mut pool: Vec<u32> = (0..train_len as u32).collect();
    for i in 0..wanted {
        let remaining = (train_len - i) as u32;
        let j = i + prng::uniform_below(&mut rng, remaining) as usize;
        pool.swap(i, j);
    }
    pool.truncate(wanted);
    pool
}

/// How a [`Trainer`] or an [`Evaluator`] computes. Both engines compute the same bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Engine {
    /// ann-mining's CPU kernels, written for the step's data: the two large products over
    /// the inputs' nonzero entries only (a fifth of MNIST's pixels), and the update, clamp
    /// and quantisation of the hidden weights in one pass over them, on the host's vector
    /// instructions and the current rayon pool. The default on the flex backend (a CPU).
    CpuKernels,
    /// The step as burn tensor operations on the device: what every backend runs (GPUs
    /// batch the candidates into one product per operation).
    Tensors,
}

impl Engine {
    /// The faster engine for `device`: the CPU kernels on the flex backend (a CPU), when
    /// `task`'s arithmetic fits their bounds; the tensor step elsewhere.
    pub fn for_device(device: &Device, task: &Task) -> Engine {
        match flex_kernels(device, &task.arithmetic, task.batch_size) {
            Some(_) => Engine::CpuKernels,
            None => Engine::Tensors,
        }
    }

    /// The engine's short name (`cpu-kernels`, `tensors`).
    pub fn name(self) -> &'static str {
        match self {
            Engine::CpuKernels => "cpu-kernels",
            Engine::Tensors => "tensors",
        }
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Runs exact optimizer steps on one device.
///
/// The gradient is written out by hand rather than taken from burn's autodiff: the step is a
/// consensus rule, so every operation of it is spelled out here (and in
/// `docs/proof-of-training.md`).
pub struct Trainer {
    setup: Setup,
    engine: StepEngine,
}

/// What every engine trains with.
struct Setup {
    device: Device,
    data: Arc<Mnist>,
    task: Task,
}

enum StepEngine {
    Kernels(Kernels, Box<Scratch>),
    Tensors(Box<TensorStep>),
}

/// The tensor step's device state.
struct TensorStep {
    inputs: [f32; 256],
    softmax_table: Tensor<1, Int>,
    /// Whether the device computes on the caller's rayon pool (flex).
    in_rayon_pool: bool,
    /// How this device computes an exact `floor`.
    floor: Floor,
    /// The training split on the device, for devices where uploading each batch would cost
    /// more than the step (GPUs); `None` on CPU backends, which build batches on the host.
    resident: Option<ResidentSplit>,
}

/// The training split uploaded once, from which each step gathers its rows: the pixels packed
/// four to an `i32` (`[60000, 196]`, 47 MB: a float copy would pass wgpu's 128 MiB binding
/// limit) and the smoothed targets (`[60000, 10]`).
struct ResidentSplit {
    packed_pixels: Tensor<2, Int>,
    targets: Tensor<2, Int>,
}

/// Pixels per packed `i32` word.
const PIXELS_PER_WORD: usize = 4;

impl std::fmt::Debug for Trainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer")
            .field("device", &self.setup.device)
            .field("engine", &self.engine())
            .finish_non_exhaustive()
    }
}

/// How a device computes `floor` of the step's values (both ways give the exact floor).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Floor {
    /// The backend's own `floor` (GPUs: one instruction).
    Native,
    /// Three additions, on CPU backends: their `f32` arithmetic is IEEE round-to-nearest-even
    /// (Rust never contracts or reassociates it), and their `floor` is a libm call per element
    /// (without SSE4.1), five to twenty times slower than an addition.
    #[cfg_attr(not(any(feature = "flex", feature = "ndarray")), allow(dead_code))]
    ByAddition,
}

impl Floor {
    fn for_device(device: &Device) -> Self {
        #[cfg(feature = "flex")]
        if *device == Device::flex() {
            return Floor::ByAddition;
        }
        #[cfg(feature = "ndarray")]
        #[allow(deprecated)] // burn deprecates ndarray; it is kept here on purpose.
        if *device == Device::ndarray() {
            return Floor::ByAddition;
        }
        let _ = device;
        Floor::Native
    }

    /// `floor(x)` for `x` whose values are multiples of `2^-fraction_bits` of magnitude below
    /// `2^magnitude_bits`.
    ///
    /// By addition: `y = x + (2^-(f+1) - 1/2)` is exact (`m + f + 1 <= 23` bits) and
    /// never a half-integer, so round-to-nearest of `y` is `floor(x)`; adding then
    /// subtracting `1.5 * 2^23` rounds `y` to the nearest integer exactly (`|y| < 2^22`).
    /// Where the bits do not fit, the native floor is used: the result is the same.
    fn apply<const D: usize>(
        self,
        x: Tensor<D>,
        fraction_bits: u32,
        magnitude_bits: u32,
    ) -> Tensor<D> {
        const ROUNDER: f32 = 12_582_912.0; // 1.5 * 2^23
        if self == Floor::Native || magnitude_bits + fraction_bits + 1 > 23 {
            return x.floor();
        }
        let nudge = (-(fraction_bits as f32) - 1.0).exp2() - 0.5;
        x.add_scalar(nudge).add_scalar(ROUNDER).sub_scalar(ROUNDER)
    }

    /// The quantised weight `floor(m / 2^f)` of a master held as `m * 2^-f`.
    fn quantise(self, master: Tensor<3>, fixed: Fixed) -> Tensor<3> {
        self.apply(master, fixed.fraction_bits, bits(fixed.max + 1))
    }
}

/// The CPU kernels for `arithmetic` at `batch`, if `device` is the flex backend's (a CPU) and
/// the arithmetic fits them.
fn flex_kernels(device: &Device, arithmetic: &Arithmetic, batch: u32) -> Option<Kernels> {
    is_flex(device)
        .then(|| Kernels::new(arithmetic, batch).ok())
        .flatten()
}

/// Whether `device` is the flex backend's (a CPU that computes on the calling thread's rayon
/// pool).
fn is_flex(device: &Device) -> bool {
    #[cfg(feature = "flex")]
    if *device == Device::flex() {
        return true;
    }
    let _ = device;
    false
}

/// What a segment reports besides the model.
#[derive(Clone, Debug, PartialEq)]
pub struct SegmentStats {
    /// The mean cross-entropy of the last step's batch, computed on the host from the
    /// integer probabilities (information only, not consensus).
    pub loss: f32,
    /// Per candidate: how many entries of the backward signal `D` (one per sample, hidden
    /// unit and step) were nonzero over the segment, out of `k * batch * hidden`. Consensus:
    /// a block's last segment must reach the task's liveness floor (see
    /// [`Task::min_live_deltas`]), so that a ticket always costs a dense backward pass.
    pub live_deltas: Vec<u32>,
}

impl Trainer {
    /// A trainer for `task` on `device`, with the faster engine for it
    /// ([`Engine::for_device`]).
    ///
    /// The task must pass [`Task::validate`]: its bounds are what make the step exact, and
    /// this low-level type does not check them again ([`Miner`](crate::Miner) and
    /// [`TrainingVerifier`](crate::TrainingVerifier) do, when they are built).
    pub fn new(task: &Task, data: Arc<Mnist>, device: &Device) -> Self {
        match flex_kernels(device, &task.arithmetic, task.batch_size) {
            Some(kernels) => Self::kernels(task, data, device, kernels),
            None => Self::tensors(task, data, device),
        }
    }

    /// A trainer for `task` on `device` with the given engine (the kernels compute on the
    /// host; their models are built for `device`).
    ///
    /// # Errors
    /// [`ArithmeticError::Bound`] if the CPU kernels are asked for and one of their own
    /// bounds fails under the task's arithmetic (the tensor step still computes it exactly).
    pub fn with_engine(
        task: &Task,
        data: Arc<Mnist>,
        device: &Device,
        engine: Engine,
    ) -> Result<Self, ArithmeticError> {
        Ok(match engine {
            Engine::CpuKernels => {
                let kernels = Kernels::new(&task.arithmetic, task.batch_size)?;
                Self::kernels(task, data, device, kernels)
            }
            Engine::Tensors => Self::tensors(task, data, device),
        })
    }

    fn kernels(task: &Task, data: Arc<Mnist>, device: &Device, kernels: Kernels) -> Self {
        Self {
            setup: Setup {
                device: device.clone(),
                data,
                task: task.clone(),
            },
            engine: StepEngine::Kernels(kernels, Box::default()),
        }
    }

    fn tensors(task: &Task, data: Arc<Mnist>, device: &Device) -> Self {
        let table: Vec<i32> = SOFTMAX_TABLE.to_vec();
        let inputs = input_table(&task.arithmetic);
        let floor = Floor::for_device(device);
        let resident = (floor == Floor::Native).then(|| {
            let train = data.train();
            let all: Vec<u32> = (0..train.len() as u32).collect();
            let (_, t) = host_batch(&data, &inputs, &task.arithmetic, &[&all], false);
            let rows = train.len();
            let words: Vec<i32> = train
                .images()
                .chunks_exact(PIXELS_PER_WORD)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            ResidentSplit {
                packed_pixels: Tensor::from_data(
                    TensorData::new(words, [rows, IMAGE_PIXELS / PIXELS_PER_WORD]),
                    device,
                ),
                targets: Tensor::from_data(TensorData::new(t, [rows, CLASSES]), device),
            }
        });
        Self {
            setup: Setup {
                device: device.clone(),
                data,
                task: task.clone(),
            },
            engine: StepEngine::Tensors(Box::new(TensorStep {
                inputs,
                resident,
                softmax_table: Tensor::from_data(TensorData::new(table, [256]), device),
                in_rayon_pool: is_flex(device),
                floor,
            })),
        }
    }

    /// The device the trainer runs on (the CPU kernels build their models for it).
    pub fn device(&self) -> &Device {
        &self.setup.device
    }

    /// The engine that computes the step.
    pub fn engine(&self) -> Engine {
        match self.engine {
            StepEngine::Kernels(..) => Engine::CpuKernels,
            StepEngine::Tensors(_) => Engine::Tensors,
        }
    }

    /// Builds the trainable model from host weights.
    pub fn model(&self, weights: &Weights) -> Mlp {
        self.candidates(std::slice::from_ref(weights))
    }

    /// Builds `weights.len()` candidate models that train side by side.
    pub fn candidates(&self, weights: &[Weights]) -> Mlp {
        let a = &self.setup.task.arithmetic;
        match &self.engine {
            StepEngine::Kernels(kernels, _) => {
                let models = weights.iter().map(|w| kernels.model(w)).collect();
                Mlp::from_host(models, a, &self.setup.device)
            }
            StepEngine::Tensors(_) => Mlp::from_candidates(weights, a, &self.setup.device),
        }
    }

    /// Trains `segments` segments from `w0` with the consensus data order (each segment keyed
    /// by the seed, its index and its start checkpoint, as a miner does) and returns the
    /// trace of their checkpoint hashes, W0's first.
    ///
    /// # Errors
    /// [`TensorReadError`] if a checkpoint cannot be read back.
    pub fn train_trace(
        &mut self,
        seed: &[u8; 32],
        w0: &Weights,
        segments: usize,
    ) -> Result<Trace, TensorReadError> {
        let mut checkpoints = vec![w0.hash()];
        let mut model = self.model(w0);
        for j in 0..segments {
            let key = segment_key(seed, j as u64, &checkpoints[j]);
            model = self.train_segment(model, &key)?.0;
            checkpoints.push(model.weights()?.hash());
        }
        Ok(Trace::new(checkpoints))
    }

    /// Trains one segment: `k` steps on the samples selected by `key`. Returns the model and
    /// the segment's statistics (the loss of its last batch, measured before that step's
    /// update, and its live backward entries), read back once per segment so that a GPU is
    /// not forced to synchronise every step.
    ///
    /// # Errors
    /// [`TensorReadError`] if the loss cannot be read back.
    pub fn train_segment(
        &mut self,
        model: Mlp,
        key: &[u8; 32],
    ) -> Result<(Mlp, SegmentStats), TensorReadError> {
        self.train_segments(model, std::slice::from_ref(key))
    }

    /// Trains one segment of every candidate of `model`, candidate `i` on the samples that
    /// `keys[i]` selects (with the tensor step, in one batched product per operation). The
    /// result for each candidate is bit for bit what [`Trainer::train_segment`] gives it
    /// alone.
    ///
    /// # Errors
    /// [`TensorReadError`] if the loss cannot be read back, or `keys` does not have one key
    /// per candidate.
    pub fn train_segments(
        &mut self,
        model: Mlp,
        keys: &[[u8; 32]],
    ) -> Result<(Mlp, SegmentStats), TensorReadError> {
        if keys.len() != model.candidates() {
            return Err(TensorReadError::Shape {
                tensor: "segment keys",
                expected: model.candidates(),
                found: keys.len(),
            });
        }
        let Setup { device, data, task } = &self.setup;
        let train = data.train();
        let samples: Vec<Vec<u32>> = keys
            .iter()
            .map(|key| segment_samples(task, key, train.len()))
            .collect();
        let batch = task.batch_size as usize;
        match &mut self.engine {
            StepEngine::Kernels(kernels, scratch) => {
                let mut candidates = model.into_host(|w| kernels.model(w))?;
                let inputs = kernels.inputs(train);
                let mut probabilities = Vec::new();
                let mut live_deltas = Vec::with_capacity(candidates.len());
                // On a worker of the current rayon pool, so that each parallel loop forks
                // from a worker instead of waking the pool and blocking the caller.
                rayon::scope(|_| {
                    for (model, samples) in candidates.iter_mut().zip(&samples) {
                        let (last, live) =
                            kernels.train_segment(scratch, train, &inputs, model, samples, batch);
                        probabilities.extend(last.into_iter().map(i64::from));
                        live_deltas.push(live);
                    }
                });
                let loss = mean_loss(&probabilities, &samples, train, batch);
                let model = Mlp::from_host(candidates, &task.arithmetic, device);
                Ok((model, SegmentStats { loss, live_deltas }))
            }
            StepEngine::Tensors(step) if step.in_rayon_pool => {
                // Run the whole segment on a worker of the current rayon pool: flex's matrix
                // products then fork from a worker instead of waking the pool and blocking the
                // caller twice a step (on two cores that hand-off cost a fifth of the step).
                rayon::scope(|_| step.segments(&self.setup, model, &samples))
            }
            StepEngine::Tensors(step) => {
                // Not for GPU backends: with burn 0.22.1, wgpu tensors created on one thread and
                // trained on another gave wrong results (cubecl keeps a stream per thread).
                step.segments(&self.setup, model, &samples)
            }
        }
    }
}

impl TensorStep {
    fn segments(
        &self,
        setup: &Setup,
        model: Mlp,
        samples: &[Vec<u32>],
    ) -> Result<(Mlp, SegmentStats), TensorReadError> {
        let batch = setup.task.batch_size as usize;
        let steps = samples.first().map_or(0, |s| s.len() / batch);
        let mut parameters = model.into_parameters();
        let mut last = None;
        let mut live: Option<Tensor<3>> = None;
        for i in 0..steps {
            let step_samples: Vec<&[u32]> = samples
                .iter()
                .map(|s| &s[i * batch..(i + 1) * batch])
                .collect();
            let (next, probabilities, step_live) = self.step(setup, parameters, &step_samples);
            parameters = next;
            live = Some(match live {
                Some(total) => total + step_live,
                None => step_live,
            });
            if i + 1 == steps {
                last = Some(probabilities);
            }
        }
        let loss = match last {
            Some(probabilities) => {
                let p = probabilities
                    .into_data()
                    .try_to_vec_as::<i64>()
                    .map_err(|e| TensorReadError::Backend(format!("{e:?}")))?;
                mean_loss(&p, samples, setup.data.train(), batch)
            }
            None => f32::NAN,
        };
        let live_deltas = match live {
            // Counts of at most k * batch * hidden < 2^24: exact in f32.
            Some(total) => total
                .into_data()
                .try_to_vec_as::<f32>()
                .map_err(|e| TensorReadError::Backend(format!("{e:?}")))?
                .into_iter()
                .map(|count| count as u32)
                .collect(),
            None => vec![0; samples.len()],
        };
        Ok((
            Mlp::from_parameters(parameters, &setup.task.arithmetic),
            SegmentStats { loss, live_deltas },
        ))
    }

    /// The batch on the device: integer inputs `X [n, B, 784]` and smoothed targets
    /// `T [n, B, 10]` (`ls` on every class, `1024 - 9 ls` on the label).
    fn batch(&self, setup: &Setup, samples: &[&[u32]]) -> (Tensor<3>, Tensor<3, Int>) {
        let n = samples.len();
        let b = samples.first().map_or(0, |s| s.len());
        if let Some(split) = &self.resident {
            let rows: Vec<i32> = samples
                .iter()
                .flat_map(|s| s.iter().map(|&i| i as i32))
                .collect();
            let index: Tensor<1, Int> =
                Tensor::from_data(TensorData::new(rows, [n * b]), &setup.device);
            let words = split.packed_pixels.clone().select(0, index.clone());
            let bytes: Vec<Tensor<2, Int>> = (0..PIXELS_PER_WORD as i32)
                .map(|m| {
                    words
                        .clone()
                        .bitwise_right_shift_scalar(8 * m)
                        .bitwise_and_scalar(255)
                })
                .collect();
            let a = &setup.task.arithmetic;
            let pixels = Tensor::stack::<3>(bytes, 2).reshape([n * b, IMAGE_PIXELS]);
            let inputs = pixels
                .bitwise_right_shift_scalar(a.input_shift as i32)
                .sub_scalar(a.input_offset as i32)
                .float()
                .reshape([n, b, IMAGE_PIXELS]);
            return (
                inputs,
                split
                    .targets
                    .clone()
                    .select(0, index)
                    .reshape([n, b, CLASSES]),
            );
        }
        let (images, targets) = host_batch(
            &setup.data,
            &self.inputs,
            &setup.task.arithmetic,
            samples,
            true,
        );
        (
            Tensor::from_data(TensorData::new(images, [n, b, IMAGE_PIXELS]), &setup.device),
            Tensor::from_data(TensorData::new(targets, [n, b, CLASSES]), &setup.device),
        )
    }

    /// One exact step (the formulas are [`Arithmetic`]'s), on `n` candidates at once. Returns
    /// the new parameters, the step's probabilities `P [n, B, 10]` and the number of nonzero
    /// entries of the backward signal `D` per candidate (`[n, 1, 1]`).
    ///
    /// Every `clamp(floor(y), lo, hi)` with integer bounds is computed as
    /// `floor(clamp(y, lo, hi + 1 - 2^-f))` (the same value), so that `floor` only ever sees
    /// small values; clamps are `clamp_min` then `clamp_max` (flex vectorises those).
    fn step(
        &self,
        setup: &Setup,
        p: Parameters,
        samples: &[&[u32]],
    ) -> (Parameters, Tensor<3, Int>, Tensor<3>) {
        let a = &setup.task.arithmetic;
        let (x, targets) = self.batch(setup, samples);
        let (n, b) = (samples.len(), samples.first().map_or(0, |s| s.len()));

        let Forward {
            hidden,
            w2q,
            logits,
        } = forward(self.floor, a, x.clone(), &p);

        // The softmax from the table, in integers: no exp, no float division.
        let probabilities = self.softmax(logits, n, b);
        let g = (probabilities.clone() - targets).float();

        // Backward through the old W2q; the ReLU derivative is [H > 0] = min(H, 1).
        let delta_max = a.delta_max as f32;
        let below = (g.clone().matmul(w2q.transpose()) + pow2(a.delta_shift - 1))
            .mul_scalar(pow2_neg(a.delta_shift))
            .clamp_min(-delta_max)
            .clamp_max(delta_max + 1.0 - pow2_neg(a.delta_shift));
        let delta = self
            .floor
            .apply(below, a.delta_shift, bits(a.delta_max + 1))
            * hidden.clone().clamp_max(1.0);
        let live = delta.clone().abs().clamp_max(1.0).sum_dim(2).sum_dim(1);

        // Updates, each in the master's device units (m * 2^-f), then clamped to its range.
        let output_weight = clamp_master(
            p.output_weight
                - hidden
                    .transpose()
                    .matmul(g.clone().mul_scalar(a.output_weight.scale())),
            a.output_weight,
        );
        let output_bias = bias_step(
            p.output_bias,
            g.sum_dim(1),
            a.output_bias_update_shift,
            a.output_bias,
        );
        let hidden_weight = clamp_master(
            p.hidden_weight
                - x.transpose()
                    .matmul(delta.clone().mul_scalar(a.hidden_weight.scale())),
            a.hidden_weight,
        );
        let hidden_bias = bias_step(
            p.hidden_bias,
            delta.sum_dim(1),
            a.hidden_bias_update_shift,
            a.hidden_bias,
        );
        (
            Parameters {
                hidden_weight,
                hidden_bias,
                output_weight,
                output_bias,
            },
            probabilities,
            live,
        )
    }

    /// `P = floor((floor(e 2^11 / rowsum(e)) + 1) / 2)` with `e` from the table, on integer
    /// tensors (the logits are exact integers below `2^24`).
    fn softmax(&self, logits: Tensor<3>, n: usize, b: usize) -> Tensor<3, Int> {
        let z = logits.int();
        let below_max = z.clone().max_dim(2) - z;
        let index = below_max
            .div_scalar(1i32 << SOFTMAX_INDEX_SHIFT)
            .clamp_max(SOFTMAX_TABLE.len() as i32 - 1)
            .reshape([n * b * CLASSES]);
        let e = self
            .softmax_table
            .clone()
            .select(0, index)
            .reshape([n, b, CLASSES]);
        let sum = e.clone().sum_dim(2);
        (e.mul_scalar(2 * SOFTMAX_ONE as i32) / sum)
            .add_scalar(1)
            .div_scalar(2)
    }
}

/// Mean cross-entropy `-ln(P[label] / 1024)` (with `P >= 1/2` so it stays finite) of a
/// segment's last step: `probabilities` is `[n, B, 10]`, candidate `i`'s batch the last `B`
/// of `samples[i]`.
fn mean_loss(probabilities: &[i64], samples: &[Vec<u32>], train: &Split, batch: usize) -> f32 {
    let labels = train.labels();
    let last_batches = samples.iter().flat_map(|s| {
        let steps = s.len() / batch.max(1);
        &s[steps.saturating_sub(1) * batch..steps * batch]
    });
    let mut total = 0.0f64;
    let mut count = 0usize;
    for (row, &index) in last_batches.enumerate() {
        let label = labels.get(index as usize).copied().unwrap_or(0) as usize;
        let prob = probabilities
            .get(row * CLASSES + label)
            .copied()
            .unwrap_or(0) as f64;
        total -= (prob.max(0.5) / SOFTMAX_ONE as f64).ln();
        count += 1;
    }
    if count == 0 {
        return f32::NAN;
    }
    (total / count as f64) as f32
}

/// Inputs and smoothed targets of `samples` (row-major, candidates one after another).
fn host_batch(
    data: &Mnist,
    inputs: &[f32; 256],
    arithmetic: &Arithmetic,
    samples: &[&[u32]],
    with_images: bool,
) -> (Vec<f32>, Vec<i32>) {
    let train = data.train();
    let rows: usize = samples.iter().map(|s| s.len()).sum();
    let smoothing = arithmetic.label_smoothing as i32;
    let on_label = SOFTMAX_ONE as i32 - (CLASSES as i32 - 1) * smoothing;
    let mut images = Vec::with_capacity(if with_images { rows * IMAGE_PIXELS } else { 0 });
    let mut targets = vec![smoothing; rows * CLASSES];
    for (row, &index) in samples.iter().flat_map(|s| s.iter()).enumerate() {
        let index = index as usize;
        if let Some(pixels) = train.image(index).filter(|_| with_images) {
            images.extend(pixels.iter().map(|&p| inputs[p as usize]));
        }
        let label = train.labels().get(index).copied().unwrap_or(0) as usize;
        if let Some(slot) = targets.get_mut(row * CLASSES + label) {
            *slot = on_label;
        }
    }
    (images, targets)
}

/// The quantised forward pass, shared by training and evaluation.
struct Forward {
    /// `H = clamp(floor((X W1q + b1 + 2^(hs-1)) / 2^hs), 0, hmax)`.
    hidden: Tensor<3>,
    /// `W2q`, which the backward pass reuses.
    w2q: Tensor<3>,
    /// `Z = H W2q + b2`.
    logits: Tensor<3>,
}

fn forward(floor: Floor, a: &Arithmetic, x: Tensor<3>, p: &Parameters) -> Forward {
    let w1q = floor.quantise(p.hidden_weight.clone(), a.hidden_weight);
    let w2q = floor.quantise(p.output_weight.clone(), a.output_weight);
    let bias = p.hidden_bias.clone().floor() + pow2(a.hidden_shift - 1);
    let scaled = (x.matmul(w1q) + bias)
        .mul_scalar(pow2_neg(a.hidden_shift))
        .clamp_min(0.0)
        .clamp_max(a.hidden_max as f32 + 1.0 - pow2_neg(a.hidden_shift));
    let hidden = floor.apply(scaled, a.hidden_shift, bits(a.hidden_max + 1));
    let logits = hidden.clone().matmul(w2q.clone()) + p.output_bias.clone().floor();
    Forward {
        hidden,
        w2q,
        logits,
    }
}

/// A bias update: `C -= 2^u rowsum`, in device units (`m * 2^-f`), then clamped.
fn bias_step(bias: Tensor<3>, row_sum: Tensor<3>, update_shift: u32, fixed: Fixed) -> Tensor<3> {
    clamp_master(
        bias - row_sum.mul_scalar(shift_scale(update_shift, fixed.fraction_bits)),
        fixed,
    )
}

fn clamp_master(value: Tensor<3>, fixed: Fixed) -> Tensor<3> {
    let scale = fixed.scale();
    value
        .clamp_min(fixed.master_min() as f32 * scale)
        .clamp_max(fixed.master_max() as f32 * scale)
}

/// Bits of magnitude needed for values below `limit` in absolute value.
fn bits(limit: i64) -> u32 {
    64 - (limit.max(1) - 1).leading_zeros()
}

pub(crate) fn pow2(shift: u32) -> f32 {
    (shift as f32).exp2()
}

pub(crate) fn pow2_neg(shift: u32) -> f32 {
    (-(shift as f32)).exp2()
}

/// `2^(update_shift - fraction_bits)`: an integer update of `2^u * sum` in device units.
fn shift_scale(update_shift: u32, fraction_bits: u32) -> f32 {
    (update_shift as f32 - fraction_bits as f32).exp2()
}

/// The test split, kept for repeated evaluation with the same quantised forward pass as
/// training: as integer inputs on a device (the tensor engine), or in the CPU kernels' sparse
/// form on the host.
pub struct Evaluator {
    engine: EvalEngine,
    labels: Vec<u8>,
    arithmetic: Arithmetic,
}

enum EvalEngine {
    Kernels {
        kernels: Kernels,
        inputs: Arc<SparseRows>,
        device: Device,
    },
    Tensors {
        images: Tensor<3>,
        floor: Floor,
    },
}

impl std::fmt::Debug for Evaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluator")
            .field("samples", &self.labels.len())
            .field("engine", &self.engine())
            .finish_non_exhaustive()
    }
}

impl Evaluator {
    /// Prepares `split` (as integer inputs under `arithmetic`) for `device`, with the faster
    /// engine for it (the CPU kernels on flex, the tensor forward pass elsewhere).
    pub fn new(split: &Split, arithmetic: &Arithmetic, device: &Device) -> Self {
        match flex_kernels(device, arithmetic, 1) {
            Some(kernels) => Self::kernels(split, arithmetic, device, kernels),
            None => Self::tensors(split, arithmetic, device),
        }
    }

    /// Prepares `split` for `device` with the given engine.
    ///
    /// # Errors
    /// [`ArithmeticError::Bound`] if the CPU kernels are asked for and the forward pass
    /// under `arithmetic` breaks one of their bounds.
    pub fn with_engine(
        split: &Split,
        arithmetic: &Arithmetic,
        device: &Device,
        engine: Engine,
    ) -> Result<Self, ArithmeticError> {
        Ok(match engine {
            Engine::CpuKernels => {
                Self::kernels(split, arithmetic, device, Kernels::new(arithmetic, 1)?)
            }
            Engine::Tensors => Self::tensors(split, arithmetic, device),
        })
    }

    fn kernels(split: &Split, arithmetic: &Arithmetic, device: &Device, kernels: Kernels) -> Self {
        Self {
            engine: EvalEngine::Kernels {
                inputs: kernels.inputs(split),
                kernels,
                device: device.clone(),
            },
            labels: split.labels().to_vec(),
            arithmetic: arithmetic.clone(),
        }
    }

    fn tensors(split: &Split, arithmetic: &Arithmetic, device: &Device) -> Self {
        let table = input_table(arithmetic);
        let images: Vec<f32> = split.images().iter().map(|&p| table[p as usize]).collect();
        let samples = split.len();
        Self {
            engine: EvalEngine::Tensors {
                images: Tensor::from_data(
                    TensorData::new(images, [1, samples, IMAGE_PIXELS]),
                    device,
                ),
                floor: Floor::for_device(device),
            },
            labels: split.labels().to_vec(),
            arithmetic: arithmetic.clone(),
        }
    }

    /// The engine that computes the forward pass.
    pub fn engine(&self) -> Engine {
        match self.engine {
            EvalEngine::Kernels { .. } => Engine::CpuKernels,
            EvalEngine::Tensors { .. } => Engine::Tensors,
        }
    }

    /// Accuracy of `weights` in basis points: `floor(10000 * correct / samples)`.
    ///
    /// # Errors
    /// [`TensorReadError`] if the logits cannot be read back.
    pub fn accuracy_of(&self, weights: &Weights) -> Result<u16, TensorReadError> {
        let model = match &self.engine {
            EvalEngine::Kernels {
                kernels, device, ..
            } => Mlp::from_host(vec![kernels.model(weights)], &self.arithmetic, device),
            EvalEngine::Tensors { images, .. } => {
                Mlp::from_weights(weights, &self.arithmetic, &images.device())
            }
        };
        self.accuracy(&model)
    }

    /// Accuracy of the first (for a single model: the) candidate of `model`.
    ///
    /// # Errors
    /// [`TensorReadError`] if the logits cannot be read back.
    pub fn accuracy(&self, model: &Mlp) -> Result<u16, TensorReadError> {
        self.candidate_accuracy(model, 0)
    }

    /// Accuracy of candidate `index` of `model`. A sample is correct when its label's logit
    /// is the row's maximum and no lower class index has the same logit (ties go to the
    /// lowest index).
    ///
    /// # Errors
    /// [`TensorReadError`] if the logits cannot be read back or `index` is not a candidate.
    pub fn candidate_accuracy(&self, model: &Mlp, index: usize) -> Result<u16, TensorReadError> {
        if index >= model.candidates() {
            return Err(TensorReadError::Shape {
                tensor: "candidates",
                expected: index + 1,
                found: model.candidates(),
            });
        }
        let correct = match &self.engine {
            EvalEngine::Kernels {
                kernels, inputs, ..
            } => {
                let predictions = match model.host_candidate(index) {
                    Some(host) => kernels.predict(host, inputs),
                    None => {
                        let host = kernels.model(&model.candidate_weights()?[index]);
                        kernels.predict(&host, inputs)
                    }
                };
                predictions
                    .iter()
                    .zip(&self.labels)
                    .filter(|(predicted, label)| predicted == label)
                    .count()
            }
            EvalEngine::Tensors { images, floor } => match model.parameters() {
                Some(p) => self.tensor_correct(images, *floor, p, index)?,
                None => {
                    let weights = &model.candidate_weights()?[index];
                    let device = images.device();
                    let p = Mlp::from_weights(weights, &self.arithmetic, &device).into_parameters();
                    self.tensor_correct(images, *floor, &p, 0)?
                }
            },
        };
        let bp = correct as u64 * 10_000 / (self.labels.len().max(1) as u64);
        Ok(u16::try_from(bp).unwrap_or(u16::MAX))
    }

    /// How many samples candidate `index` of `p` classifies correctly (tensor forward pass).
    fn tensor_correct(
        &self,
        images: &Tensor<3>,
        floor: Floor,
        p: &Parameters,
        index: usize,
    ) -> Result<usize, TensorReadError> {
        let pick = |t: &Tensor<3>| t.clone().narrow(0, index, 1);
        let candidate = Parameters {
            hidden_weight: pick(&p.hidden_weight),
            hidden_bias: pick(&p.hidden_bias),
            output_weight: pick(&p.output_weight),
            output_bias: pick(&p.output_bias),
        };
        let forward = forward(floor, &self.arithmetic, images.clone(), &candidate);
        let z = forward
            .logits
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| TensorReadError::Backend(format!("{e:?}")))?;
        if z.len() != self.labels.len() * CLASSES {
            return Err(TensorReadError::Shape {
                tensor: "logits",
                expected: self.labels.len() * CLASSES,
                found: z.len(),
            });
        }
        Ok(z.chunks_exact(CLASSES)
            .zip(&self.labels)
            .filter(|(row, label)| argmax_lowest(row) == usize::from(**label))
            .count())
    }
}

/// The index of the largest value, the lowest index among equals.
pub fn argmax_lowest(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate().skip(1) {
        if v > row[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_ties_go_to_the_lowest_index() {
        assert_eq!(argmax_lowest(&[1.0, 3.0, 3.0, 2.0]), 1);
        assert_eq!(argmax_lowest(&[5.0, 5.0]), 0);
        assert_eq!(argmax_lowest(&[-1.0, -2.0, 0.0]), 2);
    }

    #[test]
    fn bits_counts_the_magnitude() {
        assert_eq!(bits(128), 7); // values below 128
        assert_eq!(bits(129), 8);
        assert_eq!(bits(256), 8);
        assert_eq!(bits(2048), 11);
        assert_eq!(bits(1), 0);
    }

    #[test]
    fn inputs_span_the_documented_range() {
        let t = input_table(&Arithmetic::MNIST);
        assert_eq!((t[0], t[1], t[2], t[255]), (-16.0, -16.0, -15.0, 111.0));
    }
}
