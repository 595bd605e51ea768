//! `ann-mining`: proof-of-training mining for blockchain-ann, on burn.
//!
//! A block is mined by training the task's MNIST classifier (784-512-10 MLP, ReLU, plain SGD)
//! from initial weights W0 derived from the block template, on a data order derived from the
//! template and the trace so far, until its test accuracy reaches the block's target. Every
//! `k` steps the weights are hashed; the header commits the task id, the step count, the
//! Merkle root of the checkpoint hashes and the final model hash. A verifier regenerates W0,
//! re-measures the accuracy, and replays the last segment plus `s` segments chosen from the
//! header (Fiat-Shamir), bit for bit, on the reference CPU backend (burn-flex).
//! `docs/proof-of-training.md` states the construction and its security argument.
//!
//! ```no_run
//! use std::sync::Arc;
//! use ann_ledger::{AccuracyTarget, BlockHash, BlockHeader, MerkleRoot, ProofVerifier};
//! use ann_mining::{ArtifactStore, Miner, Mnist, Task, TrainingVerifier};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let data = Arc::new(Mnist::load("data/mnist")?);
//! let task = Task::mnist(data.hash());
//! let store = ArtifactStore::open("artifacts")?;
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
//! let mined = miner.mine(&template, |p| {
//!     if let Some(acc) = p.accuracy_bp {
//!         eprintln!("step {}: loss {:.3}, accuracy {} bp", p.step, p.loss, acc);
//!     }
//! })?;
//! let verifier = TrainingVerifier::new(task, data, store)?;
//! verifier.verify_proof(&mined.header)?;
//! # Ok(())
//! # }
//! ```
//!
//! Backends are cargo features: `flex` (default, the consensus reference), `ndarray`, `wgpu`;
//! [`Backend`] picks one at run time. The library prints nothing: progress goes to the
//! observer passed to [`Miner::mine`].

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

pub use artifact::{ArtifactError, ArtifactStore};
pub use backend::{Backend, UnknownBackend};
pub use dataset::{DatasetError, DatasetHash, Mnist};
pub use miner::{MinedBlock, Miner, MiningError, Progress};
pub use model::{Mlp, Weights, WeightsHash};
pub use task::{Task, TaskError};
pub use trace::{Trace, checkpoint_root};
pub use verifier::{ProofError, TrainingVerifier, Verified, VerifierSetupError};
