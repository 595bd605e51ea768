//! The mining side chain: for each mined block, the training artifacts that back its proof of
//! training (what the original project printed as "Mining side chain": model hash and file
//! location).
//!
//! The artifact *files* are written content-addressed (by `ann-mining`'s `ArtifactStore`) into
//! [`crate::Store::artifact_dir`] **before** the block is committed; the *record* naming them is
//! written in the same redb transaction as the block. A crash between the two leaves at most
//! files that no record names; since they are named by their content hash, a retry rewrites the
//! same bytes under the same name, so orphans are harmless and never wrong.

use std::path::{Component, Path, PathBuf};

use ann_ledger::encoding::Reader;
use ann_ledger::{BlockHash, BlockHeader, CheckpointRoot, DecodeError, ModelHash, TaskId};

use crate::error::ArtifactRecordError;

/// Most files one record may list.
pub const MAX_ARTIFACT_FILES: usize = 4096;
/// Longest path (in bytes) of an artifact file, relative to the store directory.
pub const MAX_ARTIFACT_PATH: usize = 1024;
/// Version byte that opens every encoded [`ArtifactRecord`].
pub const ARTIFACT_RECORD_VERSION: u8 = 1;

/// What an artifact file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ArtifactRole {
    /// The final weights, whose hash is the header's `model_hash`.
    Model,
    /// The checkpoint trace, whose Merkle root is the header's `checkpoint_root`.
    Trace,
    /// An intermediate checkpoint.
    Checkpoint,
    /// The audit proof: the Merkle openings of the checkpoints a verifier reads.
    Proof,
}

impl ArtifactRole {
    fn tag(self) -> u8 {
        match self {
            ArtifactRole::Model => 0,
            ArtifactRole::Trace => 1,
            ArtifactRole::Checkpoint => 2,
            ArtifactRole::Proof => 3,
        }
    }

    fn from_tag(tag: u8) -> Option<Self> {
        match tag {
            0 => Some(ArtifactRole::Model),
            1 => Some(ArtifactRole::Trace),
            2 => Some(ArtifactRole::Checkpoint),
            3 => Some(ArtifactRole::Proof),
            _ => None,
        }
    }
}

impl std::fmt::Display for ArtifactRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ArtifactRole::Model => "model",
            ArtifactRole::Trace => "trace",
            ArtifactRole::Checkpoint => "checkpoint",
            ArtifactRole::Proof => "proof",
        })
    }
}

/// One artifact file: its role, where it lies and how large it is.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ArtifactFile {
    /// What it holds.
    pub role: ArtifactRole,
    /// Path relative to the store directory, `/`-separated, e.g.
    /// `artifacts/checkpoint-<hash>.f32le` (see [`validate_relative_path`]).
    pub path: String,
    /// Size in bytes.
    pub size: u64,
}

/// The side-chain record of one block.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ArtifactRecord {
    /// The block whose proof these artifacts back.
    pub block_hash: BlockHash,
    /// The training task (from the header).
    pub task_id: TaskId,
    /// Optimizer steps trained (from the header).
    pub steps: u64,
    /// Merkle root of the checkpoint hashes (from the header).
    pub checkpoint_root: CheckpointRoot,
    /// Hash of the final weights (from the header).
    pub model_hash: ModelHash,
    /// The files.
    pub files: Vec<ArtifactFile>,
}

impl ArtifactRecord {
    /// The record of `header`'s block: the commitment comes from the header, so record and
    /// block cannot disagree.
    ///
    /// # Errors
    /// [`ArtifactRecordError::TooManyFiles`], or [`ArtifactRecordError::InvalidPath`] for a path that is
    /// not a plain relative path of at most [`MAX_ARTIFACT_PATH`] bytes.
    pub fn new(
        header: &BlockHeader,
        files: Vec<ArtifactFile>,
    ) -> Result<Self, ArtifactRecordError> {
        if files.len() > MAX_ARTIFACT_FILES {
            return Err(ArtifactRecordError::TooManyFiles(files.len()));
        }
        for file in &files {
            validate_relative_path(&file.path)?;
        }
        Ok(ArtifactRecord {
            block_hash: header.hash(),
            task_id: header.training.task_id,
            steps: header.training.steps,
            checkpoint_root: header.training.checkpoint_root,
            model_hash: header.training.model_hash,
            files,
        })
    }

    /// The first file with `role`, if any.
    pub fn file(&self, role: ArtifactRole) -> Option<&ArtifactFile> {
        self.files.iter().find(|f| f.role == role)
    }

    /// The value stored in the `artifacts` table (the key is the block hash).
    pub fn encode_value(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + 32 + 8 + 32 + 32 + 4 + self.files.len() * 64);
        out.push(ARTIFACT_RECORD_VERSION);
        out.extend_from_slice(self.task_id.as_bytes());
        out.extend_from_slice(&self.steps.to_le_bytes());
        out.extend_from_slice(self.checkpoint_root.as_bytes());
        out.extend_from_slice(self.model_hash.as_bytes());
        // Both bounds are enforced by `new` and by decoding, so the casts cannot truncate.
        out.extend_from_slice(&(self.files.len().min(MAX_ARTIFACT_FILES) as u32).to_le_bytes());
        for file in &self.files {
            out.push(file.role.tag());
            out.extend_from_slice(&file.size.to_le_bytes());
            let path = file.path.as_bytes();
            let len = path.len().min(MAX_ARTIFACT_PATH);
            out.extend_from_slice(&(len as u16).to_le_bytes());
            out.extend_from_slice(&path[..len]);
        }
        out
    }

    /// Decodes a stored value of block `block_hash`.
    ///
    /// # Errors
    /// [`ArtifactDecodeError`] naming the rule the bytes broke.
    pub fn decode_value(block_hash: BlockHash, bytes: &[u8]) -> Result<Self, ArtifactDecodeError> {
        let mut reader = Reader::new(bytes);
        let version = reader.u8("artifact record version")?;
        if version != ARTIFACT_RECORD_VERSION {
            return Err(ArtifactDecodeError::UnknownVersion(version));
        }
        let task_id = TaskId::from_bytes(reader.array("task id")?);
        let steps = reader.u64("steps")?;
        let checkpoint_root = CheckpointRoot::from_bytes(reader.array("checkpoint root")?);
        let model_hash = ModelHash::from_bytes(reader.array("model hash")?);
        // Each file takes at least role (1), size (8) and path length (2).
        let count = reader.count("artifact file", MAX_ARTIFACT_FILES, 11)?;
        let mut files = Vec::with_capacity(count);
        for _ in 0..count {
            let tag = reader.u8("artifact role")?;
            let role = ArtifactRole::from_tag(tag).ok_or(ArtifactDecodeError::UnknownRole(tag))?;
            let size = reader.u64("artifact size")?;
            let len = usize::from(reader.u16("artifact path length")?);
            if len > MAX_ARTIFACT_PATH {
                return Err(ArtifactDecodeError::PathTooLong(len));
            }
            let path = std::str::from_utf8(reader.take("artifact path", len)?)
                .map_err(|_| ArtifactDecodeError::PathNotUtf8)?
                .to_owned();
            validate_relative_path(&path)
                .map_err(|_| ArtifactDecodeError::InvalidPath(path.clone()))?;
            files.push(ArtifactFile { role, path, size });
        }
        reader.finish()?;
        Ok(ArtifactRecord {
            block_hash,
            task_id,
            steps,
            checkpoint_root,
            model_hash,
            files,
        })
    }
}

/// Why a stored artifact record does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArtifactDecodeError {
    /// The bytes break the field layout.
    #[error(transparent)]
    Layout(#[from] DecodeError),
    /// A record version this software does not know.
    #[error("unknown artifact record version {0} (only {ARTIFACT_RECORD_VERSION} is defined)")]
    UnknownVersion(u8),
    /// A role tag outside 0..=2.
    #[error("unknown artifact role tag {0} (0 model, 1 trace, 2 checkpoint)")]
    UnknownRole(u8),
    /// A path longer than [`MAX_ARTIFACT_PATH`].
    #[error("artifact path of {0} bytes exceeds the cap of {MAX_ARTIFACT_PATH}")]
    PathTooLong(usize),
    /// A path that is not UTF-8.
    #[error("artifact path is not UTF-8")]
    PathNotUtf8,
    /// A path that is not a plain relative path.
    #[error("artifact path {0:?} is not a plain relative path inside the store")]
    InvalidPath(String),
}

/// One block of the best chain with its side-chain record (`None` for genesis, which is not
/// mined, and for blocks imported without artifacts).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SideChainEntry {
    /// Height on the best chain.
    pub height: u64,
    /// The block.
    pub block_hash: BlockHash,
    /// The block's timestamp (seconds since the Unix epoch).
    pub timestamp: u64,
    /// Its artifacts, if recorded.
    pub artifacts: Option<ArtifactRecord>,
}

/// Checks that `path` is a plain relative path: non-empty, at most [`MAX_ARTIFACT_PATH`]
/// bytes, `/`-separated normal components only (no root, no `.` or `..`, no `\`), so that it
/// always resolves inside the store directory.
///
/// # Errors
/// [`ArtifactRecordError::InvalidPath`] naming the rule.
pub fn validate_relative_path(path: &str) -> Result<(), ArtifactRecordError> {
    let invalid = |reason| ArtifactRecordError::InvalidPath {
        path: PathBuf::from(path),
        reason,
    };
    if path.is_empty() {
        return Err(invalid("empty"));
    }
    if path.len() > MAX_ARTIFACT_PATH {
        return Err(invalid("longer than 1024 bytes"));
    }
    if path.contains('\\') || path.contains('\0') {
        return Err(invalid("contains a backslash or NUL"));
    }
    for part in path.split('/') {
        if part.is_empty() || part == "." || part == ".." {
            return Err(invalid(
                "has an empty, '.' or '..' component, or a leading or trailing '/'",
            ));
        }
    }
    if !Path::new(path)
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        return Err(invalid("is not relative"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> ArtifactRecord {
        ArtifactRecord {
            block_hash: BlockHash::from_bytes([1; 32]),
            task_id: TaskId::from_bytes([2; 32]),
            steps: 4690,
            checkpoint_root: CheckpointRoot::from_bytes([3; 32]),
            model_hash: ModelHash::from_bytes([4; 32]),
            files: vec![
                ArtifactFile {
                    role: ArtifactRole::Model,
                    path: "artifacts/checkpoint-04.f32le".into(),
                    size: 40_000,
                },
                ArtifactFile {
                    role: ArtifactRole::Trace,
                    path: "artifacts/trace-03.bin".into(),
                    size: 72,
                },
            ],
        }
    }

    #[test]
    fn record_round_trips() {
        let record = record();
        let bytes = record.encode_value();
        assert_eq!(
            ArtifactRecord::decode_value(record.block_hash, &bytes),
            Ok(record)
        );
    }

    #[test]
    fn every_truncation_is_a_typed_error() {
        let record = record();
        let bytes = record.encode_value();
        for len in 0..bytes.len() {
            assert!(ArtifactRecord::decode_value(record.block_hash, &bytes[..len]).is_err());
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(matches!(
            ArtifactRecord::decode_value(record.block_hash, &long),
            Err(ArtifactDecodeError::Layout(DecodeError::TrailingBytes(1)))
        ));
    }

    #[test]
    fn bad_tags_and_paths_are_rejected() {
        let record = record();
        let mut bytes = record.encode_value();
        bytes[0] = 9;
        assert_eq!(
            ArtifactRecord::decode_value(record.block_hash, &bytes),
            Err(ArtifactDecodeError::UnknownVersion(9))
        );
        let mut bytes = record.encode_value();
        let role_at = 1 + 32 + 8 + 32 + 32 + 4;
        bytes[role_at] = 7;
        assert_eq!(
            ArtifactRecord::decode_value(record.block_hash, &bytes),
            Err(ArtifactDecodeError::UnknownRole(7))
        );
        let mut escaping = record.clone();
        escaping.files[0].path = "../../etc/passwd".into();
        assert!(matches!(
            ArtifactRecord::decode_value(record.block_hash, &escaping.encode_value()),
            Err(ArtifactDecodeError::InvalidPath(_))
        ));
    }

    #[test]
    fn only_plain_relative_paths_are_valid() {
        for good in ["a", "artifacts/trace-00.bin", "x/y/z.f32le"] {
            assert!(validate_relative_path(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a/./b",
            "a//b",
            "a/",
            "a\\b",
        ] {
            assert!(validate_relative_path(bad).is_err(), "{bad}");
        }
    }
}
