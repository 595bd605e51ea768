//! `ann-node`: a blockchain-ann node as a library.
//!
//! [`Node`] composes a [`Chain`](ann_ledger::Chain) (in memory or on `ann-store`'s redb
//! store), a [`Mempool`](ann_ledger::Mempool) with the relay policy, a
//! [`ProofVerifier`](ann_ledger::ProofVerifier), the training [`Artifacts`] it checks
//! proofs against, an optional [`BlockMiner`], the `ann-net` libp2p network and a JSON-RPC
//! server ([`rpc`]). One actor thread owns the state and consumes a queue of network events,
//! RPC queries, mined blocks and a clock tick; the network and the RPC server run on a small
//! tokio runtime of their own, so validation never blocks them.
//!
//! What a node does with what it hears:
//! - **blocks** (gossip or download): an unknown parent parks the block in a bounded orphan
//!   pool and asks the sender for headers; otherwise the block's artifacts are fetched from
//!   the sender by content hash (the audit proof first, then the proof's cheap checks, then
//!   the checkpoints), the block is submitted, and only a valid one is relayed;
//! - **sync**: a status exchange on connect and every few seconds; headers by locator from a
//!   peer that claims more work; a bounded download window with retries on other peers; a
//!   peer whose headers cannot back its claimed work is banned;
//! - **scoring**: every refusal goes through `ann-net`'s one table of verdicts.
//!
//! ```no_run
//! use ann_ledger::{Chain, ChainParams, Difficulty};
//! use ann_node::regtest::{TicketMiner, TicketProof};
//! use ann_node::{NoArtifacts, Node, NodeConfig};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let params = ChainParams::new(Vec::new(), 1_700_000_000, Difficulty::regtest());
//! let chain = Chain::new(params)?;
//! let coinbase = ann_ledger::Wallet::new(ed25519_dalek::SigningKey::from_bytes(&[7; 32])).address();
//! let config = NodeConfig::local(chain.tip(), coinbase);
//! let node = Node::start(config, chain, TicketProof, NoArtifacts, Some(Box::new(TicketMiner::default())))?;
//! let mined = node.handle().generate(3)?;
//! assert_eq!(mined.len(), 3);
//! # Ok(()) }
//! ```

pub mod artifacts;
pub mod miner;
pub mod node;
pub mod regtest;
pub mod rpc;
pub mod rpc_auth;
#[cfg(feature = "training")]
pub mod training;

pub use artifacts::{ArtifactId, ArtifactRefused, Artifacts, NoArtifacts};
pub use miner::{BlockMiner, MinerError};
pub use node::{Node, NodeConfig, NodeError, NodeHandle, QueryError, Snapshot, SyncConfig};
pub use rpc::{
    BlockInfo, ChainInfo, MalformedAnswer, MempoolInfo, NodeRpcClient, PeerInfo, RpcConfig,
    RpcCredentials, UtxoInfo,
};
#[cfg(feature = "training")]
pub use training::{TrainingArtifacts, TrainingMiner, TrainingNode};

/// The local development network's parameters.
pub mod devnet {

    use ann_ledger::ChainParams;
    /// The jsonrpsee version of the RPC interface, for `NodeRpcClient`'s and `NodeRpcServer`'s types.
    pub use jsonrpsee;

    pub use ann_ledger::chain::DEVNET_GENESIS_TIME as GENESIS_TIME;

    /// The devnet's chain parameters ([`ChainParams::devnet`]).
    pub fn params() -> ChainParams {
        ChainParams::devnet()
    }
}
