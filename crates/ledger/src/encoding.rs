//! The canonical binary encoding, written for consensus.
//!
//! Every integer is fixed-width little-endian, so there is exactly one encoding of each value.
//! Lists are a `u32` count followed by the items. The decoder checks every count against an
//! absolute cap and against the bytes actually left *before* allocating, rejects unknown
//! versions, out-of-range values, non-canonical keys and trailing bytes with a typed
//! [`DecodeError`], and never panics. `docs/consensus.md` specifies the layout byte by byte.

use ed25519_dalek::{Signature, VerifyingKey};

use crate::address::Address;
use crate::amount::{Amount, MAX_SUPPLY};
use crate::block::{BLOCK_VERSION, Block, BlockHeader, TrainingCommitment};
use crate::hash::{BlockHash, CheckpointRoot, MerkleRoot, ModelHash, TaskId, Txid};
use crate::pq::{ML_DSA_65_SIGNATURE_SIZE, MlDsa65PublicKey, MlDsa65Signature};
use crate::target::CompactTarget;
use crate::transaction::{
    KeyKind, OutPoint, TX_VERSION, TX_VERSION_TYPED_INPUTS, Transaction, TxIn, TxOut, Witness,
};

/// Largest encoded block, in bytes; also bounds every list inside a block. It holds about
/// 1,495 one-input ML-DSA-65 payments (5,351 bytes each) or 60,000 ed25519 inputs, which
/// [`MAX_BLOCK_SIGNATURES`](crate::validation::MAX_BLOCK_SIGNATURES) cuts to 8,000.
pub const MAX_BLOCK_SIZE: usize = 8_000_000;
/// Encoded size of an [`OutPoint`].
pub const OUTPOINT_SIZE: usize = 32 + 4;
/// Encoded size of a version-1 (ed25519) [`TxIn`]: outpoint, 32-byte key, 64-byte signature.
/// The smallest input of any version; a version-2 input adds a kind tag byte.
pub const TXIN_SIZE: usize = OUTPOINT_SIZE + 32 + 64;
/// Encoded size of one input of a transaction of `version` whose key is of `kind`: its
/// outpoint, its kind tag (version 2 only), its key and signature.
pub const fn input_size(version: u32, kind: KeyKind) -> usize {
    OUTPOINT_SIZE + (version != TX_VERSION) as usize + kind.witness_size()
}
/// Encoded size of a [`TxOut`]: amount and address.
pub const TXOUT_SIZE: usize = 8 + 32;
/// Encoded size of a transaction without its inputs, outputs and coinbase height: version,
/// two counts and the coinbase tag.
pub const TX_FIXED_SIZE: usize = 4 + 4 + 4 + 1;
/// Encoded size of a [`BlockHeader`].
pub const HEADER_SIZE: usize = 4 + 8 + 32 + 32 + 8 + 4 + 32 + 8 + 32 + 32;
/// Most inputs a transaction may list (what fits in a block).
pub const MAX_TX_INPUTS: usize = MAX_BLOCK_SIZE / TXIN_SIZE;
/// Most outputs a transaction may list (what fits in a block).
pub const MAX_TX_OUTPUTS: usize = MAX_BLOCK_SIZE / TXOUT_SIZE;
/// Most transactions a block may list (what fits in a block).
pub const MAX_BLOCK_TRANSACTIONS: usize = MAX_BLOCK_SIZE / TX_FIXED_SIZE;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended early.
    #[error(
        "unexpected end of input while reading {what}: needed {needed} bytes, {remaining} left"
    )]
    UnexpectedEnd {
        /// What was being read.
        what: &'static str,
        /// Bytes needed.
        needed: usize,
        /// Bytes left.
        remaining: usize,
    },
    /// Bytes were left after the value.
    #[error("{0} trailing bytes after the encoded value (an encoding must be consumed exactly)")]
    TrailingBytes(usize),
    /// A count is above its absolute cap.
    #[error("{what} count {count} exceeds the cap of {max}")]
    CountTooLarge {
        /// Which list.
        what: &'static str,
        /// Count found.
        count: u64,
        /// The cap.
        max: usize,
    },
    /// A count promises more items than the remaining bytes could hold.
    #[error("{what} count {count} needs at least {needed} bytes, only {remaining} left")]
    CountExceedsInput {
        /// Which list.
        what: &'static str,
        /// Count found.
        count: u64,
        /// Minimum bytes those items need.
        needed: u64,
        /// Bytes left.
        remaining: usize,
    },
    /// The input is longer than any valid value of this type.
    #[error("{what} of {len} bytes exceeds the maximum of {max} bytes")]
    TooLarge {
        /// What was decoded.
        what: &'static str,
        /// Input length.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// A version this software does not know.
    #[error("unsupported {what} version {version} (versions 1 to {supported} are defined)")]
    UnsupportedVersion {
        /// Which structure.
        what: &'static str,
        /// Version found.
        version: u32,
        /// The newest version understood.
        supported: u32,
    },
    /// An input's key kind tag is not a defined [`KeyKind`].
    #[error("unknown key kind tag {0} (0 is ed25519, 1 is ML-DSA-65)")]
    UnknownKeyKind(u8),
    /// An ML-DSA-65 signature whose bytes are not a canonical FIPS 204 encoding.
    #[error("ML-DSA-65 signature is not a canonical FIPS 204 encoding (malformed hint or z)")]
    MalformedMlDsaSignature,
    /// A tag byte outside its defined values.
    #[error("invalid {what} tag {tag}: only 0 and 1 are defined")]
    InvalidTag {
        /// Which field.
        what: &'static str,
        /// Tag found.
        tag: u8,
    },
    /// An amount above the maximum supply.
    #[error("amount of {0} base units exceeds the maximum supply of {MAX_SUPPLY}")]
    AmountAboveMaxSupply(u64),
    /// A compact work target that is not canonical.
    #[error("compact target {0:#010x} is not canonical")]
    InvalidTarget(u32),
    /// 32 bytes that are not an ed25519 point.
    #[error("verifying key is not a valid ed25519 point encoding")]
    InvalidVerifyingKey,
    /// An ed25519 point written in a non-canonical form (y not reduced mod p).
    #[error("verifying key uses a non-canonical point encoding")]
    NonCanonicalVerifyingKey,
}

/// Writes the canonical encoding of a value.
pub trait Encode {
    /// Appends the encoding to `out`.
    fn encode_to(&self, out: &mut Vec<u8>);

    /// The encoding as a new vector.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_to(&mut out);
        out
    }
}

/// Reads the canonical encoding of a value.
pub trait Decode: Sized {
    /// Reads one value from `reader`, leaving what follows.
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// Decodes exactly `bytes`: trailing bytes are an error.
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(bytes);
        let value = Self::decode_from(&mut reader)?;
        reader.finish()?;
        Ok(value)
    }
}

/// Encodes `value` (shorthand for [`Encode::encode`]).
pub fn encode<T: Encode + ?Sized>(value: &T) -> Vec<u8> {
    value.encode()
}

/// Decodes exactly `bytes` as a `T` (shorthand for [`Decode::decode`]).
pub fn decode<T: Decode>(bytes: &[u8]) -> Result<T, DecodeError> {
    T::decode(bytes)
}

/// A cursor over input bytes; every read is bounds-checked.
#[derive(Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Starts reading `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.bytes.len()
    }

    /// Fails unless every byte was read.
    pub fn finish(self) -> Result<(), DecodeError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes(self.bytes.len()))
        }
    }

    /// Reads `n` bytes.
    pub fn take(&mut self, what: &'static str, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.bytes.len() {
            return Err(DecodeError::UnexpectedEnd {
                what,
                needed: n,
                remaining: self.bytes.len(),
            });
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    /// Reads a fixed-size array.
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(what, N)?);
        Ok(out)
    }

    /// Reads a byte.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(what)?[0])
    }

    /// Reads a little-endian `u16`.
    pub fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    /// Reads a little-endian `u32`.
    pub fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    /// Reads a little-endian `u64`.
    pub fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// Reads a little-endian `u128`.
    pub fn u128(&mut self, what: &'static str) -> Result<u128, DecodeError> {
        Ok(u128::from_le_bytes(self.array(what)?))
    }

    /// Reads a `u32` list count and checks it against `max` and against the remaining input,
    /// given that each item takes at least `min_item_size` bytes, before anything is allocated.
    pub fn count(
        &mut self,
        what: &'static str,
        max: usize,
        min_item_size: usize,
    ) -> Result<usize, DecodeError> {
        let count = u64::from(self.u32(what)?);
        if count > max as u64 {
            return Err(DecodeError::CountTooLarge { what, count, max });
        }
        let needed = count.saturating_mul(min_item_size as u64);
        if needed > self.bytes.len() as u64 {
            return Err(DecodeError::CountExceedsInput {
                what,
                count,
                needed,
                remaining: self.bytes.len(),
            });
        }
        // Checked against `max`, which is a usize, so the conversion is lossless.
        Ok(count as usize)
    }

    /// Reads a 0/1 tag byte.
    pub fn flag(&mut self, what: &'static str) -> Result<bool, DecodeError> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            tag => Err(DecodeError::InvalidTag { what, tag }),
        }
    }
}

fn decode_list<T: Decode>(
    reader: &mut Reader<'_>,
    what: &'static str,
    max: usize,
    min_item_size: usize,
) -> Result<Vec<T>, DecodeError> {
    let count = reader.count(what, max, min_item_size)?;
    let mut items = Vec::with_capacity(count);
    for _ in 0..count {
        items.push(T::decode_from(reader)?);
    }
    Ok(items)
}

fn encode_count(len: usize, out: &mut Vec<u8>) {
    // Lists are built by callers that respect the caps (all far below u32::MAX); a list that
    // did not would be rejected by validation's size rule before anything is relayed.
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
}

macro_rules! hash_codec {
    ($($name:ident),*) => {$(
        impl Encode for $name {
            fn encode_to(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(self.as_bytes());
            }
        }
        impl Decode for $name {
            fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok($name::from_bytes(reader.array(stringify!($name))?))
            }
        }
    )*};
}
hash_codec!(
    Txid,
    BlockHash,
    MerkleRoot,
    TaskId,
    CheckpointRoot,
    ModelHash
);

impl Encode for Amount {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_base_units().to_le_bytes());
    }
}

impl Decode for Amount {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let units = reader.u64("amount")?;
        Amount::from_base_units(units).map_err(|_| DecodeError::AmountAboveMaxSupply(units))
    }
}

impl Encode for Address {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
}

impl Decode for Address {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Address::from_bytes(reader.array("address")?))
    }
}

impl Encode for CompactTarget {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_bits().to_le_bytes());
    }
}

impl Decode for CompactTarget {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let bits = reader.u32("work target")?;
        CompactTarget::from_bits(bits).map_err(|_| DecodeError::InvalidTarget(bits))
    }
}

impl Encode for OutPoint {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.txid.encode_to(out);
        out.extend_from_slice(&self.vout.to_le_bytes());
    }
}

impl Decode for OutPoint {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(OutPoint {
            txid: Txid::decode_from(reader)?,
            vout: reader.u32("output index")?,
        })
    }
}

/// Decodes a verifying key, requiring a valid and canonical point encoding.
fn decode_verifying_key(reader: &mut Reader<'_>) -> Result<VerifyingKey, DecodeError> {
    let bytes: [u8; 32] = reader.array("verifying key")?;
    let key = VerifyingKey::from_bytes(&bytes).map_err(|_| DecodeError::InvalidVerifyingKey)?;
    // `from_bytes` accepts y >= p; re-compressing gives the canonical form.
    if key.to_edwards().compress().to_bytes() != bytes {
        return Err(DecodeError::NonCanonicalVerifyingKey);
    }
    Ok(key)
}

fn decode_witness(reader: &mut Reader<'_>, kind: KeyKind) -> Result<Witness, DecodeError> {
    Ok(match kind {
        KeyKind::Ed25519 => Witness::Ed25519 {
            key: decode_verifying_key(reader)?,
            signature: Signature::from_bytes(&reader.array("signature")?),
        },
        KeyKind::MlDsa65 => {
            let key = MlDsa65PublicKey::from_array(Box::new(reader.array("ML-DSA-65 public key")?));
            let signature = reader.take("ML-DSA-65 signature", ML_DSA_65_SIGNATURE_SIZE)?;
            let signature = MlDsa65Signature::from_bytes(signature)
                .map_err(|_| DecodeError::MalformedMlDsaSignature)?;
            Witness::MlDsa65 { key, signature }
        }
    })
}

/// Reads one input of a transaction of `version`.
fn decode_input(reader: &mut Reader<'_>, version: u32) -> Result<TxIn, DecodeError> {
    let previous_output = OutPoint::decode_from(reader)?;
    let kind = if version == TX_VERSION {
        KeyKind::Ed25519
    } else {
        let tag = reader.u8("key kind")?;
        KeyKind::from_tag(tag).ok_or(DecodeError::UnknownKeyKind(tag))?
    };
    Ok(TxIn {
        previous_output,
        witness: decode_witness(reader, kind)?,
    })
}

impl Encode for TxOut {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.amount.encode_to(out);
        self.address.encode_to(out);
    }
}

impl Decode for TxOut {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(TxOut {
            amount: Amount::decode_from(reader)?,
            address: Address::decode_from(reader)?,
        })
    }
}

fn encode_outputs_and_height(outputs: &[TxOut], coinbase_height: Option<u64>, out: &mut Vec<u8>) {
    encode_count(outputs.len(), out);
    for output in outputs {
        output.encode_to(out);
    }
    match coinbase_height {
        None => out.push(0),
        Some(height) => {
            out.push(1);
            out.extend_from_slice(&height.to_le_bytes());
        }
    }
}

/// One input as the encoder sees it: its outpoint, its key's kind and encoding, and its
/// witness when the signature is written (`None` for the signing digest's bytes).
pub(crate) type InputParts<'a> = (&'a OutPoint, KeyKind, &'a [u8], Option<&'a Witness>);

/// A transaction's encoding from its parts, with or without signatures: each input is its
/// outpoint, its kind tag in version 2, its key, then its signature if there is a witness.
pub(crate) fn encode_transaction<'a>(
    version: u32,
    inputs: impl ExactSizeIterator<Item = InputParts<'a>>,
    outputs: &[TxOut],
    coinbase_height: Option<u64>,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(&version.to_le_bytes());
    encode_count(inputs.len(), out);
    for (outpoint, kind, key, witness) in inputs {
        outpoint.encode_to(out);
        // Version 1 has no tags: an ML-DSA-65 input in it encodes to bytes that do not
        // decode, and validation refuses it (`TxError::UntaggedInputKind`).
        if version != TX_VERSION {
            out.push(kind.tag());
        }
        out.extend_from_slice(key);
        if let Some(witness) = witness {
            witness.encode_signature_to(out);
        }
    }
    encode_outputs_and_height(outputs, coinbase_height, out);
}

impl Encode for Transaction {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        encode_transaction(
            self.version,
            self.inputs.iter().map(|i| {
                let w = &i.witness;
                (&i.previous_output, w.kind(), w.key_bytes(), Some(w))
            }),
            &self.outputs,
            self.coinbase_height,
            out,
        );
    }
}

impl Decode for Transaction {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = reader.u32("transaction version")?;
        if version != TX_VERSION && version != TX_VERSION_TYPED_INPUTS {
            return Err(DecodeError::UnsupportedVersion {
                what: "transaction",
                version,
                supported: TX_VERSION_TYPED_INPUTS,
            });
        }
        let min_input = input_size(version, KeyKind::Ed25519);
        let count = reader.count("input", MAX_TX_INPUTS, min_input)?;
        let mut inputs = Vec::with_capacity(count);
        for _ in 0..count {
            inputs.push(decode_input(reader, version)?);
        }
        let outputs = decode_list(reader, "output", MAX_TX_OUTPUTS, TXOUT_SIZE)?;
        let coinbase_height = if reader.flag("coinbase height")? {
            Some(reader.u64("coinbase height")?)
        } else {
            None
        };
        Ok(Transaction {
            version,
            inputs,
            outputs,
            coinbase_height,
        })
    }
}

impl Encode for TrainingCommitment {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.task_id.encode_to(out);
        out.extend_from_slice(&self.steps.to_le_bytes());
        self.checkpoint_root.encode_to(out);
        self.model_hash.encode_to(out);
    }
}

impl Decode for TrainingCommitment {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(TrainingCommitment {
            task_id: TaskId::decode_from(reader)?,
            steps: reader.u64("training steps")?,
            checkpoint_root: CheckpointRoot::decode_from(reader)?,
            model_hash: ModelHash::decode_from(reader)?,
        })
    }
}

impl Encode for BlockHeader {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.reserve(HEADER_SIZE);
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&self.height.to_le_bytes());
        self.prev_hash.encode_to(out);
        self.merkle_root.encode_to(out);
        out.extend_from_slice(&self.timestamp.to_le_bytes());
        self.bits.encode_to(out);
        self.training.encode_to(out);
    }
}

impl Decode for BlockHeader {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = reader.u32("block version")?;
        if version != BLOCK_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                what: "block",
                version,
                supported: BLOCK_VERSION,
            });
        }
        Ok(BlockHeader {
            version,
            height: reader.u64("height")?,
            prev_hash: BlockHash::decode_from(reader)?,
            merkle_root: MerkleRoot::decode_from(reader)?,
            timestamp: reader.u64("timestamp")?,
            bits: CompactTarget::decode_from(reader)?,
            training: TrainingCommitment::decode_from(reader)?,
        })
    }
}

impl Encode for Block {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        self.header.encode_to(out);
        encode_count(self.transactions.len(), out);
        for tx in &self.transactions {
            tx.encode_to(out);
        }
    }
}

impl Decode for Block {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Block {
            header: BlockHeader::decode_from(reader)?,
            transactions: decode_list(
                reader,
                "transaction",
                MAX_BLOCK_TRANSACTIONS,
                TX_FIXED_SIZE,
            )?,
        })
    }

    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_BLOCK_SIZE {
            return Err(DecodeError::TooLarge {
                what: "block",
                len: bytes.len(),
                max: MAX_BLOCK_SIZE,
            });
        }
        let mut reader = Reader::new(bytes);
        let block = Block::decode_from(&mut reader)?;
        reader.finish()?;
        Ok(block)
    }
}
