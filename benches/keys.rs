//! Criterion benches for `ann-keys`: one key derivation with the original's network
//! (1024 bits in, 50 hidden layers of 1024 units), and its parts.
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

criterion_group!(benches, bench_keys);
criterion_main!(benches);
