//! Verification of a header's proof of training, cheapest checks first.
//!
//! 1. Header only: task id, step count (positive, a multiple of the evaluation interval, at
//!    most the cap).
//! 2. Trace: loaded by its Merkle root with its size known from the step count; its last hash
//!    must be the model hash; its first must be the hash of the W0 regenerated from the seed.
//! 3. Quality gate: the final weights (loaded by hash) re-evaluated on the test set.
//! 4. Audit: the last segment and `s` others chosen by Fiat-Shamir are replayed (on any
//!    backend: the step is exact) and must reproduce the next checkpoint bit for bit.
//!
//! Every checkpoint loaded is range-checked against the task's arithmetic before any tensor
//! is built from it ([`ProofError::CheckpointValue`]).

use std::sync::Arc;

use ann_ledger::{BlockHeader, ProofVerifier, TaskId};
use sha2::{Digest, Sha256};

use crate::artifact::{ArtifactError, ArtifactStore};
use crate::backend::Backend;
use crate::dataset::Mnist;
use crate::model::{TensorReadError, Weights, WeightsHash, WeightsRangeError};
use crate::prng;
use crate::task::{Task, TaskError};
use crate::trace::Trace;
use crate::training::{Evaluator, Trainer};

/// Why a proof of training was rejected. Each variant names the rule it enforces.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    /// Rule: the header's task id is the chain's task.
    #[error("wrong task: the header commits task {found}, the chain's task is {expected}")]
    WrongTask {
        /// The chain's task id.
        expected: TaskId,
        /// The header's.
        found: TaskId,
    },
    /// Rule: steps is a positive multiple of the evaluation interval, at most the task's cap.
    #[error(
        "invalid step count {steps}: must be a positive multiple of {eval_interval} and at most {max_steps}"
    )]
    InvalidStepCount {
        /// The header's step count.
        steps: u64,
        /// The task's evaluation interval.
        eval_interval: u32,
        /// The task's cap.
        max_steps: u64,
    },
    /// Rule: the block trains at least the task's step floor for its target, so that a short
    /// trace cannot end in a model trained elsewhere (see [`StepFloor`](crate::task::StepFloor)).
    #[error(
        "too few steps: {steps} steps, but a block at target {target_bp} bp must train at least {min_steps}"
    )]
    TooFewSteps {
        /// The header's step count.
        steps: u64,
        /// The floor for the header's target.
        min_steps: u64,
        /// The header's target.
        target_bp: u16,
    },
    /// Rule: the trace named by the checkpoint root is available and intact.
    #[error("checkpoint trace unavailable or invalid: {0}")]
    Trace(#[source] ArtifactError),
    /// Rule: the model hash is the trace's last checkpoint.
    #[error("the model hash {model} is not the trace's last checkpoint {last}")]
    ModelNotLastCheckpoint {
        /// The header's model hash.
        model: String,
        /// The trace's last checkpoint.
        last: WeightsHash,
    },
    /// Rule: training starts from the W0 derived from this block's seed (property 1). Fails
    /// for a proof made for another block, another coinbase, or a model trained elsewhere.
    #[error(
        "the trace does not start from this block's initial weights: W0 hashes to {expected}, the trace starts at {found}"
    )]
    NotFromInitialWeights {
        /// Hash of the W0 the seed gives.
        expected: WeightsHash,
        /// The trace's first checkpoint.
        found: WeightsHash,
    },
    /// Rule: every checkpoint the verifier needs is available and intact.
    #[error("checkpoint {index} unavailable or invalid: {source}")]
    Checkpoint {
        /// Position in the trace.
        index: usize,
        /// What is wrong with it.
        #[source]
        source: ArtifactError,
    },
    /// Rule: every master value of a checkpoint is an integer in its tensor's range, checked
    /// before any tensor work (outside it the step's products would no longer be exact; an
    /// `f32` bit pattern of a fraction or a NaN reads as an integer far out of range).
    #[error("checkpoint {index} holds a value outside the task's ranges: {source}")]
    CheckpointValue {
        /// Position in the trace.
        index: usize,
        /// The value and where it is.
        #[source]
        source: WeightsRangeError,
    },
    /// Rule: the final model's test accuracy, measured by the verifier, meets the target.
    #[error(
        "accuracy below target: the verifier measures {measured_bp} bp, the block requires {target_bp} bp"
    )]
    AccuracyBelowTarget {
        /// Accuracy measured by the verifier.
        measured_bp: u16,
        /// The header's target.
        target_bp: u16,
    },
    /// Rule: an audited segment, replayed, reproduces the committed
    /// next checkpoint bit for bit.
    #[error(
        "segment {segment} (steps {first_step}..{end_step}) does not replay: committed {committed}, replay gives {replayed}"
    )]
    SegmentMismatch {
        /// The segment's index.
        segment: usize,
        /// Its first step.
        first_step: u64,
        /// One past its last step.
        end_step: u64,
        /// The committed checkpoint after it.
        committed: WeightsHash,
        /// What the replay produced.
        replayed: WeightsHash,
    },
    /// The verifier's backend failed to hand data back.
    #[error(transparent)]
    Tensor(#[from] TensorReadError),
}

/// Error constructing a verifier.
#[derive(Debug, thiserror::Error)]
pub enum VerifierSetupError {
    /// The task is unusable.
    #[error("invalid task: {0}")]
    Task(#[from] TaskError),
}

/// What a successful verification measured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// Test accuracy of the final model, in basis points.
    pub accuracy_bp: u16,
    /// The segments replayed, ascending.
    pub audited_segments: Vec<usize>,
}

/// Domain tag of the audit challenge.
pub const CHALLENGE_TAG: &[u8] = b"blockchain-ann/audit-challenge/v1";

/// The audit challenge: SHA-256 of a tag, the training seed and the training commitment, i.e.
/// the whole header except its timestamp (the only field a miner can change for free, and so
/// could grind to re-draw the audit).
pub fn audit_challenge(header: &BlockHeader) -> [u8; 32] {
    let t = &header.training;
    let mut h = Sha256::new();
    h.update(CHALLENGE_TAG);
    h.update(header.training_seed());
    h.update(t.task_id.as_bytes());
    h.update(t.steps.to_le_bytes());
    h.update(t.checkpoint_root.as_bytes());
    h.update(t.model_hash.as_bytes());
    h.finalize().into()
}

/// The audited segments of a trace of `segments` segments: always the last one, plus
/// `min(s, segments - 1)` distinct others drawn by a partial Fisher-Yates shuffle of
/// `0..segments-1` from the ChaCha20 stream `(AUDIT_TAG, challenge, 0)`. Ascending.
pub fn audited_segments(challenge: &[u8; 32], segments: usize, s: u32) -> Vec<usize> {
    if segments == 0 {
        return Vec::new();
    }
    let others = segments - 1;
    let picks = (s as usize).min(others);
    let mut rng = prng::stream(prng::AUDIT_TAG, challenge, 0);
    let mut pool: Vec<usize> = (0..others).collect();
    for i in 0..picks {
        let j = i + prng::uniform_below(&mut rng, (others - i) as u32) as usize;
        pool.swap(i, j);
    }
    let mut chosen: Vec<usize> = pool.into_iter().take(picks).collect();
    chosen.push(segments - 1);
    chosen.sort_unstable();
    chosen
}

/// Verifies proofs of training for the chain's task; implements [`ProofVerifier`].
pub struct TrainingVerifier {
    task: Task,
    task_id: TaskId,
    data: Arc<Mnist>,
    store: ArtifactStore,
    backend: Backend,
    evaluator: Evaluator,
}

impl std::fmt::Debug for TrainingVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainingVerifier")
            .field("task_id", &self.task_id)
            .field("backend", &self.backend)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl TrainingVerifier {
    /// A verifier on the default backend (flex).
    ///
    /// # Errors
    /// [`VerifierSetupError`] if the task is invalid or `data` is not its data set.
    #[cfg(feature = "flex")]
    pub fn new(
        task: Task,
        data: Arc<Mnist>,
        store: ArtifactStore,
    ) -> Result<Self, VerifierSetupError> {
        Self::with_backend(task, data, store, Backend::DEFAULT)
    }

    /// A verifier replaying on another backend. Every backend computes the same bits, so a
    /// block mined on any backend verifies on any other.
    ///
    /// # Errors
    /// [`VerifierSetupError`] if the task is invalid or `data` is not its data set.
    pub fn with_backend(
        task: Task,
        data: Arc<Mnist>,
        store: ArtifactStore,
        backend: Backend,
    ) -> Result<Self, VerifierSetupError> {
        task.check_with_data(&data)?;
        let evaluator = Evaluator::new(data.test(), &task.arithmetic, &backend.device());
        Ok(Self {
            task_id: task.id(),
            task,
            data,
            store,
            backend,
            evaluator,
        })
    }

    /// The task.
    pub fn task(&self) -> &Task {
        &self.task
    }

    /// The artifact store it reads.
    pub fn store(&self) -> &ArtifactStore {
        &self.store
    }

    /// Checks only what needs no tensor work: task id, step count and step floor (microseconds).
    ///
    /// # Errors
    /// [`ProofError::WrongTask`], [`ProofError::InvalidStepCount`] or
    /// [`ProofError::TooFewSteps`].
    pub fn check_header(&self, header: &BlockHeader) -> Result<(), ProofError> {
        let t = &header.training;
        if t.task_id != self.task_id {
            return Err(ProofError::WrongTask {
                expected: self.task_id,
                found: t.task_id,
            });
        }
        let eval = u64::from(self.task.eval_interval);
        if t.steps == 0 || !t.steps.is_multiple_of(eval) || t.steps > self.task.max_steps {
            return Err(ProofError::InvalidStepCount {
                steps: t.steps,
                eval_interval: self.task.eval_interval,
                max_steps: self.task.max_steps,
            });
        }
        let target_bp = header.target.basis_points();
        let min_steps = self.task.min_steps(target_bp);
        if t.steps < min_steps {
            return Err(ProofError::TooFewSteps {
                steps: t.steps,
                min_steps,
                target_bp,
            });
        }
        Ok(())
    }

    /// Full verification, returning what was measured.
    ///
    /// # Errors
    /// The [`ProofError`] of the first rule that fails.
    pub fn verify(&self, header: &BlockHeader) -> Result<Verified, ProofError> {
        self.check_header(header)?;
        let t = &header.training;
        let trace = self
            .store
            .get_trace(&t.checkpoint_root, self.task.checkpoints_for(t.steps))
            .map_err(ProofError::Trace)?;
        let checkpoints = trace.checkpoints();
        let last = checkpoints[checkpoints.len() - 1];
        if last.0 != *t.model_hash.as_bytes() {
            return Err(ProofError::ModelNotLastCheckpoint {
                model: t.model_hash.to_string(),
                last,
            });
        }
        let seed = header.training_seed();
        let initial = Weights::initial(&seed, &self.task.arithmetic);
        let initial_hash = initial.hash();
        if checkpoints[0] != initial_hash {
            return Err(ProofError::NotFromInitialWeights {
                expected: initial_hash,
                found: checkpoints[0],
            });
        }

        // Every checkpoint the checks below use, loaded and range-checked before any tensor
        // work: the final model, and the start of each audited segment.
        let audited = audited_segments(
            &audit_challenge(header),
            trace.segments(),
            self.task.audit_segments,
        );
        let final_index = checkpoints.len() - 1;
        let final_weights = self.load(&trace, final_index)?;
        let mut starts = Vec::with_capacity(audited.len());
        for &segment in &audited {
            starts.push(if segment == 0 {
                initial.clone()
            } else {
                self.load(&trace, segment)?
            });
        }

        let accuracy_bp = self.evaluator.accuracy_of(&final_weights)?;
        if accuracy_bp < header.target.basis_points() {
            return Err(ProofError::AccuracyBelowTarget {
                measured_bp: accuracy_bp,
                target_bp: header.target.basis_points(),
            });
        }

        let keys = trace.segment_keys(&seed);
        let mut trainer = Trainer::new(&self.task, Arc::clone(&self.data), &self.backend.device());
        let k = u64::from(self.task.checkpoint_interval);
        for (&segment, start) in audited.iter().zip(&starts) {
            let (model, _) = trainer.train_segment(trainer.model(start), &keys[segment])?;
            let replayed = model.weights()?.hash();
            let committed = checkpoints[segment + 1];
            if replayed != committed {
                return Err(ProofError::SegmentMismatch {
                    segment,
                    first_step: segment as u64 * k,
                    end_step: (segment as u64 + 1) * k,
                    committed,
                    replayed,
                });
            }
        }
        Ok(Verified {
            accuracy_bp,
            audited_segments: audited,
        })
    }

    fn load(&self, trace: &Trace, index: usize) -> Result<Weights, ProofError> {
        let weights = self
            .store
            .get_checkpoint(&trace.checkpoints()[index])
            .map_err(|source| match source {
                ArtifactError::InvalidWeights { source, .. } => {
                    ProofError::CheckpointValue { index, source }
                }
                source => ProofError::Checkpoint { index, source },
            })?;
        weights
            .check_ranges(&self.task.arithmetic)
            .map_err(|source| ProofError::CheckpointValue { index, source })?;
        Ok(weights)
    }
}

impl ProofVerifier for TrainingVerifier {
    type Error = ProofError;

    fn verify_proof(&self, header: &BlockHeader) -> Result<(), ProofError> {
        self.verify(header).map(|_| ())
    }
}
