//! Wallet keys for blockchain-ann.
//!
//! The original project drew private keys from an IBM quantum computer and turned them into
//! public keys with a "maximally chaotic" neural network. This crate does both, safely:
//!
//! * [`entropy`]: the [`EntropySource`] trait, [`OsEntropy`] (the default), [`RngEntropy`],
//!   and [`Conditioned`], which turns raw bits from a [`RawBitSource`] ([`IbmQuantum`],
//!   [`AnuQrng`], [`SimulatedQubit`]) into key material: NIST SP 800-90B health tests
//!   ([`health`]), SHA-256 conditioning with an honest entropy budget, and mixing with local
//!   OS randomness so a remote service can neither choose nor learn a key.
//! * [`net`]: [`ChaoticNet`], the original's network (1024 bits in, 50 hidden layers of 1024
//!   Heaviside units, N(0, 1) weights seeded from the key), portable and fast.
//! * [`key`]: [`PrivateKey`] → network → ed25519 [`SigningKey`]
//!   → verifying key → [`Address`], and the post-quantum
//!   [`MlDsa65SigningKey`] of the same private key.
//! * [`wallet_file`]: export and import of a private key as a small text file.
//!
//! What the network adds to security is discussed in `docs/keys.md`: in short, nothing that
//! SHA-256 and ed25519 do not already provide; it is kept for fidelity to the original.
//!
//! # Example
//!
//! ```
//! use ann_keys::{Conditioned, PrivateKey, SimulatedQubit, derive_keys};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A simulated biased qubit (a real one: `IbmQuantum::from_env()?`), health-tested,
//! // conditioned and mixed with OS randomness.
//! let qubit = SimulatedQubit::new([7; 32], SimulatedQubit::TYPICAL_P_ONE);
//! let mut source = Conditioned::new(qubit)?;
//! let private_key = PrivateKey::generate(&mut source)?;
//!
//! let keys = derive_keys(&private_key);
//! let message = b"pay 5 coins";
//! let signature = ed25519_dalek::Signer::sign(keys.signing_key(), message);
//! keys.verifying_key().verify_strict(message, &signature)?;
//!
//! // The same private key always restores the same keys.
//! assert_eq!(derive_keys(&private_key).address(), keys.address());
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "remote")]
pub mod anu;
pub mod entropy;
pub mod health;
#[cfg(feature = "remote")]
pub mod ibm;
pub mod key;
pub mod net;
pub mod normal;
#[cfg(feature = "remote")]
pub mod remote;
pub mod secret;
pub mod source;
pub mod wallet_file;

/// The key kinds, the keys a wallet signs with and its address, from `ann-ledger`.
pub use ann_ledger::{Address, KeyKind, MlDsa65SigningKey, SigningKey, SpendingKey, VerifyingKey};
#[cfg(feature = "remote")]
pub use anu::{AnuConfig, AnuQrng};
pub use entropy::{
    Conditioned, EntropyError, EntropySource, JobStatus, OsEntropy, RawBitSource, RngEntropy,
    SimulatedQubit,
};
pub use health::{HealthError, HealthTests};
#[cfg(feature = "remote")]
pub use ibm::{IbmConfig, IbmQuantum};
pub use key::{DerivedKeys, KeyDerivation, PRIVATE_KEY_BYTES, PrivateKey, derive_keys};
pub use net::{ChaoticNet, NetConfig, NetError};
/// The reqwest version the quantum clients are built on (`remote`'s helpers take its types).
#[cfg(feature = "remote")]
pub use reqwest;
pub use secret::Secret;
pub use source::{KeySource, UnknownKeySource};
pub use wallet_file::{
    KdfParams, WalletFileError, WalletKey, export_wallet, export_wallet_encrypted, import_wallet,
    import_wallet_with_passphrase, load_or_create_wallet,
};
/// The zeroize version of the secrets this crate returns (`Zeroizing` wallet text).
pub use zeroize;
