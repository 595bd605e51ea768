//! The key pipeline: private key → chaotic network → ed25519 signing key → verifying key →
//! address, and beside it the ML-DSA-65 (post-quantum) key of the same private key.
//!
//! * [`PrivateKey`]: 1024 bits from an [`EntropySource`]; zeroized on drop, redacted in
//!   `Debug`, compared in constant time.
//! * The network ([`crate::ChaoticNet`], default shape) is seeded with the private key's bytes
//!   and fed its bits (most significant bit of byte 0 first), as in the original.
//! * The signing key's 32-byte seed is
//!   `SHA-256(SIGNING_KEY_DOMAIN || u32 BE output length || network output bytes || private key)`.
//!   Hashing the private key in too means the signing key keeps the key's full entropy however
//!   the network behaves: SHA-256 and ed25519 carry the cryptographic weight.
//! * The ML-DSA-65 seed is the same hash under another domain tag,
//!   `SHA-256(ML_DSA_65_SEED_DOMAIN || u32 BE output length || network output bytes || private
//!   key)`, and the key pair is FIPS 204's `ML-DSA.KeyGen_internal(seed)`: one quantum-drawn
//!   secret backs both kinds, and neither key tells anything about the other.
//! * The addresses are `ann_ledger::Address::from_verifying_key` and
//!   `ann_ledger::Address::from_ml_dsa_65_key`.
//!
//! The same private key always gives the same keys, on every machine (golden vectors in
//! `tests/vectors/` pin the whole pipeline).

use ann_ledger::{Address, KeyKind, MlDsa65SigningKey, SpendingKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::entropy::{EntropyError, EntropySource};
use crate::net::{ChaoticNet, NetConfig, NetError, bits_to_bytes, bytes_to_bits};

/// Bytes of a private key (1024 bits, as in the original).
pub const PRIVATE_KEY_BYTES: usize = 128;

/// Domain tag of the signing-key derivation.
pub const SIGNING_KEY_DOMAIN: &[u8] = b"blockchain-ann/signing-key/v1";
/// Domain tag of the ML-DSA-65 seed derivation.
pub const ML_DSA_65_SEED_DOMAIN: &[u8] = b"blockchain-ann/ml-dsa-65-seed/v1";

/// A 1024-bit private key: the wallet's only secret; everything else is derived from it.
#[derive(Clone)]
pub struct PrivateKey(Zeroizing<[u8; PRIVATE_KEY_BYTES]>);

impl PrivateKey {
    /// A fresh key from `source`.
    pub fn generate(source: &mut dyn EntropySource) -> Result<Self, EntropyError> {
        let mut bytes = Zeroizing::new([0_u8; PRIVATE_KEY_BYTES]);
        source.fill(bytes.as_mut())?;
        Ok(Self(bytes))
    }

    /// A key from its bytes (e.g. read from a wallet file).
    pub fn from_bytes(bytes: [u8; PRIVATE_KEY_BYTES]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The key's bytes. Handle with care: never log or print them.
    pub fn as_bytes(&self) -> &[u8; PRIVATE_KEY_BYTES] {
        &self.0
    }

    /// The key's bits, most significant bit of byte 0 first: the network's input.
    pub fn bits(&self) -> Zeroizing<Vec<bool>> {
        Zeroizing::new(bytes_to_bits(self.0.as_ref()))
    }
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKey(<redacted>)")
    }
}

impl PartialEq for PrivateKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_slice().ct_eq(other.0.as_slice()).into()
    }
}

impl Eq for PrivateKey {}

/// Every key derived from one private key.
pub struct DerivedKeys {
    network_output: Zeroizing<Vec<u8>>,
    ml_dsa_65_seed: Zeroizing<[u8; 32]>,
    signing_key: SigningKey,
    verifying_key: VerifyingKey,
    address: Address,
}

impl std::fmt::Debug for DerivedKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DerivedKeys")
            .field("verifying_key", &hex::encode(self.verifying_key.as_bytes()))
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl DerivedKeys {
    /// The network's output bits, packed most significant bit first (secret: it depends only
    /// on the private key).
    pub fn network_output(&self) -> &[u8] {
        &self.network_output
    }

    /// The ed25519 signing key (zeroized on drop by `ed25519-dalek`).
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing_key
    }

    /// The ed25519 verifying key.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.verifying_key
    }

    /// The address coins are sent to.
    pub fn address(&self) -> Address {
        self.address
    }

    /// Gives up the signing key (e.g. to build an `ann_ledger::Wallet`).
    pub fn into_signing_key(self) -> SigningKey {
        self.signing_key
    }

    /// The ML-DSA-65 signing key (built from its seed on each call: the expanded key is about
    /// 30 KB, so it is not kept).
    pub fn ml_dsa_65_signing_key(&self) -> MlDsa65SigningKey {
        MlDsa65SigningKey::from_seed(&self.ml_dsa_65_seed)
    }

    /// The address of the key of `kind`.
    pub fn address_of(&self, kind: KeyKind) -> Address {
        match kind {
            KeyKind::MlDsa65 => {
                Address::from_ml_dsa_65_key(self.ml_dsa_65_signing_key().public_key())
            }
            KeyKind::Ed25519 => self.address,
        }
    }

    /// The signing key of `kind`, for an `ann_ledger::Wallet`.
    pub fn into_spending_key(self, kind: KeyKind) -> SpendingKey {
        match kind {
            KeyKind::MlDsa65 => SpendingKey::from(self.ml_dsa_65_signing_key()),
            KeyKind::Ed25519 => SpendingKey::Ed25519(self.signing_key),
        }
    }
}

/// The key pipeline for one network shape (the original's by default).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct KeyDerivation {
    config: NetConfig,
}

impl KeyDerivation {
    /// The pipeline with a custom network; it must take the private key's 1024 bits.
    pub fn new(config: NetConfig) -> Result<Self, NetError> {
        config.validate()?;
        if config.input_bits != PRIVATE_KEY_BYTES * 8 {
            return Err(NetError::InputLength {
                expected: config.input_bits,
                got: PRIVATE_KEY_BYTES * 8,
            });
        }
        Ok(Self { config })
    }

    /// The network shape used.
    pub fn config(&self) -> &NetConfig {
        &self.config
    }

    /// Derives every key from `private_key`.
    pub fn derive(&self, private_key: &PrivateKey) -> DerivedKeys {
        let net = ChaoticNet::from_valid(self.config, private_key.as_bytes());
        let output_bits = Zeroizing::new(net.run(&private_key.bits()));
        let network_output = Zeroizing::new(bits_to_bytes(&output_bits));
        let seed = seed_hash(SIGNING_KEY_DOMAIN, &network_output, private_key);
        let ml_dsa_65_seed = seed_hash(ML_DSA_65_SEED_DOMAIN, &network_output, private_key);
        let signing_key = SigningKey::from_bytes(&seed);
        let verifying_key = signing_key.verifying_key();
        DerivedKeys {
            network_output,
            ml_dsa_65_seed,
            address: Address::from_verifying_key(&verifying_key),
            signing_key,
            verifying_key,
        }
    }
}

/// `SHA-256(domain || u32 BE len(output) || output || private key)`.
fn seed_hash(
    domain: &[u8],
    network_output: &[u8],
    private_key: &PrivateKey,
) -> Zeroizing<[u8; 32]> {
    let mut hasher = Sha256::new();
    hasher.update(domain);
    hasher.update((network_output.len() as u32).to_be_bytes());
    hasher.update(network_output);
    hasher.update(private_key.as_bytes());
    Zeroizing::new(<[u8; 32]>::from(hasher.finalize()))
}

/// Derives every key from `private_key` with the default network.
pub fn derive_keys(private_key: &PrivateKey) -> DerivedKeys {
    KeyDerivation::default().derive(private_key)
}
