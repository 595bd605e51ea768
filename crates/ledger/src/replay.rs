//! Re-validating a chain from genesis, as a stranger would: every block of a claimed best
//! chain submitted in order to a fresh in-memory [`Chain`], every consensus rule and the proof
//! checked again.
//!
//! ```
//! use ann_ledger::replay::replay;
//! use ann_ledger::{
//!     Amount, BlockHeader, Chain, ChainParams, Difficulty, Mempool, ProofVerifier, TxOut, Wallet,
//! };
//! use ed25519_dalek::SigningKey;
//!
//! struct AcceptAnyProof;
//! impl ProofVerifier for AcceptAnyProof {
//!     type Error = std::convert::Infallible;
//!     fn verify_proof(&self, _: &BlockHeader) -> Result<(), Self::Error> {
//!         Ok(())
//!     }
//! }
//! let miner = Wallet::new(SigningKey::from_bytes(&[7; 32]));
//! let genesis = vec![TxOut { amount: Amount::from_coins(10)?, address: miner.address() }];
//! let params = ChainParams::new(genesis, 1_700_000_000, Difficulty::regtest());
//! let mut chain = Chain::new(params.clone())?;
//! for i in 1..=3 {
//!     let block = chain.block_template(&Mempool::new(), miner.address(), 1_700_000_000 + 600 * i)?;
//!     chain.submit_block(block, 1_700_010_000, &AcceptAnyProof)?;
//! }
//! let blocks = chain.best_blocks().collect::<Result<Vec<_>, _>>()?;
//! let mut heights = Vec::new();
//! let fresh = replay(&params, &blocks, &AcceptAnyProof, 1_700_010_000, |block| {
//!     heights.push(block.header.height)
//! })?;
//! assert_eq!(fresh.tip(), chain.tip());
//! assert_eq!(heights, [1, 2, 3]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::block::Block;
use crate::chain::{Chain, ChainError, ChainParams, ImportOutcome};
use crate::hash::BlockHash;
use crate::proof::ProofVerifier;
use crate::store::MemoryChainStore;

/// Why a chain did not replay.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// No block at all, not even genesis.
    #[error("the chain is empty")]
    Empty,
    /// The first block is not the genesis of the parameters.
    #[error("the first block {found} is not the genesis {expected} of these parameters")]
    WrongGenesis {
        /// The genesis the parameters give.
        expected: BlockHash,
        /// The first block given.
        found: BlockHash,
    },
    /// The parameters do not make a chain (for example, invalid genesis allocations).
    #[error("the parameters do not make a chain: {0}")]
    Params(#[source] Box<ChainError>),
    /// A block was given twice.
    #[error("block {height} ({hash}) appears twice")]
    Duplicate {
        /// Its height.
        height: u64,
        /// Its hash.
        hash: BlockHash,
    },
    /// A valid block that did not become the tip: the blocks are not one chain in order.
    #[error("block {height} ({hash}) does not extend the blocks before it")]
    NotExtending {
        /// Its height.
        height: u64,
        /// Its hash.
        hash: BlockHash,
    },
    /// A block was refused.
    #[error("block {height} ({hash}): {source}")]
    Rejected {
        /// Its height.
        height: u64,
        /// Its hash.
        hash: BlockHash,
        /// What the chain said (boxed: chain errors are large).
        #[source]
        source: Box<ChainError>,
    },
}

/// Replays `blocks` (genesis first, then each block extending the one before it) into a fresh
/// in-memory chain of `params`, checking every rule and every proof with `verifier`, and
/// calls `on_block` after each block past genesis is accepted. `now` is the clock for the
/// timestamp rule. Returns the rebuilt chain, or the first failure.
///
/// # Errors
/// [`ReplayError`]: the first block is not this genesis, or a block is refused, repeated or
/// off the line.
pub fn replay<'a, V: ProofVerifier + ?Sized>(
    params: &ChainParams,
    blocks: impl IntoIterator<Item = &'a Block>,
    verifier: &V,
    now: u64,
    mut on_block: impl FnMut(&Block),
) -> Result<Chain<MemoryChainStore>, ReplayError> {
    let mut blocks = blocks.into_iter();
    let genesis = blocks.next().ok_or(ReplayError::Empty)?;
    let mut chain = Chain::new(params.clone()).map_err(|e| ReplayError::Params(Box::new(e)))?;
    if genesis.hash() != chain.tip() {
        return Err(ReplayError::WrongGenesis {
            expected: chain.tip(),
            found: genesis.hash(),
        });
    }
    for block in blocks {
        let hash = block.hash();
        let height = block.header.height;
        match chain.submit_block(block.clone(), now, verifier) {
            Ok(ImportOutcome::AlreadyKnown) => return Err(ReplayError::Duplicate { height, hash }),
            Ok(_) if chain.tip() == hash => on_block(block),
            Ok(_) => return Err(ReplayError::NotExtending { height, hash }),
            Err(source) => {
                return Err(ReplayError::Rejected {
                    height,
                    hash,
                    source: Box::new(source),
                });
            }
        }
    }
    Ok(chain)
}
