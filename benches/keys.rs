//! Criterion benches for `ann-keys`: one key derivation with the original's network
//! (1024 bits in, 50 hidden layers of 1024 units), and its parts; and per key kind (ed25519,
//! ML-DSA-65) the key pair from a seed, signing a transaction digest and verifying it
//! (`signatures_by_kind`).
//!
//! Run: `cargo bench --bench keys -- --warm-up-time 1 --measurement-time 5`.

use std::hint::black_box;

use ann_keys::{ChaoticNet, Conditioned, NetConfig, PrivateKey, RngEntropy, SimulatedQubit};
use criterion::{Criterion, criterion_group, criterion_main};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn bench_keys(c: &mut Criterion) {
    let mut seeded = RngEntropy::new(ChaCha20Rng::from_seed([1; 32]), "bench");
    let private_key = match PrivateKey::generate(&mut seeded) {
        Ok(key) => key,
        Err(e) => panic!("a seeded generator cannot fail: {e}"),
    };

    c.bench_function("derive_keys (default 1024x50 network + ed25519)", |b| {
        b.iter(|| ann_keys::derive_keys(black_box(&private_key)))
    });

    let net = match ChaoticNet::new(NetConfig::default(), private_key.as_bytes()) {
        Ok(net) => net,
        Err(e) => panic!("default config is valid: {e}"),
    };
    let input = private_key.bits();
    c.bench_function("chaotic_net evaluate (default)", |b| {
        b.iter(|| net.evaluate(black_box(&input)))
    });

    c.bench_function("conditioned simulated qubit, 128 bytes", |b| {
        let qubit = SimulatedQubit::new([2; 32], SimulatedQubit::TYPICAL_P_ONE);
        let mut source = match Conditioned::new(qubit) {
            Ok(source) => source,
            Err(e) => panic!("simulated qubit declares a valid min-entropy: {e}"),
        };
        let mut buf = [0_u8; 128];
        b.iter(|| ann_keys::EntropySource::fill(&mut source, black_box(&mut buf)))
    });
}

/// Key generation from a seed, signing a 32-byte transaction digest, and strict verification,
/// for each kind of input key; the ed25519 rows are the peer the post-quantum rows compare to.
fn bench_signatures(c: &mut Criterion) {
    use ann_ledger::MlDsa65SigningKey;
    use ed25519_dalek::{Signer, SigningKey};

    let digest = [0x5a_u8; 32];
    let mut group = c.benchmark_group("signatures_by_kind");
    group.bench_function("ed25519/keygen_from_seed", |b| {
        b.iter(|| SigningKey::from_bytes(black_box(&[7; 32])).verifying_key())
    });
    let ed = SigningKey::from_bytes(&[7; 32]);
    group.bench_function("ed25519/sign_digest", |b| {
        b.iter(|| ed.sign(black_box(&digest)))
    });
    let ed_signature = ed.sign(&digest);
    let ed_key = ed.verifying_key();
    group.bench_function("ed25519/verify_strict", |b| {
        b.iter(|| ed_key.verify_strict(black_box(&digest), black_box(&ed_signature)))
    });

    group.bench_function("ml_dsa_65/keygen_from_seed", |b| {
        b.iter(|| MlDsa65SigningKey::from_seed(black_box(&[7; 32])))
    });
    let pq = MlDsa65SigningKey::from_seed(&[7; 32]);
    // ML-DSA signing is a rejection-sampling loop whose number of rounds depends on the
    // message (about 5 on average for ML-DSA-65, but one digest may take 15): average over 64.
    let digests: Vec<[u8; 32]> = (0..64_u8).map(|i| [i; 32]).collect();
    let mut next = digests.iter().cycle();
    group.bench_function("ml_dsa_65/sign_digest (64 digests in turn)", |b| {
        b.iter(|| pq.sign_digest(black_box(next.next().unwrap_or(&digest))))
    });
    let pq_signature = pq.sign_digest(&digest);
    group.bench_function("ml_dsa_65/verify_digest", |b| {
        b.iter(|| {
            pq.public_key()
                .verify_digest(black_box(&digest), black_box(&pq_signature))
        })
    });
    group.finish();
}

criterion_group!(benches, bench_keys, bench_signatures);
criterion_main!(benches);
