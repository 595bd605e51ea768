//! `ann-net`: the peer-to-peer layer of blockchain-ann, on rust-libp2p.
//!
//! - [`wire`]: the request-response messages (status, headers by locator, blocks by hash,
//!   artifacts by hash) with canonical, capped decoders; `docs/network.md` specifies them.
//! - [`codec`]: length-prefixed frames on libp2p streams, the length checked before any
//!   allocation.
//! - [`score`]: one table from each validation error to a verdict, and decaying peer scores
//!   with bans.
//! - [`sync`]: block locators, headers after a locator, a bounded download window with
//!   retries on other peers, and a bounded orphan pool.
//! - [`network`]: the node: gossipsub for blocks and transactions (relayed only after the
//!   application reports them valid), request-response, identify, ping, and the block list,
//!   driven on its own task and reached through a handle and an event channel.
//!
//! It depends on `ann-ledger` only, so it builds and tests without burn.
//!
//! Feature `p2p` (default): [`codec`] and [`network`], on libp2p and tokio. Without it
//! (`default-features = false`) the crate is [`wire`], [`score`] and [`sync`] over `ann-ledger`
//! alone: what a tool that reads the wire format needs, and what the fuzzers build.
//!
//! ```
//! use ann_ledger::BlockHash;
//! use ann_net::{Request, Status, WireError};
//!
//! // A node's status, as it opens a conversation: canonical bytes, and back.
//! let status = Request::Status(Status {
//!     genesis: BlockHash::ZERO,
//!     tip: BlockHash::ZERO,
//!     height: 0,
//!     work: 1,
//! });
//! let bytes = status.to_bytes();
//! assert_eq!(Request::from_bytes(&bytes)?, status);
//!
//! // A stranger's bytes get a typed error, never a panic: here one byte too many.
//! let mut padded = bytes.clone();
//! padded.push(0);
//! assert!(matches!(Request::from_bytes(&padded), Err(WireError::Decode(_))));
//! assert!(Request::from_bytes(&[0xff]).is_err());
//! # Ok::<(), WireError>(())
//! ```

#[cfg(feature = "p2p")]
pub mod codec;
#[cfg(feature = "p2p")]
pub mod network;
pub mod score;
pub mod sync;
pub mod wire;

/// The libp2p version this crate is built on, for the types its API mentions.
#[cfg(feature = "p2p")]
pub use libp2p;

#[cfg(feature = "p2p")]
pub use network::{NetConfig, NetError, NetEvent, NetworkHandle, start};
pub use score::{PeerScores, Verdict, block_verdict, transaction_verdict};
pub use wire::{ArtifactKind, Refusal, Request, Response, Status, WireError};
