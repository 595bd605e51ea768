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

pub use ann_keys as keys;
pub use ann_ledger as ledger;
pub use ann_mining as mining;
pub use ann_store as store;
