//! `ann-mining`: proof-of-training mining for blockchain-ann, on burn.
//!
//! A block is mined by training the task's MNIST classifier (784-512-10 MLP, ReLU, plain SGD
//! in integer-exact arithmetic, so that every backend computes the same bits) from initial
//! weights W0 derived from the block template, on a data order derived from the
//! template and the trace so far, until its test accuracy reaches the block's target. Every
//! `k` steps the weights are hashed; the header commits the task id, the step count, the
//! Merkle root of the checkpoint hashes and the final model hash. A verifier regenerates W0,
//! re-measures the accuracy, and replays the last segment plus `s` segments chosen from the
//! header (Fiat-Shamir), bit for bit, on any backend.
//! `docs/proof-of-training.md` states the construction and its security argument.
//!
//! ```
//! use std::sync::Arc;
//! use ann_ledger::{AccuracyTarget, BlockHash, BlockHeader, MerkleRoot, ProofVerifier};
//! use ann_mining::{ArtifactStore, Miner, Mnist, Task, TrainingVerifier};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let data_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/mnist");
//! # let artifacts = tempfile::tempdir()?;
//! // The MNIST files (shipped in the repository's data/mnist) and a directory for artifacts.
//! let data = Arc::new(Mnist::load(data_dir)?);
//! let task = Task::mnist(data.hash());
//! let store = ArtifactStore::open(artifacts.path())?;
//! let template = BlockHeader {
//!     version: 1,
//!     height: 1,
//!     prev_hash: BlockHash::ZERO,
//!     merkle_root: MerkleRoot::ZERO,
//!     timestamp: 1_700_000_000,
//!     target: AccuracyTarget::from_basis_points(9000)?,
//!     training: Default::default(),
//! };
//! let miner = Miner::new(task.clone(), Arc::clone(&data), store.clone())?;
//! let mut evaluations = Vec::new();
//! let mined = miner.mine(&template, |p| evaluations.extend(p.accuracy_bp))?;
//! assert!(mined.accuracy_bp >= 9000 && evaluations.last() == Some(&mined.accuracy_bp));
//!
//! // Any node re-checks the proof: W0 from the seed, accuracy, audited replay.
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
pub mod miner;
pub mod model;
pub mod prng;
pub mod task;
pub mod trace;
pub mod training;
pub mod verifier;

pub use arithmetic::{Arithmetic, ArithmeticError};
pub use artifact::{ArtifactError, ArtifactStore};
pub use backend::{Backend, UnknownBackend};
pub use dataset::{DatasetError, DatasetHash, Mnist};
pub use miner::{MinedBlock, Miner, MiningError, Progress};
pub use model::{Mlp, Weights, WeightsHash, WeightsRangeError};
pub use task::{StepFloor, Task, TaskError};
pub use trace::{Trace, checkpoint_root};
pub use verifier::{ProofError, TrainingVerifier, Verified, VerifierSetupError};
