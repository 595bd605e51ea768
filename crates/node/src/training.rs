//! The node's seams implemented on `ann-mining`: artifacts in an [`ArtifactStore`] directory,
//! and mining by training.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};

use ann_ledger::{Block, BlockHeader, CheckpointRoot};
use ann_mining::model::hash_weight_bytes;
use ann_mining::verifier::{audit_challenge, audited_segments};
use ann_mining::{
    ArtifactStore, AuditProof, Miner, MiningError, Progress, Task, Weights, WeightsHash,
};
use ann_net::ArtifactKind;
use ann_net::wire::MAX_ARTIFACT;

use crate::artifacts::{ArtifactId, ArtifactRefused, Artifacts};
use crate::miner::{BlockMiner, MinerError};

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

    fn proof_path(&self, root: &CheckpointRoot) -> std::path::PathBuf {
        self.store.dir().join(ArtifactStore::proof_name(root))
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
        if !self.proof_path(&t.checkpoint_root).exists() {
            return vec![ArtifactId {
                kind: ArtifactKind::AuditProof,
                hash: *t.checkpoint_root.as_bytes(),
            }];
        }
        // A proof we hold but cannot read, or a header whose step count is invalid: nothing
        // to fetch, and the verifier says what is wrong.
        let Ok(proof) = self.store.get_proof(&t.checkpoint_root) else {
            return Vec::new();
        };
        let k = u64::from(self.task.checkpoint_interval);
        if k == 0 || t.steps == 0 || !t.steps.is_multiple_of(k) {
            return Vec::new();
        }
        let segments = t.steps / k;
        let audited =
            audited_segments(&audit_challenge(header), segments, self.task.audit_segments);
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
                hash: hash.0,
            })
            .collect()
    }

    fn get(&self, id: &ArtifactId) -> Option<Vec<u8>> {
        match id.kind {
            ArtifactKind::Checkpoint => {
                Self::read_capped(&self.store.checkpoint_path(&WeightsHash(id.hash)))
            }
            ArtifactKind::AuditProof => {
                Self::read_capped(&self.proof_path(&CheckpointRoot::from_bytes(id.hash)))
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
                if hash.0 != id.hash {
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
