//! The training task: every constant that decides what "training" means, hashed into the
//! [`TaskId`] that a block header commits (property 2: consensus constants, not claims).

use ann_ledger::{AccuracyTarget, TaskId};
use sha2::{Digest, Sha256};

use crate::dataset::{CLASSES, DatasetHash, IMAGE_PIXELS, TRAIN_SAMPLES};
use crate::model::HIDDEN;

/// Domain tag and version of the task encoding.
pub const TASK_TAG: &[u8] = b"blockchain-ann/task/v1";

/// The preprocessing, fixed in code and named in the task id: pixel byte `p` becomes
/// `(p as f32 / 255 - MEAN) / STD` in `f32` (round to nearest-even at each operation).
pub const PREPROCESSING: &str = "mnist pixel p -> (p/255 - 0.1307) / 0.3081, f32";
/// The MNIST mean pixel value (in `[0, 1]` units) used by the preprocessing.
pub const PIXEL_MEAN: f32 = 0.1307;
/// The MNIST pixel standard deviation used by the preprocessing.
pub const PIXEL_STD: f32 = 0.3081;
/// The architecture, fixed in code and named in the task id.
pub const ARCHITECTURE: &str = "mlp 784-512-10, relu, linear weights [in,out], \
    init uniform +-1/sqrt(fan_in) from chacha20, loss mean softmax cross-entropy";
/// The optimizer, fixed in code and named in the task id. Plain SGD keeps no state besides
/// the weights, so a checkpoint alone is enough to replay a segment exactly.
pub const OPTIMIZER: &str = "sgd w <- w - lr * grad, no momentum, no weight decay";
/// The data order, fixed in code and named in the task id.
pub const DATA_ORDER: &str = "segment j draws k*batch distinct training samples by partial \
    fisher-yates from chacha20 keyed by the chain of checkpoint hashes c_0..c_j";

/// A task parameter that makes no sense (the task could not be trained or verified).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TaskError {
    /// The learning rate is not a finite positive number.
    #[error("the learning rate must be finite and positive, got {0}")]
    LearningRate(f32),
    /// Batch size 0 or larger than the training set.
    #[error("the batch size must be in 1..={TRAIN_SAMPLES}, got {0}")]
    BatchSize(u32),
    /// A segment would need more samples than the training set holds.
    #[error(
        "checkpoint interval {interval} x batch {batch} exceeds the {TRAIN_SAMPLES} training samples"
    )]
    CheckpointInterval {
        /// Steps per checkpoint.
        interval: u32,
        /// Batch size.
        batch: u32,
    },
    /// The evaluation cadence is not a positive multiple of the checkpoint interval.
    #[error(
        "the evaluation interval ({eval}) must be a positive multiple of the checkpoint interval ({interval})"
    )]
    EvalInterval {
        /// Steps between evaluations.
        eval: u32,
        /// Steps per checkpoint.
        interval: u32,
    },
    /// No audited segment.
    #[error("at least one segment must be audited")]
    AuditSegments,
    /// The data set is not the one the task names.
    #[error("the data set hashes to {found}, the task requires {expected}")]
    WrongDataset {
        /// The task's dataset hash.
        expected: String,
        /// The loaded data's hash.
        found: String,
    },
    /// The step cap is below one evaluation interval.
    #[error("the step cap {max_steps} is below one evaluation interval ({eval})")]
    MaxSteps {
        /// The cap.
        max_steps: u64,
        /// Steps between evaluations.
        eval: u32,
    },
}

/// The consensus constants of proof of training.
///
/// Fields are public so that tests and tools can describe other tasks; the chain uses
/// [`Task::mnist`]. Everything here, plus [`PREPROCESSING`], [`ARCHITECTURE`], [`OPTIMIZER`]
/// and [`DATA_ORDER`], enters [`Task::id`].
#[derive(Clone, Debug, PartialEq)]
pub struct Task {
    /// Identity of the data (hash of the four decompressed MNIST files).
    pub dataset: DatasetHash,
    /// SGD learning rate.
    pub learning_rate: f32,
    /// Samples per optimizer step.
    pub batch_size: u32,
    /// k: optimizer steps between two committed checkpoints (one audit segment).
    pub checkpoint_interval: u32,
    /// Steps between two test-set evaluations; a block's step count is a multiple of it.
    pub eval_interval: u32,
    /// s: segments audited at random (Fiat-Shamir) besides the always-audited last one.
    pub audit_segments: u32,
    /// Upper bound on a block's step count, so a hostile header cannot make the verifier
    /// allocate or read an unbounded trace.
    pub max_steps: u64,
}

impl Task {
    /// The chain's task on the MNIST data set with identity `dataset`.
    pub fn mnist(dataset: DatasetHash) -> Self {
        Self {
            dataset,
            learning_rate: 0.2,
            batch_size: 64,
            checkpoint_interval: 10,
            eval_interval: 50,
            audit_segments: 4,
            max_steps: 20_000,
        }
    }

    /// Checks that the constants describe a trainable, verifiable task and that `data` is the
    /// data set the task names: what a miner or a verifier must know before it starts.
    ///
    /// # Errors
    /// The first [`TaskError`] found.
    pub fn check_with_data(&self, data: &crate::dataset::Mnist) -> Result<(), TaskError> {
        self.validate()?;
        if data.hash() != self.dataset {
            return Err(TaskError::WrongDataset {
                expected: self.dataset.to_string(),
                found: data.hash().to_string(),
            });
        }
        Ok(())
    }

    /// Checks that the constants describe a trainable, verifiable task.
    ///
    /// # Errors
    /// The first [`TaskError`] found.
    pub fn validate(&self) -> Result<(), TaskError> {
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(TaskError::LearningRate(self.learning_rate));
        }
        if self.batch_size == 0 || self.batch_size as usize > TRAIN_SAMPLES {
            return Err(TaskError::BatchSize(self.batch_size));
        }
        let segment_samples = u64::from(self.checkpoint_interval) * u64::from(self.batch_size);
        if self.checkpoint_interval == 0 || segment_samples > TRAIN_SAMPLES as u64 {
            return Err(TaskError::CheckpointInterval {
                interval: self.checkpoint_interval,
                batch: self.batch_size,
            });
        }
        if self.eval_interval == 0 || !self.eval_interval.is_multiple_of(self.checkpoint_interval) {
            return Err(TaskError::EvalInterval {
                eval: self.eval_interval,
                interval: self.checkpoint_interval,
            });
        }
        if self.audit_segments == 0 {
            return Err(TaskError::AuditSegments);
        }
        if self.max_steps < u64::from(self.eval_interval) {
            return Err(TaskError::MaxSteps {
                max_steps: self.max_steps,
                eval: self.eval_interval,
            });
        }
        Ok(())
    }

    /// The canonical encoding hashed into the id: the tag, then length-prefixed (u32 LE)
    /// descriptor strings, then the numbers little-endian (`f32` as its IEEE bits).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(TASK_TAG);
        out.extend_from_slice(&self.dataset.0);
        for text in [PREPROCESSING, ARCHITECTURE, OPTIMIZER, DATA_ORDER] {
            out.extend_from_slice(&(text.len() as u32).to_le_bytes());
            out.extend_from_slice(text.as_bytes());
        }
        for dim in [IMAGE_PIXELS, HIDDEN, CLASSES] {
            out.extend_from_slice(&(dim as u32).to_le_bytes());
        }
        out.extend_from_slice(&PIXEL_MEAN.to_bits().to_le_bytes());
        out.extend_from_slice(&PIXEL_STD.to_bits().to_le_bytes());
        out.extend_from_slice(&self.learning_rate.to_bits().to_le_bytes());
        out.extend_from_slice(&self.batch_size.to_le_bytes());
        out.extend_from_slice(&self.checkpoint_interval.to_le_bytes());
        out.extend_from_slice(&self.eval_interval.to_le_bytes());
        out.extend_from_slice(&self.audit_segments.to_le_bytes());
        out.extend_from_slice(&self.max_steps.to_le_bytes());
        out
    }

    /// The task id: SHA-256 of [`Task::encode`].
    pub fn id(&self) -> TaskId {
        TaskId::from_bytes(Sha256::digest(self.encode()).into())
    }

    /// The checkpoints a trace of `steps` steps holds: W0 and one every k steps.
    pub fn checkpoints_for(&self, steps: u64) -> u64 {
        steps / u64::from(self.checkpoint_interval) + 1
    }

    /// Whether an accuracy in basis points meets a target.
    pub fn meets(accuracy_bp: u16, target: AccuracyTarget) -> bool {
        accuracy_bp >= target.basis_points()
    }
}
