//! `ann-store`: the persistent, crash-consistent chain store of blockchain-ann, on redb.
//!
//! A [`Store`] is a directory holding `chain.redb` (blocks with their metadata, side branches,
//! undo data, the UTXO set, the tip, a best-chain index and the mining side chain) and
//! `artifacts/` (the training artifact files). It implements the ledger's
//! [`ann_ledger::ChainStore`]: every block import is one redb write transaction, durable when
//! it returns, so a crash at any point leaves the state before or after an import, never in
//! between; reopening resumes exactly where the chain stopped. A damaged, foreign or newer
//! file is a typed [`OpenError`] at open. `docs/store-format.md` specifies the format.
//!
//! ```
//! use ann_ledger::{Amount, BlockHeader, Chain, ChainParams, Difficulty, Mempool, ProofVerifier, TxOut, Wallet};
//! use ann_store::{ArtifactRole, Store};
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
//! let dir = tempfile::tempdir()?;
//! let miner = Wallet::new(SigningKey::from_bytes(&[1; 32]));
//! let genesis = vec![TxOut { amount: Amount::from_coins(10)?, address: miner.address() }];
//! let params = ChainParams::new(genesis, 1_700_000_000, Difficulty::regtest());
//!
//! // Opening an empty directory creates a store; the chain writes genesis into it.
//! let mut chain = Chain::open(params.clone(), Store::open(dir.path())?)?;
//! let block = chain.block_template(&Mempool::new(), miner.address(), 1_700_000_600)?;
//!
//! // Artifact files go into the store's artifact directory first (ann-mining's ArtifactStore
//! // writes them content-addressed), then their record is committed with the block.
//! let model = chain.store().artifact_dir().join("checkpoint-example.f32le");
//! std::fs::write(&model, [0u8; 64])?;
//! let file = chain.store().artifact_file(ArtifactRole::Model, &model)?;
//! let record = chain.store().artifact_record(&block.header, vec![file])?;
//! chain.submit_block_with(block, record, 1_700_000_600, &AcceptAnyProof)?;
//! let tip = chain.tip();
//! drop(chain);
//!
//! // Reopening resumes where the chain stopped.
//! let chain = Chain::open(params, Store::open(dir.path())?)?;
//! assert_eq!(chain.tip(), tip);
//! assert_eq!(miner.balance(&chain)?, Amount::from_coins(20)?);
//! let side_chain = chain.store().side_chain()?;
//! assert_eq!(side_chain.len(), 2); // genesis (no artifacts) and block 1
//! let record = side_chain[1].artifacts.as_ref().expect("recorded with block 1");
//! assert_eq!(record.files[0].path, "artifacts/checkpoint-example.f32le");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod artifact;
pub mod error;
pub mod schema;
pub mod store;

/// The redb version this crate stores in, for the database errors its error types carry.
pub use redb;

pub use artifact::{
    ArtifactDecodeError, ArtifactFile, ArtifactRecord, ArtifactRole, SideChainEntry,
};
pub use error::{ArtifactRecordError, CommitError, LoadError, OpenError, StoreError};
pub use schema::{MAGIC, SCHEMA_VERSION};
pub use store::Store;
