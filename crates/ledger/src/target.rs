//! Difficulty: the minimum test accuracy a block's trained model must reach.

/// Why a target was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// The target is 0 or above 10000 basis points.
    #[error("an accuracy target is 1..=10000 basis points, got {0}")]
    OutOfRange(u16),
}

/// Minimum test accuracy in basis points (9000 = 90.00 %), in `1..=10000`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct AccuracyTarget(u16);

impl AccuracyTarget {
    /// The largest value, 100.00 %.
    pub const MAX_BASIS_POINTS: u16 = 10_000;

    /// Builds a target, rejecting 0 and anything above 10000.
    pub const fn from_basis_points(bp: u16) -> Result<Self, TargetError> {
        if bp == 0 || bp > Self::MAX_BASIS_POINTS {
            Err(TargetError::OutOfRange(bp))
        } else {
            Ok(AccuracyTarget(bp))
        }
    }

    /// The target in basis points.
    pub const fn basis_points(self) -> u16 {
        self.0
    }

    /// Work credited to a block at this target, for fork choice:
    /// `work = floor(2^64 / (10001 - basis_points))`.
    ///
    /// The denominator is the error budget the model is allowed (in basis points) plus one, so
    /// work grows as the allowed error shrinks: 90 % gives about `2^64 / 1001`, 99 % about
    /// `2^64 / 101`. It is strictly increasing in the target, so a chain of harder blocks
    /// outweighs an equally long chain of easier ones.
    pub const fn work(self) -> u128 {
        (1u128 << 64) / (10_001 - self.0 as u128)
    }
}

impl std::fmt::Display for AccuracyTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:02} %", self.0 / 100, self.0 % 100)
    }
}

impl serde::Serialize for AccuracyTarget {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u16(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for AccuracyTarget {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bp = u16::deserialize(deserializer)?;
        AccuracyTarget::from_basis_points(bp).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_and_monotonic_work() {
        assert_eq!(
            AccuracyTarget::from_basis_points(0),
            Err(TargetError::OutOfRange(0))
        );
        assert_eq!(
            AccuracyTarget::from_basis_points(10_001),
            Err(TargetError::OutOfRange(10_001))
        );
        let mut previous = 0u128;
        for bp in 1..=10_000 {
            let work = AccuracyTarget::from_basis_points(bp)
                .expect("in range")
                .work();
            assert!(work > previous, "work must strictly increase at {bp}");
            previous = work;
        }
        let t = AccuracyTarget::from_basis_points(9000).expect("in range");
        assert_eq!(t.work(), (1u128 << 64) / 1001);
        assert_eq!(t.to_string(), "90.00 %");
    }
}
