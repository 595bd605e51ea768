//! Blocks and block headers, with the proof-of-training commitment.

use crate::encoding::Encode;
use crate::hash::{BlockHash, CheckpointRoot, MerkleRoot, ModelHash, TaskId, sha256};
use crate::target::AccuracyTarget;
use crate::transaction::Transaction;

/// The only block (header) version this software accepts.
pub const BLOCK_VERSION: u32 = 1;

/// Domain tag of [`BlockHeader::training_seed`].
pub const TRAINING_SEED_TAG: &[u8] = b"blockchain-ann/training-seed/v1";

/// What the header commits about the proof of training (see `PROOF_OF_TRAINING.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize)]
pub struct TrainingCommitment {
    /// The training task (dataset, architecture, hyper-parameters), a consensus constant.
    pub task_id: TaskId,
    /// Number of optimizer steps trained.
    pub steps: u64,
    /// Merkle root of the checkpoint hashes.
    pub checkpoint_root: CheckpointRoot,
    /// Hash of the final weights (canonical bytes).
    pub model_hash: ModelHash,
}

/// A block header.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BlockHeader {
    /// Format version, [`BLOCK_VERSION`].
    pub version: u32,
    /// Number of blocks before this one (genesis is 0).
    pub height: u64,
    /// Hash of the parent block's header ([`BlockHash::ZERO`] for genesis).
    pub prev_hash: BlockHash,
    /// Merkle root of the transaction ids.
    pub merkle_root: MerkleRoot,
    /// Seconds since the Unix epoch.
    pub timestamp: u64,
    /// Minimum test accuracy the block's model reaches.
    pub target: AccuracyTarget,
    /// The proof-of-training commitment.
    pub training: TrainingCommitment,
}

impl BlockHeader {
    /// SHA-256 over the canonical encoding of the complete header.
    pub fn hash(&self) -> BlockHash {
        BlockHash::from_bytes(sha256(&[&self.encode()]))
    }

    /// The seed of proof of training: `SHA-256(TRAINING_SEED_TAG || version (u32 LE) ||
    /// height (u64 LE) || prev_hash || merkle_root || target (u16 LE))`.
    ///
    /// Excludes `timestamp` and `training`, which are set after or around training; includes
    /// the Merkle root, which fixes the coinbase and thus the miner's reward address.
    pub fn training_seed(&self) -> [u8; 32] {
        sha256(&[
            TRAINING_SEED_TAG,
            &self.version.to_le_bytes(),
            &self.height.to_le_bytes(),
            self.prev_hash.as_bytes(),
            self.merkle_root.as_bytes(),
            &self.target.basis_points().to_le_bytes(),
        ])
    }
}

/// A block: a header and its transactions, the coinbase first.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Block {
    /// The header.
    pub header: BlockHeader,
    /// The transactions; the first is the coinbase.
    pub transactions: Vec<Transaction>,
}

impl Block {
    /// The block's hash (its header's).
    pub fn hash(&self) -> BlockHash {
        self.header.hash()
    }

    /// Length in bytes of the canonical encoding, computed without encoding.
    pub fn encoded_len(&self) -> usize {
        crate::encoding::HEADER_SIZE
            + 4
            + self
                .transactions
                .iter()
                .map(Transaction::encoded_len)
                .sum::<usize>()
    }
}
