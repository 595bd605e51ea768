//! `ann-mining`: proof-of-training mining for blockchain-ann, on burn.
//!
//! A block is mined by training the task's MNIST classifier (784-512-10 MLP, ReLU, plain SGD
//! in integer-exact arithmetic, so that every backend computes the same bits) from initial
//! weights W0 derived from the block template, each segment of `k` steps on data keyed by its
//! start checkpoint. Every checkpoint (the weights' hash every `k` steps) is a lottery ticket
//! bound to the whole header; a block is found when a ticket beats the header's work target
//! on a live segment whose model passes the task's accuracy gate. The header commits the
//! task id, the step count, the Merkle root of the checkpoint hashes and the final model
//! hash. A verifier reads only the audited checkpoints through their Merkle openings,
//! regenerates W0, re-measures the accuracy, and replays the last segment plus `s` segments
//! chosen from the header (Fiat-Shamir), bit for bit, on any backend.
//! `docs/proof-of-training.md` states the construction and its security argument.
//!
//! ```
//! use std::ops::ControlFlow;
//! use std::sync::Arc;
//! use ann_ledger::{BlockHash, BlockHeader, CompactTarget, MerkleRoot, ProofVerifier};
//! use ann_mining::{ArtifactStore, Miner, NetworkParams, TrainingVerifier};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let repository_copy = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/mnist");
//! # let artifacts = tempfile::tempdir()?;
//! // The MNIST files, checked against the hash the network pins (the repository ships them
//! // in data/mnist; here ANN_MNIST_DIR names a copy), and a directory for artifacts.
//! let data_dir = std::env::var("ANN_MNIST_DIR").unwrap_or_else(|_| repository_copy.into());
//! let network = NetworkParams::devnet();
//! let data = Arc::new(network.load_data(&data_dir)?);
//! let task = network.task().clone();
//! let store = ArtifactStore::open(artifacts.path())?;
//! let template = BlockHeader {
//!     version: 1,
//!     height: 1,
//!     prev_hash: BlockHash::ZERO,
//!     merkle_root: MerkleRoot::ZERO,
//!     timestamp: 1_700_000_000,
//!     // One ticket in four wins.
//!     bits: CompactTarget::from_expected_tickets(4),
//!     training: Default::default(),
//! };
//! let miner = Miner::new(task.clone(), Arc::clone(&data), store.clone())?;
//! let mut tickets = 0;
//! let mined = miner.mine(&template, |p| {
//!     tickets = p.tickets;
//!     ControlFlow::Continue(())
//! })?;
//! assert!(mined.accuracy_bp >= 9000 && mined.header.meets_target());
//! assert_eq!(mined.tickets, tickets + 1);
//!
//! // Any node re-checks the proof: openings, W0 from the seed, accuracy, audited replay.
//! let verifier = TrainingVerifier::new(task, data, store)?;
//! verifier.verify_proof(&mined.header)?;
//! # Ok(())
//! # }
//! ```
//!
//! Backends are cargo features: `flex` (default), `ndarray`, `wgpu`; all give the same bits;
//! [`Backend`] picks one at run time. The library prints nothing: progress goes to the
//! observer passed to [`Miner::mine`].

pub mod arithmetic;
pub mod artifact;
pub mod backend;
pub mod dataset;
mod kernels;
pub mod miner;
pub mod model;
pub mod network;
pub mod prng;
pub mod task;
pub mod trace;
pub mod training;
pub mod verifier;

/// The burn version this crate is built on, for the types its API mentions
/// ([`Backend::device`]'s `Device`, the tensors of [`Mlp`]).
pub use burn;

pub use arithmetic::{Arithmetic, ArithmeticError};
pub use artifact::{ArtifactError, ArtifactStore};
pub use backend::{Backend, UnknownBackend};
pub use dataset::{DatasetError, DatasetHash, MNIST_DATASET_HASH, Mnist};
pub use miner::{MinedBlock, Miner, MiningError, Progress};
pub use model::{Mlp, ModelHash, Weights, WeightsRangeError};
pub use network::{NetworkError, NetworkParams};
pub use task::{StepFloor, Task, TaskError};
pub use trace::{AuditProof, Opening, Trace, checkpoint_root, segment_key};
pub use training::{Engine, SegmentStats};
pub use verifier::{
    CheckedProof, ProofError, RecordingVerifier, TrainingVerifier, Verified, VerifierSetupError,
};
