//! The hand-written training loop and the evaluation, shared by the miner and the verifier so
//! that both run exactly the same operations in the same order.
//!
//! One optimizer step: build the batch on the host (preprocessing by a 256-entry table), then
//! the forward pass, the gradient of the mean cross-entropy and the SGD update, all written out
//! on burn tensors (see [`Trainer`]). A segment is `k` such steps on the samples that its chain
//! key selects.

use std::sync::Arc;

use burn::prelude::*;
use burn::tensor::activation;

use crate::dataset::{CLASSES, IMAGE_PIXELS, Mnist, Split};
use crate::model::{Mlp, Parameters, TensorReadError, Weights};
use crate::prng;
use crate::task::{PIXEL_MEAN, PIXEL_STD, Task};

/// The preprocessing as a table: entry `p` is `(p / 255 - MEAN) / STD` in `f32`.
pub fn preprocessing_table() -> [f32; 256] {
    let mut table = [0.0f32; 256];
    for (p, entry) in table.iter_mut().enumerate() {
        *entry = (p as f32 / 255.0 - PIXEL_MEAN) / PIXEL_STD;
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

/// Runs optimizer steps on one device.
///
/// The gradient is written out by hand rather than taken from burn's autodiff: the step is a
/// consensus rule, so every operation of it is spelled out here (and in
/// `docs/proof-of-training.md`), and the hand-written form skips the autodiff graph, folds the
/// learning rate into the smallest tensor and updates the weights in place.
pub struct Trainer {
    device: Device,
    data: Arc<Mnist>,
    task: Task,
    table: [f32; 256],
    /// `learning_rate / batch_size` in `f32`: the factor that turns `softmax - onehot` into
    /// the scaled gradient of the mean loss.
    step_scale: f32,
    /// Whether the device computes on the caller's rayon pool (flex).
    in_rayon_pool: bool,
}

impl std::fmt::Debug for Trainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer")
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

/// Whether `device` runs its kernels on the calling thread's rayon pool.
fn computes_on_rayon(device: &Device) -> bool {
    #[cfg(feature = "flex")]
    if *device == Device::flex() {
        return true;
    }
    let _ = device;
    false
}

impl Trainer {
    /// A trainer for `task` on `device`.
    pub fn new(task: &Task, data: Arc<Mnist>, device: &Device) -> Self {
        Self {
            device: device.clone(),
            data,
            task: task.clone(),
            table: preprocessing_table(),
            step_scale: task.learning_rate / task.batch_size as f32,
            in_rayon_pool: computes_on_rayon(device),
        }
    }

    /// The device the trainer runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Builds the trainable model from host weights.
    pub fn model(&self, weights: &Weights) -> Mlp {
        Mlp::from_weights(weights, &self.device)
    }

    /// Trains one segment: `k` steps on the samples selected by `key`. Returns the model and
    /// the mean loss of the segment's last step, measured before that step's update (read back
    /// only once per segment, so a GPU is not forced to synchronise every step).
    ///
    /// # Errors
    /// [`TensorReadError`] if the loss cannot be read back.
    pub fn train_segment(
        &mut self,
        model: Mlp,
        key: &[u8; 32],
    ) -> Result<(Mlp, f32), TensorReadError> {
        if self.in_rayon_pool {
            // Run the whole segment on a worker of the current rayon pool: flex's matrix
            // products then fork from a worker instead of waking the pool and blocking the
            // caller twice a step (on two cores that hand-off cost a fifth of the step).
            rayon::scope(|_| self.train_segment_here(model, key))
        } else {
            // Not for GPU backends: with burn 0.22.1, wgpu tensors created on one thread and
            // trained on another gave wrong results (cubecl keeps a stream per thread).
            self.train_segment_here(model, key)
        }
    }

    fn train_segment_here(
        &mut self,
        model: Mlp,
        key: &[u8; 32],
    ) -> Result<(Mlp, f32), TensorReadError> {
        let samples = segment_samples(&self.task, key, self.data.train().len());
        let batch = self.task.batch_size as usize;
        let mut parameters = model.into_parameters();
        let steps = samples.len() / batch;
        let mut last_loss = None;
        for (i, step_samples) in samples.chunks_exact(batch).enumerate() {
            let (next, loss) = self.step(parameters, step_samples, i + 1 == steps);
            parameters = next;
            last_loss = loss.or(last_loss);
        }
        let loss = match last_loss {
            Some(loss) => loss
                .into_data()
                .try_to_vec::<f32>()
                .map_err(|e| TensorReadError(format!("{e:?}")))?
                .first()
                .copied()
                .unwrap_or(f32::NAN),
            None => f32::NAN,
        };
        Ok((Mlp::from_parameters(parameters), loss))
    }

    /// The batch on the device: preprocessed images `X [B, 784]` and one-hot labels `Y [B, 10]`.
    fn batch(&self, samples: &[u32]) -> (Tensor<2>, Tensor<2>) {
        let train = self.data.train();
        let mut images = Vec::with_capacity(samples.len() * IMAGE_PIXELS);
        let mut one_hot = vec![0.0f32; samples.len() * CLASSES];
        for (row, &index) in samples.iter().enumerate() {
            let index = index as usize;
            if let Some(pixels) = train.image(index) {
                images.extend(pixels.iter().map(|&p| self.table[p as usize]));
            }
            let label = train.labels().get(index).copied().unwrap_or(0) as usize;
            if let Some(slot) = one_hot.get_mut(row * CLASSES + label) {
                *slot = 1.0;
            }
        }
        let shape = |width: usize| [samples.len(), width];
        (
            Tensor::from_data(TensorData::new(images, shape(IMAGE_PIXELS)), &self.device),
            Tensor::from_data(TensorData::new(one_hot, shape(CLASSES)), &self.device),
        )
    }

    /// One SGD step on the mean softmax cross-entropy of the batch, with `s = lr / B`:
    ///
    /// ```text
    /// H  = relu(X W1 + b1)             Z = H W2 + b2
    /// G  = (softmax(Z) - Y) * s        (the scaled gradient at the logits)
    /// W2 -= H^T G                      b2 -= colsum(G)
    /// D  = G W2^T, zero where H <= 0   (with the old W2)
    /// W1 -= X^T D                      b1 -= colsum(D)
    /// ```
    ///
    /// The loss `-mean(sum(log_softmax(Z) * Y))` is computed only when asked for.
    fn step(
        &self,
        p: Parameters,
        samples: &[u32],
        with_loss: bool,
    ) -> (Parameters, Option<Tensor<1>>) {
        let (x, y) = self.batch(samples);
        let hidden = activation::relu(
            x.clone().matmul(p.hidden_weight.clone()) + p.hidden_bias.clone().unsqueeze(),
        );
        let logits =
            hidden.clone().matmul(p.output_weight.clone()) + p.output_bias.clone().unsqueeze();
        let loss = with_loss.then(|| {
            (activation::log_softmax(logits.clone(), 1) * y.clone())
                .sum_dim(1)
                .mean()
                .neg()
        });
        let g = (activation::softmax(logits, 1) - y).mul_scalar(self.step_scale);
        // The ReLU derivative as a 0/1 factor: a multiply is branch-free, unlike `mask_fill`.
        let active = hidden.clone().greater_elem(0.0).float();
        let d = g.clone().matmul(p.output_weight.clone().transpose()) * active;
        let output_weight = p.output_weight - hidden.transpose().matmul(g.clone());
        let output_bias = p.output_bias - g.sum_dim(0).squeeze_dim(0);
        let hidden_weight = p.hidden_weight - x.transpose().matmul(d.clone());
        let hidden_bias = p.hidden_bias - d.sum_dim(0).squeeze_dim(0);
        (
            Parameters {
                hidden_weight,
                hidden_bias,
                output_weight,
                output_bias,
            },
            loss,
        )
    }
}

/// The test split, preprocessed once and kept on a device, for repeated evaluation.
pub struct Evaluator {
    device: Device,
    images: Tensor<2>,
    labels: Tensor<1, Int>,
    samples: usize,
}

impl std::fmt::Debug for Evaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluator")
            .field("samples", &self.samples)
            .finish_non_exhaustive()
    }
}

impl Evaluator {
    /// Uploads `split` (preprocessed) to `device`.
    pub fn new(split: &Split, device: &Device) -> Self {
        let device = device.clone();
        let table = preprocessing_table();
        let images: Vec<f32> = split.images().iter().map(|&p| table[p as usize]).collect();
        let labels: Vec<i64> = split.labels().iter().map(|&l| i64::from(l)).collect();
        let samples = split.len();
        Self {
            images: Tensor::from_data(TensorData::new(images, [samples, IMAGE_PIXELS]), &device),
            labels: Tensor::from_data(TensorData::new(labels, [samples]), &device),
            device,
            samples,
        }
    }

    /// Accuracy of `weights` in basis points: `floor(10000 * correct / samples)`.
    ///
    /// # Errors
    /// [`TensorReadError`] if the result cannot be read back.
    pub fn accuracy_of(&self, weights: &Weights) -> Result<u16, TensorReadError> {
        self.accuracy(&Mlp::from_weights(weights, &self.device))
    }

    /// Accuracy of a model on the evaluator's device.
    ///
    /// # Errors
    /// [`TensorReadError`] if the result cannot be read back.
    pub fn accuracy(&self, model: &Mlp) -> Result<u16, TensorReadError> {
        let predicted = model
            .forward(self.images.clone())
            .argmax(1)
            .reshape([self.samples]);
        let correct = predicted
            .equal(self.labels.clone())
            .int()
            .sum()
            .into_data()
            .try_to_vec_as::<i64>()
            .map_err(|e| TensorReadError(format!("{e:?}")))?
            .first()
            .copied()
            .unwrap_or(0);
        let correct = u64::try_from(correct).unwrap_or(0);
        let bp = correct.saturating_mul(10_000) / (self.samples.max(1) as u64);
        Ok(u16::try_from(bp).unwrap_or(u16::MAX))
    }
}
