//! Mining: train the block-bound model segment after segment, drawing one lottery ticket per
//! checkpoint, until a ticket beats the header's work target with a model that passes the
//! accuracy gate; then write the audit proof and the checkpoints it opens, and fill the
//! header's training commitment.
//!
//! The miner keeps every checkpoint hash (32 bytes each) but the weights of only every
//! [`Miner::keep_every`]-th checkpoint: the audit is drawn after the winning ticket, and the
//! audited checkpoints are rebuilt by replaying from the nearest kept one.

use std::ops::ControlFlow;
use std::sync::Arc;

use ann_ledger::{BlockHeader, ModelHash, TrainingCommitment};

use crate::artifact::{ArtifactError, ArtifactStore};
use crate::backend::Backend;
use crate::dataset::Mnist;
use crate::model::{TensorReadError, Weights};
use crate::task::{Task, TaskError};
use crate::trace::{AuditProof, Trace, segment_key};
use crate::training::{Evaluator, Trainer};
use crate::verifier::{audit_challenge, audited_segments};

/// Progress reported to the observer after every checkpoint.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    /// Optimizer steps done so far.
    pub step: u64,
    /// Tickets drawn so far (one per checkpoint at or past the step floor).
    pub tickets: u64,
    /// Tickets a block takes on average at the header's target (its work).
    pub expected_tickets: u128,
    /// Training loss of the last step (mean cross-entropy of its batch).
    pub loss: f32,
    /// Test accuracy in basis points, when this checkpoint's ticket won and it was evaluated.
    pub accuracy_bp: Option<u16>,
    /// The task's accuracy gate in basis points.
    pub gate_bp: u16,
}

/// Why mining failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MiningError {
    /// The task's constants are unusable.
    #[error("invalid task: {0}")]
    Task(#[from] TaskError),
    /// The template already carries a training commitment.
    #[error("the header template must have a zeroed training commitment")]
    TemplateNotEmpty,
    /// The observer stopped the attempt (for example because a new block arrived).
    #[error("mining cancelled after {steps} steps and {tickets} tickets")]
    Cancelled {
        /// Steps trained.
        steps: u64,
        /// Tickets drawn.
        tickets: u64,
    },
    /// Replaying from a kept checkpoint did not give the hash the miner recorded (a backend
    /// fault: the step is exact).
    #[error("rebuilding checkpoint {index} gave {rebuilt}, the trace records {recorded}")]
    Rebuild {
        /// Position in the trace.
        index: usize,
        /// What the trace recorded.
        recorded: ModelHash,
        /// What the replay gave.
        rebuilt: ModelHash,
    },
    /// A segment of the trace was not live or left the weights unchanged, so no block can
    /// end this trace (every audited segment must be live; honest training stays far above
    /// the floor, see `docs/proof-of-training.md`).
    #[error(
        "segment {segment} is not live ({live} nonzero backward entries, the floor is {min_live}) or left the weights unchanged"
    )]
    DeadSegment {
        /// The segment's index.
        segment: usize,
        /// Its nonzero backward entries.
        live: u32,
        /// The task's floor.
        min_live: u32,
    },
    /// An audit index fell outside the trace (a bug: the audit draws below the length).
    #[error("an audited checkpoint lies outside the trace of {segments} segments")]
    OpeningOutOfRange {
        /// Segments in the trace.
        segments: usize,
    },
    /// Storing an artifact failed.
    #[error("artifact store: {0}")]
    Artifact(#[from] ArtifactError),
    /// The backend failed to hand data back.
    #[error(transparent)]
    Tensor(#[from] TensorReadError),
}

/// A mined block header with what the miner learned on the way.
#[derive(Clone, Debug)]
pub struct MinedBlock {
    /// The template with its training commitment filled in.
    pub header: BlockHeader,
    /// The checkpoint trace (stored in the artifact store under its root, with the audit
    /// proof).
    pub trace: Trace,
    /// The test accuracy the miner measured, in basis points.
    pub accuracy_bp: u16,
    /// The final weights (stored under the model hash).
    pub weights: Weights,
    /// Tickets drawn, the winning one included.
    pub tickets: u64,
}

/// Trains block-bound models and writes their artifacts.
#[derive(Clone, Debug)]
pub struct Miner {
    task: Task,
    data: Arc<Mnist>,
    store: ArtifactStore,
    backend: Backend,
    keep_every: usize,
}

impl Miner {
    /// Checkpoints kept in memory by default: one in 64 (at 1.6 MB each, 25 KB per
    /// checkpoint trained; rebuilding an audited one replays at most 63 segments).
    pub const DEFAULT_KEEP_EVERY: usize = 64;

    /// A miner for `task` on `data`, writing artifacts to `store`, on the default backend
    /// (flex; every backend computes the same bits).
    ///
    /// # Errors
    /// [`MiningError::Task`] (an invalid task, or `data` is not its data set).
    #[cfg(feature = "flex")]
    pub fn new(task: Task, data: Arc<Mnist>, store: ArtifactStore) -> Result<Self, MiningError> {
        Self::with_backend(task, data, store, Backend::DEFAULT)
    }

    /// A miner on a chosen backend.
    ///
    /// # Errors
    /// [`MiningError::Task`] (an invalid task, or `data` is not its data set).
    pub fn with_backend(
        task: Task,
        data: Arc<Mnist>,
        store: ArtifactStore,
        backend: Backend,
    ) -> Result<Self, MiningError> {
        task.check_with_data(&data)?;
        Ok(Self {
            task,
            data,
            store,
            backend,
            keep_every: Self::DEFAULT_KEEP_EVERY,
        })
    }

    /// Keeps the weights of every `keep_every`-th checkpoint in memory (at least 1): fewer
    /// kept means less memory and a longer rebuild of the audited checkpoints.
    pub fn with_keep_every(mut self, keep_every: usize) -> Self {
        self.keep_every = keep_every.max(1);
        self
    }

    /// How many checkpoints apart the kept weights are.
    pub fn keep_every(&self) -> usize {
        self.keep_every
    }

    /// The task.
    pub fn task(&self) -> &Task {
        &self.task
    }

    /// The backend that trains.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The artifact store.
    pub fn store(&self) -> &ArtifactStore {
        &self.store
    }

    /// Mines `template` (its `training` must be zeroed): trains from the block's W0, one
    /// ticket per checkpoint past the step floor, until a ticket beats the template's work
    /// target on a live segment whose model passes the accuracy gate. Stores the final
    /// weights, the audited checkpoints, the trace and the audit proof, and returns the
    /// header with its commitment filled in.
    ///
    /// There is no step cap: a miner who has not won keeps training the same model.
    /// `observer` sees every checkpoint and stops the attempt by returning
    /// `ControlFlow::Break` (for example when a peer's block arrives).
    ///
    /// # Errors
    /// [`MiningError`] if the template is not empty, the observer cancels, or an artifact
    /// cannot be written.
    pub fn mine(
        &self,
        template: &BlockHeader,
        mut observer: impl FnMut(&Progress) -> ControlFlow<()>,
    ) -> Result<MinedBlock, MiningError> {
        if template.training != TrainingCommitment::default() {
            return Err(MiningError::TemplateNotEmpty);
        }
        let device = self.backend.device();
        let seed = template.training_seed();
        let k = u64::from(self.task.checkpoint_interval);
        let min_steps = self.task.gate_min_steps();
        let min_live = self.task.min_live_deltas();
        let gate_bp = self.task.accuracy_gate.basis_points();
        let expected_tickets = template.bits.work();

        let mut trainer = Trainer::new(&self.task, Arc::clone(&self.data), &device);
        let evaluator = Evaluator::new(self.data.test(), &self.task.arithmetic, &device);

        let initial = Weights::initial(&seed, &self.task.arithmetic);
        let mut hashes = vec![initial.hash()];
        let mut kept = vec![(0usize, initial.clone())];
        let mut model = trainer.model(&initial);
        let mut tickets = 0u64;
        for j in 0usize.. {
            let key = segment_key(&seed, j as u64, &hashes[j]);
            let (next, stats) = trainer.train_segment(model, &key)?;
            model = next;
            let weights = model.weights()?;
            let hash = weights.hash();
            let changed = hash != hashes[j];
            hashes.push(hash);
            let steps = (j as u64 + 1) * k;
            if (j + 1).is_multiple_of(self.keep_every) {
                kept.push((j + 1, weights.clone()));
            }

            let live = stats.live_deltas.first().copied().unwrap_or(0);
            if live < min_live || !changed {
                // Any audit could land on this segment: no block can end this trace.
                return Err(MiningError::DeadSegment {
                    segment: j,
                    live,
                    min_live,
                });
            }
            let mut accuracy_bp = None;
            if steps >= min_steps {
                tickets += 1;
                let ticket = ann_ledger::ticket(&seed, steps, &hash);
                if template.bits.is_beaten_by(ticket.as_bytes()) {
                    let accuracy = evaluator.accuracy(&model)?;
                    accuracy_bp = Some(accuracy);
                    if accuracy >= gate_bp {
                        return self.finish(
                            template,
                            &mut trainer,
                            hashes,
                            &kept,
                            weights,
                            accuracy,
                            tickets,
                        );
                    }
                }
            }
            let progress = Progress {
                step: steps,
                tickets,
                expected_tickets,
                loss: stats.loss,
                accuracy_bp,
                gate_bp,
            };
            if observer(&progress).is_break() {
                return Err(MiningError::Cancelled { steps, tickets });
            }
        }
        unreachable!("the mining loop only ends by returning")
    }

    /// Writes the winning block's artifacts and fills in its commitment.
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        template: &BlockHeader,
        trainer: &mut Trainer,
        hashes: Vec<ModelHash>,
        kept: &[(usize, Weights)],
        weights: Weights,
        accuracy_bp: u16,
        tickets: u64,
    ) -> Result<MinedBlock, MiningError> {
        let segments = hashes.len() - 1;
        let k = u64::from(self.task.checkpoint_interval);
        let trace = Trace::new(hashes);
        let checkpoint_root = self.store.put_trace(&trace)?;
        let final_hash = self.store.put_checkpoint(&weights)?;
        let mut header = template.clone();
        header.training = TrainingCommitment {
            task_id: self.task.id(),
            steps: segments as u64 * k,
            checkpoint_root,
            model_hash: final_hash,
        };
        let audited = audited_segments(
            &audit_challenge(&header),
            segments as u64,
            self.task.audit_segments,
        );
        let mut indices = vec![0, segments];
        for &segment in &audited {
            let segment = segment as usize;
            indices.extend([segment, segment + 1]);
            if segment > 0 {
                let start =
                    self.rebuild(trainer, &header.training_seed(), &trace, kept, segment)?;
                self.store.put_checkpoint(&start)?;
            }
        }
        let proof = AuditProof::from_trace(&trace, &indices)
            .ok_or(MiningError::OpeningOutOfRange { segments })?;
        self.store.put_proof(&checkpoint_root, &proof)?;
        Ok(MinedBlock {
            header,
            trace,
            accuracy_bp,
            weights,
            tickets,
        })
    }

    /// The weights at checkpoint `index`, replayed from the nearest kept checkpoint.
    fn rebuild(
        &self,
        trainer: &mut Trainer,
        seed: &[u8; 32],
        trace: &Trace,
        kept: &[(usize, Weights)],
        index: usize,
    ) -> Result<Weights, MiningError> {
        let hashes = trace.checkpoints();
        let (from, start) = kept
            .iter()
            .rev()
            .find(|(at, _)| *at <= index)
            .map(|(at, w)| (*at, w.clone()))
            .unwrap_or_else(|| (0, Weights::initial(seed, &self.task.arithmetic)));
        let mut weights = start;
        for (segment, start_hash) in hashes.iter().enumerate().take(index).skip(from) {
            let key = segment_key(seed, segment as u64, start_hash);
            let (model, _) = trainer.train_segment(trainer.model(&weights), &key)?;
            weights = model.weights()?;
        }
        let rebuilt = weights.hash();
        if rebuilt != hashes[index] {
            return Err(MiningError::Rebuild {
                index,
                recorded: hashes[index],
                rebuilt,
            });
        }
        Ok(weights)
    }
}
