//! A content-addressed store of training artifacts: checkpoints (canonical weights) named by
//! their [`ModelHash`], traces named by their Merkle root.
//!
//! Artifacts are untrusted data (they may come from the network or a shared disk). Loading
//! checks the file's size against the size the caller expects *before* reading it, then its
//! hash against its name, so a truncated, oversized or tampered file is a typed error and never
//! costs more than its expected size in memory.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use ann_ledger::CheckpointRoot;

use crate::model::{
    ModelHash, WEIGHTS_BYTES, Weights, WeightsDecodeError, WeightsRangeError, hash_weight_bytes,
};
use crate::trace::{AuditProof, MAX_OPENINGS, MAX_PATH, ProofDecodeError, Trace, TraceDecodeError};

/// Why an artifact could not be stored or loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArtifactError {
    /// The file does not exist.
    #[error("artifact {name} is missing from the store")]
    Missing {
        /// The artifact's file name.
        name: String,
    },
    /// The file is shorter than an artifact of its kind.
    #[error("artifact {name} is truncated: {found} bytes, expected {expected}")]
    Truncated {
        /// The artifact's file name.
        name: String,
        /// Bytes on disk.
        found: u64,
        /// Bytes required.
        expected: u64,
    },
    /// The file is longer than an artifact of its kind.
    #[error("artifact {name} is oversized: {found} bytes, expected {expected}")]
    Oversized {
        /// The artifact's file name.
        name: String,
        /// Bytes on disk.
        found: u64,
        /// Bytes required.
        expected: u64,
    },
    /// The content does not hash to the file's name.
    #[error("artifact {name} is tampered: its content hashes to {actual}")]
    Tampered {
        /// The artifact's file name.
        name: String,
        /// What the content hashes to.
        actual: String,
    },
    /// The content is not a valid trace.
    #[error("artifact {name} is not a valid trace: {source}")]
    MalformedTrace {
        /// The artifact's file name.
        name: String,
        /// What is wrong with it.
        source: TraceDecodeError,
    },
    /// The content is not a valid audit proof.
    #[error("artifact {name} is not a valid audit proof: {source}")]
    MalformedProof {
        /// The artifact's file name.
        name: String,
        /// What is wrong with it.
        source: ProofDecodeError,
    },
    /// The checkpoint holds a value no checkpoint may hold (outside `+-2^23`: among others
    /// any `f32` bit pattern of a fraction, an infinity or a NaN).
    #[error("artifact {name} holds an invalid master value: {source}")]
    InvalidWeights {
        /// The artifact's file name.
        name: String,
        /// The value and where it is.
        source: WeightsRangeError,
    },
    /// Reading or writing the file failed.
    #[error("artifact store I/O on {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// A directory of content-addressed artifacts.
#[derive(Clone, Debug)]
pub struct ArtifactStore {
    dir: PathBuf,
}

impl ArtifactStore {
    /// Opens (creating if needed) the store in `dir`.
    ///
    /// # Errors
    /// [`ArtifactError::Io`] if the directory cannot be created.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, ArtifactError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|source| ArtifactError::Io {
            path: dir.clone(),
            source,
        })?;
        Ok(Self { dir })
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// File name of a checkpoint: `checkpoint-<hash>.i32le`.
    pub fn checkpoint_name(hash: &ModelHash) -> String {
        format!("checkpoint-{hash}.i32le")
    }

    /// File name of a trace: `trace-<root>.bin`.
    pub fn trace_name(root: &CheckpointRoot) -> String {
        format!("trace-{root}.bin")
    }

    /// Path of a checkpoint's file (whether or not it exists).
    pub fn checkpoint_path(&self, hash: &ModelHash) -> PathBuf {
        self.dir.join(Self::checkpoint_name(hash))
    }

    /// File name of an audit proof: `proof-<root>.bin`, named by the trace root it opens.
    pub fn proof_name(root: &CheckpointRoot) -> String {
        format!("proof-{root}.bin")
    }

    /// Path of an audit proof's file (whether or not it exists).
    pub fn proof_path(&self, root: &CheckpointRoot) -> PathBuf {
        self.dir.join(Self::proof_name(root))
    }

    /// Path of a trace's file (whether or not it exists).
    pub fn trace_path(&self, root: &CheckpointRoot) -> PathBuf {
        self.dir.join(Self::trace_name(root))
    }

    /// Stores canonical weight bytes (already serialized) under their hash.
    ///
    /// # Errors
    /// [`ArtifactError::Io`] if writing fails.
    pub fn put_checkpoint_bytes(&self, bytes: &[u8]) -> Result<ModelHash, ArtifactError> {
        let hash = hash_weight_bytes(bytes);
        self.write(&Self::checkpoint_name(&hash), bytes)?;
        Ok(hash)
    }

    /// Stores weights under their hash.
    ///
    /// # Errors
    /// [`ArtifactError::Io`] if writing fails.
    pub fn put_checkpoint(&self, weights: &Weights) -> Result<ModelHash, ArtifactError> {
        self.put_checkpoint_bytes(&weights.to_bytes())
    }

    /// Loads the checkpoint named `hash`: size first, then hash.
    ///
    /// # Errors
    /// [`ArtifactError`]: missing, truncated, oversized, tampered, holding a value out of
    /// range, or unreadable.
    pub fn get_checkpoint(&self, hash: &ModelHash) -> Result<Weights, ArtifactError> {
        let name = Self::checkpoint_name(hash);
        let bytes = self.read_exact_size(&name, WEIGHTS_BYTES as u64)?;
        let actual = hash_weight_bytes(&bytes);
        if actual != *hash {
            return Err(ArtifactError::Tampered {
                name,
                actual: actual.to_string(),
            });
        }
        Weights::from_bytes(&bytes).map_err(|e| match e {
            WeightsDecodeError::Range(source) => ArtifactError::InvalidWeights { name, source },
            // The length was checked above; mapped rather than trusted with a panic.
            WeightsDecodeError::Length(found) => ArtifactError::Truncated {
                name,
                found: found as u64,
                expected: WEIGHTS_BYTES as u64,
            },
        })
    }

    /// Stores a trace under its Merkle root.
    ///
    /// # Errors
    /// [`ArtifactError::Io`] if writing fails.
    pub fn put_trace(&self, trace: &Trace) -> Result<CheckpointRoot, ArtifactError> {
        let root = trace.root();
        self.write(&Self::trace_name(&root), &trace.to_bytes())?;
        Ok(root)
    }

    /// Loads the trace named `root`, which must hold exactly `checkpoints` hashes: size first
    /// (`8 + 32 * checkpoints`), then format, then Merkle root.
    ///
    /// # Errors
    /// [`ArtifactError`]: missing, truncated, oversized, malformed, tampered, or unreadable.
    pub fn get_trace(
        &self,
        root: &CheckpointRoot,
        checkpoints: u64,
    ) -> Result<Trace, ArtifactError> {
        let name = Self::trace_name(root);
        let expected = checkpoints.saturating_mul(32).saturating_add(8);
        let bytes = self.read_exact_size(&name, expected)?;
        let trace = Trace::from_bytes(&bytes).map_err(|source| ArtifactError::MalformedTrace {
            name: name.clone(),
            source,
        })?;
        let actual = trace.root();
        if actual != *root {
            return Err(ArtifactError::Tampered {
                name,
                actual: actual.to_string(),
            });
        }
        Ok(trace)
    }

    /// Stores the audit proof of the trace with root `root`.
    ///
    /// # Errors
    /// [`ArtifactError::Io`] if writing fails.
    pub fn put_proof(
        &self,
        root: &CheckpointRoot,
        proof: &AuditProof,
    ) -> Result<(), ArtifactError> {
        self.write(&Self::proof_name(root), &proof.to_bytes())
    }

    /// Loads the audit proof stored for `root`, reading at most the largest proof there can be.
    /// Whether its openings prove `root` is the verifier's check, not the store's.
    ///
    /// # Errors
    /// [`ArtifactError`]: missing, oversized, malformed, or unreadable.
    pub fn get_proof(&self, root: &CheckpointRoot) -> Result<AuditProof, ArtifactError> {
        let name = Self::proof_name(root);
        let max = (4 + MAX_OPENINGS * (8 + 32 + 1 + 32 * MAX_PATH)) as u64;
        let path = self.dir.join(&name);
        let file = self.open_artifact(&name)?;
        let mut bytes = Vec::new();
        file.take(max + 1)
            .read_to_end(&mut bytes)
            .map_err(|source| ArtifactError::Io { path, source })?;
        if bytes.len() as u64 > max {
            return Err(ArtifactError::Oversized {
                name,
                found: bytes.len() as u64,
                expected: max,
            });
        }
        AuditProof::from_bytes(&bytes)
            .map_err(|source| ArtifactError::MalformedProof { name, source })
    }

    /// Opens the artifact file `name`: missing is [`ArtifactError::Missing`].
    fn open_artifact(&self, name: &str) -> Result<fs::File, ArtifactError> {
        let path = self.dir.join(name);
        match fs::File::open(&path) {
            Ok(file) => Ok(file),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(ArtifactError::Missing { name: name.into() })
            }
            Err(source) => Err(ArtifactError::Io { path, source }),
        }
    }

    fn read_exact_size(&self, name: &str, expected: u64) -> Result<Vec<u8>, ArtifactError> {
        let path = self.dir.join(name);
        let io = |source| ArtifactError::Io {
            path: path.clone(),
            source,
        };
        let file = self.open_artifact(name)?;
        let found = file.metadata().map_err(io)?.len();
        if found < expected {
            return Err(ArtifactError::Truncated {
                name: name.into(),
                found,
                expected,
            });
        }
        if found > expected {
            return Err(ArtifactError::Oversized {
                name: name.into(),
                found,
                expected,
            });
        }
        // Read at most one byte more than expected: the file may change under us, and the
        // size check above must bound the allocation either way.
        let capacity = usize::try_from(expected).map_err(|_| ArtifactError::Oversized {
            name: name.into(),
            found,
            expected,
        })?;
        let mut bytes = Vec::with_capacity(capacity);
        file.take(expected + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        let read = bytes.len() as u64;
        if read < expected {
            return Err(ArtifactError::Truncated {
                name: name.into(),
                found: read,
                expected,
            });
        }
        if read > expected {
            return Err(ArtifactError::Oversized {
                name: name.into(),
                found: read,
                expected,
            });
        }
        Ok(bytes)
    }

    /// Writes through a temporary file and a rename, so a crash never leaves a partial file
    /// under a content address. No fsync: a file lost in a crash is detected on load (missing
    /// or failing its hash) and can be regenerated, so durability is not worth its cost here.
    fn write(&self, name: &str, bytes: &[u8]) -> Result<(), ArtifactError> {
        let path = self.dir.join(name);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let io = |source| ArtifactError::Io {
            path: path.clone(),
            source,
        };
        let mut file = fs::File::create(&tmp).map_err(io)?;
        file.write_all(bytes).map_err(io)?;
        drop(file);
        fs::rename(&tmp, &path).map_err(io)?;
        Ok(())
    }
}
