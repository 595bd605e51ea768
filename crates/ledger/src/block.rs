//! Blocks and block headers, with the proof-of-training commitment.

use crate::encoding::Encode;
use crate::hash::{BlockHash, CheckpointRoot, MerkleRoot, ModelHash, TaskId, Ticket, sha256};
use crate::target::CompactTarget;
use crate::transaction::Transaction;

/// The only block (header) version this software accepts.
pub const BLOCK_VERSION: u32 = 1;

/// Domain tag of [`BlockHeader::training_seed`].
pub const TRAINING_SEED_TAG: &[u8] = b"blockchain-ann/training-seed/v2";
/// Domain tag of [`BlockHeader::ticket`].
pub const TICKET_TAG: &[u8] = b"blockchain-ann/ticket/v1";

/// What the header commits about the proof of training (see `PROOF_OF_TRAINING.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
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
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
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
    /// The work target, in compact form: the block's ticket must be below it.
    pub bits: CompactTarget,
    /// The proof-of-training commitment.
    pub training: TrainingCommitment,
}

impl BlockHeader {
    /// SHA-256 over the canonical encoding of the complete header.
    pub fn hash(&self) -> BlockHash {
        BlockHash::from_bytes(sha256(&[&self.encode()]))
    }

    /// The seed of proof of training: `SHA-256(TRAINING_SEED_TAG || version (u32 LE) ||
    /// height (u64 LE) || prev_hash || merkle_root || timestamp (u64 LE) || bits (u32 LE))`.
    ///
    /// Covers the whole header except the training commitment, which training produces: the
    /// Merkle root fixes the coinbase and thus the miner's reward address, and the timestamp
    /// is fixed before training starts, so a block cannot be re-stamped without training anew.
    pub fn training_seed(&self) -> [u8; 32] {
        sha256(&[
            TRAINING_SEED_TAG,
            &self.version.to_le_bytes(),
            &self.height.to_le_bytes(),
            self.prev_hash.as_bytes(),
            self.merkle_root.as_bytes(),
            &self.timestamp.to_le_bytes(),
            &self.bits.to_bits().to_le_bytes(),
        ])
    }

    /// The lottery ticket of the checkpoint after `steps` steps whose weights hash to
    /// `model_hash`: `SHA-256(TICKET_TAG || training_seed || steps (u64 LE) || model_hash)`.
    pub fn ticket_for(&self, steps: u64, model_hash: &ModelHash) -> Ticket {
        ticket(&self.training_seed(), steps, model_hash)
    }

    /// This block's ticket: that of its last checkpoint (its committed step count and model).
    pub fn ticket(&self) -> Ticket {
        self.ticket_for(self.training.steps, &self.training.model_hash)
    }

    /// Whether the block's ticket beats its work target.
    pub fn meets_target(&self) -> bool {
        self.bits.is_beaten_by(self.ticket().as_bytes())
    }
}

/// The ticket of a checkpoint given the block's training seed (see [`BlockHeader::ticket_for`]);
/// a miner computes one per checkpoint with the seed computed once.
pub fn ticket(training_seed: &[u8; 32], steps: u64, model_hash: &ModelHash) -> Ticket {
    Ticket::from_bytes(sha256(&[
        TICKET_TAG,
        training_seed,
        &steps.to_le_bytes(),
        model_hash.as_bytes(),
    ]))
}

/// A block: a header and its transactions, the coinbase first.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
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
