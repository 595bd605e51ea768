//! One error type per operation ([`OpenError`], [`CommitError`], [`LoadError`],
//! [`ArtifactRecordError`]), all converting into the umbrella [`StoreError`].

use std::path::PathBuf;

use ann_ledger::{BlockHash, DecodeError};

use crate::artifact::ArtifactDecodeError;

/// Why a store directory could not be opened or created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// A file system operation failed.
    #[error("store I/O on {path}: {source}")]
    Io {
        /// The path operated on.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The path exists and is not a directory.
    #[error("{path} is not a directory (a store is a directory holding {file})", file = crate::schema::DATABASE_FILE)]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },
    /// The directory has no store database but holds other files, so it is not a store and a
    /// new one is not created over them.
    #[error("{path} is not a store: it has no {file} but holds {entry:?} (a new store is only created in an empty directory)", file = crate::schema::DATABASE_FILE)]
    NotAStore {
        /// The directory.
        path: PathBuf,
        /// One of the entries found.
        entry: String,
    },
    /// The database file is not a redb database at all.
    #[error("{path} is not a redb database: {source}")]
    NotRedb {
        /// The database file.
        path: PathBuf,
        /// What redb reported.
        #[source]
        source: redb::DatabaseError,
    },
    /// The database file is damaged (checksums or structure fail redb's integrity check).
    #[error("{path} is corrupt: {source}")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What redb reported.
        #[source]
        source: redb::DatabaseError,
    },
    /// The redb file format is older than this redb reads.
    #[error(
        "{path} uses redb file format {found}, which this version cannot open without an upgrade"
    )]
    RedbUpgradeRequired {
        /// The database file.
        path: PathBuf,
        /// The file format found.
        found: u8,
    },
    /// Another process or handle has the store open.
    #[error("{path} is already open (only one writer may hold a store)")]
    AlreadyOpen {
        /// The database file.
        path: PathBuf,
    },
    /// A valid redb database that is not a blockchain-ann store (no or wrong format marker).
    #[error("{path} is a redb database but not a blockchain-ann store: {reason}")]
    Foreign {
        /// The database file.
        path: PathBuf,
        /// What is missing or different.
        reason: String,
    },
    /// The store was written by a newer version of `ann-store`.
    #[error("{path} has store schema version {found}; this version reads only up to {supported}")]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// Schema version in the file.
        found: u32,
        /// Newest schema this version reads.
        supported: u32,
    },
    /// The store's schema version is not one this version can read (older and without a
    /// migration, or invalid).
    #[error(
        "{path} has store schema version {found}, which this version cannot read (it reads {supported})"
    )]
    UnsupportedSchema {
        /// The database file.
        path: PathBuf,
        /// Schema version in the file.
        found: u32,
        /// The schema this version reads.
        supported: u32,
    },
    /// Any other database failure.
    #[error("store database {path}: {source}")]
    Database {
        /// The database file.
        path: PathBuf,
        /// What redb reported.
        #[source]
        source: redb::Error,
    },
}

/// Why a change-set (or an artifact record) could not be committed; nothing of it was written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommitError {
    /// The database failed; the transaction was not committed.
    #[error("store commit failed: {0}")]
    Database(#[from] redb::Error),
    /// The change-set refers to a block the store does not hold.
    #[error("change-set refers to unknown block {0} (a change-set may only update stored blocks)")]
    UnknownBlock(BlockHash),
    /// The artifact record given with a block is another block's.
    #[error("the artifact record of block {record} was given with block {block}")]
    RecordOfAnotherBlock {
        /// The block the record describes.
        record: BlockHash,
        /// The block being committed.
        block: BlockHash,
    },
    /// The change-set's best-chain entries do not end at its tip.
    #[error("change-set's best chain does not end at its tip {0}")]
    BestChainMismatch(BlockHash),
    /// A stored record needed for the commit does not decode.
    #[error("stored record needed for the commit is unreadable: {0}")]
    Load(#[from] Box<LoadError>),
}

/// Why the stored chain could not be read back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The database failed.
    #[error("store read failed: {0}")]
    Database(#[from] redb::Error),
    /// A stored value does not decode as its canonical encoding.
    #[error("record {key} of table {table} does not decode: {source}")]
    Decode {
        /// The table.
        table: &'static str,
        /// The record's key, as hex.
        key: String,
        /// The decoding rule it broke.
        #[source]
        source: DecodeError,
    },
    /// A stored artifact record does not decode.
    #[error("artifact record of block {block} does not decode: {source}")]
    ArtifactDecode {
        /// The block.
        block: BlockHash,
        /// What is wrong.
        #[source]
        source: ArtifactDecodeError,
    },
    /// A block is stored under a key that is not its hash.
    #[error("block stored under {key} hashes to {actual} (a block's key must be its hash)")]
    HashMismatch {
        /// The key.
        key: BlockHash,
        /// The block's real hash.
        actual: BlockHash,
    },
    /// A record that must exist is missing.
    #[error("store is inconsistent: {0}")]
    Inconsistent(String),
}

/// Why artifact files could not be described or recorded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArtifactRecordError {
    /// The path is not a plain relative path inside the store directory.
    #[error("artifact path {path:?} is invalid: {reason}")]
    InvalidPath {
        /// The path given.
        path: PathBuf,
        /// Which rule it broke.
        reason: &'static str,
    },
    /// The file cannot be read (missing, or not a regular file).
    #[error("artifact file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file exists but is not a regular file.
    #[error("artifact {path} is not a regular file")]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// The file's size differs from the recorded one.
    #[error("artifact {path} has {found} bytes, the record says {expected}")]
    SizeMismatch {
        /// The file.
        path: PathBuf,
        /// Size recorded.
        expected: u64,
        /// Size on disk.
        found: u64,
    },
    /// A record lists more files than a record may hold.
    #[error("an artifact record lists {0} files, more than the cap of {max}", max = crate::artifact::MAX_ARTIFACT_FILES)]
    TooManyFiles(usize),
    /// Artifacts were recorded for a block the store does not hold.
    #[error("cannot record artifacts of block {0}: the store does not hold it")]
    UnknownBlock(BlockHash),
}

/// Any failure of the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Opening failed.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// A commit failed.
    #[error(transparent)]
    Commit(#[from] CommitError),
    /// Reading back failed.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Describing or recording artifacts failed.
    #[error(transparent)]
    Artifact(#[from] ArtifactRecordError),
}

impl From<LoadError> for CommitError {
    fn from(error: LoadError) -> Self {
        CommitError::Load(Box::new(error))
    }
}

/// Converts any redb error type into [`redb::Error`].
pub(crate) fn dbe<E: Into<redb::Error>>(error: E) -> redb::Error {
    error.into()
}
