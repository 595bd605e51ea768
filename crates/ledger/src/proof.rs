//! The seam through which the ledger checks a proof of training without knowing how.

use crate::block::BlockHeader;

/// Checks a header's proof of training. `ann-mining` implements it.
///
/// The chain calls [`ProofVerifier::precheck`] right after the header's own checks (before
/// any transaction or signature is looked at) and [`ProofVerifier::verify_proof`] only after
/// every other check passed, so an invalid block never costs tensor work and a bogus proof
/// never costs signature checks.
pub trait ProofVerifier {
    /// Why a proof was rejected.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The checks that need no tensor work (the commitment's fields, the artifacts' presence
    /// and Merkle openings). The default accepts everything.
    fn precheck(&self, header: &BlockHeader) -> Result<(), Self::Error> {
        let _ = header;
        Ok(())
    }

    /// Accepts the header's training commitment, or says why not.
    fn verify_proof(&self, header: &BlockHeader) -> Result<(), Self::Error>;
}

impl<V: ProofVerifier + ?Sized> ProofVerifier for &V {
    type Error = V::Error;
    fn precheck(&self, header: &BlockHeader) -> Result<(), Self::Error> {
        (**self).precheck(header)
    }
    fn verify_proof(&self, header: &BlockHeader) -> Result<(), Self::Error> {
        (**self).verify_proof(header)
    }
}
