//! Amounts of coin, in integer base units, with checked arithmetic only.

/// Base units in one coin.
pub const COIN: u64 = 100_000_000;

/// No amount, and no sum of amounts that consensus accepts, may exceed this (21 million coins).
pub const MAX_SUPPLY: u64 = 21_000_000 * COIN;

/// Why an amount could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AmountError {
    /// The value is larger than [`MAX_SUPPLY`].
    #[error("amount of {0} base units exceeds the maximum supply of {MAX_SUPPLY} base units")]
    AboveMaxSupply(u64),
    /// `coins * COIN` does not fit.
    #[error("{0} coins exceeds the maximum supply")]
    TooManyCoins(u64),
}

/// Why the text form of an amount was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseAmountError {
    /// Not a decimal number of coins with at most 8 decimals.
    #[error("{0:?} is not an amount: expected coins with at most 8 decimals, e.g. \"2.5\"")]
    Malformed(String),
    /// A well-formed number above the maximum supply.
    #[error(transparent)]
    OutOfRange(#[from] AmountError),
}

/// A non-negative quantity of coin, at most [`MAX_SUPPLY`] base units.
///
/// Built only through checked constructors; arithmetic returns `Option`, so an overflow or a
/// result above the maximum supply can never go unnoticed.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct Amount(u64);

impl Amount {
    /// Zero.
    pub const ZERO: Amount = Amount(0);
    /// One coin.
    pub const ONE_COIN: Amount = Amount(COIN);
    /// The largest amount.
    pub const MAX: Amount = Amount(MAX_SUPPLY);

    /// Builds an amount from base units.
    pub const fn from_base_units(units: u64) -> Result<Amount, AmountError> {
        if units > MAX_SUPPLY {
            Err(AmountError::AboveMaxSupply(units))
        } else {
            Ok(Amount(units))
        }
    }

    /// Builds an amount of whole coins.
    pub const fn from_coins(coins: u64) -> Result<Amount, AmountError> {
        match coins.checked_mul(COIN) {
            Some(units) if units <= MAX_SUPPLY => Ok(Amount(units)),
            _ => Err(AmountError::TooManyCoins(coins)),
        }
    }

    /// The value in base units.
    pub const fn to_base_units(self) -> u64 {
        self.0
    }

    /// Whether this is zero.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `self + other`, or `None` if the sum exceeds [`MAX_SUPPLY`].
    pub const fn checked_add(self, other: Amount) -> Option<Amount> {
        match self.0.checked_add(other.0) {
            Some(sum) if sum <= MAX_SUPPLY => Some(Amount(sum)),
            _ => None,
        }
    }

    /// `self - other`, or `None` if it would be negative.
    pub const fn checked_sub(self, other: Amount) -> Option<Amount> {
        match self.0.checked_sub(other.0) {
            Some(diff) => Some(Amount(diff)),
            None => None,
        }
    }

    /// Sums amounts, or `None` if the total exceeds [`MAX_SUPPLY`].
    pub fn checked_sum<I: IntoIterator<Item = Amount>>(amounts: I) -> Option<Amount> {
        amounts
            .into_iter()
            .try_fold(Amount::ZERO, |acc, a| acc.checked_add(a))
    }
}

impl std::fmt::Display for Amount {
    /// Whole coins with eight decimals, e.g. `3.00000000`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:08}", self.0 / COIN, self.0 % COIN)
    }
}

impl std::str::FromStr for Amount {
    type Err = ParseAmountError;

    /// Parses coins written in decimal, e.g. `"10"`, `"2.5"`, `"0.00000001"`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let malformed = || ParseAmountError::Malformed(s.to_owned());
        let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
        let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > 8 {
            return Err(malformed());
        }
        if s.contains('.') && fraction.is_empty() {
            return Err(malformed());
        }
        let coins: u64 = whole.parse().map_err(|_| malformed())?;
        let padded = format!("{fraction:0<8}");
        let units: u64 = padded.parse().map_err(|_| malformed())?;
        let whole_units = Amount::from_coins(coins)?;
        whole_units
            .checked_add(Amount(units))
            .ok_or(ParseAmountError::OutOfRange(AmountError::AboveMaxSupply(
                whole_units.0.saturating_add(units),
            )))
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.0)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Amount {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let units = u64::deserialize(deserializer)?;
        Amount::from_base_units(units).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_arithmetic() {
        let three = Amount::from_coins(3).expect("small");
        let two = Amount::from_coins(2).expect("small");
        assert_eq!(three.checked_sub(two), Some(Amount::ONE_COIN));
        assert_eq!(two.checked_sub(three), None);
        assert_eq!(
            Amount::MAX.checked_add(Amount::from_base_units(1).expect("1")),
            None
        );
        assert_eq!(
            Amount::from_base_units(MAX_SUPPLY + 1),
            Err(AmountError::AboveMaxSupply(MAX_SUPPLY + 1))
        );
        assert_eq!(
            Amount::from_coins(u64::MAX),
            Err(AmountError::TooManyCoins(u64::MAX))
        );
        assert_eq!(three.to_string(), "3.00000000");
        assert_eq!(
            Amount::checked_sum([three, two]),
            Amount::from_coins(5).ok()
        );
        assert_eq!("3".parse::<Amount>(), Ok(three));
        assert_eq!(
            "2.5".parse::<Amount>().map(Amount::to_base_units),
            Ok(250_000_000)
        );
        assert_eq!(
            "0.00000001".parse::<Amount>().map(Amount::to_base_units),
            Ok(1)
        );
        for bad in ["", ".5", "1.", "1.000000001", "-1", "1e3", "abc", "1.2.3"] {
            assert!(
                matches!(bad.parse::<Amount>(), Err(ParseAmountError::Malformed(_))),
                "{bad:?} must be rejected"
            );
        }
        assert_eq!(
            "21000001".parse::<Amount>(),
            Err(ParseAmountError::OutOfRange(AmountError::TooManyCoins(
                21_000_001
            )))
        );
        assert!("21000000.00000001".parse::<Amount>().is_err());
    }
}
