//! SHA-256 digests and the distinct newtypes that wrap them.
//!
//! Each kind of hash gets its own type so that a [`Txid`] can never be passed where a
//! [`BlockHash`] is expected. All of them display and parse as 64 lowercase hex digits and
//! serialize to JSON as that string.

use sha2::{Digest, Sha256};

/// Computes SHA-256 over the concatenation of `parts`.
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// Why a hash's text form could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HashParseError {
    /// The text does not have exactly 64 characters.
    #[error("a hash is 64 lowercase hex digits, got {0} characters")]
    WrongLength(usize),
    /// The text contains something other than lowercase hex digits.
    #[error("a hash is 64 lowercase hex digits, found a non-hex or uppercase character")]
    NotLowercaseHex,
}

/// Parses 64 lowercase hex digits into 32 bytes (the only canonical text form).
pub(crate) fn parse_hex32(s: &str) -> Result<[u8; 32], HashParseError> {
    if s.len() != 64 {
        return Err(HashParseError::WrongLength(s.len()));
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(HashParseError::NotLowercaseHex);
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).map_err(|_| HashParseError::NotLowercaseHex)?;
    Ok(out)
}

macro_rules! hash_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name([u8; 32]);

        impl $name {
            /// The all-zero value (used as "no parent" by the genesis block).
            pub const ZERO: Self = Self([0u8; 32]);

            /// Wraps 32 raw bytes.
            pub const fn from_bytes(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }

            /// The raw 32 bytes.
            pub const fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }

            /// The raw 32 bytes, by value.
            pub const fn to_bytes(self) -> [u8; 32] {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }

        impl std::str::FromStr for $name {
            type Err = HashParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_hex32(s).map(Self)
            }
        }

        #[cfg(feature = "serde")]
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        #[cfg(feature = "serde")]
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

hash_newtype!(
    /// Transaction id: SHA-256 of the transaction's complete canonical encoding.
    Txid
);
hash_newtype!(
    /// Block hash: SHA-256 of the block header's canonical encoding.
    BlockHash
);
hash_newtype!(
    /// Root of the Merkle tree of a block's transaction ids (see [`crate::merkle`]).
    MerkleRoot
);
hash_newtype!(
    /// Identity of a proof-of-training task (dataset, architecture, optimizer, ...), defined by `ann-mining`.
    TaskId
);
hash_newtype!(
    /// Merkle root of the checkpoint hashes of a training run, defined by `ann-mining`.
    CheckpointRoot
);
hash_newtype!(
    /// Hash of a model's weights in canonical bytes (a checkpoint's identity; a block commits
    /// its final model's), defined by `ann-mining`.
    ModelHash
);
hash_newtype!(
    /// Identity of a training data set (SHA-256 of its canonical bytes), defined by
    /// `ann-mining`.
    DatasetHash
);
hash_newtype!(
    /// A checkpoint's lottery ticket (see [`crate::BlockHeader::ticket`]); it wins when,
    /// read as a big-endian number, it is below the block's work target.
    Ticket
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_rejections() {
        let h = Txid::from_bytes([0xab; 32]);
        let text = h.to_string();
        assert_eq!(text, "ab".repeat(32));
        assert_eq!(text.parse::<Txid>(), Ok(h));
        assert_eq!("ab".parse::<Txid>(), Err(HashParseError::WrongLength(2)));
        assert_eq!(
            "AB".repeat(32).parse::<Txid>(),
            Err(HashParseError::NotLowercaseHex)
        );
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serde_uses_the_hex_text() {
        let h = Txid::from_bytes([0xab; 32]);
        let json = serde_json::to_string(&h).expect("serialize");
        assert_eq!(json, format!("\"{h}\""));
        assert_eq!(serde_json::from_str::<Txid>(&json).expect("deserialize"), h);
        let upper = format!("\"{}\"", "AB".repeat(32));
        assert!(serde_json::from_str::<Txid>(&upper).is_err());
    }
}
