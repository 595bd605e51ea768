//! The training artifacts that a block's proof is checked against, fetched from peers by
//! content hash before the block is submitted, and served to peers after.

use ann_ledger::BlockHeader;
use ann_net::ArtifactKind;

/// An artifact, named by its content: a checkpoint by its weights hash, an audit proof by
/// the checkpoint root it opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ArtifactId {
    /// What it is.
    pub kind: ArtifactKind,
    /// Its hash.
    pub hash: [u8; 32],
}

/// Why bytes a peer sent are not the artifact asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArtifactRefused {
    /// The bytes do not hash to the id, or do not decode as the artifact kind.
    #[error("the bytes are not the artifact asked for: {0}")]
    Wrong(String),
    /// Storing failed (our disk, not the sender's fault).
    #[error("storing the artifact failed: {0}")]
    Store(String),
}

/// Where a node keeps artifacts, and what a header's verification needs of them.
pub trait Artifacts: Send + 'static {
    /// The artifacts that verifying `header` reads and that are not held here, in the order
    /// to fetch them. The list may grow once an earlier one is held (the audit proof names the
    /// checkpoints), so the node asks again after each one arrives; empty means ready.
    fn missing(&self, header: &BlockHeader) -> Vec<ArtifactId>;

    /// The bytes of an artifact held here, to serve a peer.
    fn get(&self, id: &ArtifactId) -> Option<Vec<u8>>;

    /// Keeps the bytes a peer sent for `header`.
    ///
    /// # Errors
    /// [`ArtifactRefused::Wrong`] if they are not the artifact `id` (the sender's fault), or
    /// [`ArtifactRefused::Store`] if keeping them failed.
    fn put(
        &self,
        header: &BlockHeader,
        id: &ArtifactId,
        bytes: &[u8],
    ) -> Result<(), ArtifactRefused>;
}

/// For proofs that read no artifacts (for example [`crate::regtest::TicketProof`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoArtifacts;

impl Artifacts for NoArtifacts {
    fn missing(&self, _: &BlockHeader) -> Vec<ArtifactId> {
        Vec::new()
    }

    fn get(&self, _: &ArtifactId) -> Option<Vec<u8>> {
        None
    }

    fn put(&self, _: &BlockHeader, _: &ArtifactId, _: &[u8]) -> Result<(), ArtifactRefused> {
        Err(ArtifactRefused::Wrong(
            "this chain's proofs read no artifacts".into(),
        ))
    }
}
