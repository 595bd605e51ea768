//! Signed UTXO transactions.
//!
//! A transaction spends earlier outputs ([`OutPoint`]s) and creates new ones ([`TxOut`]s). Each
//! input carries the ed25519 verifying key whose [`Address`] owns the spent output, and a
//! signature by that key over [`Transaction::signing_digest`]: SHA-256 of a domain tag and the
//! transaction's canonical encoding with every signature left out. The digest therefore covers
//! all inputs (including their keys) and all outputs, and one input's signature never depends
//! on another's.
//!
//! The [`Txid`] covers the complete encoding, signatures included. Signatures are checked
//! with `verify_strict` (canonical `s`, canonical non-small-order `R` and key), so nobody but
//! the signer can produce a second valid signature and change the id.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::address::Address;
use crate::amount::Amount;
use crate::encoding::{self, Encode};
use crate::hash::{Txid, sha256};

/// The only transaction version this software accepts.
pub const TX_VERSION: u32 = 1;

/// Domain tag of the signing digest.
pub const SIGHASH_TAG: &[u8] = b"blockchain-ann/sighash/v1";

/// A reference to an output of an earlier transaction.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, serde::Serialize)]
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
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct TxIn {
    /// The output being spent.
    pub previous_output: OutPoint,
    /// The key whose address owns the spent output.
    #[serde(serialize_with = "serialize_key")]
    pub verifying_key: VerifyingKey,
    /// Signature by `verifying_key` over the transaction's signing digest.
    #[serde(serialize_with = "serialize_signature")]
    pub signature: Signature,
}

/// An output: an amount locked to an address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize)]
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
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct Transaction {
    /// Format version, [`TX_VERSION`].
    pub version: u32,
    /// Spent outputs; empty for a coinbase.
    pub inputs: Vec<TxIn>,
    /// Created outputs.
    pub outputs: Vec<TxOut>,
    /// For a coinbase, the height of its block; `None` otherwise.
    pub coinbase_height: Option<u64>,
}

/// A zeroed signature, the placeholder before signing.
pub(crate) const EMPTY_SIGNATURE: [u8; 64] = [0u8; 64];

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

    /// Builds and signs a transaction spending each outpoint with the given key.
    pub fn new_signed(spends: &[(OutPoint, &SigningKey)], outputs: Vec<TxOut>) -> Self {
        let mut tx = Transaction {
            version: TX_VERSION,
            inputs: spends
                .iter()
                .map(|(outpoint, key)| TxIn {
                    previous_output: *outpoint,
                    verifying_key: key.verifying_key(),
                    signature: Signature::from_bytes(&EMPTY_SIGNATURE),
                })
                .collect(),
            outputs,
            coinbase_height: None,
        };
        let digest = tx.signing_digest();
        for (input, (_, key)) in tx.inputs.iter_mut().zip(spends) {
            input.signature = key.sign(&digest);
        }
        tx
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
        let mut bytes = Vec::with_capacity(self.encoded_len());
        encoding::encode_transaction_for_signing(self, &mut bytes);
        sha256(&[SIGHASH_TAG, &bytes])
    }

    /// Length in bytes of the canonical encoding, computed without encoding.
    pub fn encoded_len(&self) -> usize {
        encoding::TX_FIXED_SIZE
            + self.inputs.len() * encoding::TXIN_SIZE
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

fn serialize_key<S: serde::Serializer>(key: &VerifyingKey, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(key.as_bytes()))
}

fn serialize_signature<S: serde::Serializer>(sig: &Signature, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(sig.to_bytes()))
}
