//! Mining: train the block-bound model until it reaches the header's target, writing the
//! checkpoint trace, and fill the header's training commitment.

use std::sync::Arc;

use ann_ledger::{BlockHeader, ModelHash, TrainingCommitment};

use crate::artifact::{ArtifactError, ArtifactStore};
use crate::backend::Backend;
use crate::dataset::Mnist;
use crate::model::{TensorReadError, Weights};
use crate::task::{Task, TaskError};
use crate::trace::{Trace, chain_key};
use crate::training::{Evaluator, Trainer};

/// Progress reported to the observer after every checkpoint.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    /// Optimizer steps done so far.
    pub step: u64,
    /// Training loss of the last step (mean cross-entropy of its batch).
    pub loss: f32,
    /// Test accuracy in basis points, when this checkpoint was evaluated.
    pub accuracy_bp: Option<u16>,
    /// The block's target in basis points.
    pub target_bp: u16,
    /// The task's step cap (training gives up there).
    pub max_steps: u64,
}

/// Why mining failed.
#[derive(Debug, thiserror::Error)]
pub enum MiningError {
    /// The task's constants are unusable.
    #[error("invalid task: {0}")]
    Task(#[from] TaskError),
    /// The template already carries a training commitment.
    #[error("the header template must have a zeroed training commitment")]
    TemplateNotEmpty,
    /// The target was not reached within the task's step cap.
    #[error(
        "accuracy {best_bp} bp after {steps} steps (the task's cap) is below the target {target_bp} bp"
    )]
    TargetNotReached {
        /// Steps trained.
        steps: u64,
        /// Best accuracy seen.
        best_bp: u16,
        /// The target.
        target_bp: u16,
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
    /// The checkpoint trace (stored in the artifact store under its root).
    pub trace: Trace,
    /// The test accuracy the miner measured, in basis points.
    pub accuracy_bp: u16,
    /// The final weights (stored under the model hash).
    pub weights: Weights,
}

/// Trains block-bound models and writes their artifacts.
#[derive(Clone, Debug)]
pub struct Miner {
    task: Task,
    data: Arc<Mnist>,
    store: ArtifactStore,
    backend: Backend,
}

impl Miner {
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
        })
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

    /// Mines `template` (its `training` must be zeroed): trains from the block's W0 until an
    /// evaluation reaches the template's target, stores every checkpoint and the trace, and
    /// returns the header with its commitment filled in. `observer` sees every checkpoint.
    ///
    /// # Errors
    /// [`MiningError`] if the template is not empty, the target is not reached within the
    /// task's step cap, or an artifact cannot be written.
    pub fn mine(
        &self,
        template: &BlockHeader,
        mut observer: impl FnMut(&Progress),
    ) -> Result<MinedBlock, MiningError> {
        if template.training != TrainingCommitment::default() {
            return Err(MiningError::TemplateNotEmpty);
        }
        let device = self.backend.device();
        let seed = template.training_seed();
        let target_bp = template.target.basis_points();
        let k = u64::from(self.task.checkpoint_interval);
        let eval_every = u64::from(self.task.eval_interval);
        let min_steps = self.task.min_steps(target_bp);

        let mut trainer = Trainer::new(&self.task, Arc::clone(&self.data), &device);
        let evaluator = Evaluator::new(self.data.test(), &self.task.arithmetic, &device);

        let initial = Weights::initial(&seed, &self.task.arithmetic);
        let mut checkpoints = vec![self.store.put_checkpoint(&initial)?];
        let mut key = chain_key(&seed, &checkpoints[0]);
        let mut model = trainer.model(&initial);
        let mut steps = 0u64;
        let mut best_bp = 0u16;
        loop {
            let (next, loss) = trainer.train_segment(model, &key)?;
            model = next;
            steps += k;
            let weights = model.weights()?;
            let hash = self.store.put_checkpoint(&weights)?;
            checkpoints.push(hash);
            key = chain_key(&key, &hash);

            // Below the step floor a block is invalid whatever its accuracy: no evaluation.
            let accuracy_bp = if steps.is_multiple_of(eval_every) && steps >= min_steps {
                Some(evaluator.accuracy(&model)?)
            } else {
                None
            };
            observer(&Progress {
                step: steps,
                loss,
                accuracy_bp,
                target_bp,
                max_steps: self.task.max_steps,
            });
            if let Some(accuracy_bp) = accuracy_bp {
                best_bp = best_bp.max(accuracy_bp);
                if accuracy_bp >= target_bp {
                    let trace = Trace::new(checkpoints);
                    let checkpoint_root = self.store.put_trace(&trace)?;
                    let mut header = template.clone();
                    header.training = TrainingCommitment {
                        task_id: self.task.id(),
                        steps,
                        checkpoint_root,
                        model_hash: ModelHash::from_bytes(hash.0),
                    };
                    return Ok(MinedBlock {
                        header,
                        trace,
                        accuracy_bp,
                        weights,
                    });
                }
                if steps + eval_every > self.task.max_steps {
                    return Err(MiningError::TargetNotReached {
                        steps,
                        best_bp,
                        target_bp,
                    });
                }
            }
        }
    }
}
