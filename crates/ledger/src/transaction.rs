//! Signed UTXO transactions.
//!
//! A transaction spends earlier outputs ([`OutPoint`]s) and creates new ones ([`TxOut`]s). Each
//! input carries a [`Witness`]: the public key whose [`Address`] owns the spent output, and a
//! signature by that key over [`Transaction::signing_digest`]: SHA-256 of a domain tag and the
//! transaction's canonical encoding with every signature left out. The digest therefore covers
//! all inputs (including their keys) and all outputs, and one input's signature never depends
//! on another's.
//!
//! Two kinds of key exist ([`KeyKind`]): ed25519, and ML-DSA-65 (FIPS 204), which a quantum
//! computer running Shor's algorithm does not break. A version-1 transaction has ed25519
//! inputs only, written as they always were; a version-2 transaction tags each input with its
//! kind, so it can mix both.
//!
//! The [`Txid`] covers the complete encoding, signatures included. Signatures are checked
//! strictly (`verify_strict` for ed25519; canonical encodings for ML-DSA-65), so nobody but
//! the signer can produce a second valid signature and change the id.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::address::Address;
use crate::amount::Amount;
use crate::encoding::{self, Encode};
use crate::hash::{Txid, sha256};
use crate::pq::{MlDsa65PublicKey, MlDsa65Signature, MlDsa65SigningKey};

/// Transaction version 1: every input is ed25519 and carries no kind tag.
pub const TX_VERSION: u32 = 1;
/// Transaction version 2: every input starts with its [`KeyKind`] tag.
pub const TX_VERSION_TYPED_INPUTS: u32 = 2;

/// Domain tag of the signing digest.
pub const SIGHASH_TAG: &[u8] = b"blockchain-ann/sighash/v1";

/// The signature scheme of an input's key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
// Not `non_exhaustive`: a new kind is a consensus change, and every match on kinds should
// fail to compile until it handles it.
pub enum KeyKind {
    /// Ed25519 (RFC 8032), checked with `verify_strict`. Tag 0.
    Ed25519,
    /// ML-DSA-65 (FIPS 204), deterministic signing with a context string. Tag 1.
    MlDsa65,
}

impl KeyKind {
    /// Every kind, in tag order.
    pub const ALL: [KeyKind; 2] = [KeyKind::Ed25519, KeyKind::MlDsa65];

    /// The tag byte of a version-2 input.
    pub const fn tag(self) -> u8 {
        match self {
            KeyKind::Ed25519 => 0,
            KeyKind::MlDsa65 => 1,
        }
    }

    /// The kind with tag `tag`.
    pub const fn from_tag(tag: u8) -> Option<KeyKind> {
        match tag {
            0 => Some(KeyKind::Ed25519),
            1 => Some(KeyKind::MlDsa65),
            _ => None,
        }
    }

    /// The kind's name in text: `ed25519` or `ml-dsa-65`.
    pub const fn name(self) -> &'static str {
        match self {
            KeyKind::Ed25519 => "ed25519",
            KeyKind::MlDsa65 => "ml-dsa-65",
        }
    }

    /// Encoded bytes of an input's key and signature of this kind.
    pub const fn witness_size(self) -> usize {
        match self {
            KeyKind::Ed25519 => 32 + 64,
            KeyKind::MlDsa65 => {
                crate::pq::ML_DSA_65_PUBLIC_KEY_SIZE + crate::pq::ML_DSA_65_SIGNATURE_SIZE
            }
        }
    }
}

impl std::fmt::Display for KeyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A key kind's name that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown key kind {0:?}: expected \"ed25519\" or \"ml-dsa-65\"")]
pub struct UnknownKeyKind(pub String);

impl std::str::FromStr for KeyKind {
    type Err = UnknownKeyKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KeyKind::ALL
            .into_iter()
            .find(|kind| kind.name() == s)
            .ok_or_else(|| UnknownKeyKind(s.to_owned()))
    }
}

/// The key and signature that authorise an input's spend.
#[derive(Clone, PartialEq, Eq, Debug)]
// The ed25519 variant (a decompressed key and a signature, about 250 bytes) is the common one
// and stays inline, so an ed25519 input costs no allocation; the ML-DSA-65 key and signature
// (5,261 bytes) live behind their own boxes.
#[allow(clippy::large_enum_variant)]
pub enum Witness {
    /// An ed25519 key and signature.
    Ed25519 {
        /// The key whose address owns the spent output.
        key: VerifyingKey,
        /// Its signature of the signing digest.
        signature: Signature,
    },
    /// An ML-DSA-65 key and signature.
    MlDsa65 {
        /// The key whose address owns the spent output.
        key: MlDsa65PublicKey,
        /// Its signature of the signing digest.
        signature: MlDsa65Signature,
    },
}

impl Witness {
    /// The key's kind.
    pub fn kind(&self) -> KeyKind {
        match self {
            Witness::Ed25519 { .. } => KeyKind::Ed25519,
            Witness::MlDsa65 { .. } => KeyKind::MlDsa65,
        }
    }

    /// The key's encoding, as the signing digest covers it.
    pub fn key_bytes(&self) -> &[u8] {
        match self {
            Witness::Ed25519 { key, .. } => key.as_bytes(),
            Witness::MlDsa65 { key, .. } => key.as_bytes(),
        }
    }

    /// The signature's encoding.
    pub fn signature_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_signature_to(&mut out);
        out
    }

    /// Appends the signature's encoding to `out`.
    pub(crate) fn encode_signature_to(&self, out: &mut Vec<u8>) {
        match self {
            Witness::Ed25519 { signature, .. } => out.extend_from_slice(&signature.to_bytes()),
            Witness::MlDsa65 { signature, .. } => out.extend_from_slice(signature.as_bytes()),
        }
    }

    /// The address of the key: the output this witness may spend.
    pub fn address(&self) -> Address {
        match self {
            Witness::Ed25519 { key, .. } => Address::from_verifying_key(key),
            Witness::MlDsa65 { key, .. } => Address::from_ml_dsa_65_key(key),
        }
    }

    /// Whether the signature is the key's strict signature of `digest`.
    pub fn verify(&self, digest: &[u8; 32]) -> bool {
        match self {
            // `verify_strict` rejects small-order (weak) keys, non-canonical `s` and `R`.
            Witness::Ed25519 { key, signature } => key.verify_strict(digest, signature).is_ok(),
            Witness::MlDsa65 { key, signature } => key.verify_digest(digest, signature),
        }
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Witness {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = s.serialize_struct("Witness", 3)?;
        out.serialize_field("kind", &self.kind())?;
        out.serialize_field("key", &hex::encode(self.key_bytes()))?;
        out.serialize_field("signature", &hex::encode(self.signature_bytes()))?;
        out.end()
    }
}

/// A key that can sign an input: the ed25519 [`SigningKey`], the [`MlDsa65SigningKey`], or
/// either as a [`SpendingKey`].
pub trait InputSigner {
    /// The key's kind.
    fn kind(&self) -> KeyKind;
    /// The public key's encoding (what the signing digest covers).
    fn public_key_bytes(&self) -> Vec<u8>;
    /// The address coins for this key are sent to.
    fn address(&self) -> Address;
    /// The witness of an input signing `digest`.
    fn sign_input(&self, digest: &[u8; 32]) -> Witness;
}

impl InputSigner for SigningKey {
    fn kind(&self) -> KeyKind {
        KeyKind::Ed25519
    }
    fn public_key_bytes(&self) -> Vec<u8> {
        self.verifying_key().as_bytes().to_vec()
    }
    fn address(&self) -> Address {
        Address::from_verifying_key(&self.verifying_key())
    }
    fn sign_input(&self, digest: &[u8; 32]) -> Witness {
        Witness::Ed25519 {
            key: self.verifying_key(),
            signature: self.sign(digest),
        }
    }
}

impl InputSigner for MlDsa65SigningKey {
    fn kind(&self) -> KeyKind {
        KeyKind::MlDsa65
    }
    fn public_key_bytes(&self) -> Vec<u8> {
        self.public_key().as_bytes().to_vec()
    }
    fn address(&self) -> Address {
        Address::from_ml_dsa_65_key(self.public_key())
    }
    fn sign_input(&self, digest: &[u8; 32]) -> Witness {
        Witness::MlDsa65 {
            key: self.public_key().clone(),
            signature: self.sign_digest(digest),
        }
    }
}

/// A signing key of either kind: what a [`crate::Wallet`] holds. Zeroized on drop by the
/// inner keys; `Debug` shows the address only.
#[derive(Clone)]
// As for `Witness`: the ed25519 key inline, the (tens of kilobytes) expanded ML-DSA-65 key boxed.
#[allow(clippy::large_enum_variant)]
pub enum SpendingKey {
    /// An ed25519 key.
    Ed25519(SigningKey),
    /// An ML-DSA-65 key.
    MlDsa65(Box<MlDsa65SigningKey>),
}

impl SpendingKey {
    fn signer(&self) -> &dyn InputSigner {
        match self {
            SpendingKey::Ed25519(key) => key,
            SpendingKey::MlDsa65(key) => key.as_ref(),
        }
    }
}

impl std::fmt::Debug for SpendingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpendingKey")
            .field("kind", &self.kind())
            .field("address", &self.address())
            .finish_non_exhaustive()
    }
}

impl InputSigner for SpendingKey {
    fn kind(&self) -> KeyKind {
        self.signer().kind()
    }
    fn public_key_bytes(&self) -> Vec<u8> {
        self.signer().public_key_bytes()
    }
    fn address(&self) -> Address {
        self.signer().address()
    }
    fn sign_input(&self, digest: &[u8; 32]) -> Witness {
        self.signer().sign_input(digest)
    }
}

impl From<SigningKey> for SpendingKey {
    fn from(key: SigningKey) -> Self {
        SpendingKey::Ed25519(key)
    }
}

impl From<MlDsa65SigningKey> for SpendingKey {
    fn from(key: MlDsa65SigningKey) -> Self {
        SpendingKey::MlDsa65(Box::new(key))
    }
}

/// A reference to an output of an earlier transaction.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct OutPoint {
    /// The transaction that created the output.
    pub txid: Txid,
    /// The output's index in that transaction's outputs.
    pub vout: u32,
}

impl std::fmt::Display for OutPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.txid, self.vout)
    }
}

/// An input: which output it spends, and the key and signature that authorise the spend.
#[derive(Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct TxIn {
    /// The output being spent.
    pub previous_output: OutPoint,
    /// The key whose address owns the spent output, and its signature of the transaction's
    /// signing digest.
    pub witness: Witness,
}

impl TxIn {
    /// An ed25519 input.
    pub fn ed25519(previous_output: OutPoint, key: VerifyingKey, signature: Signature) -> Self {
        TxIn {
            previous_output,
            witness: Witness::Ed25519 { key, signature },
        }
    }
}

/// An output: an amount locked to an address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct TxOut {
    /// How much.
    pub amount: Amount,
    /// Who may spend it.
    pub address: Address,
}

/// A transaction.
///
/// A coinbase is a transaction with no inputs; it must carry `coinbase_height` (the height of
/// its block), which makes every coinbase, and so every txid, unique. Every other transaction
/// must leave `coinbase_height` at `None`.
#[derive(Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Transaction {
    /// Format version: [`TX_VERSION`] (ed25519 inputs only) or [`TX_VERSION_TYPED_INPUTS`].
    pub version: u32,
    /// Spent outputs; empty for a coinbase.
    pub inputs: Vec<TxIn>,
    /// Created outputs.
    pub outputs: Vec<TxOut>,
    /// For a coinbase, the height of its block; `None` otherwise.
    pub coinbase_height: Option<u64>,
}

impl Transaction {
    /// A coinbase for the block at `height` paying `outputs`.
    pub fn coinbase(height: u64, outputs: Vec<TxOut>) -> Self {
        Transaction {
            version: TX_VERSION,
            inputs: Vec::new(),
            outputs,
            coinbase_height: Some(height),
        }
    }

    /// Builds and signs a transaction spending each outpoint with the given key. The version
    /// is [`TX_VERSION`] when every key is ed25519 and [`TX_VERSION_TYPED_INPUTS`] otherwise;
    /// to mix kinds, pass `&dyn InputSigner` keys or [`SpendingKey`]s.
    pub fn new_signed<K: InputSigner + ?Sized>(
        spends: &[(OutPoint, &K)],
        outputs: Vec<TxOut>,
    ) -> Self {
        let version = version_for(spends.iter().map(|(_, key)| key.kind()));
        let keys: Vec<(OutPoint, KeyKind, Vec<u8>)> = spends
            .iter()
            .map(|(outpoint, key)| (*outpoint, key.kind(), key.public_key_bytes()))
            .collect();
        let digest = signing_digest_of(
            version,
            keys.iter()
                .map(|(o, kind, key)| (o, *kind, key.as_slice(), None)),
            &outputs,
            None,
        );
        Transaction {
            version,
            inputs: spends
                .iter()
                .map(|(outpoint, key)| TxIn {
                    previous_output: *outpoint,
                    witness: key.sign_input(&digest),
                })
                .collect(),
            outputs,
            coinbase_height: None,
        }
    }

    /// Whether this is a coinbase (no inputs).
    pub fn is_coinbase(&self) -> bool {
        self.inputs.is_empty()
    }

    /// The transaction id: SHA-256 of the complete canonical encoding.
    pub fn txid(&self) -> Txid {
        Txid::from_bytes(sha256(&[&self.encode()]))
    }

    /// The message every input signs: `SHA-256(SIGHASH_TAG || encoding without signatures)`.
    pub fn signing_digest(&self) -> [u8; 32] {
        signing_digest_of(
            self.version,
            self.inputs.iter().map(|i| {
                (
                    &i.previous_output,
                    i.witness.kind(),
                    i.witness.key_bytes(),
                    None,
                )
            }),
            &self.outputs,
            self.coinbase_height,
        )
    }

    /// Length in bytes of the canonical encoding, computed without encoding.
    pub fn encoded_len(&self) -> usize {
        encoding::TX_FIXED_SIZE
            + self
                .inputs
                .iter()
                .map(|i| encoding::input_size(self.version, i.witness.kind()))
                .sum::<usize>()
            + self.outputs.len() * encoding::TXOUT_SIZE
            + if self.coinbase_height.is_some() { 8 } else { 0 }
    }

    /// Sum of the outputs, or `None` if it exceeds the maximum supply.
    pub fn total_output(&self) -> Option<Amount> {
        Amount::checked_sum(self.outputs.iter().map(|o| o.amount))
    }

    /// The outpoint of this transaction's output number `vout`.
    pub fn outpoint(&self, vout: u32) -> OutPoint {
        OutPoint {
            txid: self.txid(),
            vout,
        }
    }
}

/// The version a new transaction with inputs of these kinds is written in: [`TX_VERSION`] when
/// every input is ed25519 (no tags needed), [`TX_VERSION_TYPED_INPUTS`] otherwise.
pub(crate) fn version_for(mut kinds: impl Iterator<Item = KeyKind>) -> u32 {
    if kinds.all(|kind| kind == KeyKind::Ed25519) {
        TX_VERSION
    } else {
        TX_VERSION_TYPED_INPUTS
    }
}

/// `SHA-256(SIGHASH_TAG || encoding without signatures)` of a transaction's parts: what
/// [`Transaction::signing_digest`] hashes, and what [`Transaction::new_signed`] signs before
/// the transaction exists.
fn signing_digest_of<'a>(
    version: u32,
    inputs: impl ExactSizeIterator<Item = encoding::InputParts<'a>>,
    outputs: &[TxOut],
    coinbase_height: Option<u64>,
) -> [u8; 32] {
    let mut bytes = Vec::new();
    encoding::encode_transaction(version, inputs, outputs, coinbase_height, &mut bytes);
    sha256(&[SIGHASH_TAG, &bytes])
}
