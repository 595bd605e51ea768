//! Block validation against raw signature verification.
//!
//! A block of 1,000 one-input transactions is validated in full (header, body, Merkle root,
//! UTXO checks, signatures, and a no-op proof verifier) and compared, in one criterion group,
//! with `ed25519_dalek::VerifyingKey::verify_strict` of the same 1,000 signatures one by one.
//! The goal is a ratio of at most 1.1; signature checks run in parallel on all cores.
//!
//! Groups: `block_of_1000_one_input_txs` (the side-by-side timings, plus validation on one
//! thread and a full in-memory import), `ratio_validate_block_over_verify_strict` (the ratio
//! measured interleaved, which stays meaningful on a machine shared with other work), and
//! `validation_stages_one_thread` (where the non-signature time goes), and
//! `block_of_1000_spends_by_kind` (the same block with ML-DSA-65 spends beside ed25519 ones,
//! each against its raw signature checks).
//!
//! Run: `cargo bench --bench ledger -- --warm-up-time 1 --measurement-time 5`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ann_ledger::validation::{check_block_body, check_block_inputs, verify_block_signatures};
use ann_ledger::{
    Amount, Block, BlockHeader, Chain, ChainParams, Difficulty, KeyKind, Mempool, MempoolPolicy,
    MlDsa65SigningKey, ProofVerifier, TxOut, Wallet, Witness,
};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};

const TRANSACTIONS: usize = 1_000;
const GENESIS_TIME: u64 = 1_700_000_000;

/// The bench measures the ledger, not training: it accepts every proof.
struct NoProof;

impl ProofVerifier for NoProof {
    type Error = std::convert::Infallible;
    fn verify_proof(&self, _: &BlockHeader) -> Result<(), Self::Error> {
        Ok(())
    }
}

struct Fixture {
    chain: Chain,
    block: Block,
    signatures: Vec<(VerifyingKey, [u8; 32], Signature)>,
}

fn key(i: usize) -> SigningKey {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
    SigningKey::from_bytes(&seed)
}

fn fixture() -> Fixture {
    let (chain, block) = block_of_spends(KeyKind::Ed25519);
    let signatures = block.transactions[1..]
        .iter()
        .map(|tx| match &tx.inputs[0].witness {
            Witness::Ed25519 { key, signature } => (*key, tx.signing_digest(), *signature),
            Witness::MlDsa65 { .. } => unreachable!("the fixture pays with ed25519 keys"),
        })
        .collect();
    Fixture {
        chain,
        block,
        signatures,
    }
}

/// A chain whose genesis funds 1,000 wallets of `kind` with one coin each, and a valid block on
/// it in which each pays the next one everything but a fee of 1 base unit per byte (one input,
/// one output).
fn block_of_spends(kind: KeyKind) -> (Chain, Block) {
    let wallets: Vec<Wallet> = (0..TRANSACTIONS)
        .map(|i| match kind {
            KeyKind::Ed25519 => Wallet::new(key(i)),
            KeyKind::MlDsa65 => Wallet::with_key(MlDsa65SigningKey::from_seed(&key(i).to_bytes())),
        })
        .collect();
    let one = Amount::from_coins(1).expect("small");
    let allocations = wallets
        .iter()
        .map(|w| TxOut {
            amount: one,
            address: w.address(),
        })
        .collect();
    let target = Difficulty::regtest();
    let chain = Chain::new(ChainParams::new(allocations, GENESIS_TIME, target)).expect("genesis");
    let mut mempool = Mempool::new();
    let fee = MempoolPolicy::relay().min_fee(wallets[0].payment_size(1, 1));
    let fee = Amount::from_base_units(u64::try_from(fee).expect("small")).expect("small");
    let payment = one.checked_sub(fee).expect("fee below one coin");
    for (i, w) in wallets.iter().enumerate() {
        let to = wallets[(i + 1) % TRANSACTIONS].address();
        let tx = w
            .pay(&chain, Some(&mempool), to, payment, fee)
            .expect("funded");
        assert_eq!(tx.inputs.len(), 1);
        mempool.add(tx, &chain).expect("valid payment");
    }
    let miner = Wallet::new(key(usize::MAX - 1));
    let block = chain
        .block_template(&mempool, miner.address(), GENESIS_TIME + 600)
        .expect("chain store");
    assert_eq!(block.transactions.len(), TRANSACTIONS + 1);
    (chain, block)
}

/// The block of 1,000 one-input spends with each key kind: full validation on all cores, and
/// the raw signature checks of the same 1,000 inputs one by one on one core (the peer).
fn block_validation_by_kind(c: &mut Criterion) {
    let now = GENESIS_TIME + 3_600;
    let mut group = c.benchmark_group("block_of_1000_spends_by_kind");
    group.throughput(Throughput::Elements(TRANSACTIONS as u64));
    group.sample_size(20);
    for kind in [KeyKind::Ed25519, KeyKind::MlDsa65] {
        let (chain, block) = block_of_spends(kind);
        chain
            .validate_block(&block, now, &NoProof)
            .expect("the bench block is valid");
        let witnesses: Vec<(Witness, [u8; 32])> = block.transactions[1..]
            .iter()
            .map(|tx| (tx.inputs[0].witness.clone(), tx.signing_digest()))
            .collect();
        group.bench_function(format!("{kind}/raw_verify_one_by_one"), |b| {
            b.iter(|| {
                for (witness, digest) in &witnesses {
                    assert!(witness.verify(black_box(digest)));
                }
            })
        });
        group.bench_function(format!("{kind}/validate_block"), |b| {
            b.iter(|| {
                chain
                    .validate_block(black_box(&block), now, &NoProof)
                    .expect("valid block")
            })
        });
    }
    group.finish();
}

fn block_validation(c: &mut Criterion) {
    let f = fixture();
    let now = GENESIS_TIME + 3_600;
    f.chain
        .validate_block(&f.block, now, &NoProof)
        .expect("the bench block is valid");

    let mut group = c.benchmark_group("block_of_1000_one_input_txs");
    group.throughput(Throughput::Elements(TRANSACTIONS as u64));
    group.bench_function("ed25519_verify_strict_one_by_one", |b| {
        b.iter(|| {
            for (key, digest, signature) in &f.signatures {
                key.verify_strict(black_box(digest), black_box(signature))
                    .expect("valid signature");
            }
        })
    });
    group.bench_function("validate_block", |b| {
        b.iter(|| {
            f.chain
                .validate_block(black_box(&f.block), now, &NoProof)
                .expect("valid block")
        })
    });
    let single_thread = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("thread pool");
    group.bench_function("validate_block_one_thread", |b| {
        b.iter(|| {
            single_thread.install(|| {
                f.chain
                    .validate_block(black_box(&f.block), now, &NoProof)
                    .expect("valid block")
            })
        })
    });
    group.bench_function("submit_block_in_memory", |b| {
        b.iter_batched(
            || f.chain.clone(),
            |mut chain| {
                chain
                    .submit_block(f.block.clone(), now, &NoProof)
                    .expect("valid block")
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

/// The ratio itself, robust to other load on the machine: each iteration times the raw
/// signature checks and the block validation back to back, and reports
/// `validate / raw` as a duration where **1 ms stands for a ratio of 1.0**. (Criterion times
/// its benchmarks one after another, so on a shared machine a change of load between them
/// skews the ratio of the separate results above; interleaving cancels it out.)
fn interleaved_ratio(c: &mut Criterion) {
    let f = fixture();
    let now = GENESIS_TIME + 3_600;
    let all_cores = rayon::ThreadPoolBuilder::new()
        .build()
        .expect("thread pool");
    let one_thread = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("thread pool");
    let mut group = c.benchmark_group("ratio_validate_block_over_verify_strict");
    group.sample_size(10);
    for (name, pool) in [
        ("interleaved_all_cores_1ms_means_1.0x", &all_cores),
        ("interleaved_one_thread_1ms_means_1.0x", &one_thread),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let (mut raw, mut validate) = (Duration::ZERO, Duration::ZERO);
                for _ in 0..iters {
                    let start = Instant::now();
                    for (key, digest, signature) in &f.signatures {
                        key.verify_strict(black_box(digest), black_box(signature))
                            .expect("valid signature");
                    }
                    raw += start.elapsed();
                    let start = Instant::now();
                    pool.install(|| {
                        f.chain
                            .validate_block(black_box(&f.block), now, &NoProof)
                            .expect("valid block")
                    });
                    validate += start.elapsed();
                }
                let ratio = validate.as_secs_f64() / raw.as_secs_f64();
                Duration::from_secs_f64(ratio * 1e-3 * iters as f64)
            })
        });
    }
    group.finish();
}

/// Where the time of `validate_block` goes, one stage at a time, on one thread.
fn validation_stages(c: &mut Criterion) {
    let f = fixture();
    let single_thread = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("thread pool");
    let txids = check_block_body(&f.block).expect("valid body");
    let mut group = c.benchmark_group("validation_stages_one_thread");
    group.throughput(Throughput::Elements(TRANSACTIONS as u64));
    group.bench_function("body_txids_merkle", |b| {
        b.iter(|| single_thread.install(|| check_block_body(black_box(&f.block)).expect("valid")))
    });
    let utxos = f.chain.utxo_set().expect("store");
    group.bench_function("utxo_checks", |b| {
        b.iter(|| {
            check_block_inputs(
                black_box(&f.block),
                &txids,
                &utxos,
                f.chain.params().subsidy(1),
                0,
            )
            .expect("valid")
        })
    });
    group.bench_function("signatures", |b| {
        b.iter(|| {
            single_thread
                .install(|| verify_block_signatures(black_box(&f.block), &txids).expect("valid"))
        })
    });
    group.finish();
}

/// A block template from a pool of 4,000 transactions in 160 unconfirmed chains of 25 (the
/// most the pool's policy allows), by ancestor-package fee rate, against sorting the same
/// 4,000 transactions by their own fee rate (the least any fee-ordered selection does).
fn template(c: &mut Criterion) {
    let chains = 160u32;
    let signer = key(0);
    let owner = Wallet::new(signer.clone());
    let allocations = (0..chains)
        .map(|_| TxOut {
            amount: Amount::from_coins(10).expect("small"),
            address: owner.address(),
        })
        .collect();
    let chain = Chain::new(ChainParams::new(
        allocations,
        GENESIS_TIME,
        Difficulty::regtest(),
    ))
    .expect("genesis");
    let genesis = chain
        .block_at(0)
        .expect("chain store")
        .expect("genesis")
        .transactions[0]
        .clone();
    let mut pool = Mempool::new();
    let mut fees = Vec::new();
    for c in 0..chains {
        let mut from = genesis.outpoint(c);
        let mut value = 10 * ann_ledger::COIN;
        for depth in 0..25u64 {
            let fee = 100 + depth * 10 + u64::from(c);
            value -= fee;
            let tx = ann_ledger::Transaction::new_signed(
                &[(from, &signer)],
                vec![TxOut {
                    amount: Amount::from_base_units(value).expect("small"),
                    address: owner.address(),
                }],
            );
            from = tx.outpoint(0);
            fees.push((fee, tx.encoded_len()));
            pool.add(tx, &chain).expect("within the policy");
        }
    }
    let utxos = chain.utxo_set().expect("store");
    let mut group = c.benchmark_group("template_4000_txs_in_chains_of_25");
    group.sample_size(20);
    group.bench_function("select_by_package_fee_rate", |b| {
        b.iter(|| black_box(pool.select(&utxos, usize::MAX, usize::MAX).len()));
    });
    group.bench_function("sort_by_own_fee_rate_reference", |b| {
        b.iter(|| {
            let mut sorted = fees.clone();
            sorted.sort_by(|a, b| {
                (u128::from(b.0) * a.1 as u128).cmp(&(u128::from(a.0) * b.1 as u128))
            });
            black_box(sorted.len())
        });
    });
    group.finish();
}

criterion_group!(
    benches,
    block_validation,
    block_validation_by_kind,
    interleaved_ratio,
    validation_stages,
    template
);
criterion_main!(benches);
