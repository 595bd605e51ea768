//! ML-DSA-65 (FIPS 204), the post-quantum input kind: keys, signatures, and the one way this
//! chain signs and verifies with them.
//!
//! * A public key is its 1,952-byte FIPS 204 encoding (`pkEncode`). Every byte string of that
//!   length decodes to a key and encodes back to itself, so the bytes are the key.
//! * A signature is its 3,309-byte encoding (`sigEncode`). [`MlDsa65Signature::from_bytes`]
//!   accepts only the bytes `sigDecode` accepts (hint indices strictly increasing with zero
//!   padding, `z` inside its bound) and that encode back to themselves: one encoding per
//!   signature, as `verify_strict` gives for ed25519.
//! * A transaction is signed with the **deterministic** variant of `ML-DSA.Sign` over its
//!   32-byte signing digest with the context string [`SIGNING_CONTEXT`]; verification is
//!   `ML-DSA.Verify` with the same context, done as FIPS 204 writes it: the message
//!   `M' = 0x00 || len(ctx) || ctx || digest` is passed to `ML-DSA.Verify_internal`
//!   ([`MlDsa65PublicKey::verify_internal`]), the function NIST's known-answer vectors test.
//! * A signing key is made from a 32-byte seed (`ML-DSA.KeyGen_internal`), which is all that a
//!   wallet keeps; it is zeroized on drop and redacted in `Debug`.
//!
//! The implementation underneath is RustCrypto's `ml-dsa`; this module pins the parameter
//! set, the encodings, the context and the strictness, so no caller can pick another.
//!
//! ```
//! use ann_ledger::{Address, MlDsa65Signature, MlDsa65SigningKey, MlDsaError, Wallet};
//!
//! let key = MlDsa65SigningKey::from_seed(&[7; 32]);
//! let digest = [1; 32]; // a transaction's `signing_digest()`
//! let signature = key.sign_digest(&digest);
//! assert!(key.public_key().verify_digest(&digest, &signature));
//!
//! // Bytes from a peer are checked for length and canonical encoding first.
//! let cut = &signature.as_bytes()[..3000];
//! assert!(matches!(MlDsa65Signature::from_bytes(cut), Err(MlDsaError::WrongLength { .. })));
//!
//! // A wallet whose coins are locked to the post-quantum key.
//! let wallet = Wallet::with_key(key.clone());
//! assert_eq!(wallet.address(), Address::from_ml_dsa_65_key(key.public_key()));
//! ```

use ml_dsa::{EncodedSignature, EncodedVerifyingKey, ExpandedSigningKey, MlDsa65, Signature};
use zeroize::Zeroizing;

/// Bytes of an ML-DSA-65 public key.
pub const ML_DSA_65_PUBLIC_KEY_SIZE: usize = 1952;
/// Bytes of an ML-DSA-65 signature.
pub const ML_DSA_65_SIGNATURE_SIZE: usize = 3309;
/// Bytes of an ML-DSA-65 seed, the whole secret of a signing key.
pub const ML_DSA_65_SEED_SIZE: usize = 32;
/// The FIPS 204 context string of every transaction signature: a signature made for this
/// chain is not a signature for any other protocol that signs the same 32 bytes.
pub const SIGNING_CONTEXT: &[u8] = b"blockchain-ann/tx/v1";

/// Why bytes are not an ML-DSA-65 key or signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MlDsaError {
    /// The bytes have the wrong length.
    #[error("an ML-DSA-65 {what} is {expected} bytes, got {found}")]
    WrongLength {
        /// Key or signature.
        what: &'static str,
        /// The fixed size.
        expected: usize,
        /// Bytes given.
        found: usize,
    },
    /// The signature bytes are not a FIPS 204 signature encoding.
    #[error(
        "malformed ML-DSA-65 signature encoding: hint indices not strictly increasing with zero padding, or z out of range"
    )]
    MalformedSignature,
}

/// An ML-DSA-65 public key: its 1,952-byte encoding.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MlDsa65PublicKey(Box<[u8; ML_DSA_65_PUBLIC_KEY_SIZE]>);

impl MlDsa65PublicKey {
    /// The key whose encoding is `bytes`.
    pub fn from_array(bytes: Box<[u8; ML_DSA_65_PUBLIC_KEY_SIZE]>) -> Self {
        MlDsa65PublicKey(bytes)
    }

    /// The key whose encoding is `bytes`.
    ///
    /// # Errors
    /// [`MlDsaError::WrongLength`] unless `bytes` has 1,952 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MlDsaError> {
        boxed_array(bytes, "public key").map(MlDsa65PublicKey)
    }

    /// The 1,952-byte encoding.
    pub fn as_bytes(&self) -> &[u8; ML_DSA_65_PUBLIC_KEY_SIZE] {
        &self.0
    }

    fn decode(&self) -> ml_dsa::VerifyingKey<MlDsa65> {
        let encoded = EncodedVerifyingKey::<MlDsa65>::from(*self.0);
        ml_dsa::VerifyingKey::decode(&encoded)
    }

    /// Whether `signature` is this key's signature of a transaction's signing digest:
    /// `ML-DSA.Verify(key, digest, signature, ctx = SIGNING_CONTEXT)`.
    pub fn verify_digest(&self, digest: &[u8; 32], signature: &MlDsa65Signature) -> bool {
        self.verify_internal(&external_message(digest), signature)
    }

    /// `ML-DSA.Verify_internal` (FIPS 204, Algorithm 8) of the formatted message `m_prime`.
    /// [`MlDsa65PublicKey::verify_digest`] is this with `m_prime = 0x00 || len(ctx) || ctx ||
    /// digest`; it is public so that NIST's known-answer vectors, which are written for the
    /// internal function, run through the code that consensus runs.
    pub fn verify_internal(&self, m_prime: &[u8], signature: &MlDsa65Signature) -> bool {
        match signature.decode() {
            Some(signature) => self.decode().verify_internal(m_prime, &signature),
            None => false,
        }
    }
}

impl std::fmt::Debug for MlDsa65PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MlDsa65PublicKey({}…)", hex::encode(&self.0[..8]))
    }
}

/// An ML-DSA-65 signature in its 3,309-byte encoding, checked to be canonical.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MlDsa65Signature(Box<[u8; ML_DSA_65_SIGNATURE_SIZE]>);

impl MlDsa65Signature {
    /// The signature whose encoding is `bytes`, if that is a canonical FIPS 204 encoding.
    ///
    /// # Errors
    /// [`MlDsaError::WrongLength`] unless `bytes` has 3,309 bytes;
    /// [`MlDsaError::MalformedSignature`] if `sigDecode` refuses them or they do not encode back
    /// to themselves.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MlDsaError> {
        let signature = MlDsa65Signature(boxed_array(bytes, "signature")?);
        match signature.decode() {
            Some(decoded) if decoded.encode().as_slice() == signature.0.as_slice() => Ok(signature),
            _ => Err(MlDsaError::MalformedSignature),
        }
    }

    /// The 3,309-byte encoding.
    pub fn as_bytes(&self) -> &[u8; ML_DSA_65_SIGNATURE_SIZE] {
        &self.0
    }

    fn decode(&self) -> Option<Signature<MlDsa65>> {
        Signature::decode(&EncodedSignature::<MlDsa65>::from(*self.0))
    }
}

impl std::fmt::Debug for MlDsa65Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MlDsa65Signature({}…)", hex::encode(&self.0[..8]))
    }
}

/// An ML-DSA-65 signing key, made from a 32-byte seed. The seed and the expanded key are
/// zeroized on drop; `Debug` shows only the public key.
#[derive(Clone)]
pub struct MlDsa65SigningKey {
    seed: Zeroizing<[u8; ML_DSA_65_SEED_SIZE]>,
    expanded: ExpandedSigningKey<MlDsa65>,
    public_key: MlDsa65PublicKey,
}

impl MlDsa65SigningKey {
    /// The key pair of `ML-DSA.KeyGen_internal(seed)` (FIPS 204, Algorithm 6).
    pub fn from_seed(seed: &[u8; ML_DSA_65_SEED_SIZE]) -> Self {
        let xi = Zeroizing::new(ml_dsa::Seed::from(*seed));
        let expanded = ExpandedSigningKey::<MlDsa65>::from_seed(&xi);
        let encoded = expanded.verifying_key().encode();
        let mut public = Box::new([0_u8; ML_DSA_65_PUBLIC_KEY_SIZE]);
        public.copy_from_slice(encoded.as_slice());
        MlDsa65SigningKey {
            seed: Zeroizing::new(*seed),
            expanded,
            public_key: MlDsa65PublicKey(public),
        }
    }

    /// The seed: the whole secret. Handle with care: never log or print it.
    pub fn seed(&self) -> &[u8; ML_DSA_65_SEED_SIZE] {
        &self.seed
    }

    /// The public key.
    pub fn public_key(&self) -> &MlDsa65PublicKey {
        &self.public_key
    }

    /// The deterministic `ML-DSA.Sign(key, digest, ctx = SIGNING_CONTEXT)` of a transaction's
    /// signing digest.
    pub fn sign_digest(&self, digest: &[u8; 32]) -> MlDsa65Signature {
        // The context is under 255 bytes, so the one error left is the rejection-sampling loop
        // running out: 13,107 tries, each accepted with probability about 1/5 (FIPS 204,
        // Table 1), so the chance is below 2^-4000.
        #[allow(clippy::expect_used)]
        let signature = self
            .expanded
            .sign_deterministic(digest, SIGNING_CONTEXT)
            .expect("ML-DSA rejection sampling cannot fail 13,107 times");
        let mut bytes = Box::new([0_u8; ML_DSA_65_SIGNATURE_SIZE]);
        bytes.copy_from_slice(signature.encode().as_slice());
        MlDsa65Signature(bytes)
    }
}

impl std::fmt::Debug for MlDsa65SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MlDsa65SigningKey")
            .field("public_key", &self.public_key)
            .field("seed", &"<redacted>")
            .finish()
    }
}

/// `bytes` as a boxed array of exactly `N` bytes, or [`MlDsaError::WrongLength`].
fn boxed_array<const N: usize>(
    bytes: &[u8],
    what: &'static str,
) -> Result<Box<[u8; N]>, MlDsaError> {
    <Box<[u8; N]>>::try_from(bytes.to_vec().into_boxed_slice()).map_err(|_| {
        MlDsaError::WrongLength {
            what,
            expected: N,
            found: bytes.len(),
        }
    })
}

/// FIPS 204's `M'` of the pure (not pre-hashed) variant: `0x00 || len(ctx) || ctx || message`.
fn external_message(digest: &[u8; 32]) -> Vec<u8> {
    let mut m_prime = Vec::with_capacity(2 + SIGNING_CONTEXT.len() + digest.len());
    m_prime.push(0);
    // A constant of 20 bytes: the cast cannot truncate.
    m_prime.push(SIGNING_CONTEXT.len() as u8);
    m_prime.extend_from_slice(SIGNING_CONTEXT);
    m_prime.extend_from_slice(digest);
    m_prime
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_under_its_key_digest_and_context_only() {
        let key = MlDsa65SigningKey::from_seed(&[7; 32]);
        let digest = [1_u8; 32];
        let signature = key.sign_digest(&digest);
        assert!(key.public_key().verify_digest(&digest, &signature));
        assert!(!key.public_key().verify_digest(&[2; 32], &signature));
        let other = MlDsa65SigningKey::from_seed(&[8; 32]);
        assert!(!other.public_key().verify_digest(&digest, &signature));

        // The same signature through the crate's external interface, with our context and
        // with another: our M' framing is FIPS 204's.
        let decoded = signature.decode().expect("canonical");
        let vk = key.public_key().decode();
        assert!(vk.verify_with_context(&digest, SIGNING_CONTEXT, &decoded));
        assert!(!vk.verify_with_context(&digest, b"", &decoded));

        // Deterministic: the same digest gives the same bytes.
        assert_eq!(key.sign_digest(&digest), signature);
    }

    #[test]
    fn wrong_lengths_and_non_canonical_encodings_are_refused() {
        let key = MlDsa65SigningKey::from_seed(&[3; 32]);
        let signature = key.sign_digest(&[9; 32]);
        let bytes = signature.as_bytes();
        assert_eq!(
            MlDsa65Signature::from_bytes(&bytes[..ML_DSA_65_SIGNATURE_SIZE - 1]),
            Err(MlDsaError::WrongLength {
                what: "signature",
                expected: ML_DSA_65_SIGNATURE_SIZE,
                found: ML_DSA_65_SIGNATURE_SIZE - 1
            })
        );
        assert_eq!(
            MlDsa65PublicKey::from_bytes(&[0; 32]),
            Err(MlDsaError::WrongLength {
                what: "public key",
                expected: ML_DSA_65_PUBLIC_KEY_SIZE,
                found: 32
            })
        );
        // The hint's last byte counts the hints of the last polynomial; a count above the
        // number of hint slots (55 for ML-DSA-65) or not non-decreasing is malformed.
        let mut bad = *bytes;
        bad[ML_DSA_65_SIGNATURE_SIZE - 1] = 0xff;
        assert_eq!(
            MlDsa65Signature::from_bytes(&bad),
            Err(MlDsaError::MalformedSignature)
        );
        // All zero: z = gamma1 everywhere, out of range.
        assert_eq!(
            MlDsa65Signature::from_bytes(&[0; ML_DSA_65_SIGNATURE_SIZE]),
            Err(MlDsaError::MalformedSignature)
        );
        assert_eq!(MlDsa65Signature::from_bytes(bytes), Ok(signature));
    }

    #[test]
    fn debug_shows_no_seed() {
        let key = MlDsa65SigningKey::from_seed(&[0xab; 32]);
        let text = format!("{key:?}");
        assert!(text.contains("<redacted>"));
        assert!(!text.contains("abababab"));
    }
}
