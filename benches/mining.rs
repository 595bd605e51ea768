//! Criterion benches for `ann-mining`: training throughput per CPU backend (one model, and four
//! candidate models side by side on flex), the cost of mining
//! one block at the default difficulty (90 %), the cost of verifying it, and the parts of
//! verification (cheap checks, W0, the test-set evaluation, one replayed segment).
//!
//! `cargo bench --bench mining -- --warm-up-time 1 --measurement-time 5`
//! The verification/mining ratio is `verification/full` over `mining/block_90pct` (and
//! `high_target/verification_full_97_5pct` over `high_target/mining_block_97_5pct`).

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Training allocates and frees megabyte-sized tensors every step; glibc's malloc hands those
/// back to the kernel each time, and the page faults then cost as much as the arithmetic.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use blockchain_ann::ledger::{AccuracyTarget, BlockHash, BlockHeader, MerkleRoot, ProofVerifier};
use blockchain_ann::mining::trace::chain_key;
use blockchain_ann::mining::training::{Evaluator, Trainer};
use blockchain_ann::mining::{
    ArtifactStore, Backend, Miner, Mnist, Task, TrainingVerifier, Weights,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn data() -> Arc<Mnist> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    match Mnist::load(&dir) {
        Ok(data) => Arc::new(data),
        Err(e) => panic!("benches need data/mnist: {e}"),
    }
}

fn template(target_bp: u16) -> BlockHeader {
    BlockHeader {
        version: 1,
        height: 1,
        prev_hash: BlockHash::ZERO,
        merkle_root: MerkleRoot::from_bytes([0x42; 32]),
        timestamp: 1_763_900_000,
        target: match AccuracyTarget::from_basis_points(target_bp) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        },
        training: Default::default(),
    }
}

fn training_throughput(c: &mut Criterion) {
    let data = data();
    let task = Task::mnist(data.hash());
    let seed = [7u8; 32];
    let w0 = Weights::initial(&seed, &task.arithmetic);
    let key = chain_key(&seed, &w0.hash());
    let samples = u64::from(task.checkpoint_interval) * u64::from(task.batch_size);
    let mut group = c.benchmark_group("training");
    group.throughput(Throughput::Elements(samples));
    group.sample_size(20);
    for backend in Backend::available() {
        if backend.name() == "wgpu" {
            continue; // software Vulkan in CI says nothing about GPU speed
        }
        let mut trainer = Trainer::new(&task, Arc::clone(&data), &backend.device());
        group.bench_function(format!("segment_{backend}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let model = trainer.model(&w0);
                    let start = Instant::now();
                    let trained = trainer.train_segment(model, &key);
                    total += start.elapsed();
                    black_box(trained.is_ok());
                }
                total
            });
        });
    }
    group.finish();

    // Candidate models side by side (what a GPU miner batches): four on flex, each with its
    // own data, one batched product per operation.
    const CANDIDATES: usize = 4;
    let mut group = c.benchmark_group("training_candidates");
    group.throughput(Throughput::Elements(samples * CANDIDATES as u64));
    group.sample_size(10);
    let starts = vec![w0.clone(); CANDIDATES];
    let keys: Vec<[u8; 32]> = (0..CANDIDATES as u8).map(|i| key.map(|b| b ^ i)).collect();
    let mut trainer = Trainer::new(&task, Arc::clone(&data), &Backend::DEFAULT.device());
    group.bench_function(format!("segment_x{CANDIDATES}_flex"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let model = trainer.candidates(&starts);
                let start = Instant::now();
                let trained = trainer.train_segments(model, &keys);
                total += start.elapsed();
                black_box(trained.is_ok());
            }
            total
        });
    });
    group.finish();
}

/// A block mined at `target_bp` into a fresh store, with the miner and a verifier for it.
struct Setup {
    task: Task,
    dir: std::path::PathBuf,
    store: ArtifactStore,
    miner: Miner,
    header: BlockHeader,
    mined: blockchain_ann::mining::MinedBlock,
    verifier: TrainingVerifier,
}

fn setup(data: &Arc<Mnist>, target_bp: u16) -> Setup {
    let task = Task::mnist(data.hash());
    let dir = std::env::temp_dir().join(format!(
        "ann-mining-bench-{target_bp}-{}",
        std::process::id()
    ));
    let store = ArtifactStore::open(&dir).unwrap_or_else(|e| panic!("{e}"));
    let miner =
        Miner::new(task.clone(), Arc::clone(data), store.clone()).unwrap_or_else(|e| panic!("{e}"));
    let header = template(target_bp);
    let mined = miner
        .mine(&header, |_| {})
        .unwrap_or_else(|e| panic!("{e}"));
    let verifier = TrainingVerifier::new(task.clone(), Arc::clone(data), store.clone())
        .unwrap_or_else(|e| panic!("{e}"));
    Setup {
        task,
        dir,
        store,
        miner,
        header,
        mined,
        verifier,
    }
}

fn mining_and_verification(c: &mut Criterion) {
    let data = data();
    let Setup {
        task,
        dir,
        store,
        miner,
        header,
        mined,
        verifier,
    } = setup(&data, 9000);

    let mut group = c.benchmark_group("mining");
    group.sample_size(10);
    group.bench_function("block_90pct", |b| {
        b.iter(|| black_box(miner.mine(&header, |_| {}).is_ok()));
    });
    group.finish();

    let mut group = c.benchmark_group("verification");
    group.sample_size(10);
    group.bench_function("full", |b| {
        b.iter(|| black_box(verifier.verify_proof(&mined.header).is_ok()));
    });
    group.bench_function("cheap_checks", |b| {
        b.iter(|| {
            black_box(verifier.check_header(&mined.header).is_ok());
            black_box(
                store
                    .get_trace(
                        &mined.header.training.checkpoint_root,
                        task.checkpoints_for(mined.header.training.steps),
                    )
                    .is_ok(),
            );
        });
    });
    let seed = mined.header.training_seed();
    group.bench_function("w0_regenerate_and_hash", |b| {
        b.iter(|| black_box(Weights::initial(&seed, &task.arithmetic).hash()));
    });
    let evaluator = Evaluator::new(data.test(), &task.arithmetic, &Backend::DEFAULT.device());
    group.bench_function("test_set_accuracy", |b| {
        b.iter(|| black_box(evaluator.accuracy_of(&mined.weights).ok()));
    });
    let w0 = Weights::initial(&seed, &task.arithmetic);
    let key = chain_key(&seed, &w0.hash());
    let mut trainer = Trainer::new(&task, Arc::clone(&data), &Backend::DEFAULT.device());
    group.bench_function("replay_one_segment", |b| {
        b.iter(|| {
            let model = trainer.model(&w0);
            black_box(trainer.train_segment(model, &key).is_ok())
        });
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same pair at 97.5 %, where training (about 1,500 steps) dwarfs the verifier's fixed
/// costs (one evaluation, five segments): where the verification ratio falls towards 5 %.
fn high_target(c: &mut Criterion) {
    let Setup {
        dir,
        miner,
        header,
        mined,
        verifier,
        ..
    } = setup(&data(), 9750);
    let mut group = c.benchmark_group("high_target");
    group.sample_size(10);
    group.bench_function("mining_block_97_5pct", |b| {
        b.iter(|| black_box(miner.mine(&header, |_| {}).is_ok()));
    });
    group.bench_function("verification_full_97_5pct", |b| {
        b.iter(|| black_box(verifier.verify_proof(&mined.header).is_ok()));
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(
    benches,
    training_throughput,
    mining_and_verification,
    high_target
);
criterion_main!(benches);
