//! Addresses: the SHA-256 hash of a public key, with a checksummed text form.
//!
//! An ed25519 key's address is `SHA-256(key)`; an ML-DSA-65 key's is
//! `SHA-256("blockchain-ann/address/ml-dsa-65/v1" || key)`. The tag keeps the two kinds'
//! addresses apart (the keys' lengths differ too), so an output paid to an ML-DSA-65 address
//! can only be spent by revealing that ML-DSA-65 key: no ed25519 key hashes to it without a
//! SHA-256 preimage.
//!
//! Text form: `ann` followed by the 64 lowercase hex digits of the hash and 8 lowercase hex digits
//! of a checksum, the first 4 bytes of `SHA-256("blockchain-ann/address-checksum/v1" || hash)`.
//! A mistyped address therefore fails to parse instead of sending coins nowhere.

use ed25519_dalek::VerifyingKey;

use crate::hash::sha256;

/// Prefix of an address's text form.
pub const ADDRESS_PREFIX: &str = "ann";
const CHECKSUM_TAG: &[u8] = b"blockchain-ann/address-checksum/v1";
/// Domain tag of an ML-DSA-65 key's address.
pub const ML_DSA_65_ADDRESS_TAG: &[u8] = b"blockchain-ann/address/ml-dsa-65/v1";
const TEXT_LEN: usize = 3 + 64 + 8;

/// Why an address's text form was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// The text does not start with `ann`.
    #[error("an address starts with \"{ADDRESS_PREFIX}\"")]
    WrongPrefix,
    /// The text has the wrong length.
    #[error(
        "an address is {TEXT_LEN} characters (\"ann\", 64 hex digits of hash, 8 of checksum), got {0}"
    )]
    WrongLength(usize),
    /// Something other than lowercase hex digits follows the prefix.
    #[error("an address has only lowercase hex digits after its prefix")]
    NotLowercaseHex,
    /// The checksum does not match: the address was mistyped.
    #[error("address checksum mismatch: expected {expected}, found {found} (mistyped address?)")]
    BadChecksum {
        /// Checksum computed from the hash part.
        expected: String,
        /// Checksum written in the text.
        found: String,
    },
}

/// Where coins can be sent: the SHA-256 hash of the public key that may spend them.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address([u8; 32]);

impl Address {
    /// The address of `key`: `SHA-256(key bytes)`.
    pub fn from_verifying_key(key: &VerifyingKey) -> Self {
        Address(sha256(&[key.as_bytes()]))
    }

    /// The address of an ML-DSA-65 key: `SHA-256(ML_DSA_65_ADDRESS_TAG || key bytes)`.
    pub fn from_ml_dsa_65_key(key: &crate::pq::MlDsa65PublicKey) -> Self {
        Address(sha256(&[ML_DSA_65_ADDRESS_TAG, key.as_bytes()]))
    }

    /// Wraps a 32-byte key hash.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Address(bytes)
    }

    /// The 32-byte key hash.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn checksum(&self) -> [u8; 4] {
        let digest = sha256(&[CHECKSUM_TAG, &self.0]);
        [digest[0], digest[1], digest[2], digest[3]]
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{ADDRESS_PREFIX}{}{}",
            hex::encode(self.0),
            hex::encode(self.checksum())
        )
    }
}

impl std::fmt::Debug for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Address({self})")
    }
}

impl std::str::FromStr for Address {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = s
            .strip_prefix(ADDRESS_PREFIX)
            .ok_or(AddressError::WrongPrefix)?;
        if s.len() != TEXT_LEN {
            return Err(AddressError::WrongLength(s.len()));
        }
        if !rest
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(AddressError::NotLowercaseHex);
        }
        let mut hash = [0u8; 32];
        let mut found = [0u8; 4];
        hex::decode_to_slice(&rest[..64], &mut hash).map_err(|_| AddressError::NotLowercaseHex)?;
        hex::decode_to_slice(&rest[64..], &mut found).map_err(|_| AddressError::NotLowercaseHex)?;
        let address = Address(hash);
        let expected = address.checksum();
        if expected != found {
            return Err(AddressError::BadChecksum {
                expected: hex::encode(expected),
                found: hex::encode(found),
            });
        }
        Ok(address)
    }
}

impl serde::Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    #[test]
    fn text_round_trip_and_typo_detection() {
        let key = SigningKey::from_bytes(&[7u8; 32]).verifying_key();
        let address = Address::from_verifying_key(&key);
        let text = address.to_string();
        assert_eq!(text.len(), TEXT_LEN);
        assert_eq!(text.parse::<Address>(), Ok(address));

        // Change one hex digit of the hash part: the checksum catches it.
        let mut typo = text.clone().into_bytes();
        typo[10] = if typo[10] == b'0' { b'1' } else { b'0' };
        let typo = String::from_utf8(typo).expect("ascii");
        assert!(matches!(
            typo.parse::<Address>(),
            Err(AddressError::BadChecksum { .. })
        ));
        assert_eq!(text[1..].parse::<Address>(), Err(AddressError::WrongPrefix));
        assert_eq!(
            text[..TEXT_LEN - 1].parse::<Address>(),
            Err(AddressError::WrongLength(TEXT_LEN - 1))
        );
        assert_eq!(
            text.to_uppercase()
                .replacen("ANN", "ann", 1)
                .parse::<Address>(),
            Err(AddressError::NotLowercaseHex)
        );
    }
}
