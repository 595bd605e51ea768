//! # blockchain-ann
//!
//! A blockchain whose proof of work is the verifiable training of a neural network.
//! This umbrella crate re-exports the workspace's libraries under short names and owns
//! the examples (`examples/`) and the criterion benches (`benches/`).
//!
//! | module | crate | what it holds |
//! | --- | --- | --- |
//! | [`ledger`] | `ann-ledger` | amounts, addresses, signed UTXO transactions, blocks, validation, chain, mempool, wallet |
//! | [`keys`] | `ann-keys` | quantum entropy sources, health tests, chaotic neural-network key derivation |
//! | [`mining`] | `ann-mining` | proof-of-training mining and verification on burn |
//! | [`store`] | `ann-store` | the persistent chain on redb |
//! | [`net`] | `ann-net` | the peer-to-peer layer on libp2p: wire messages, gossip, scoring, sync logic |
//! | [`node`] | `ann-node` | the node: chain, store, mempool, verifier, miner and network in one actor, and its JSON-RPC |
//!
//! The examples compose them (`cargo run --release --example demo` runs the original demo);
//! in short, a key from the simulated qubit becomes a wallet funded in genesis:
//!
//! ```
//! use blockchain_ann::keys::{Conditioned, PrivateKey, SimulatedQubit, derive_keys};
//! use blockchain_ann::ledger::{Amount, Chain, ChainParams, Difficulty, TxOut, Wallet};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut qubit = Conditioned::new(SimulatedQubit::new([1; 32], SimulatedQubit::TYPICAL_P_ONE))?;
//! let wallet = Wallet::new(derive_keys(&PrivateKey::generate(&mut qubit)?).into_signing_key());
//! let genesis = vec![TxOut { amount: Amount::from_coins(10)?, address: wallet.address() }];
//! let chain = Chain::new(ChainParams::new(genesis, 1_767_225_600, Difficulty::main()))?;
//! assert_eq!(wallet.balance(&chain)?, Amount::from_coins(10)?);
//! # Ok(())
//! # }
//! ```

pub use ann_keys as keys;
pub use ann_ledger as ledger;
pub use ann_mining as mining;
pub use ann_net as net;
pub use ann_node as node;
pub use ann_store as store;
