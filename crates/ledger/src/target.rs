//! Difficulty: the work target a block's lottery ticket must beat, its compact encoding,
//! the work it credits to fork choice, and the ASERT rule that retargets it; and the accuracy
//! gate a block's model must pass.
//!
//! A target `T` is a 256-bit number written `mantissa * 2^exponent`, with a 24-bit mantissa
//! whose top bit is set (`2^23 <= mantissa < 2^24`) and an exponent in
//! [`CompactTarget::MIN_EXPONENT`]`..=`[`CompactTarget::MAX_EXPONENT`]; its compact form is the
//! `u32` `exponent << 24 | mantissa` (one encoding per target: the mantissa is normalised). A
//! ticket (a SHA-256 digest read as a big-endian number) wins when `ticket < T`, which a
//! uniform ticket does with probability `T / 2^256`; a block's work is the expected number of
//! tickets, `floor(2^(256 - exponent) / mantissa)`.

/// Why a target was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    /// An accuracy target of 0 or above 10000 basis points.
    #[error("an accuracy target is 1..=10000 basis points, got {0}")]
    OutOfRange(u16),
    /// A compact target whose mantissa is not normalised or whose exponent is out of range.
    #[error(
        "compact target {0:#010x} is not canonical: the mantissa must be in 2^23..2^24 and the exponent in 129..=232"
    )]
    NonCanonical(u32),
}

/// Minimum test accuracy in basis points (9000 = 90.00 %), in `1..=10000`: the gate a block's
/// model must pass, besides the lottery.
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
}

impl std::fmt::Display for AccuracyTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:02} %", self.0 / 100, self.0 % 100)
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for AccuracyTarget {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u16(self.0)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for AccuracyTarget {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bp = u16::deserialize(deserializer)?;
        AccuracyTarget::from_basis_points(bp).map_err(serde::de::Error::custom)
    }
}

/// A work target in compact form (see the module documentation); ordered by the target's
/// value, so a smaller `CompactTarget` is a harder one.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct CompactTarget(u32);

const MANTISSA_BITS: u32 = 24;
const MANTISSA_MIN: u64 = 1 << (MANTISSA_BITS - 1);
const MANTISSA_MAX: u64 = (1 << MANTISSA_BITS) - 1;

impl CompactTarget {
    /// The smallest exponent: the hardest target is `2^23 * 2^129 = 2^152`, about `2^104`
    /// expected tickets per block (work fits in a `u128` with room for `2^24` blocks).
    pub const MIN_EXPONENT: u32 = 129;
    /// The largest exponent: the easiest target is `(2^24 - 1) * 2^232`, just below `2^256`.
    pub const MAX_EXPONENT: u32 = 256 - MANTISSA_BITS;
    /// The easiest target there is: a ticket misses it with probability `2^-24`.
    pub const MAX: CompactTarget =
        CompactTarget((Self::MAX_EXPONENT << MANTISSA_BITS) | MANTISSA_MAX as u32);
    /// The hardest target there is.
    pub const MIN: CompactTarget =
        CompactTarget((Self::MIN_EXPONENT << MANTISSA_BITS) | MANTISSA_MIN as u32);

    /// Parses the compact form, rejecting a mantissa that is not normalised and an exponent
    /// out of range.
    pub const fn from_bits(bits: u32) -> Result<Self, TargetError> {
        let exponent = bits >> MANTISSA_BITS;
        let mantissa = (bits as u64) & MANTISSA_MAX;
        if mantissa < MANTISSA_MIN || exponent < Self::MIN_EXPONENT || exponent > Self::MAX_EXPONENT
        {
            Err(TargetError::NonCanonical(bits))
        } else {
            Ok(CompactTarget(bits))
        }
    }

    /// The target closest to `expected_tickets` expected tickets per block (rounded towards
    /// the easier target), clamped to `MIN..=MAX`. At least 1.
    pub fn from_expected_tickets(expected_tickets: u128) -> Self {
        // T = 2^256 / tickets = 2^(256 - e) / m ... choose e so that m is normalised.
        let tickets = expected_tickets.max(1);
        // 2^(256 - e) / m = tickets  =>  m = 2^(256 - e) / tickets.
        // Pick s = 256 - e with 2^(s) / tickets in [2^23, 2^24).
        let log = 127 - tickets.leading_zeros(); // floor(log2 tickets)
        let s = log + MANTISSA_BITS; // 2^s / tickets in (2^23, 2^24]
        let exponent = 256 - s as i64;
        if exponent < i64::from(Self::MIN_EXPONENT) {
            return Self::MIN;
        }
        // m = ceil(2^s / tickets) keeps the target at least as easy as asked.
        let numerator = 1u128 << s;
        let mut mantissa = numerator.div_ceil(tickets) as u64;
        let mut exponent = exponent as u32;
        if mantissa > MANTISSA_MAX {
            mantissa >>= 1;
            exponent += 1;
        }
        Self::normalised(mantissa, i64::from(exponent))
    }

    /// The compact form.
    pub const fn to_bits(self) -> u32 {
        self.0
    }

    /// The 24-bit mantissa.
    pub const fn mantissa(self) -> u32 {
        self.0 & MANTISSA_MAX as u32
    }

    /// The binary exponent.
    pub const fn exponent(self) -> u32 {
        self.0 >> MANTISSA_BITS
    }

    /// The target as a 256-bit big-endian number.
    pub fn to_be_bytes(self) -> [u8; 32] {
        let exponent = self.exponent() as usize;
        let value = u64::from(self.mantissa()) << (exponent % 8);
        let lowest = 31 - exponent / 8;
        let mut out = [0u8; 32];
        for (i, byte) in value.to_be_bytes().iter().rev().enumerate() {
            if *byte != 0 {
                // A nonzero byte never lies above the top of the 256 bits (exponent <= 232).
                if let Some(slot) = lowest.checked_sub(i).and_then(|at| out.get_mut(at)) {
                    *slot = *byte;
                }
            }
        }
        out
    }

    /// Whether `ticket`, read as a big-endian number, is below the target.
    pub fn is_beaten_by(self, ticket: &[u8; 32]) -> bool {
        ticket.as_slice() < self.to_be_bytes().as_slice()
    }

    /// The work a block at this target credits to fork choice: the expected number of tickets
    /// to beat it, `floor(2^(256 - exponent) / mantissa)` (at least 1, at most about `2^104`).
    pub const fn work(self) -> u128 {
        (1u128 << (256 - self.exponent())) / self.mantissa() as u128
    }

    /// `mantissa * 2^exponent` truncated to 24 significant bits and clamped to `MIN..=MAX`.
    fn normalised(mut mantissa: u64, mut exponent: i64) -> Self {
        if mantissa == 0 {
            return Self::MIN;
        }
        while mantissa > MANTISSA_MAX {
            mantissa >>= 1;
            exponent += 1;
        }
        while mantissa < MANTISSA_MIN {
            mantissa <<= 1;
            exponent -= 1;
        }
        if exponent < i64::from(Self::MIN_EXPONENT) {
            Self::MIN
        } else if exponent > i64::from(Self::MAX_EXPONENT) {
            Self::MAX
        } else {
            CompactTarget(((exponent as u32) << MANTISSA_BITS) | mantissa as u32)
        }
    }
}

impl PartialOrd for CompactTarget {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for CompactTarget {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Normalised: exponent first, then mantissa, is the order of the values.
        self.0.cmp(&other.0)
    }
}

impl std::fmt::Display for CompactTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#010x} ({} expected tickets)", self.0, self.work())
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for CompactTarget {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u32(self.0)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for CompactTarget {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bits = u32::deserialize(deserializer)?;
        CompactTarget::from_bits(bits).map_err(serde::de::Error::custom)
    }
}

/// How the work target moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Retarget {
    /// Every block carries the initial target (regression tests, benches).
    Fixed,
    /// ASERT (Bitcoin Cash's aserti3-2d, anchored at genesis): the target doubles for every
    /// `half_life_secs` the chain runs behind its schedule and halves for every
    /// `half_life_secs` it runs ahead.
    Asert {
        /// Seconds of schedule deviation that double or halve the target (at least 1).
        half_life_secs: u64,
    },
}

/// The difficulty parameters of a chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Difficulty {
    /// The target of the genesis block and of block 1, the anchor of ASERT.
    pub initial: CompactTarget,
    /// The easiest target a block may carry (ASERT clamps to it).
    pub limit: CompactTarget,
    /// The mean block interval the rule steers to, in seconds (at least 1).
    pub block_interval_secs: u64,
    /// The rule.
    pub retarget: Retarget,
    /// How far past the validating node's clock a block's timestamp may be, in seconds. Under
    /// ASERT a block dated `d` seconds ahead eases the next target by `2^(d / half_life)`, so
    /// this is kept small beside the half-life (a twenty-fourth of it on the presets, Bitcoin
    /// Cash's ratio of 2 hours to 2 days: at most 2.9 % easier;
    /// [`Difficulty::max_timestamp_gain`]).
    pub max_future_drift_secs: u64,
}

impl Difficulty {
    /// The main network: one block a minute, a one-hour half-life, starting at 5,000 expected
    /// tickets (about a minute of flex on two cores at 88 tickets a second); timestamps at most
    /// 150 s ahead of a validator's clock (a twenty-fourth of the half-life).
    pub fn main() -> Self {
        Difficulty {
            initial: CompactTarget::from_expected_tickets(5_000),
            limit: CompactTarget::from_expected_tickets(16),
            block_interval_secs: 60,
            retarget: Retarget::Asert {
                half_life_secs: 3_600,
            },
            max_future_drift_secs: 150,
        }
    }

    /// A local development network: one block every 4 seconds, a 40-second half-life,
    /// starting at 40 expected tickets (about half a second of one node on two cores), never
    /// easier than 4 (a devnet whose genesis lies far in the past runs at that limit);
    /// timestamps at most 2 s ahead of a validator's clock (its nodes share one clock or NTP's;
    /// a block dated at that limit eases the next target by 3.5 %).
    pub fn devnet() -> Self {
        Difficulty {
            initial: CompactTarget::from_expected_tickets(40),
            limit: CompactTarget::from_expected_tickets(4),
            block_interval_secs: 4,
            retarget: Retarget::Asert { half_life_secs: 40 },
            max_future_drift_secs: 2,
        }
    }

    /// Regression tests: every ticket but one in `2^24` wins, and the target never moves (so
    /// timestamps may run Bitcoin's 2 hours ahead: they cannot move it).
    pub fn regtest() -> Self {
        Difficulty {
            initial: CompactTarget::MAX,
            limit: CompactTarget::MAX,
            block_interval_secs: 600,
            retarget: Retarget::Fixed,
            max_future_drift_secs: 2 * 60 * 60,
        }
    }

    /// The most one block's timestamp can ease the next block's target: the factor
    /// `2^(max_future_drift / half_life)` by which the target of a block whose parent is dated
    /// at the drift limit exceeds the one it would have with an honest timestamp (1 under
    /// [`Retarget::Fixed`]). A chain whose every block is dated at the limit runs that much
    /// easier, no more: ASERT is anchored at genesis, so the gain does not compound.
    pub fn max_timestamp_gain(&self) -> f64 {
        match self.retarget {
            Retarget::Fixed => 1.0,
            Retarget::Asert { half_life_secs } => {
                (self.max_future_drift_secs as f64 / half_life_secs.max(1) as f64).exp2()
            }
        }
    }

    /// The target required of a block whose parent has `parent_height` and `parent_timestamp`,
    /// on a chain whose genesis has `genesis_timestamp`.
    ///
    /// ASERT: with `d = parent_timestamp - genesis_timestamp - interval * parent_height` (how
    /// far the chain runs behind schedule, in seconds, negative when ahead), the target is
    /// `initial * 2^(d / half_life)`, computed in 16.16 fixed point with aserti3-2d's cubic
    /// for the fraction, truncated to 24 significant bits and clamped to `MIN..=limit`.
    pub fn next_target(
        &self,
        parent_height: u64,
        parent_timestamp: u64,
        genesis_timestamp: u64,
    ) -> CompactTarget {
        let Retarget::Asert { half_life_secs } = self.retarget else {
            return self.initial;
        };
        let deviation = i128::from(parent_timestamp)
            - i128::from(genesis_timestamp)
            - i128::from(self.block_interval_secs) * i128::from(parent_height);
        let half_life = i128::from(half_life_secs.max(1));
        // Floor division, also for negative deviations.
        let exponent = (deviation * 65_536).div_euclid(half_life);
        let shifts = exponent >> 16;
        let fraction = (exponent & 0xffff) as u128;
        let factor = 65_536
            + ((195_766_423_245_049 * fraction
                + 971_821_376 * fraction * fraction
                + 5_127 * fraction * fraction * fraction
                + (1u128 << 47))
                >> 48);
        let mantissa = u128::from(self.initial.mantissa()) * factor; // < 2^41
        let exponent = i128::from(self.initial.exponent()) + shifts - 16;
        let clamped_exponent = exponent.clamp(-1024, 1024) as i64;
        let next = Self::from_parts(mantissa as u64, clamped_exponent);
        next.min(self.limit)
    }

    fn from_parts(mantissa: u64, exponent: i64) -> CompactTarget {
        CompactTarget::normalised(mantissa, exponent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_range() {
        assert_eq!(
            AccuracyTarget::from_basis_points(0),
            Err(TargetError::OutOfRange(0))
        );
        assert_eq!(
            AccuracyTarget::from_basis_points(10_001),
            Err(TargetError::OutOfRange(10_001))
        );
        let t = AccuracyTarget::from_basis_points(9000).expect("in range");
        assert_eq!(t.to_string(), "90.00 %");
    }

    #[test]
    fn compact_form_is_canonical() {
        assert_eq!(
            CompactTarget::from_bits(CompactTarget::MAX.to_bits()),
            Ok(CompactTarget::MAX)
        );
        // Mantissa not normalised, exponent too small or too large.
        for bits in [
            (200 << 24) | 0x7f_ffff,
            (128 << 24) | 0x80_0000,
            (233 << 24) | 0x80_0000,
            0,
            u32::MAX,
        ] {
            assert_eq!(
                CompactTarget::from_bits(bits),
                Err(TargetError::NonCanonical(bits))
            );
        }
    }

    #[test]
    fn bytes_order_and_work_agree() {
        let max = CompactTarget::MAX.to_be_bytes();
        assert_eq!(&max[..3], &[0xff, 0xff, 0xff]);
        assert!(max[3..].iter().all(|b| *b == 0));
        assert_eq!(CompactTarget::MAX.work(), 1);
        let min = CompactTarget::MIN.to_be_bytes();
        // 2^23 * 2^129 = 2^152: bit 152 set, byte 31 - 19 = 12 holds 0x01.
        assert_eq!(min[12], 0x01);
        assert!(min.iter().enumerate().all(|(i, b)| i == 12 || *b == 0));
        assert_eq!(CompactTarget::MIN.work(), 1 << 104);

        let mut previous: Option<CompactTarget> = None;
        for tickets in [1u128, 2, 3, 40, 1000, 5000, 1 << 40, 1 << 90] {
            let target = CompactTarget::from_expected_tickets(tickets);
            let work = target.work();
            // Rounded towards the easier target: at most the tickets asked, within 2^-22.
            assert!(work <= tickets, "{tickets}: {work}");
            assert!(work + work / (1 << 22) + 1 >= tickets, "{tickets}: {work}");
            if let Some(previous) = previous {
                assert!(target < previous);
                assert!(target.to_be_bytes() < previous.to_be_bytes());
                assert!(target.work() >= previous.work());
            }
            previous = Some(target);
        }
    }

    #[test]
    fn tickets_below_the_target_win() {
        let target = CompactTarget::from_expected_tickets(1000);
        let bytes = target.to_be_bytes();
        assert!(!target.is_beaten_by(&bytes));
        let mut below = bytes;
        let last_nonzero = below.iter().rposition(|b| *b != 0).expect("nonzero");
        below[last_nonzero] -= 1;
        assert!(target.is_beaten_by(&below));
        assert!(target.is_beaten_by(&[0; 32]));
        assert!(!target.is_beaten_by(&[0xff; 32]));
    }

    #[test]
    fn asert_doubles_per_half_life_behind_schedule() {
        let d = Difficulty {
            initial: CompactTarget::from_expected_tickets(1 << 20),
            limit: CompactTarget::MAX,
            block_interval_secs: 60,
            retarget: Retarget::Asert {
                half_life_secs: 3600,
            },
            max_future_drift_secs: 150,
        };
        let genesis = 10_000;
        let on_schedule = d.next_target(100, genesis + 6000, genesis);
        assert_eq!(on_schedule, d.initial);
        let behind = d.next_target(100, genesis + 6000 + 3600, genesis);
        assert_eq!(behind.work(), d.initial.work() / 2);
        let ahead = d.next_target(100, genesis + 6000 - 7200, genesis);
        assert_eq!(ahead.work(), d.initial.work() * 4);
        // Half a half-life: 2^0.5 within the cubic's precision (about 0.01 %).
        let half = d.next_target(100, genesis + 6000 + 1800, genesis).work() as f64;
        let ratio = d.initial.work() as f64 / half;
        assert!((ratio - 2f64.sqrt()).abs() < 3e-4, "{ratio}");
        // Clamped: far behind schedule the limit applies, far ahead the hardest target.
        assert_eq!(d.next_target(1, u64::MAX / 2, 0), CompactTarget::MAX);
        assert_eq!(d.next_target(u64::MAX / 120, 0, 0), CompactTarget::MIN);
        assert_eq!(
            Difficulty::regtest().next_target(5, 0, 99),
            CompactTarget::MAX
        );
    }
}

/// A deterministic simulation of the retarget rule, without training: each block's tickets
/// arrive as a Poisson process at the simulated hash rate, so its interval is exponential
/// with mean `work / rate`. Used by the tests and by the `retarget` example's plot.
pub mod simulation {
    use super::{CompactTarget, Difficulty};

    /// A stretch of blocks mined at one hash rate.
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub struct Phase {
        /// Blocks in the phase.
        pub blocks: usize,
        /// Tickets per second of the whole network.
        pub tickets_per_sec: f64,
    }

    /// One simulated block.
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub struct SimulatedBlock {
        /// Its height (genesis is 0 and not listed).
        pub height: u64,
        /// Its timestamp, seconds after genesis (whole seconds, as in a header).
        pub timestamp: u64,
        /// Seconds since its parent, before rounding.
        pub interval: f64,
        /// The target it carried.
        pub target: CompactTarget,
        /// The network's tickets per second while it was mined.
        pub tickets_per_sec: f64,
    }

    /// Mines `phases` one after another from genesis at time 0; `seed` fixes the draws.
    pub fn simulate(difficulty: &Difficulty, phases: &[Phase], seed: u64) -> Vec<SimulatedBlock> {
        let mut state = seed;
        let mut next_uniform = move || {
            // splitmix64, then 53 bits into (0, 1].
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            ((z >> 11) as f64 + 1.0) / (1u64 << 53) as f64
        };
        let mut blocks = Vec::new();
        let (mut height, mut time, mut timestamp) = (0u64, 0.0f64, 0u64);
        for phase in phases {
            for _ in 0..phase.blocks {
                let target = difficulty.next_target(height, timestamp, 0);
                let interval = -next_uniform().ln() * target.work() as f64 / phase.tickets_per_sec;
                time += interval;
                height += 1;
                // Whole seconds, and strictly increasing as the median-time rule requires.
                timestamp = (time as u64).max(timestamp + 1);
                blocks.push(SimulatedBlock {
                    height,
                    timestamp,
                    interval,
                    target,
                    tickets_per_sec: phase.tickets_per_sec,
                });
            }
        }
        blocks
    }
}
