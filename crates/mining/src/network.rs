//! A network: the chain parameters, the proof-of-training task and the data set its task
//! trains on, pinned by hash, that every node of one network shares.
//!
//! A task names its data by [`DatasetHash`]; a node that built its task from whatever data it
//! loaded (`Task::mnist(data.hash())`) would follow another chain as soon as its files
//! differed. A [`NetworkParams`] preset pins the hash instead, and
//! [`NetworkParams::load_data`] refuses other data with [`NetworkError::WrongDataset`].
//!
//! ```no_run
//! use ann_mining::NetworkParams;
//!
//! let network = NetworkParams::devnet();
//! let data = network.load_data("data/mnist")?; // refused unless it is the pinned MNIST
//! assert_eq!(data.hash(), network.task().dataset);
//! # Ok::<(), ann_mining::NetworkError>(())
//! ```

use std::path::Path;

use ann_ledger::ChainParams;

use crate::dataset::{DatasetError, DatasetHash, MNIST_DATASET_HASH, Mnist};
use crate::task::Task;

/// The parameters of one network.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkParams {
    name: &'static str,
    chain: ChainParams,
    task: Task,
}

/// Why a network's data could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetworkError {
    /// The data set did not load.
    #[error("loading the data set of network {network}: {source}")]
    Data {
        /// The network's name.
        network: &'static str,
        /// What went wrong.
        #[source]
        source: DatasetError,
    },
    /// The data loaded is not the data set the network's task pins.
    #[error(
        "network {network} trains on data set {expected}, the data loaded is {found} \
         (other files would make another chain)"
    )]
    WrongDataset {
        /// The network's name.
        network: &'static str,
        /// The pinned hash.
        expected: DatasetHash,
        /// The loaded data's hash.
        found: DatasetHash,
    },
}

impl NetworkParams {
    /// A network of `name` with its chain parameters and task (whose `dataset` is the pinned
    /// hash).
    pub fn new(name: &'static str, chain: ChainParams, task: Task) -> Self {
        NetworkParams { name, chain, task }
    }

    /// The main network: [`ChainParams::main`], the MNIST task on the real MNIST.
    pub fn main() -> Self {
        Self::new("main", ChainParams::main(), Task::mnist(MNIST_DATASET_HASH))
    }

    /// The local development network: [`ChainParams::devnet`], the MNIST task on the real
    /// MNIST.
    pub fn devnet() -> Self {
        Self::new(
            "devnet",
            ChainParams::devnet(),
            Task::mnist(MNIST_DATASET_HASH),
        )
    }

    /// For tests: [`ChainParams::regtest`], the MNIST task on the real MNIST.
    pub fn regtest() -> Self {
        Self::new(
            "regtest",
            ChainParams::regtest(),
            Task::mnist(MNIST_DATASET_HASH),
        )
    }

    /// The network's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The chain parameters.
    pub fn chain(&self) -> &ChainParams {
        &self.chain
    }

    /// The proof-of-training task.
    pub fn task(&self) -> &Task {
        &self.task
    }

    /// The pinned data set.
    pub fn dataset(&self) -> DatasetHash {
        self.task.dataset
    }

    /// The chain parameters and the task.
    pub fn into_parts(self) -> (ChainParams, Task) {
        (self.chain, self.task)
    }

    /// Loads the MNIST files in `dir` and checks that they are the pinned data set.
    ///
    /// # Errors
    /// [`NetworkError::Data`] if the files do not load, [`NetworkError::WrongDataset`] if they
    /// are other data.
    pub fn load_data(&self, dir: impl AsRef<Path>) -> Result<Mnist, NetworkError> {
        let data = Mnist::load(dir).map_err(|source| NetworkError::Data {
            network: self.name,
            source,
        })?;
        self.check_data(&data)?;
        Ok(data)
    }

    /// Checks that `data` is the pinned data set.
    ///
    /// # Errors
    /// [`NetworkError::WrongDataset`] if it is other data.
    pub fn check_data(&self, data: &Mnist) -> Result<(), NetworkError> {
        if data.hash() != self.task.dataset {
            return Err(NetworkError::WrongDataset {
                network: self.name,
                expected: self.task.dataset,
                found: data.hash(),
            });
        }
        Ok(())
    }
}
