//! The node's seams implemented on `ann-mining`: artifacts in an [`ArtifactStore`] directory,
//! and mining by training; and the composition of a proof-of-training node on an `ann-store`
//! [`Store`] ([`TrainingNode`]), with its miner's artifacts recorded in the store's mining
//! side chain ([`mine_into_store`]).

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ann_ledger::{Block, BlockHeader, Chain, ChainError, ChainParams, CheckpointRoot};
use ann_mining::model::hash_weight_bytes;
use ann_mining::verifier::{audit_challenge, audited_segments};
use ann_mining::{
    ArtifactStore, AuditProof, Backend, MinedBlock, Miner, MiningError, Mnist, ModelHash, Progress,
    Task, TrainingVerifier, VerifierSetupError, Weights,
};
use ann_net::ArtifactKind;
use ann_net::wire::MAX_ARTIFACT;
use ann_store::{ArtifactRecord, ArtifactRole, Store};

use crate::artifacts::{ArtifactId, ArtifactRefused, Artifacts};
use crate::miner::{BlockMiner, MinerError};
use crate::node::{Node, NodeConfig, NodeError};

/// Checkpoints and audit proofs in an [`ArtifactStore`] (the directory a miner writes and a
/// [`ann_mining::TrainingVerifier`] reads).
#[derive(Clone, Debug)]
pub struct TrainingArtifacts {
    store: ArtifactStore,
    task: Task,
}

impl TrainingArtifacts {
    /// Artifacts of `task` kept in `store`.
    pub fn new(store: ArtifactStore, task: Task) -> Self {
        TrainingArtifacts { store, task }
    }

    /// The audit `header` calls for: its segment count and the audited segments, ascending;
    /// `None` if the step count is not a positive multiple of the checkpoint interval (no audit
    /// is defined).
    fn audit_of(&self, header: &BlockHeader) -> Option<(u64, Vec<u64>)> {
        let t = &header.training;
        let k = u64::from(self.task.checkpoint_interval);
        if k == 0 || t.steps == 0 || !t.steps.is_multiple_of(k) {
            return None;
        }
        let segments = t.steps / k;
        let audited =
            audited_segments(&audit_challenge(header), segments, self.task.audit_segments);
        Some((segments, audited))
    }

    /// The checkpoints whose openings that audit reads: W0, the final model, and both ends of
    /// every audited segment.
    fn opened_by(segments: u64, audited: &[u64]) -> Vec<u64> {
        let mut indices = vec![0, segments];
        for &segment in audited {
            indices.extend([segment, segment + 1]);
        }
        indices.sort_unstable();
        indices.dedup();
        indices
    }

    fn read_capped(path: &std::path::Path) -> Option<Vec<u8>> {
        let len = std::fs::metadata(path).ok()?.len();
        if len > MAX_ARTIFACT as u64 {
            return None;
        }
        std::fs::read(path).ok()
    }
}

impl Artifacts for TrainingArtifacts {
    fn missing(&self, header: &BlockHeader) -> Vec<ArtifactId> {
        let t = &header.training;
        let proof_id = ArtifactId {
            kind: ArtifactKind::AuditProof,
            hash: *t.checkpoint_root.as_bytes(),
        };
        if !self.store.proof_path(&t.checkpoint_root).exists() {
            return vec![proof_id];
        }
        // A header whose step count is invalid: nothing to fetch, and the verifier says what
        // is wrong.
        let Some((segments, audited)) = self.audit_of(header) else {
            return Vec::new();
        };
        // A proof we hold but cannot read, or one that lacks an opening this header's audit
        // reads (kept before `put` checked completeness): fetched again, and replaced.
        let opened = Self::opened_by(segments, &audited);
        let complete = self
            .store
            .get_proof(&t.checkpoint_root)
            .ok()
            .filter(|proof| opened.iter().all(|&i| proof.checkpoint(i).is_some()));
        let Some(proof) = complete else {
            return vec![proof_id];
        };
        // The final model, and the start of every audited segment but the first (W0 is
        // regenerated from the header).
        let mut wanted: Vec<u64> = std::iter::once(segments)
            .chain(audited.into_iter().filter(|&s| s != 0))
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        wanted
            .into_iter()
            .filter_map(|index| proof.checkpoint(index))
            .filter(|hash| !self.store.checkpoint_path(hash).exists())
            .map(|hash| ArtifactId {
                kind: ArtifactKind::Checkpoint,
                hash: hash.to_bytes(),
            })
            .collect()
    }

    fn get(&self, id: &ArtifactId) -> Option<Vec<u8>> {
        match id.kind {
            ArtifactKind::Checkpoint => {
                Self::read_capped(&self.store.checkpoint_path(&ModelHash::from_bytes(id.hash)))
            }
            ArtifactKind::AuditProof => {
                Self::read_capped(&self.store.proof_path(&CheckpointRoot::from_bytes(id.hash)))
            }
        }
    }

    fn put(
        &self,
        header: &BlockHeader,
        id: &ArtifactId,
        bytes: &[u8],
    ) -> Result<(), ArtifactRefused> {
        let store = |e: ann_mining::ArtifactError| ArtifactRefused::Store(e.to_string());
        match id.kind {
            ArtifactKind::Checkpoint => {
                let hash = hash_weight_bytes(bytes);
                if hash.to_bytes() != id.hash {
                    return Err(ArtifactRefused::Wrong(format!(
                        "a checkpoint asked for as {} hashes to {hash}",
                        hex::encode(id.hash)
                    )));
                }
                Weights::from_bytes(bytes)
                    .map_err(|e| ArtifactRefused::Wrong(format!("not a checkpoint: {e}")))?;
                self.store.put_checkpoint_bytes(bytes).map_err(store)?;
            }
            ArtifactKind::AuditProof => {
                let root = header.training.checkpoint_root;
                if *root.as_bytes() != id.hash {
                    return Err(ArtifactRefused::Wrong(
                        "an audit proof for another checkpoint root".into(),
                    ));
                }
                let proof = AuditProof::from_bytes(bytes)
                    .map_err(|e| ArtifactRefused::Wrong(format!("not an audit proof: {e}")))?;
                let k = u64::from(self.task.checkpoint_interval).max(1);
                let count = header.training.steps / k + 1;
                if proof.openings().iter().any(|o| o.root(count) != Some(root)) {
                    return Err(ArtifactRefused::Wrong(
                        "an opening of the audit proof does not prove the checkpoint root".into(),
                    ));
                }
                // Complete for this header's audit, or not kept: proofs are stored by root, and
                // a truncated one kept would make every later copy of the block look invalid.
                let (segments, audited) = self.audit_of(header).ok_or_else(|| {
                    ArtifactRefused::Wrong(
                        "the block's step count is not a positive multiple of the checkpoint \
                         interval"
                            .into(),
                    )
                })?;
                let opened = Self::opened_by(segments, &audited);
                if let Some(index) = opened.iter().find(|&&i| proof.checkpoint(i).is_none()) {
                    return Err(ArtifactRefused::Wrong(format!(
                        "the audit proof does not open checkpoint {index}, which the block's \
                         audit reads"
                    )));
                }
                self.store.put_proof(&root, &proof).map_err(store)?;
            }
        }
        Ok(())
    }
}

/// Sees the miner's progress after every checkpoint.
type Observer = Box<dyn FnMut(&Progress) + Send>;

/// Mines by training ([`Miner`]), stopping when the node cancels.
pub struct TrainingMiner {
    miner: Miner,
    observer: Option<Observer>,
}

impl std::fmt::Debug for TrainingMiner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainingMiner")
            .field("backend", &self.miner.backend())
            .finish_non_exhaustive()
    }
}

impl TrainingMiner {
    /// Mines with `miner`.
    pub fn new(miner: Miner) -> Self {
        TrainingMiner {
            miner,
            observer: None,
        }
    }

    /// Calls `observer` after every checkpoint (for a progress bar).
    pub fn with_observer(mut self, observer: impl FnMut(&Progress) + Send + 'static) -> Self {
        self.observer = Some(Box::new(observer));
        self
    }
}

impl BlockMiner for TrainingMiner {
    fn mine(
        &mut self,
        mut template: Block,
        cancel: &AtomicBool,
    ) -> Result<Option<Block>, MinerError> {
        let observer = &mut self.observer;
        let mined = self.miner.mine(&template.header, |progress| {
            if let Some(observe) = observer.as_mut() {
                observe(progress);
            }
            if cancel.load(Ordering::Relaxed) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        match mined {
            Ok(mined) => {
                template.header = mined.header;
                Ok(Some(template))
            }
            Err(MiningError::Cancelled { .. }) => Ok(None),
            Err(error) => Err(MinerError(error.to_string())),
        }
    }
}

/// Why a mined block's artifact record could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The block's audit proof is not in the artifact directory, or does not read.
    #[error("reading the block's audit proof: {0}")]
    Proof(#[source] ann_mining::ArtifactError),
    /// A file could not be described or recorded (missing, outside the store, ...).
    #[error("recording the block's artifact files: {0}")]
    Record(#[from] ann_store::ArtifactRecordError),
}

/// The mining side-chain record of the block with `header`, whose artifacts a miner wrote
/// into `artifacts` (which must lie inside `store`'s directory): the final model, the audit
/// proof, the trace if it was kept, and every checkpoint the proof opens that is on disk (W0
/// is regenerated from the header, so it is never a file). Commit it with the block:
/// `chain.submit_block_with(block, record, ..)`.
///
/// # Errors
/// [`RecordError`]: the proof is missing, or a file is missing or outside the store.
pub fn artifact_record(
    store: &Store,
    artifacts: &ArtifactStore,
    header: &BlockHeader,
) -> Result<ArtifactRecord, RecordError> {
    let training = &header.training;
    let model = training.model_hash;
    let mut files = vec![
        store.artifact_file(ArtifactRole::Model, artifacts.checkpoint_path(&model))?,
        store.artifact_file(
            ArtifactRole::Proof,
            artifacts.proof_path(&training.checkpoint_root),
        )?,
    ];
    let trace = artifacts.trace_path(&training.checkpoint_root);
    if trace.exists() {
        files.push(store.artifact_file(ArtifactRole::Trace, trace)?);
    }
    let proof = artifacts
        .get_proof(&training.checkpoint_root)
        .map_err(RecordError::Proof)?;
    let mut opened: Vec<ModelHash> = proof
        .openings()
        .iter()
        .filter(|o| o.index != 0 && o.checkpoint != model)
        .map(|o| o.checkpoint)
        .collect();
    opened.sort_unstable();
    opened.dedup();
    for hash in opened {
        let path = artifacts.checkpoint_path(&hash);
        if path.exists() {
            files.push(store.artifact_file(ArtifactRole::Checkpoint, path)?);
        }
    }
    Ok(store.artifact_record(header, files)?)
}

/// Why [`mine_into_store`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MineIntoStoreError {
    /// Training failed or was stopped by the observer.
    #[error(transparent)]
    Mining(#[from] MiningError),
    /// The block's artifact record could not be made.
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// A block mined by [`mine_into_store`]: submit it with its record,
/// `chain.submit_block_with(mined.block, mined.record, ..)`, to commit both in one
/// transaction.
#[derive(Debug)]
pub struct MinedIntoStore {
    /// The block.
    pub block: Block,
    /// What the miner reports (tickets, accuracy, the trace, ...).
    pub mined: MinedBlock,
    /// The block's mining side-chain record.
    pub record: ArtifactRecord,
}

/// Mines `template` (a block template on `chain`'s tip) with `miner`, calling `observer`
/// after every checkpoint, and makes the block's artifact record. `miner` must write into the
/// store's artifact directory ([`Store::artifact_dir`]).
///
/// # Errors
/// [`MineIntoStoreError`]: mining failed or was stopped, or the record could not be made.
pub fn mine_into_store(
    chain: &Chain<Store>,
    miner: &Miner,
    mut template: Block,
    observer: impl FnMut(&Progress) -> ControlFlow<()>,
) -> Result<MinedIntoStore, MineIntoStoreError> {
    let mined = miner.mine(&template.header, observer)?;
    template.header = mined.header.clone();
    let record = artifact_record(chain.store(), miner.store(), &template.header)?;
    Ok(MinedIntoStore {
        block: template,
        mined,
        record,
    })
}

/// Why a [`TrainingNode`] could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The store would not open.
    #[error(transparent)]
    Store(#[from] ann_store::OpenError),
    /// The store holds another chain, or an inconsistent one.
    #[error("resuming the chain (was the store made with other parameters?): {0}")]
    Chain(#[from] ChainError),
    /// The artifact directory is unusable.
    #[error("the artifact directory: {0}")]
    Artifacts(#[from] ann_mining::ArtifactError),
    /// The task or data set is unusable for verification.
    #[error(transparent)]
    Verifier(#[from] VerifierSetupError),
    /// The task or data set is unusable for mining.
    #[error(transparent)]
    Miner(#[from] MiningError),
}

/// A proof-of-training node's parts on one [`Store`] directory: the chain resumed from it,
/// the full training audit and the artifact source on its artifact directory, and a miner
/// writing there. Verification runs on the default backend (every backend gives the same
/// bits); mining runs on the backend of your choice.
#[derive(Debug)]
pub struct TrainingNode {
    /// The chain, resumed from the store.
    pub chain: Chain<Store>,
    /// The full training audit.
    pub verifier: TrainingVerifier,
    /// The store's artifact directory, as the network's artifact source.
    pub artifacts: TrainingArtifacts,
    /// The miner (set an observer with [`TrainingMiner::with_observer`] for a progress bar).
    pub miner: TrainingMiner,
}

impl TrainingNode {
    /// Opens (or creates) the store in `dir` for a chain of `params` and `task` on `data`.
    ///
    /// # Errors
    /// [`OpenError`]: the store, the chain it holds, the artifact directory, or the task.
    pub fn open(
        dir: &Path,
        params: ChainParams,
        data: Arc<Mnist>,
        task: Task,
        mining_backend: Backend,
    ) -> Result<Self, OpenError> {
        let store = Store::open(dir)?;
        let chain = Chain::open(params, store)?;
        let artifacts = ArtifactStore::open(chain.store().artifact_dir())?;
        let verifier = TrainingVerifier::with_backend(
            task.clone(),
            Arc::clone(&data),
            artifacts.clone(),
            Backend::DEFAULT,
        )?;
        let miner = Miner::with_backend(task.clone(), data, artifacts.clone(), mining_backend)?;
        Ok(TrainingNode {
            chain,
            verifier,
            artifacts: TrainingArtifacts::new(artifacts, task),
            miner: TrainingMiner::new(miner),
        })
    }

    /// Starts a [`Node`] of these parts (mining if `config` asks, or on `generate`).
    ///
    /// # Errors
    /// [`NodeError`] from [`Node::start`].
    pub fn start(self, config: NodeConfig) -> Result<Node, NodeError> {
        Node::start(
            config,
            self.chain,
            self.verifier,
            self.artifacts,
            Some(Box::new(self.miner)),
        )
    }
}
