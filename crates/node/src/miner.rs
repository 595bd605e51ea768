//! The seam between the node and whatever fills a block template with a proof.

use std::sync::atomic::AtomicBool;

use ann_ledger::Block;

/// Why a miner could not finish an attempt (a backend or artifact failure, not a cancel).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mining failed: {0}")]
pub struct MinerError(pub String);

/// Fills a block template's training commitment with a winning proof.
///
/// The node runs it on a thread of its own and sets `cancel` when the template went stale (a
/// new tip arrived); the miner should then return `Ok(None)` soon.
pub trait BlockMiner: Send + 'static {
    /// The template with its commitment filled in, `Ok(None)` if cancelled.
    ///
    /// # Errors
    /// [`MinerError`] if the attempt failed for another reason.
    fn mine(&mut self, template: Block, cancel: &AtomicBool) -> Result<Option<Block>, MinerError>;
}
