//! `ann-ledger`: the core ledger of blockchain-ann.
//!
//! Amounts, addresses, signed UTXO transactions, blocks whose header commits a proof of
//! training, the canonical consensus encoding, validation with one typed error per rule,
//! chain state with fork choice and reorganisation, a persistence seam, a mempool and a
//! wallet. The proof of training itself is checked through the [`ProofVerifier`] trait,
//! which `ann-mining` implements; the consensus rules are specified in `docs/consensus.md`.
//!
//! ```
//! use ann_ledger::{
//!     Amount, BlockHeader, Chain, ChainParams, Difficulty, Mempool, ProofVerifier, TxOut, Wallet,
//! };
//! use ed25519_dalek::SigningKey;
//!
//! /// Accepts any proof: for this example only (real chains use `ann-mining`'s verifier).
//! struct AcceptAnyProof;
//! impl ProofVerifier for AcceptAnyProof {
//!     type Error = std::convert::Infallible;
//!     fn verify_proof(&self, _: &BlockHeader) -> Result<(), Self::Error> {
//!         Ok(())
//!     }
//! }
//!
//! let alice = Wallet::new(SigningKey::from_bytes(&[1; 32]));
//! let bob = Wallet::new(SigningKey::from_bytes(&[2; 32]));
//! let genesis = vec![TxOut { amount: Amount::from_coins(10)?, address: alice.address() }];
//! let mut chain = Chain::new(ChainParams::new(genesis, 1_700_000_000, Difficulty::regtest()))?;
//!
//! let mut mempool = Mempool::new();
//! let payment = alice.pay(&chain, Some(&mempool), bob.address(), Amount::from_coins(3)?, Amount::ZERO)?;
//! mempool.add(payment, &chain)?;
//!
//! let block = chain.block_template(&mempool, bob.address(), 1_700_000_600)?;
//! chain.submit_block(block, 1_700_000_600, &AcceptAnyProof)?;
//! assert_eq!(alice.balance(&chain)?, Amount::from_coins(7)?);
//! assert_eq!(bob.balance(&chain)?, Amount::from_coins(13)?); // 3 paid + 10 block reward
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod address;
pub mod amount;
pub mod block;
pub mod chain;
pub mod encoding;
pub mod hash;
pub mod mempool;
pub mod merkle;
pub mod pq;
pub mod proof;
pub mod replay;
pub mod store;
pub mod target;
pub mod transaction;
pub mod utxo;
pub mod validation;
pub mod wallet;

/// The ed25519 implementation this crate signs with, for the keys its API takes and returns
/// (a dependent needs no separate `ed25519-dalek` dependency of a matching version).
pub use ed25519_dalek;
pub use ed25519_dalek::{SigningKey, VerifyingKey};

pub use address::{ADDRESS_PREFIX, ADDRESS_TEXT_LEN, Address, AddressError};
pub use amount::{Amount, AmountError, COIN, MAX_SUPPLY, ParseAmountError};
pub use block::{
    BLOCK_VERSION, Block, BlockHeader, TICKET_TAG, TRAINING_SEED_TAG, TrainingCommitment, ticket,
};
pub use chain::{Chain, ChainError, ChainParams, ImportOutcome};
pub use encoding::{Decode, DecodeError, Encode, MAX_BLOCK_SIZE, decode, encode};
pub use hash::{
    BlockHash, CheckpointRoot, DatasetHash, HashParseError, MerkleRoot, ModelHash, TaskId, Ticket,
    Txid,
};
pub use mempool::{Mempool, MempoolError, MempoolPolicy};
pub use merkle::{MerkleTags, merkle_root};
pub use pq::{MlDsa65PublicKey, MlDsa65Signature, MlDsa65SigningKey, MlDsaError};
pub use proof::ProofVerifier;
pub use replay::ReplayError;
pub use store::{
    BlockMeta, BlockStatus, ChainStore, ChangeSet, CountingStore, MemoryChainStore, StoredBlock,
};
pub use target::{AccuracyTarget, CompactTarget, Difficulty, Retarget, TargetError};
pub use transaction::{
    InputSigner, KeyKind, OutPoint, SpendingKey, TX_VERSION, TX_VERSION_TYPED_INPUTS, Transaction,
    TxIn, TxOut, UnknownKeyKind, Witness,
};
pub use utxo::{BlockUndo, UtxoEntry, UtxoError, UtxoSet};
pub use validation::{BlockError, MAX_BLOCK_SIGNATURES, TxError};
pub use wallet::{Wallet, WalletError};
