//! Criterion benches for `ann-mining`: training throughput per CPU backend and engine (flex's
//! CPU kernels, `segment_flex`, and its tensor step, `segment_flex_tensors`; one model, and four
//! candidate models side by side on flex), mining throughput in tickets per second, the full
//! verification of blocks whose work differs 10x (its cost must not grow with the work), and
//! the parts of verification (pre-checks, W0, the test-set evaluation, one replayed segment).
//!
//! `cargo bench --bench mining -- --warm-up-time 1 --measurement-time 5`
//! PyTorch's float training of the same network, interleaved with ours on the same machine:
//! `python3 scripts/compare_cpu.py` (see its docs).
//! The verification/mining ratio at the main network's interval is `verification/full_*` over
//! the main preset's expected tickets (5,000) divided by `mining/ticket_flex`'s rate.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Training allocates and frees megabyte-sized tensors every step; glibc's malloc hands those
/// back to the kernel each time, and the page faults then cost as much as the arithmetic.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::ops::ControlFlow;

use blockchain_ann::ledger::{
    BlockHash, BlockHeader, CompactTarget, MerkleRoot, ProofVerifier, ticket,
};
use blockchain_ann::mining::trace::segment_key;
use blockchain_ann::mining::training::{Engine, Evaluator, Trainer};
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

fn template(expected_tickets: u128) -> BlockHeader {
    BlockHeader {
        version: 1,
        height: 1,
        prev_hash: BlockHash::ZERO,
        merkle_root: MerkleRoot::from_bytes([0x42; 32]),
        timestamp: 1_763_900_000,
        bits: CompactTarget::from_expected_tickets(expected_tickets),
        training: Default::default(),
    }
}

fn training_throughput(c: &mut Criterion) {
    let data = data();
    let task = Task::mnist(data.hash());
    let seed = [7u8; 32];
    let w0 = Weights::initial(&seed, &task.arithmetic);
    let key = segment_key(&seed, 0, &w0.hash());
    let samples = u64::from(task.checkpoint_interval) * u64::from(task.batch_size);
    let mut group = c.benchmark_group("training");
    group.throughput(Throughput::Elements(samples));
    group.sample_size(20);
    for backend in Backend::available() {
        if backend.name() == "wgpu" {
            continue; // software Vulkan in CI says nothing about GPU speed
        }
        let device = backend.device();
        let default = Engine::for_device(&device, &task);
        let mut engines = vec![(format!("segment_{backend}"), default)];
        if default != Engine::Tensors {
            engines.push((format!("segment_{backend}_tensors"), Engine::Tensors));
        }
        for (name, engine) in engines {
            let mut trainer = Trainer::with_engine(&task, Arc::clone(&data), &device, engine)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            group.bench_function(name, |b| {
                time_segments(b, &mut trainer, std::slice::from_ref(&w0), &[key]);
            });
        }
    }
    group.finish();

    // Candidate models side by side (what a GPU miner batches): four on flex, each with its
    // own data (the CPU kernels train them one after the other).
    const CANDIDATES: usize = 4;
    let mut group = c.benchmark_group("training_candidates");
    group.throughput(Throughput::Elements(samples * CANDIDATES as u64));
    group.sample_size(10);
    let starts = vec![w0.clone(); CANDIDATES];
    let keys: Vec<[u8; 32]> = (0..CANDIDATES as u8).map(|i| key.map(|b| b ^ i)).collect();
    let mut trainer = Trainer::new(&task, Arc::clone(&data), &Backend::DEFAULT.device());
    group.bench_function(format!("segment_x{CANDIDATES}_flex"), |b| {
        time_segments(b, &mut trainer, &starts, &keys);
    });
    group.finish();
}

/// Times one segment of each of `starts` (keyed by `keys`), the models built untimed.
fn time_segments(
    b: &mut criterion::Bencher<'_>,
    trainer: &mut Trainer,
    starts: &[Weights],
    keys: &[[u8; 32]],
) {
    b.iter_custom(|iters| {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let model = trainer.candidates(starts);
            let start = Instant::now();
            let trained = trainer.train_segments(model, keys);
            total += start.elapsed();
            black_box(trained.is_ok());
        }
        total
    });
}

/// A block mined at `expected_tickets` into a fresh store, with a verifier for it.
struct Setup {
    dir: std::path::PathBuf,
    mined: blockchain_ann::mining::MinedBlock,
    verifier: TrainingVerifier,
}

fn setup(data: &Arc<Mnist>, expected_tickets: u128) -> Setup {
    let task = Task::mnist(data.hash());
    let dir = std::env::temp_dir().join(format!(
        "ann-mining-bench-{expected_tickets}-{}",
        std::process::id()
    ));
    let store = ArtifactStore::open(&dir).unwrap_or_else(|e| panic!("{e}"));
    let miner =
        Miner::new(task.clone(), Arc::clone(data), store.clone()).unwrap_or_else(|e| panic!("{e}"));
    let mined = miner
        .mine(&template(expected_tickets), |_| ControlFlow::Continue(()))
        .unwrap_or_else(|e| panic!("{e}"));
    let verifier =
        TrainingVerifier::new(task, Arc::clone(data), store).unwrap_or_else(|e| panic!("{e}"));
    Setup {
        dir,
        mined,
        verifier,
    }
}

/// One ticket as a miner draws it: a segment, the weights read back and hashed, the ticket.
fn mining_throughput(c: &mut Criterion) {
    let data = data();
    let task = Task::mnist(data.hash());
    let seed = [9u8; 32];
    let w0 = Weights::initial(&seed, &task.arithmetic);
    let mut group = c.benchmark_group("mining");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    for backend in Backend::available() {
        if backend.name() == "wgpu" && std::env::var_os("ANN_BENCH_WGPU").is_none() {
            continue; // software Vulkan in CI says nothing about GPU speed
        }
        let mut trainer = Trainer::new(&task, Arc::clone(&data), &backend.device());
        let mut model = Some(trainer.model(&w0));
        let mut hash = w0.hash();
        let mut steps = 0u64;
        group.bench_function(format!("ticket_{backend}"), |b| {
            b.iter(|| {
                let key = segment_key(&seed, steps / 10, &hash);
                let current = model.take().unwrap_or_else(|| trainer.model(&w0));
                let (next, _) = trainer
                    .train_segment(current, &key)
                    .unwrap_or_else(|e| panic!("{e}"));
                hash = next.weights().unwrap_or_else(|e| panic!("{e}")).hash();
                steps += 10;
                model = Some(next);
                black_box(ticket(&seed, steps, &hash))
            });
        });
    }
    group.finish();
}

/// Full verification of a block of about 40 expected tickets and of one of 400: the cost must
/// be the same (it reads a few checkpoints through Merkle openings, never the trace).
fn verification(c: &mut Criterion) {
    let data = data();
    let small = setup(&data, 40);
    let large = setup(&data, 400);
    let mut group = c.benchmark_group("verification");
    group.sample_size(10);
    for (name, block) in [("full_40_tickets", &small), ("full_400_tickets", &large)] {
        group.bench_function(name, |b| {
            b.iter(|| black_box(block.verifier.verify_proof(&block.mined.header).is_ok()));
        });
    }
    let verifier = &large.verifier;
    let header = &large.mined.header;
    group.bench_function("prechecks", |b| {
        b.iter(|| black_box(verifier.precheck(header).is_ok()));
    });
    let task = verifier.task().clone();
    let seed = header.training_seed();
    group.bench_function("w0_regenerate_and_hash", |b| {
        b.iter(|| black_box(Weights::initial(&seed, &task.arithmetic).hash()));
    });
    let evaluator = Evaluator::new(data.test(), &task.arithmetic, &Backend::DEFAULT.device());
    group.bench_function("test_set_accuracy", |b| {
        b.iter(|| black_box(evaluator.accuracy_of(&large.mined.weights).ok()));
    });
    let w0 = Weights::initial(&seed, &task.arithmetic);
    let key = segment_key(&seed, 0, &w0.hash());
    let mut trainer = Trainer::new(&task, Arc::clone(&data), &Backend::DEFAULT.device());
    group.bench_function("replay_one_segment", |b| {
        b.iter(|| {
            let model = trainer.model(&w0);
            black_box(trainer.train_segment(model, &key).is_ok())
        });
    });
    group.finish();
    for block in [small, large] {
        let _ = std::fs::remove_dir_all(&block.dir);
    }
}

criterion_group!(
    benches,
    training_throughput,
    mining_throughput,
    verification
);
criterion_main!(benches);
