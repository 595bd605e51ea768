//! The training task: every constant that decides what "training" means, hashed into the
//! [`TaskId`] that a block header commits (property 2: consensus constants, not claims).

use ann_ledger::{AccuracyTarget, TaskId};
use sha2::{Digest, Sha256};

use crate::arithmetic::{Arithmetic, ArithmeticError, SOFTMAX_TABLE};
use crate::dataset::{CLASSES, DatasetHash, IMAGE_PIXELS, TRAIN_SAMPLES};
use crate::model::HIDDEN;

/// Domain tag and version of the task encoding (v2: the integer-exact step).
pub const TASK_TAG: &[u8] = b"blockchain-ann/task/v2";

/// The preprocessing, fixed in code and named in the task id (its constants are
/// [`Arithmetic::input_shift`] and [`Arithmetic::input_offset`]).
pub const PREPROCESSING: &str = "mnist pixel p -> (p >> input_shift) - input_offset, an integer";
/// The architecture, fixed in code and named in the task id.
pub const ARCHITECTURE: &str = "mlp 784-512-10, relu, weights [in,out]; integer masters M1 C1 M2 C2, \
    quantised by floor(m / 2^f); init uniform integers centered on 2^(f-1), half-width \
    2^(f+unit)/sqrt(fan_in), from chacha20; evaluation: the same quantised forward pass, \
    argmax ties to the lowest class";
/// The optimizer, fixed in code and named in the task id. Plain SGD keeps no state besides
/// the weights, so a checkpoint alone is enough to replay a segment exactly. The formulas are
/// [`Arithmetic`]'s, implemented by [`Trainer`](crate::training::Trainer).
pub const OPTIMIZER: &str = "exact sgd v3: H = clamp(floor((X W1q + b1 + 2^(hs-1)) / 2^hs), 0, hmax); \
    Z = H W2q + b2; e = TABLE[min(floor((rowmax Z - Z) / 2^10), 255)]; \
    P = floor((floor(e 2^11 / rowsum e) + 1) / 2); G = P - T (label smoothing ls); \
    D = clamp(floor((G W2q^T + 2^(ds-1)) / 2^ds), -dmax, dmax) [H > 0]; \
    M2 -= H^T G; C2 -= 2^u2 colsum G; M1 -= X^T D; C1 -= 2^u1 colsum D; masters clamped";
/// The data order, fixed in code and named in the task id.
pub const DATA_ORDER: &str = "segment j draws k*batch distinct training samples by partial \
    fisher-yates from chacha20 keyed by the chain of checkpoint hashes c_0..c_j";

/// A task parameter that makes no sense (the task could not be trained or verified).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TaskError {
    /// The step would not be exact (a product could round, a range is empty).
    #[error("the training step would not be exact: {0}")]
    Arithmetic(#[from] ArithmeticError),
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
    /// The step floors are not a well-formed table.
    #[error("step floor {index}: {reason}")]
    StepFloor {
        /// Position of the offending floor.
        index: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The liveness floor is above 1000 per mille.
    #[error("the liveness floor is at most 1000 per mille, got {0}")]
    LiveFloor(u32),
}

/// A consensus lower bound on the length of training: a block whose target is at least
/// `target_bp` must train at least `min_steps` steps.
///
/// Without it a short trace could end in a model trained elsewhere (the splice attack of
/// `docs/proof-of-training.md`, section 5); with it every trace is about as long as honest
/// training, so whatever a forger does not train shows up as faked segments, which the audit
/// catches with probability `1 - (1-f)^s`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepFloor {
    /// The smallest target (basis points) the floor applies to.
    pub target_bp: u16,
    /// Steps a block at such a target trains at least.
    pub min_steps: u64,
}

/// The chain's step floors: the 10th percentile of the steps that honest training needed to
/// reach each target over 40 block seeds (measured by `crates/mining/examples/steps_to_target.rs`;
/// table in `docs/proof-of-training.md`). Above 97.5 % the last floor applies.
pub const MNIST_STEP_FLOORS: &[StepFloor] = &[
    StepFloor {
        target_bp: 9000,
        min_steps: 50,
    },
    StepFloor {
        target_bp: 9400,
        min_steps: 150,
    },
    StepFloor {
        target_bp: 9500,
        min_steps: 200,
    },
    StepFloor {
        target_bp: 9600,
        min_steps: 350,
    },
    StepFloor {
        target_bp: 9700,
        min_steps: 600,
    },
    StepFloor {
        target_bp: 9750,
        min_steps: 900,
    },
];

/// The chain's accuracy gate: 90 % test accuracy.
pub const MNIST_ACCURACY_GATE: AccuracyTarget = match AccuracyTarget::from_basis_points(9000) {
    Ok(gate) => gate,
    Err(_) => panic!("9000 bp is a valid accuracy target"),
};

/// The chain's liveness floor, per mille of the backward entries of a segment (see
/// `docs/proof-of-training.md`, "Why a ticket costs a segment of training").
pub const MNIST_LIVE_PERMILLE: u32 = 80;

/// The consensus constants of proof of training.
///
/// Fields are public so that tests and tools can describe other tasks; the chain uses
/// [`Task::mnist`]. Everything here, plus [`PREPROCESSING`], [`ARCHITECTURE`], [`OPTIMIZER`]
/// and [`DATA_ORDER`], enters [`Task::id`].
#[derive(Clone, Debug, PartialEq)]
pub struct Task {
    /// Identity of the data (hash of the four decompressed MNIST files).
    pub dataset: DatasetHash,
    /// The fixed-point formats and shifts of the exact step (they set the learning rate).
    pub arithmetic: Arithmetic,
    /// Samples per optimizer step.
    pub batch_size: u32,
    /// k: optimizer steps between two committed checkpoints (one audit segment).
    pub checkpoint_interval: u32,
    /// Steps between two test-set evaluations; a block's step count is a multiple of it.
    pub eval_interval: u32,
    /// s: segments audited at random (Fiat-Shamir) besides the always-audited last one.
    pub audit_segments: u32,
    /// The accuracy gate: the test accuracy a block's model must reach (the lottery decides
    /// which gated model wins; this decides what counts as a trained model).
    pub accuracy_gate: AccuracyTarget,
    /// The liveness floor, per mille of `k * batch * hidden`: the fewest nonzero entries of
    /// the backward signal `D` that a block's last segment may have (see
    /// [`Task::min_live_deltas`]).
    pub min_live_permille: u32,
    /// Minimum step counts per target, ascending in target (see [`StepFloor`]).
    pub step_floors: Vec<StepFloor>,
}

impl Task {
    /// The chain's task on the MNIST data set with identity `dataset`.
    pub fn mnist(dataset: DatasetHash) -> Self {
        Self {
            dataset,
            arithmetic: Arithmetic::MNIST,
            batch_size: 64,
            checkpoint_interval: 10,
            eval_interval: 50,
            audit_segments: 4,
            accuracy_gate: MNIST_ACCURACY_GATE,
            min_live_permille: MNIST_LIVE_PERMILLE,
            step_floors: MNIST_STEP_FLOORS.to_vec(),
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
        self.arithmetic
            .validate(self.batch_size, IMAGE_PIXELS, HIDDEN, CLASSES)?;
        if self.audit_segments == 0 {
            return Err(TaskError::AuditSegments);
        }
        if self.min_live_permille > 1000 {
            return Err(TaskError::LiveFloor(self.min_live_permille));
        }
        self.validate_step_floors()
    }

    fn validate_step_floors(&self) -> Result<(), TaskError> {
        let eval = u64::from(self.eval_interval);
        let mut previous: Option<StepFloor> = None;
        for (index, floor) in self.step_floors.iter().enumerate() {
            let reason = if floor.target_bp > AccuracyTarget::MAX_BASIS_POINTS {
                Some("the target is above 100 %")
            } else if !floor.min_steps.is_multiple_of(eval) {
                Some("the minimum is not a multiple of the evaluation interval")
            } else if previous.is_some_and(|p| p.target_bp >= floor.target_bp) {
                Some("targets must ascend strictly")
            } else if previous.is_some_and(|p| p.min_steps > floor.min_steps) {
                Some("a higher target must not need fewer steps")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(TaskError::StepFloor { index, reason });
            }
            previous = Some(*floor);
        }
        Ok(())
    }

    /// The fewest steps a block with target `target_bp` may train: the floor of the highest
    /// [`StepFloor`] at or below the target, 0 below the first.
    pub fn min_steps(&self, target_bp: u16) -> u64 {
        self.step_floors
            .iter()
            .filter(|floor| floor.target_bp <= target_bp)
            .map(|floor| floor.min_steps)
            .max()
            .unwrap_or(0)
    }

    /// The canonical encoding hashed into the id: the tag, the dataset hash, length-prefixed
    /// (u32 LE) descriptor strings, the dimensions (u32 LE), the arithmetic (`input_shift`
    /// u32, `input_offset` i64; per master `fraction_bits` u32, `max` i64, `symmetric` u8;
    /// `hidden_shift` u32, `hidden_max` i64, `delta_shift` u32, `delta_max` i64,
    /// `label_smoothing` i64, the two bias update shifts u32; the 256 softmax constants i32),
    /// the numbers little-endian, then the batch size, checkpoint interval, evaluation
    /// interval and audited segments (u32 each), the accuracy gate (u16), the liveness floor
    /// (u32), then the step floors (`u32` count, then `u16` target and `u64` minimum each).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(TASK_TAG);
        out.extend_from_slice(self.dataset.as_bytes());
        for text in [PREPROCESSING, ARCHITECTURE, OPTIMIZER, DATA_ORDER] {
            out.extend_from_slice(&(text.len() as u32).to_le_bytes());
            out.extend_from_slice(text.as_bytes());
        }
        for dim in [IMAGE_PIXELS, HIDDEN, CLASSES] {
            out.extend_from_slice(&(dim as u32).to_le_bytes());
        }
        self.encode_arithmetic(&mut out);
        out.extend_from_slice(&self.batch_size.to_le_bytes());
        out.extend_from_slice(&self.checkpoint_interval.to_le_bytes());
        out.extend_from_slice(&self.eval_interval.to_le_bytes());
        out.extend_from_slice(&self.audit_segments.to_le_bytes());
        out.extend_from_slice(&self.accuracy_gate.basis_points().to_le_bytes());
        out.extend_from_slice(&self.min_live_permille.to_le_bytes());
        out.extend_from_slice(&(self.step_floors.len() as u32).to_le_bytes());
        for floor in &self.step_floors {
            out.extend_from_slice(&floor.target_bp.to_le_bytes());
            out.extend_from_slice(&floor.min_steps.to_le_bytes());
        }
        out
    }

    /// The arithmetic's part of the encoding: `input_shift` (u32), `input_offset` (i64), per
    /// master `fraction_bits` (u32), `max` (i64) and `symmetric` (u8), in canonical order;
    /// `hidden_shift`, `hidden_max`, `delta_shift`, `delta_max`, `label_smoothing`,
    /// `output_bias_update_shift`, `hidden_bias_update_shift` (u32 / i64 as declared); then
    /// the 256 softmax constants (i32 each). All little-endian.
    fn encode_arithmetic(&self, out: &mut Vec<u8>) {
        let a = &self.arithmetic;
        out.extend_from_slice(&a.input_shift.to_le_bytes());
        out.extend_from_slice(&a.input_offset.to_le_bytes());
        for fixed in a.masters() {
            out.extend_from_slice(&fixed.fraction_bits.to_le_bytes());
            out.extend_from_slice(&fixed.max.to_le_bytes());
            out.push(u8::from(fixed.symmetric));
        }
        out.extend_from_slice(&a.hidden_shift.to_le_bytes());
        out.extend_from_slice(&a.hidden_max.to_le_bytes());
        out.extend_from_slice(&a.delta_shift.to_le_bytes());
        out.extend_from_slice(&a.delta_max.to_le_bytes());
        out.extend_from_slice(&a.label_smoothing.to_le_bytes());
        out.extend_from_slice(&a.output_bias_update_shift.to_le_bytes());
        out.extend_from_slice(&a.hidden_bias_update_shift.to_le_bytes());
        for entry in SOFTMAX_TABLE {
            out.extend_from_slice(&entry.to_le_bytes());
        }
    }

    /// The task id: SHA-256 of [`Task::encode`].
    pub fn id(&self) -> TaskId {
        TaskId::from_bytes(Sha256::digest(self.encode()).into())
    }

    /// The checkpoints a trace of `steps` steps holds: W0 and one every k steps.
    pub fn checkpoints_for(&self, steps: u64) -> u64 {
        steps / u64::from(self.checkpoint_interval) + 1
    }

    /// The fewest steps a block may train: the step floor of the accuracy gate.
    pub fn gate_min_steps(&self) -> u64 {
        self.min_steps(self.accuracy_gate.basis_points())
    }

    /// The liveness floor in entries: `floor(k * batch * hidden * min_live_permille / 1000)`.
    pub fn min_live_deltas(&self) -> u32 {
        let entries =
            u64::from(self.checkpoint_interval) * u64::from(self.batch_size) * HIDDEN as u64;
        u32::try_from(entries * u64::from(self.min_live_permille) / 1000).unwrap_or(u32::MAX)
    }

    /// Whether an accuracy in basis points meets a target.
    pub fn meets(accuracy_bp: u16, target: AccuracyTarget) -> bool {
        accuracy_bp >= target.basis_points()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> Task {
        Task::mnist(DatasetHash::from_bytes([7; 32]))
    }

    #[test]
    fn the_chains_task_is_valid() {
        assert_eq!(task().validate(), Ok(()));
    }

    #[test]
    fn min_steps_is_the_floor_of_the_highest_target_at_or_below() {
        let t = task();
        assert_eq!(t.min_steps(8999), 0);
        assert_eq!(t.min_steps(9000), MNIST_STEP_FLOORS[0].min_steps);
        assert_eq!(t.min_steps(9199), MNIST_STEP_FLOORS[0].min_steps);
        let last = MNIST_STEP_FLOORS[MNIST_STEP_FLOORS.len() - 1];
        assert_eq!(t.min_steps(last.target_bp), last.min_steps);
        assert_eq!(t.min_steps(10_000), last.min_steps);
        let mut none = t;
        none.step_floors.clear();
        assert_eq!(none.min_steps(10_000), 0);
    }

    #[test]
    fn malformed_step_floors_are_refused_with_their_index() {
        let floor = |target_bp, min_steps| StepFloor {
            target_bp,
            min_steps,
        };
        let cases: [(Vec<StepFloor>, usize, &str); 4] = [
            (vec![floor(9000, 100), floor(9000, 150)], 1, "ascend"),
            (vec![floor(9000, 200), floor(9500, 150)], 1, "fewer steps"),
            (vec![floor(9000, 120)], 0, "multiple"),
            (vec![floor(10_001, 100)], 0, "100 %"),
        ];
        for (floors, index, reason) in cases {
            let mut t = task();
            t.step_floors = floors;
            match t.validate() {
                Err(TaskError::StepFloor {
                    index: i,
                    reason: r,
                }) => {
                    assert_eq!(i, index);
                    assert!(r.contains(reason), "{r}");
                }
                other => panic!("expected a step-floor error, got {other:?}"),
            }
        }
    }

    #[test]
    fn the_gate_and_the_liveness_floor_enter_the_task_id_and_are_checked() {
        let t = task();
        assert_eq!(t.gate_min_steps(), MNIST_STEP_FLOORS[0].min_steps);
        assert_eq!(
            t.min_live_deltas(),
            10 * 64 * 512 * MNIST_LIVE_PERMILLE / 1000
        );
        let mut other = t.clone();
        other.min_live_permille += 1;
        assert_ne!(t.id(), other.id());
        other.min_live_permille = 1001;
        assert_eq!(other.validate(), Err(TaskError::LiveFloor(1001)));
        let mut gated = t.clone();
        gated.accuracy_gate = AccuracyTarget::from_basis_points(9500).expect("valid");
        assert_ne!(t.id(), gated.id());
    }

    #[test]
    fn step_floors_enter_the_task_id() {
        let t = task();
        let mut other = t.clone();
        other.step_floors[0].min_steps += 50;
        assert_ne!(t.id(), other.id());
        other.step_floors.pop();
        assert_ne!(t.id(), other.id());
    }
}
