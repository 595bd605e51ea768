//! Addresses: the SHA-256 hash of a public key, with a checksummed text form.
//!
//! An ed25519 key's address is `SHA-256(key)`; an ML-DSA-65 key's is
//! `SHA-256("blockchain-ann/address/ml-dsa-65/v1" || key)`. The tag keeps the two kinds'
//! addresses apart (the keys' lengths differ too), so an output paid to an ML-DSA-65 address
//! can only be spent by revealing that ML-DSA-65 key: no ed25519 key hashes to it without a
//! SHA-256 preimage.
//!
//! Text form: bech32m (BIP 350) with the human-readable part `ann`, the 32 bytes of the hash as
//! its data: `ann1` and 58 characters, 62 in all, lowercase (the all-uppercase form is read
//! too, for QR codes). Its checksum detects any error in up to four characters, so a mistyped
//! address fails to parse instead of sending coins nowhere. The consensus form is the raw 32
//! bytes: outputs hold those, never the text.
//!
//! ```
//! use ann_ledger::{Address, AddressError};
//!
//! let address = Address::from_bytes([7; 32]);
//! let text = address.to_string();
//! assert!(text.starts_with("ann1") && text.len() == 62);
//! assert_eq!(text.parse::<Address>(), Ok(address));
//! assert_eq!(text.to_uppercase().parse::<Address>(), Ok(address));
//! // One character changed: refused.
//! let typo = text.replacen("ann1q", "ann1p", 1);
//! assert!(matches!(typo.parse::<Address>(), Err(AddressError::BadChecksum)));
//! ```
//!
//! Before bech32m, the text form was `ann`, 64 hex digits of the hash and 8 of a checksum
//! (`SHA-256("blockchain-ann/address-checksum/v1" || hash)`, first 4 bytes). That form is
//! refused by `FromStr` with [`AddressError::LegacyHexForm`], which names the bech32m form of
//! the same address; [`Address::from_legacy_text`] reads it where old files must stay
//! readable (wallet files written before).

use ed25519_dalek::VerifyingKey;

use crate::hash::sha256;

/// The human-readable part of an address's bech32m text form (the text starts `ann1`).
pub const ADDRESS_PREFIX: &str = "ann";
const HRP: bech32::Hrp = bech32::Hrp::parse_unchecked(ADDRESS_PREFIX);
/// Characters in an address's text form: `ann`, the separator `1`, 52 characters of data (256
/// bits) and 6 of checksum.
pub const ADDRESS_TEXT_LEN: usize = 62;
const LEGACY_CHECKSUM_TAG: &[u8] = b"blockchain-ann/address-checksum/v1";
const LEGACY_TEXT_LEN: usize = 3 + 64 + 8;
/// Domain tag of an ML-DSA-65 key's address.
pub const ML_DSA_65_ADDRESS_TAG: &[u8] = b"blockchain-ann/address/ml-dsa-65/v1";

/// Why an address's text form was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// The text is not bech32m at all: no `1` separator, a character outside the bech32
    /// alphabet, or mixed case. Holds bech32's reason.
    #[error("an address is bech32m text starting with \"ann1\": {0}")]
    NotBech32(String),
    /// The human-readable part is not `ann`: an address of another chain.
    #[error("an address starts with \"ann1\", this one with {0:?} (another network's address?)")]
    WrongPrefix(String),
    /// The bech32m data is not 32 bytes.
    #[error(
        "an address is 32 bytes ({ADDRESS_TEXT_LEN} characters of text), this one is {0} bytes"
    )]
    WrongLength(usize),
    /// The checksum does not match: the address was mistyped (or is bech32, not bech32m).
    #[error("address checksum mismatch: the address was mistyped")]
    BadChecksum,
    /// The data's unused bits are not zero: not the one text of these 32 bytes.
    #[error("address text is not canonical: its last character's unused bits are not zero")]
    NonCanonical,
    /// The hex text form of before bech32m. Holds the address if its old checksum is right.
    #[error("{}", legacy_message(.0))]
    LegacyHexForm(Option<Address>),
}

fn legacy_message(address: &Option<Address>) -> String {
    match address {
        Some(address) => format!(
            "this is an address in the old hex form, no longer accepted; the same address in \
             bech32m is {address}"
        ),
        None => "this is an address in the old hex form, no longer accepted (and its checksum \
                 is wrong too: mistyped)"
            .to_owned(),
    }
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

    /// Reads the hex text form of before bech32m (`ann`, 64 hex digits of hash, 8 of
    /// checksum), for files written then; `FromStr` refuses it. Never written any more.
    ///
    /// # Errors
    /// [`AddressError::LegacyHexForm`] with `None` if it is not that form or its checksum is
    /// wrong.
    pub fn from_legacy_text(text: &str) -> Result<Self, AddressError> {
        legacy_form(text)
            .flatten()
            .ok_or(AddressError::LegacyHexForm(None))
    }

    fn legacy_checksum(&self) -> [u8; 4] {
        let digest = sha256(&[LEGACY_CHECKSUM_TAG, &self.0]);
        [digest[0], digest[1], digest[2], digest[3]]
    }
}

/// For a text in the legacy hex form, its address if the checksum is right (`Some(None)` if
/// it is wrong); `None` for a text of another shape.
fn legacy_form(text: &str) -> Option<Option<Address>> {
    let rest = text.strip_prefix(ADDRESS_PREFIX)?;
    if text.len() != LEGACY_TEXT_LEN
        || !rest
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let mut hash = [0u8; 32];
    let mut checksum = [0u8; 4];
    hex::decode_to_slice(&rest[..64], &mut hash).ok()?;
    hex::decode_to_slice(&rest[64..], &mut checksum).ok()?;
    let address = Address(hash);
    Some((address.legacy_checksum() == checksum).then_some(address))
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // 32 bytes are far below bech32's length limit: encoding cannot fail.
        bech32::encode_lower_to_fmt::<bech32::Bech32m, _>(f, HRP, &self.0)
            .map_err(|_| std::fmt::Error)
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
        use bech32::primitives::decode::{
            CheckedHrpstring, CheckedHrpstringError, UncheckedHrpstringError,
        };
        if let Some(address) = legacy_form(s) {
            return Err(AddressError::LegacyHexForm(address));
        }
        let checked = CheckedHrpstring::new::<bech32::Bech32m>(s).map_err(|e| match e {
            CheckedHrpstringError::Checksum(_) => AddressError::BadChecksum,
            CheckedHrpstringError::Parse(UncheckedHrpstringError::Char(e)) => {
                AddressError::NotBech32(e.to_string())
            }
            CheckedHrpstringError::Parse(e) => AddressError::NotBech32(e.to_string()),
            // A later version of bech32 may add cases; each is a text that is not an address.
            #[allow(unreachable_patterns)]
            e => AddressError::NotBech32(e.to_string()),
        })?;
        if checked.hrp() != HRP {
            return Err(AddressError::WrongPrefix(checked.hrp().to_string()));
        }
        let mut bytes = [0u8; 32];
        let mut count = 0;
        for byte in checked.byte_iter() {
            if let Some(slot) = bytes.get_mut(count) {
                *slot = byte;
            }
            count += 1;
        }
        if count != bytes.len() {
            return Err(AddressError::WrongLength(count));
        }
        let address = Address(bytes);
        // 52 characters carry 260 bits: the last 4 must be zero, or two texts would name the
        // same address.
        if !address.to_string().eq_ignore_ascii_case(s) {
            return Err(AddressError::NonCanonical);
        }
        Ok(address)
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(feature = "serde")]
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

    fn address() -> Address {
        Address::from_verifying_key(&SigningKey::from_bytes(&[7u8; 32]).verifying_key())
    }

    /// The text form of before bech32m, as it was written.
    fn legacy_text(address: &Address) -> String {
        format!(
            "{ADDRESS_PREFIX}{}{}",
            hex::encode(address.0),
            hex::encode(address.legacy_checksum())
        )
    }

    #[test]
    fn text_round_trip_in_either_case() {
        let address = address();
        let text = address.to_string();
        assert_eq!(text.len(), ADDRESS_TEXT_LEN);
        assert!(text.starts_with("ann1"), "{text}");
        assert_eq!(text.parse::<Address>(), Ok(address));
        assert_eq!(text.to_uppercase().parse::<Address>(), Ok(address));
        let mixed = format!("ANN1{}", &text[4..]);
        assert!(matches!(
            mixed.parse::<Address>(),
            Err(AddressError::NotBech32(_))
        ));
    }

    #[test]
    fn every_single_character_typo_is_caught() {
        const CHARSET: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
        let text = address().to_string();
        for i in 4..text.len() {
            for &c in CHARSET {
                if c == text.as_bytes()[i] {
                    continue;
                }
                let mut typo = text.clone().into_bytes();
                typo[i] = c;
                let typo = String::from_utf8(typo).expect("ascii");
                assert_eq!(
                    typo.parse::<Address>(),
                    Err(AddressError::BadChecksum),
                    "{typo}"
                );
            }
        }
    }

    #[test]
    fn other_texts_are_refused_with_their_reason() {
        let address = address();
        let text = address.to_string();
        let hrp = |h: &str| bech32::Hrp::parse(h).expect("hrp");
        let other = bech32::encode::<bech32::Bech32m>(hrp("bc"), address.as_bytes()).expect("bc");
        assert_eq!(
            other.parse::<Address>(),
            Err(AddressError::WrongPrefix("bc".into()))
        );
        let short = bech32::encode::<bech32::Bech32m>(HRP, &address.as_bytes()[..31]).expect("31");
        assert_eq!(short.parse::<Address>(), Err(AddressError::WrongLength(31)));
        let long = bech32::encode::<bech32::Bech32m>(HRP, &[1; 33]).expect("33");
        assert_eq!(long.parse::<Address>(), Err(AddressError::WrongLength(33)));
        // The same data with bech32's (not bech32m's) checksum.
        let bech32 = bech32::encode::<bech32::Bech32>(HRP, address.as_bytes()).expect("bech32");
        assert_eq!(bech32.parse::<Address>(), Err(AddressError::BadChecksum));
        assert!(matches!(
            text.replace('1', "").parse::<Address>(),
            Err(AddressError::NotBech32(_))
        ));
        assert!(matches!(
            format!("{text}b").parse::<Address>(),
            Err(AddressError::BadChecksum | AddressError::NotBech32(_))
        ));
        assert!(matches!(
            "".parse::<Address>(),
            Err(AddressError::NotBech32(_))
        ));
    }

    #[test]
    fn nonzero_padding_bits_are_not_a_second_text_of_the_address() {
        use bech32::{ByteIterExt, Fe32, Fe32IterExt};
        let address = address();
        // The 52 data characters with the last one's 4 unused bits set, and a valid checksum.
        let mut fes: Vec<Fe32> = address.as_bytes().iter().copied().bytes_to_fes().collect();
        let last = fes.len() - 1;
        fes[last] = Fe32::try_from(fes[last].to_u8() | 0x0f).expect("5 bits");
        let text: String = fes
            .into_iter()
            .with_checksum::<bech32::Bech32m>(&HRP)
            .chars()
            .collect();
        assert_ne!(text, address.to_string());
        assert_eq!(text.parse::<Address>(), Err(AddressError::NonCanonical));
    }

    #[test]
    fn the_legacy_hex_form_is_refused_naming_the_new_one_and_read_where_asked() {
        let address = address();
        let legacy = legacy_text(&address);
        assert_eq!(legacy.len(), LEGACY_TEXT_LEN);
        let err = legacy.parse::<Address>().expect_err("legacy form");
        assert_eq!(err, AddressError::LegacyHexForm(Some(address)));
        assert!(err.to_string().contains(&address.to_string()), "{err}");
        assert_eq!(Address::from_legacy_text(&legacy), Ok(address));

        let mut typo = legacy.clone().into_bytes();
        typo[10] = if typo[10] == b'0' { b'1' } else { b'0' };
        let typo = String::from_utf8(typo).expect("ascii");
        assert_eq!(
            typo.parse::<Address>(),
            Err(AddressError::LegacyHexForm(None))
        );
        assert_eq!(
            Address::from_legacy_text(&typo),
            Err(AddressError::LegacyHexForm(None))
        );
        assert_eq!(
            Address::from_legacy_text(&address.to_string()),
            Err(AddressError::LegacyHexForm(None))
        );
    }
}
