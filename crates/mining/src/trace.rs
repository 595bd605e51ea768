//! The committed checkpoint trace: the hashes `c_0 .. c_n` of the weights at steps
//! `0, k, 2k, ..., n*k`, their Merkle root (the header's `checkpoint_root`), their byte form
//! (an artifact), and the hash chain that keys each segment's data.

use ann_ledger::CheckpointRoot;
use sha2::{Digest, Sha256};

use crate::model::WeightsHash;

/// Domain tag of Merkle leaves.
pub const LEAF_TAG: &[u8] = b"blockchain-ann/checkpoint-leaf/v1";
/// Domain tag of Merkle inner nodes.
pub const NODE_TAG: &[u8] = b"blockchain-ann/checkpoint-node/v1";
/// Domain tag of the root (which also commits the leaf count).
pub const ROOT_TAG: &[u8] = b"blockchain-ann/checkpoint-root/v1";
/// Domain tag of the segment data-key chain.
pub const CHAIN_TAG: &[u8] = b"blockchain-ann/segment-chain/v1";

/// A trace's byte form is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceDecodeError {
    /// The byte length is not `8 + 32 * count`.
    #[error("a trace of {count} checkpoints is {expected} bytes, got {found}")]
    Length {
        /// Count read from the prefix (or 0 if absent).
        count: u64,
        /// Bytes required.
        expected: u64,
        /// Bytes present.
        found: u64,
    },
    /// A trace must hold at least W0 and one later checkpoint.
    #[error("a trace holds at least 2 checkpoints (W0 and one more), got {0}")]
    TooShort(u64),
}

/// The checkpoint hashes of one training run, W0's first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace {
    checkpoints: Vec<WeightsHash>,
}

impl Trace {
    /// Wraps checkpoint hashes (W0's first).
    pub fn new(checkpoints: Vec<WeightsHash>) -> Self {
        Self { checkpoints }
    }

    /// The checkpoint hashes.
    pub fn checkpoints(&self) -> &[WeightsHash] {
        &self.checkpoints
    }

    /// Number of segments (checkpoints minus one).
    pub fn segments(&self) -> usize {
        self.checkpoints.len().saturating_sub(1)
    }

    /// Byte form: checkpoint count (u64 LE), then the 32-byte hashes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 32 * self.checkpoints.len());
        out.extend_from_slice(&(self.checkpoints.len() as u64).to_le_bytes());
        for c in &self.checkpoints {
            out.extend_from_slice(&c.0);
        }
        out
    }

    /// Parses the byte form.
    ///
    /// # Errors
    /// [`TraceDecodeError`] if the length does not match the count prefix or the trace has
    /// fewer than two checkpoints.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TraceDecodeError> {
        let found = bytes.len() as u64;
        let Some((prefix, body)) = bytes.split_first_chunk::<8>() else {
            return Err(TraceDecodeError::Length {
                count: 0,
                expected: 8,
                found,
            });
        };
        let count = u64::from_le_bytes(*prefix);
        let expected = count.checked_mul(32).and_then(|b| b.checked_add(8));
        if expected != Some(found) {
            return Err(TraceDecodeError::Length {
                count,
                expected: expected.unwrap_or(u64::MAX),
                found,
            });
        }
        if count < 2 {
            return Err(TraceDecodeError::TooShort(count));
        }
        let checkpoints = body
            .chunks_exact(32)
            .map(|c| {
                let mut h = [0u8; 32];
                h.copy_from_slice(c);
                WeightsHash(h)
            })
            .collect();
        Ok(Self { checkpoints })
    }

    /// The Merkle root committed by the header (see [`checkpoint_root`]).
    pub fn root(&self) -> CheckpointRoot {
        checkpoint_root(&self.checkpoints)
    }

    /// The data key of every segment: `key_j = SHA-256(CHAIN_TAG || key_{j-1} || c_j)` with
    /// `key_{-1} = seed`. Segment j (steps `j*k .. (j+1)*k`) draws its samples from
    /// `key_j`, so its data depends on every checkpoint before it.
    pub fn segment_keys(&self, seed: &[u8; 32]) -> Vec<[u8; 32]> {
        let mut key = *seed;
        self.checkpoints
            .iter()
            .take(self.segments())
            .map(|c| {
                key = chain_key(&key, c);
                key
            })
            .collect()
    }
}

/// One link of the segment data-key chain (see [`Trace::segment_keys`]).
pub fn chain_key(previous: &[u8; 32], checkpoint: &WeightsHash) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(CHAIN_TAG);
    hasher.update(previous);
    hasher.update(checkpoint.0);
    hasher.finalize().into()
}

/// Merkle root of checkpoint hashes, immune to the CVE-2012-2459 ambiguity.
///
/// Leaves are `SHA-256(LEAF_TAG || c_i)`, inner nodes `SHA-256(NODE_TAG || left || right)`;
/// an odd node at the end of a level is carried up unchanged (never paired with itself, so no
/// two different lists share a tree), and the root is `SHA-256(ROOT_TAG || count (u64 LE) ||
/// tree top)`, which also commits the length. The empty list's tree top is 32 zero bytes.
pub fn checkpoint_root(checkpoints: &[WeightsHash]) -> CheckpointRoot {
    let mut level: Vec<[u8; 32]> = checkpoints
        .iter()
        .map(|c| {
            let mut h = Sha256::new();
            h.update(LEAF_TAG);
            h.update(c.0);
            h.finalize().into()
        })
        .collect();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [left, right] => {
                    let mut h = Sha256::new();
                    h.update(NODE_TAG);
                    h.update(left);
                    h.update(right);
                    h.finalize().into()
                }
                [single] => *single,
                _ => [0u8; 32],
            })
            .collect();
    }
    let top = level.first().copied().unwrap_or([0u8; 32]);
    let mut h = Sha256::new();
    h.update(ROOT_TAG);
    h.update((checkpoints.len() as u64).to_le_bytes());
    h.update(top);
    CheckpointRoot::from_bytes(h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashes(n: u8) -> Vec<WeightsHash> {
        (0..n).map(|i| WeightsHash([i; 32])).collect()
    }

    #[test]
    fn duplicating_the_last_leaf_changes_the_root() {
        // The CVE-2012-2459 shape: [a, b, c] and [a, b, c, c] must differ.
        let three = hashes(3);
        let mut four = three.clone();
        four.push(three[2]);
        assert_ne!(checkpoint_root(&three), checkpoint_root(&four));
    }

    #[test]
    fn every_leaf_and_the_order_matter() {
        let base = hashes(5);
        let root = checkpoint_root(&base);
        for i in 0..base.len() {
            let mut changed = base.clone();
            changed[i].0[31] ^= 1;
            assert_ne!(checkpoint_root(&changed), root, "leaf {i}");
        }
        let mut swapped = base.clone();
        swapped.swap(0, 1);
        assert_ne!(checkpoint_root(&swapped), root);
    }

    #[test]
    fn bytes_round_trip_and_bad_lengths_are_rejected() {
        let trace = Trace::new(hashes(4));
        let bytes = trace.to_bytes();
        assert_eq!(Trace::from_bytes(&bytes), Ok(trace));
        assert!(matches!(
            Trace::from_bytes(&bytes[..bytes.len() - 1]),
            Err(TraceDecodeError::Length { .. })
        ));
        let mut long = bytes.clone();
        long.push(0);
        assert!(matches!(
            Trace::from_bytes(&long),
            Err(TraceDecodeError::Length { .. })
        ));
        let mut huge = bytes;
        huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            Trace::from_bytes(&huge),
            Err(TraceDecodeError::Length { .. })
        ));
        assert_eq!(
            Trace::from_bytes(&Trace::new(hashes(1)).to_bytes()),
            Err(TraceDecodeError::TooShort(1))
        );
    }

    #[test]
    fn segment_keys_chain_every_earlier_checkpoint() {
        let trace = Trace::new(hashes(4));
        let keys = trace.segment_keys(&[9; 32]);
        assert_eq!(keys.len(), 3);
        let mut changed = hashes(4);
        changed[1].0[0] ^= 1;
        let other = Trace::new(changed).segment_keys(&[9; 32]);
        assert_eq!(keys[0], other[0]);
        assert_ne!(keys[1], other[1]);
        assert_ne!(keys[2], other[2]);
    }
}
