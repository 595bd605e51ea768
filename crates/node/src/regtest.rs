//! A proof system for regression tests and simulations: the lottery without the training.
//!
//! [`TicketProof`] checks what a header alone can show: the task is the chain's, training ran
//! and produced a model, and the header's ticket beats its work target. [`TicketMiner`] draws
//! tickets by varying the committed model hash until one wins. Nothing is trained, so a chain
//! of these blocks costs microseconds a block; the network, sync, fork choice and scoring then
//! run exactly as on a real chain, with `ann-mining`'s verifier swapped for this one. A real
//! chain never accepts such a block: its verifier replays the training.

use std::sync::atomic::{AtomicBool, Ordering};

use ann_ledger::{
    Block, BlockHeader, Chain, ChainStore, CheckpointRoot, ModelHash, ProofVerifier, TaskId,
    TrainingCommitment,
};

use crate::artifacts::NoArtifacts;
use crate::miner::{BlockMiner, MinerError};
use crate::node::{Node, NodeConfig, NodeError};

/// The task id that regression-test blocks commit.
pub const REGTEST_TASK: TaskId = TaskId::from_bytes(*b"blockchain-ann/regtest/no-train!");

/// Why [`TicketProof`] refused a header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TicketProofError {
    /// The header commits another task.
    #[error("the header commits task {found}, the chain's task is {expected}")]
    WrongTask {
        /// The chain's task.
        expected: TaskId,
        /// The header's.
        found: TaskId,
    },
    /// Zero steps or no model.
    #[error("the commitment claims no training (zero steps or a zero model hash)")]
    NoTraining,
    /// The ticket does not beat the target.
    #[error("the header's ticket does not beat its work target")]
    TicketAboveTarget,
}

/// Checks a header's lottery ticket and nothing that needs artifacts (see the module docs).
#[derive(Clone, Copy, Debug, Default)]
pub struct TicketProof;

impl ProofVerifier for TicketProof {
    type Error = TicketProofError;

    fn precheck(&self, header: &BlockHeader) -> Result<(), TicketProofError> {
        let t = &header.training;
        if t.task_id != REGTEST_TASK {
            return Err(TicketProofError::WrongTask {
                expected: REGTEST_TASK,
                found: t.task_id,
            });
        }
        if t.steps == 0 || t.model_hash == ModelHash::ZERO {
            return Err(TicketProofError::NoTraining);
        }
        if !header.bits.is_beaten_by(header.ticket().as_bytes()) {
            return Err(TicketProofError::TicketAboveTarget);
        }
        Ok(())
    }

    fn verify_proof(&self, header: &BlockHeader) -> Result<(), TicketProofError> {
        self.precheck(header)
    }
}

/// Starts a regtest node on `chain`: [`TicketProof`] checks its blocks, no artifacts are
/// fetched, and a [`TicketMiner`] with `salt` mines when `config` asks (or on `generate`).
///
/// # Errors
/// [`NodeError`] from [`Node::start`].
pub fn start_node<S: ChainStore + Send + 'static>(
    config: NodeConfig,
    chain: Chain<S>,
    salt: u64,
) -> Result<Node, NodeError> {
    Node::start(
        config,
        chain,
        TicketProof,
        NoArtifacts,
        Some(Box::new(TicketMiner { salt })),
    )
}

/// Mines [`TicketProof`] blocks: one SHA-256 ticket per draw, the draw number in the model
/// hash. `salt` keeps two miners on the same template from finding the same block.
#[derive(Clone, Copy, Debug, Default)]
pub struct TicketMiner {
    /// Mixed into every model hash.
    pub salt: u64,
}

impl BlockMiner for TicketMiner {
    fn mine(
        &mut self,
        mut template: Block,
        cancel: &AtomicBool,
    ) -> Result<Option<Block>, MinerError> {
        for draw in 0u64.. {
            if draw % 1024 == 0 && cancel.load(Ordering::Relaxed) {
                return Ok(None);
            }
            let mut model = [0u8; 32];
            model[..8].copy_from_slice(&self.salt.to_le_bytes());
            model[8..16].copy_from_slice(&draw.to_le_bytes());
            model[31] = 1;
            template.header.training = TrainingCommitment {
                task_id: REGTEST_TASK,
                steps: 1,
                checkpoint_root: CheckpointRoot::from_bytes([0; 32]),
                model_hash: ModelHash::from_bytes(model),
            };
            if template
                .header
                .bits
                .is_beaten_by(template.header.ticket().as_bytes())
            {
                return Ok(Some(template));
            }
        }
        Err(MinerError("ran out of draws".into()))
    }
}
