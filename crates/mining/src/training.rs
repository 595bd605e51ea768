//! The hand-written training loop and the evaluation, shared by the miner and the verifier so
//! that both run exactly the same operations in the same order.
//!
//! One optimizer step: build the batch on the host (preprocessing by a 256-entry table), forward,
//! mean cross-entropy, `backward`, [`GradientsParams::from_grads`], SGD step. A segment is
//! `k` such steps on the samples that its chain key selects.

use std::sync::Arc;

use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::{GradientsParams, SgdConfig};
use burn::prelude::*;

use crate::dataset::{IMAGE_PIXELS, Mnist, Split};
use crate::model::{Mlp, TensorReadError, Weights};
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
pub struct Trainer {
    device: Device,
    data: Arc<Mnist>,
    task: Task,
    table: [f32; 256],
    loss: CrossEntropyLoss,
    optimizer: burn::optim::ModuleOptimizer,
}

impl std::fmt::Debug for Trainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer")
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

impl Trainer {
    /// A trainer for `task` on `device` (autodiff is enabled on it here).
    pub fn new(task: &Task, data: Arc<Mnist>, device: &Device) -> Self {
        let device = device.clone().autodiff();
        Self {
            loss: CrossEntropyLossConfig::new().init(&device),
            device,
            data,
            task: task.clone(),
            table: preprocessing_table(),
            // Plain SGD: the optimizer has no state a checkpoint would have to carry.
            optimizer: SgdConfig::new().init(),
        }
    }

    /// The device (with autodiff) the trainer runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Builds the trainable model from host weights.
    pub fn model(&self, weights: &Weights) -> Mlp {
        Mlp::from_weights(weights, &self.device)
    }

    /// Trains one segment: `k` steps on the samples selected by `key`. Returns the model and
    /// the loss of the segment's last step (read back only once per segment, so a GPU is not
    /// forced to synchronise every step).
    ///
    /// # Errors
    /// [`TensorReadError`] if the loss cannot be read back.
    pub fn train_segment(
        &mut self,
        mut model: Mlp,
        key: &[u8; 32],
    ) -> Result<(Mlp, f32), TensorReadError> {
        let samples = segment_samples(&self.task, key, self.data.train().len());
        let batch = self.task.batch_size as usize;
        let mut last_loss = None;
        for step_samples in samples.chunks_exact(batch) {
            let (next, loss) = self.step(model, step_samples);
            model = next;
            last_loss = Some(loss);
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
        Ok((model, loss))
    }

    fn step(&mut self, model: Mlp, samples: &[u32]) -> (Mlp, Tensor<1>) {
        let train = self.data.train();
        let mut images = Vec::with_capacity(samples.len() * IMAGE_PIXELS);
        let mut labels = Vec::with_capacity(samples.len());
        for &index in samples {
            let index = index as usize;
            if let Some(pixels) = train.image(index) {
                images.extend(pixels.iter().map(|&p| self.table[p as usize]));
            }
            labels.push(i64::from(train.labels().get(index).copied().unwrap_or(0)));
        }
        let images = Tensor::<2>::from_data(
            TensorData::new(images, [samples.len(), IMAGE_PIXELS]),
            &self.device,
        );
        let labels =
            Tensor::<1, Int>::from_data(TensorData::new(labels, [samples.len()]), &self.device);
        let logits = model.forward(images);
        let loss = self.loss.forward(logits, labels);
        let gradients = GradientsParams::from_grads(loss.backward(), &model);
        let model = self
            .optimizer
            .step(f64::from(self.task.learning_rate), model, gradients);
        (model, loss.detach())
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
    /// Uploads `split` (preprocessed) to `device` (without autodiff).
    pub fn new(split: &Split, device: &Device) -> Self {
        let device = device.clone().inner();
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

    /// Accuracy of a model (moved to the evaluator's device without autodiff).
    ///
    /// # Errors
    /// [`TensorReadError`] if the result cannot be read back.
    pub fn accuracy(&self, model: &Mlp) -> Result<u16, TensorReadError> {
        let model = model.valid();
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
