//! The seam through which the ledger checks a proof of training without knowing how.

use crate::block::BlockHeader;

/// Checks a header's proof of training. `ann-mining` implements it.
///
/// The chain calls it only after every cheap header and transaction check passed, so an
/// invalid block never costs tensor work.
pub trait ProofVerifier {
    /// Why a proof was rejected.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Accepts the header's training commitment, or says why not.
    fn verify_proof(&self, header: &BlockHeader) -> Result<(), Self::Error>;
}

impl<V: ProofVerifier + ?Sized> ProofVerifier for &V {
    type Error = V::Error;
    fn verify_proof(&self, header: &BlockHeader) -> Result<(), Self::Error> {
        (**self).verify_proof(header)
    }
}
