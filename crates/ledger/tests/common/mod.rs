//! Helpers shared by the ledger's integration tests.
#![allow(dead_code, missing_docs)]

use ann_ledger::{
    Amount, Block, BlockHeader, Chain, ChainParams, ChainStore, CheckpointRoot, Difficulty,
    Mempool, ModelHash, ProofVerifier, TaskId, TrainingCommitment, Transaction, TxOut, Txid,
    Wallet, merkle_root,
};
use ed25519_dalek::SigningKey;

/// Genesis time of the test chains.
pub const GENESIS_TIME: u64 = 1_700_000_000;
/// Seconds between test blocks.
pub const BLOCK_INTERVAL: u64 = 600;

/// The task every test block claims.
pub const TEST_TASK: TaskId = TaskId::from_bytes([0x7a; 32]);

/// A stand-in for `ann-mining`'s verifier, which the ledger cannot depend on (`ann-mining`
/// depends on `ann-ledger`). It checks something real about the commitment: the task is the
/// expected one, training ran at least one step and produced a model. The end-to-end test at
/// the workspace root uses real mining and the real verifier.
#[derive(Debug, Clone, Copy)]
pub struct TestProofVerifier {
    pub task: TaskId,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TestProofError {
    #[error("proof is for task {found}, expected {expected}")]
    WrongTask { expected: TaskId, found: TaskId },
    #[error("proof claims zero training steps")]
    NoSteps,
    #[error("proof has no model hash")]
    NoModel,
}

impl ProofVerifier for TestProofVerifier {
    type Error = TestProofError;
    fn verify_proof(&self, header: &BlockHeader) -> Result<(), TestProofError> {
        let training = &header.training;
        if training.task_id != self.task {
            return Err(TestProofError::WrongTask {
                expected: self.task,
                found: training.task_id,
            });
        }
        if training.steps == 0 {
            return Err(TestProofError::NoSteps);
        }
        if training.model_hash == ModelHash::ZERO {
            return Err(TestProofError::NoModel);
        }
        Ok(())
    }
}

pub const VERIFIER: TestProofVerifier = TestProofVerifier { task: TEST_TASK };

/// A commitment the test verifier accepts; `salt` varies the model hash (and so the block
/// hash) between otherwise identical blocks.
pub fn commitment(salt: u8) -> TrainingCommitment {
    TrainingCommitment {
        task_id: TEST_TASK,
        steps: 4690,
        checkpoint_root: CheckpointRoot::from_bytes([0x5c; 32]),
        model_hash: ModelHash::from_bytes([salt.wrapping_add(1); 32]),
    }
}

/// A deterministic wallet from a one-byte seed.
pub fn wallet(seed: u8) -> Wallet {
    Wallet::new(SigningKey::from_bytes(&[seed; 32]))
}

pub fn coins(n: u64) -> Amount {
    Amount::from_coins(n).expect("small amount")
}

/// The test chains' difficulty: every ticket but one in 2^24 wins, and it never retargets.
pub fn target() -> Difficulty {
    Difficulty::regtest()
}

/// Parameters funding each wallet with `each` coins in genesis.
pub fn params_funding(wallets: &[&Wallet], each: u64) -> ChainParams {
    let allocations = wallets
        .iter()
        .map(|w| TxOut {
            amount: coins(each),
            address: w.address(),
        })
        .collect();
    ChainParams::new(allocations, GENESIS_TIME, target())
}

/// A mined block on the tip: the template with an accepted training commitment.
pub fn mine<S: ChainStore>(chain: &Chain<S>, mempool: &Mempool, miner: &Wallet, salt: u8) -> Block {
    let timestamp = chain.tip_block().header.timestamp + BLOCK_INTERVAL;
    let mut block = chain
        .block_template(mempool, miner.address(), timestamp)
        .expect("chain store");
    block.header.training = commitment(salt);
    block
}

/// A clock comfortably after every test block.
pub fn now() -> u64 {
    GENESIS_TIME + 1_000 * BLOCK_INTERVAL
}

/// Varies the commitment's step count until the block's ticket beats its target (a stand-in
/// for training that keeps drawing tickets); returns the tickets drawn.
pub fn grind(block: &mut Block) -> u64 {
    for tries in 1..=u64::from(u32::MAX) {
        if block.header.meets_target() {
            return tries;
        }
        block.header.training.steps += 1;
    }
    panic!("no winning ticket in 2^32 tries")
}

/// A block on `parent` paying the subsidy to `miner` and holding `txs` (zero fees).
pub fn child_of(parent: &BlockHeader, txs: Vec<Transaction>, miner: &Wallet, salt: u8) -> Block {
    let height = parent.height + 1;
    let mut transactions = vec![Transaction::coinbase(
        height,
        vec![TxOut {
            amount: coins(10),
            address: miner.address(),
        }],
    )];
    transactions.extend(txs);
    let txids: Vec<Txid> = transactions.iter().map(Transaction::txid).collect();
    Block {
        header: BlockHeader {
            version: 1,
            height,
            prev_hash: parent.hash(),
            merkle_root: merkle_root(&txids),
            timestamp: parent.timestamp + BLOCK_INTERVAL,
            bits: parent.bits,
            training: commitment(salt),
        },
        transactions,
    }
}
