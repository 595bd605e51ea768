//! Health tests, conditioning budget and mixing, with local sources.

use ann_keys::entropy::{self, EntropySource, MIXING_DOMAIN};
use ann_keys::health::{self, HealthTests};
use ann_keys::{
    Conditioned, EntropyError, HealthError, OsEntropy, PrivateKey, RawBitSource, RngEntropy,
    SimulatedQubit,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sha2::{Digest, Sha256};

/// Records how many raw bits were asked for, and hands out a fixed pattern.
struct Counting {
    asked: Vec<usize>,
    declared: f64,
}

impl RawBitSource for Counting {
    fn name(&self) -> &str {
        "counting"
    }
    fn declared_min_entropy(&self) -> f64 {
        self.declared
    }
    fn raw_bits(&mut self, count: usize) -> Result<Vec<bool>, EntropyError> {
        self.asked.push(count);
        Ok((0..count)
            .map(|i| (i * 2654435761_usize) >> 7 & 1 == 1)
            .collect())
    }
}

fn seeded(seed: u8) -> Box<RngEntropy<ChaCha20Rng>> {
    Box::new(RngEntropy::new(
        ChaCha20Rng::from_seed([seed; 32]),
        "seeded",
    ))
}

#[test]
fn cutoffs_from_declared_min_entropy() {
    assert_eq!(health::repetition_count_cutoff(1.0), Ok(21));
    assert_eq!(health::adaptive_proportion_cutoff(1.0, 1024), Ok(589));
    assert_eq!(health::repetition_count_cutoff(0.5), Ok(41));
    assert_eq!(health::adaptive_proportion_cutoff(0.5, 1024), Ok(793));
    let tests = HealthTests::new(0.5).expect("valid");
    assert_eq!(
        (tests.rct_cutoff, tests.apt_cutoff, tests.apt_window),
        (41, 793, 1024)
    );
    // Monotone: a weaker claim tolerates longer runs and more bias.
    let weak = HealthTests::new(0.2).expect("valid");
    assert!(weak.rct_cutoff > 41 && weak.apt_cutoff > 793 && weak.apt_cutoff <= 1024);
}

#[test]
fn the_entropy_budget_covers_output_plus_64_bits() {
    for (declared, per_block) in [(1.0, 320), (0.5, 640), (0.86, 373), (0.3, 1067)] {
        assert_eq!(entropy::raw_bits_per_block(declared), per_block);
        let mut source = Conditioned::with_local(
            Counting {
                asked: Vec::new(),
                declared,
            },
            seeded(1),
        )
        .expect("valid");
        let mut out = [0_u8; 100]; // 4 blocks (the last one partial)
        source.fill(&mut out).expect("fill");
        assert_eq!(
            source.source().asked,
            [4 * per_block],
            "one request for all blocks"
        );
        assert!(per_block as f64 * declared >= 320.0);
    }
}

#[test]
fn output_is_sha256_of_local_randomness_and_conditioned_bits() {
    let qubit = SimulatedQubit::new([3; 32], 0.45);
    let mut source = Conditioned::with_local(qubit.clone(), seeded(9)).expect("valid");
    let mut out = [0_u8; 64];
    source.fill(&mut out).expect("fill");

    // Recompute by hand from the documented formulas.
    let per_block = entropy::raw_bits_per_block(qubit.declared_min_entropy());
    let raw = qubit.clone().raw_bits(2 * per_block).expect("bits");
    let mut local = RngEntropy::new(ChaCha20Rng::from_seed([9; 32]), "seeded");
    for block in 0..2 {
        let mut os = [0_u8; 32];
        local.fill(&mut os).expect("fill");
        let conditioned =
            entropy::condition(block, &raw[block as usize * per_block..][..per_block]);
        let mut h = Sha256::new();
        h.update(MIXING_DOMAIN);
        h.update(os);
        h.update(conditioned);
        let expected: [u8; 32] = h.finalize().into();
        assert_eq!(out[block as usize * 32..][..32], expected);
    }
}

#[test]
fn a_remote_source_cannot_choose_the_key() {
    // Identical remote bits, different local randomness: unrelated outputs.
    let qubit = SimulatedQubit::new([5; 32], 0.5);
    let mut a = Conditioned::with_local(qubit.clone(), seeded(1)).expect("valid");
    let mut b = Conditioned::with_local(qubit, seeded(2)).expect("valid");
    let (mut x, mut y) = ([0_u8; 32], [0_u8; 32]);
    a.fill(&mut x).expect("fill");
    b.fill(&mut y).expect("fill");
    assert_ne!(x, y);
    // With the real OS generator, two keys from the same simulated qubit seed differ too.
    let qubit = SimulatedQubit::new([5; 32], 0.5);
    let k1 =
        PrivateKey::generate(&mut Conditioned::new(qubit.clone()).expect("valid")).expect("key");
    let k2 = PrivateKey::generate(&mut Conditioned::new(qubit).expect("valid")).expect("key");
    assert_ne!(k1, k2);
}

#[test]
fn stuck_and_heavily_biased_sources_are_refused() {
    let stuck = SimulatedQubit::new([1; 32], 0.0).with_declared_min_entropy(0.5);
    let error =
        PrivateKey::generate(&mut Conditioned::new(stuck).expect("valid")).expect_err("stuck");
    assert!(
        matches!(
            &error,
            EntropyError::Health {
                error: HealthError::RepetitionCount {
                    run: 41,
                    value: false,
                    ..
                },
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("source looks stuck"), "{error}");

    // Reads 1 nine times in ten while claiming 0.5 bits per bit (p ≤ 0.71).
    let biased = SimulatedQubit::new([1; 32], 0.9).with_declared_min_entropy(0.5);
    let error =
        PrivateKey::generate(&mut Conditioned::new(biased).expect("valid")).expect_err("biased");
    assert!(
        matches!(
            &error,
            EntropyError::Health {
                error: HealthError::AdaptiveProportion { .. } | HealthError::RepetitionCount { .. },
                ..
            }
        ),
        "{error:?}"
    );

    // The same bias, declared honestly (-log2 0.9 = 0.152), passes and is budgeted for.
    let honest = SimulatedQubit::new([1; 32], 0.9);
    assert!((honest.declared_min_entropy() - 0.152).abs() < 0.001);
    let mut source = Conditioned::new(honest).expect("valid");
    assert_eq!(source.raw_bits_per_block(), 2106);
    PrivateKey::generate(&mut source).expect("honestly declared bias is accepted");

    // A declared min-entropy outside (0, 1] is refused up front.
    let bad = SimulatedQubit::new([1; 32], 0.5).with_declared_min_entropy(1.5);
    assert!(matches!(
        Conditioned::new(bad),
        Err(EntropyError::Health {
            error: HealthError::BadMinEntropy(_),
            ..
        })
    ));
}

#[test]
fn a_typical_simulated_qubit_passes_and_is_reproducible() {
    let mut a = SimulatedQubit::new([8; 32], SimulatedQubit::TYPICAL_P_ONE);
    let mut b = SimulatedQubit::new([8; 32], SimulatedQubit::TYPICAL_P_ONE);
    let bits = a.raw_bits(100_000).expect("bits");
    assert_eq!(bits, b.raw_bits(100_000).expect("bits"));
    let ones = bits.iter().filter(|&&x| x).count() as f64 / 1e5;
    assert!((ones - 0.45).abs() < 0.01, "{ones}");
    HealthTests::new(a.declared_min_entropy())
        .expect("valid")
        .check(&bits)
        .expect("healthy");
}

#[test]
fn oversized_requests_are_refused() {
    let mut source = Conditioned::new(SimulatedQubit::new([1; 32], 0.5)).expect("valid");
    let mut big = vec![0_u8; entropy::MAX_REQUEST_BYTES + 1];
    assert!(matches!(
        source.fill(&mut big),
        Err(EntropyError::RequestTooLarge { .. })
    ));
}

#[test]
fn os_and_rng_sources_fill_buffers() {
    let mut os = OsEntropy;
    let (mut a, mut b) = ([0_u8; 64], [0_u8; 64]);
    os.fill(&mut a).expect("os");
    os.fill(&mut b).expect("os");
    assert_ne!(a, b);
    assert_eq!(os.name(), "os");
    let mut rng = RngEntropy::new(ChaCha20Rng::from_seed([0; 32]), "chacha-test");
    rng.fill(&mut a).expect("rng");
    assert_eq!(rng.name(), "chacha-test");
    // The first ChaCha20 keystream bytes for the all-zero key (RFC 7539 test vector 1).
    assert_eq!(hex::encode(&a[..8]), "76b8e0ada0f13d90");
}
