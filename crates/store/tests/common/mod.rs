//! Helpers shared by the store's integration tests: a small proof verifier, deterministic
//! wallets, and block builders (after `crates/ledger/tests/common`).
#![allow(dead_code, missing_docs, clippy::unwrap_used)]

use ann_ledger::hash::sha256;
use ann_ledger::{
    Amount, BLOCK_VERSION, Block, BlockHash, BlockHeader, Chain, ChainParams, ChainStore,
    CheckpointRoot, Difficulty, Mempool, ModelHash, ProofVerifier, TaskId, TrainingCommitment,
    Transaction, TxOut, Wallet, merkle_root,
};
use ed25519_dalek::SigningKey;

pub const GENESIS_TIME: u64 = 1_700_000_000;
pub const BLOCK_INTERVAL: u64 = 600;
pub const TEST_TASK: TaskId = TaskId::from_bytes([0x7a; 32]);
const PROOF_TAG: &[u8] = b"ann-store-test/proof";

/// A stand-in for `ann-mining`'s `TrainingVerifier` (which the store's tests do not pull in:
/// it would bring burn into every store test build). It checks something real about each
/// header: the task is the expected one, training ran, a model was produced, and the
/// checkpoint root is bound to this header's training seed (SHA-256 of a tag and the seed), so
/// a commitment copied onto another header is rejected. The workspace's end-to-end tests use
/// real mining and the real verifier.
#[derive(Debug, Clone, Copy)]
pub struct SeedBoundVerifier;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TestProofError {
    #[error("proof is for another task")]
    WrongTask,
    #[error("proof claims zero training steps")]
    NoSteps,
    #[error("proof has no model hash")]
    NoModel,
    #[error("checkpoint root is not bound to this header's training seed")]
    NotBoundToSeed,
}

impl ProofVerifier for SeedBoundVerifier {
    type Error = TestProofError;
    fn verify_proof(&self, header: &BlockHeader) -> Result<(), TestProofError> {
        let training = &header.training;
        if training.task_id != TEST_TASK {
            return Err(TestProofError::WrongTask);
        }
        if training.steps == 0 {
            return Err(TestProofError::NoSteps);
        }
        if training.model_hash == ModelHash::ZERO {
            return Err(TestProofError::NoModel);
        }
        if training.checkpoint_root != bound_root(header) {
            return Err(TestProofError::NotBoundToSeed);
        }
        Ok(())
    }
}

fn bound_root(header: &BlockHeader) -> CheckpointRoot {
    CheckpointRoot::from_bytes(sha256(&[PROOF_TAG, &header.training_seed()]))
}

/// Fills the header's training commitment so that [`SeedBoundVerifier`] accepts it; `salt`
/// varies the model hash.
pub fn prove(header: &mut BlockHeader, salt: u64) {
    let model = sha256(&[b"model", &salt.to_le_bytes()]);
    header.training = TrainingCommitment {
        task_id: TEST_TASK,
        steps: 4690,
        checkpoint_root: bound_root(header),
        model_hash: ModelHash::from_bytes(model),
    };
}

pub fn wallet(seed: u8) -> Wallet {
    Wallet::new(SigningKey::from_bytes(&[seed; 32]))
}

pub fn wallets(n: u8) -> Vec<Wallet> {
    (1..=n).map(wallet).collect()
}

pub fn coins(n: u64) -> Amount {
    Amount::from_coins(n).unwrap()
}

pub fn params(wallets: &[Wallet], each: u64) -> ChainParams {
    let allocations = wallets
        .iter()
        .map(|w| TxOut {
            amount: coins(each),
            address: w.address(),
        })
        .collect();
    ChainParams::new(allocations, GENESIS_TIME, Difficulty::regtest())
}

/// A clock comfortably after every test block.
pub fn now() -> u64 {
    GENESIS_TIME + 10_000_000 * BLOCK_INTERVAL
}

/// A proven block on the tip with the mempool's transactions.
pub fn mine<S: ChainStore>(
    chain: &Chain<S>,
    mempool: &Mempool,
    miner: &Wallet,
    salt: u64,
) -> Block {
    let timestamp = chain.tip_block().header.timestamp + BLOCK_INTERVAL;
    let mut block = chain
        .block_template(mempool, miner.address(), timestamp)
        .unwrap();
    prove(&mut block.header, salt);
    block
}

/// A proven coinbase-only block on any known block (for side branches).
pub fn block_on<S: ChainStore>(
    chain: &Chain<S>,
    parent: BlockHash,
    miner: &Wallet,
    salt: u64,
) -> Block {
    let parent_header = &chain.header(&parent).unwrap().unwrap();
    let height = parent_header.height + 1;
    let coinbase = Transaction::coinbase(
        height,
        vec![TxOut {
            amount: chain.params().subsidy(height),
            address: miner.address(),
        }],
    );
    let mut header = BlockHeader {
        version: BLOCK_VERSION,
        height,
        prev_hash: parent,
        merkle_root: merkle_root(&[coinbase.txid()]),
        timestamp: parent_header.timestamp + BLOCK_INTERVAL + (salt % 7),
        bits: chain.params().required_target(parent_header),
        training: TrainingCommitment::default(),
    };
    prove(&mut header, salt);
    Block {
        header,
        transactions: vec![coinbase],
    }
}

/// A block on the tip carrying `payments` one-coin payments between the wallets (chosen by
/// `salt`), mined by one of them.
pub fn block_with_payments<S: ChainStore>(
    chain: &Chain<S>,
    wallets: &[Wallet],
    payments: usize,
    salt: u64,
) -> Block {
    let mut mempool = Mempool::new();
    let n = wallets.len() as u64;
    for k in 0..payments as u64 {
        let from = &wallets[((salt + k) % n) as usize];
        let to = &wallets[((salt + k + 1 + k % 2) % n) as usize];
        if let Ok(tx) = from.pay(chain, Some(&mempool), to.address(), coins(1), Amount::ZERO) {
            mempool.add(tx, chain).unwrap();
        }
    }
    mine(chain, &mempool, &wallets[(salt % n) as usize], salt)
}

/// Replays the best chain of `chain` into a fresh in-memory chain: the from-scratch rebuild
/// a stored chain must agree with.
pub fn rebuild_in_memory<S: ChainStore>(chain: &Chain<S>) -> Chain {
    let mut fresh = Chain::new(chain.params().clone()).unwrap();
    for hash in &chain.best_chain().unwrap()[1..] {
        let block = chain.block(hash).unwrap().unwrap();
        fresh
            .submit_block(block, now(), &SeedBoundVerifier)
            .unwrap();
    }
    fresh
}
