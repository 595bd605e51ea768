//! The committed checkpoint trace: the hashes `c_0 .. c_n` of the weights at steps
//! `0, k, 2k, ..., n*k`, their Merkle root (the header's `checkpoint_root`), their byte form
//! (an artifact a miner may keep), the key of each segment's data, and the Merkle openings
//! ([`AuditProof`]) through which a verifier reads only the checkpoints it audits.

use ann_ledger::{CheckpointRoot, MerkleTags};
use sha2::{Digest, Sha256};

use crate::model::ModelHash;

/// Domain tag of Merkle leaves.
pub const LEAF_TAG: &[u8] = b"blockchain-ann/checkpoint-leaf/v1";
/// Domain tag of Merkle inner nodes.
pub const NODE_TAG: &[u8] = b"blockchain-ann/checkpoint-node/v1";
/// Domain tag of the root (which also commits the leaf count).
pub const ROOT_TAG: &[u8] = b"blockchain-ann/checkpoint-root/v1";
/// The checkpoint tree: the ledger's tagged Merkle tree under [`LEAF_TAG`], [`NODE_TAG`] and
/// [`ROOT_TAG`].
pub const CHECKPOINT_TREE: MerkleTags = MerkleTags {
    leaf: LEAF_TAG,
    node: NODE_TAG,
    root: ROOT_TAG,
};
/// Domain tag of a segment's data key.
pub const SEGMENT_KEY_TAG: &[u8] = b"blockchain-ann/segment-key/v2";
/// Most openings an [`AuditProof`] may hold (W0, and both ends of up to 63 audited segments).
pub const MAX_OPENINGS: usize = 127;
/// Longest Merkle path (a tree of up to `2^64` leaves).
pub const MAX_PATH: usize = 64;

/// A trace's byte form is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
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
    checkpoints: Vec<ModelHash>,
}

impl Trace {
    /// Wraps checkpoint hashes (W0's first).
    pub fn new(checkpoints: Vec<ModelHash>) -> Self {
        Self { checkpoints }
    }

    /// The checkpoint hashes.
    pub fn checkpoints(&self) -> &[ModelHash] {
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
            out.extend_from_slice(c.as_bytes());
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
                ModelHash::from_bytes(h)
            })
            .collect();
        Ok(Self { checkpoints })
    }

    /// The Merkle root committed by the header (see [`checkpoint_root`]).
    pub fn root(&self) -> CheckpointRoot {
        checkpoint_root(&self.checkpoints)
    }

    /// The data key of every segment (see [`segment_key`]).
    pub fn segment_keys(&self, seed: &[u8; 32]) -> Vec<[u8; 32]> {
        self.checkpoints
            .iter()
            .take(self.segments())
            .enumerate()
            .map(|(j, c)| segment_key(seed, j as u64, c))
            .collect()
    }

    /// The Merkle opening of checkpoint `index`, or `None` past the end.
    pub fn open(&self, index: usize) -> Option<Opening> {
        let checkpoint = *self.checkpoints.get(index)?;
        let path = CHECKPOINT_TREE.path(&leaves(&self.checkpoints), index)?;
        Some(Opening {
            index: index as u64,
            checkpoint,
            path,
        })
    }
}

/// The data key of segment `j` (steps `j*k .. (j+1)*k`):
/// `SHA-256(SEGMENT_KEY_TAG || seed || j (u64 LE) || c_j)`. Its samples are unknown until its
/// start checkpoint `c_j` exists, so segments can only be trained in order, and a verifier
/// needs only `c_j` (not the trace before it) to replay segment `j`.
pub fn segment_key(seed: &[u8; 32], index: u64, checkpoint: &ModelHash) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(SEGMENT_KEY_TAG);
    hasher.update(seed);
    hasher.update(index.to_le_bytes());
    hasher.update(checkpoint.as_bytes());
    hasher.finalize().into()
}

/// A checkpoint hash with its Merkle path: what a verifier reads instead of the trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opening {
    /// Position in the trace (0 is W0).
    pub index: u64,
    /// The checkpoint hash there.
    pub checkpoint: ModelHash,
    /// Sibling hashes from the leaf level up (a level where the node is carried up unpaired
    /// contributes none).
    pub path: Vec<[u8; 32]>,
}

impl Opening {
    /// The root of a trace of `count` checkpoints that this opening proves, or `None` if the
    /// index is out of range or the path has the wrong length for it.
    pub fn root(&self, count: u64) -> Option<CheckpointRoot> {
        CHECKPOINT_TREE
            .root_from_path(count, self.index, self.checkpoint.as_bytes(), &self.path)
            .map(CheckpointRoot::from_bytes)
    }
}

/// Why an audit proof's bytes are malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofDecodeError {
    /// The bytes end inside a field.
    #[error("an audit proof ends inside {0}")]
    Truncated(&'static str),
    /// Bytes follow the last opening.
    #[error("{0} bytes follow an audit proof's last opening")]
    TrailingBytes(usize),
    /// More openings than any proof needs.
    #[error("an audit proof holds at most {MAX_OPENINGS} openings, this one {0}")]
    TooManyOpenings(u64),
    /// A path longer than any tree needs.
    #[error("a Merkle path has at most {MAX_PATH} hashes, this one {0}")]
    PathTooLong(u8),
    /// Openings not in strictly ascending index order.
    #[error("audit proof openings must be in strictly ascending index order (at {0})")]
    Unordered(u64),
}

/// The openings a verifier needs: W0, and the start and end of every audited segment, in
/// ascending index order without repeats. Stored under the header's checkpoint root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditProof {
    openings: Vec<Opening>,
}

impl AuditProof {
    /// The openings of `indices` (deduplicated and sorted) in `trace`; `None` if one is out of
    /// range.
    pub fn from_trace(trace: &Trace, indices: &[usize]) -> Option<Self> {
        let mut indices = indices.to_vec();
        indices.sort_unstable();
        indices.dedup();
        let openings = indices
            .into_iter()
            .map(|i| trace.open(i))
            .collect::<Option<Vec<_>>>()?;
        Some(Self { openings })
    }

    /// The openings, ascending by index.
    pub fn openings(&self) -> &[Opening] {
        &self.openings
    }

    /// The checkpoint hash at `index`, if the proof opens it.
    pub fn checkpoint(&self, index: u64) -> Option<ModelHash> {
        self.openings
            .binary_search_by_key(&index, |o| o.index)
            .ok()
            .map(|i| self.openings[i].checkpoint)
    }

    /// Byte form: opening count (u32 LE), then per opening its index (u64 LE), checkpoint
    /// hash, path length (u8) and path hashes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(self.openings.len() as u32).to_le_bytes());
        for o in &self.openings {
            out.extend_from_slice(&o.index.to_le_bytes());
            out.extend_from_slice(o.checkpoint.as_bytes());
            out.push(o.path.len() as u8);
            for h in &o.path {
                out.extend_from_slice(h);
            }
        }
        out
    }

    /// Parses the byte form, with every count capped before anything is allocated.
    ///
    /// # Errors
    /// [`ProofDecodeError`] naming what is malformed.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ProofDecodeError> {
        let mut rest = bytes;
        let mut take = |n: usize, what: &'static str| -> Result<&[u8], ProofDecodeError> {
            if rest.len() < n {
                return Err(ProofDecodeError::Truncated(what));
            }
            let (head, tail) = rest.split_at(n);
            rest = tail;
            Ok(head)
        };
        let mut word = [0u8; 4];
        word.copy_from_slice(take(4, "the opening count")?);
        let count = u32::from_le_bytes(word);
        if count as usize > MAX_OPENINGS {
            return Err(ProofDecodeError::TooManyOpenings(u64::from(count)));
        }
        let mut openings: Vec<Opening> = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let mut long = [0u8; 8];
            long.copy_from_slice(take(8, "an opening's index")?);
            let index = u64::from_le_bytes(long);
            if openings.last().is_some_and(|o| o.index >= index) {
                return Err(ProofDecodeError::Unordered(index));
            }
            let mut checkpoint = [0u8; 32];
            checkpoint.copy_from_slice(take(32, "an opening's checkpoint")?);
            let length = take(1, "a path length")?[0];
            if usize::from(length) > MAX_PATH {
                return Err(ProofDecodeError::PathTooLong(length));
            }
            let path = take(32 * usize::from(length), "a Merkle path")?
                .chunks_exact(32)
                .map(|c| {
                    let mut h = [0u8; 32];
                    h.copy_from_slice(c);
                    h
                })
                .collect();
            openings.push(Opening {
                index,
                checkpoint: ModelHash::from_bytes(checkpoint),
                path,
            });
        }
        if !rest.is_empty() {
            return Err(ProofDecodeError::TrailingBytes(rest.len()));
        }
        Ok(Self { openings })
    }
}

/// Merkle root of checkpoint hashes, immune to the CVE-2012-2459 ambiguity.
///
/// Leaves are `SHA-256(LEAF_TAG || c_i)`, inner nodes `SHA-256(NODE_TAG || left || right)`;
/// an odd node at the end of a level is carried up unchanged (never paired with itself, so no
/// two different lists share a tree), and the root is `SHA-256(ROOT_TAG || count (u64 LE) ||
/// tree top)`, which also commits the length. The empty list's tree top is 32 zero bytes.
pub fn checkpoint_root(checkpoints: &[ModelHash]) -> CheckpointRoot {
    CheckpointRoot::from_bytes(CHECKPOINT_TREE.root(&leaves(checkpoints)))
}

fn leaves(checkpoints: &[ModelHash]) -> Vec<[u8; 32]> {
    checkpoints.iter().map(|c| c.to_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashes(n: u8) -> Vec<ModelHash> {
        (0..n).map(|i| ModelHash::from_bytes([i; 32])).collect()
    }

    /// `hash` with bit 0 of byte `byte` flipped.
    fn flipped(hash: ModelHash, byte: usize) -> ModelHash {
        let mut bytes = hash.to_bytes();
        bytes[byte] ^= 1;
        ModelHash::from_bytes(bytes)
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
            changed[i] = flipped(changed[i], 31);
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
    fn segment_keys_depend_on_their_start_checkpoint_index_and_seed() {
        let trace = Trace::new(hashes(4));
        let keys = trace.segment_keys(&[9; 32]);
        assert_eq!(keys.len(), 3);
        let mut changed = hashes(4);
        changed[1] = flipped(changed[1], 0);
        let other = Trace::new(changed).segment_keys(&[9; 32]);
        assert_eq!(keys[0], other[0]);
        assert_ne!(keys[1], other[1]);
        assert_eq!(keys[2], other[2]);
        // The same checkpoint at another index, or under another seed, keys other data.
        assert_ne!(segment_key(&[9; 32], 0, &hashes(4)[1]), keys[1]);
        assert_ne!(Trace::new(hashes(4)).segment_keys(&[8; 32])[1], keys[1]);
    }

    #[test]
    fn every_opening_proves_the_root_and_nothing_else() {
        for n in 1..=17u8 {
            let trace = Trace::new(hashes(n));
            let root = trace.root();
            for i in 0..usize::from(n) {
                let opening = trace.open(i).expect("in range");
                assert_eq!(opening.root(u64::from(n)), Some(root), "n {n}, i {i}");
                // Another count, index, leaf or path gives another root (or none).
                assert_ne!(opening.root(u64::from(n) + 1), Some(root));
                let mut moved = opening.clone();
                moved.index ^= 1;
                assert_ne!(moved.root(u64::from(n)), Some(root));
                let mut forged = opening.clone();
                forged.checkpoint = flipped(forged.checkpoint, 0);
                assert_ne!(forged.root(u64::from(n)), Some(root));
                if let Some(first) = opening.path.first() {
                    let mut bent = opening.clone();
                    bent.path[0] = [first[0] ^ 1; 32];
                    assert_ne!(bent.root(u64::from(n)), Some(root));
                    let mut short = opening.clone();
                    short.path.pop();
                    assert_eq!(short.root(u64::from(n)), None);
                }
                let mut long = opening;
                long.path.push([0; 32]);
                assert_eq!(long.root(u64::from(n)), None);
            }
            assert!(trace.open(usize::from(n)).is_none());
        }
    }

    #[test]
    fn audit_proofs_round_trip_and_malformed_bytes_are_rejected() {
        let trace = Trace::new(hashes(9));
        let proof = AuditProof::from_trace(&trace, &[8, 0, 3, 4, 4]).expect("in range");
        assert_eq!(
            proof.openings().iter().map(|o| o.index).collect::<Vec<_>>(),
            [0, 3, 4, 8]
        );
        assert_eq!(proof.checkpoint(3), Some(hashes(9)[3]));
        assert_eq!(proof.checkpoint(5), None);
        let bytes = proof.to_bytes();
        assert_eq!(AuditProof::from_bytes(&bytes), Ok(proof.clone()));
        for cut in [0, 3, 4, 11, bytes.len() - 1] {
            assert!(matches!(
                AuditProof::from_bytes(&bytes[..cut]),
                Err(ProofDecodeError::Truncated(_))
            ));
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(
            AuditProof::from_bytes(&trailing),
            Err(ProofDecodeError::TrailingBytes(1))
        );
        let mut many = bytes.clone();
        many[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            AuditProof::from_bytes(&many),
            Err(ProofDecodeError::TooManyOpenings(u64::from(u32::MAX)))
        );
        let mut long_path = bytes.clone();
        long_path[4 + 8 + 32] = 65;
        assert_eq!(
            AuditProof::from_bytes(&long_path),
            Err(ProofDecodeError::PathTooLong(65))
        );
        let swapped = AuditProof {
            openings: vec![proof.openings()[1].clone(), proof.openings()[0].clone()],
        };
        assert_eq!(
            AuditProof::from_bytes(&swapped.to_bytes()),
            Err(ProofDecodeError::Unordered(0))
        );
    }
}
