//! Timing harness for the numbers in `docs/proof-of-training.md` (medians of repeated runs),
//! for machines where building the root criterion bench (`benches/mining.rs`, the reference
//! measurement) is too slow, and for a GPU machine with no Rust toolchain (`scripts/gpu-check`):
//! `cargo build --release --workspace --examples && target/release/examples/measure`.
//!
//! Options: `--backends flex,ndarray,wgpu` (default: the CPU backends), `--engines
//! cpu-kernels,tensors` (default: every engine a backend has), `--candidates 1,8,32`
//! (models trained side by side), `--data DIR`, `--cross-verify` (mine a block on each
//! backend, verify it on each), `--skip-blocks` (no CPU block timings), `--tickets 40,400`
//! (the difficulties of the timed blocks).
//! Every backend also prints the root of the same 100-step trace: they must all agree.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// Training allocates and frees megabyte-sized tensors every step; glibc's malloc hands those
/// back to the kernel each time, and the page faults then cost as much as the arithmetic.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use ann_ledger::{BlockHash, BlockHeader, CompactTarget, MerkleRoot};
use ann_mining::trace::segment_key;
use ann_mining::training::{Engine, Evaluator, Trainer};
use ann_mining::{ArtifactStore, Backend, Miner, Mnist, Task, TrainingVerifier, Weights};

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn time<T>(repeats: usize, mut f: impl FnMut() -> T) -> f64 {
    median(
        (0..repeats)
            .map(|_| {
                let start = Instant::now();
                std::hint::black_box(f());
                start.elapsed().as_secs_f64()
            })
            .collect(),
    )
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

/// `--name value` from the command line.
fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist");
    let dir = arg("--data").map_or(dir, Into::into);
    let data = Arc::new(Mnist::load(dir).expect("data/mnist"));
    let task = Task::mnist(data.hash());
    let seed = [7u8; 32];
    let w0 = Weights::initial(&seed, &task.arithmetic);
    let key = segment_key(&seed, 0, &w0.hash());
    let samples = f64::from(task.checkpoint_interval * task.batch_size);
    // `--backends flex,wgpu`: which backends to time (default: the CPU ones).
    let backends: Vec<Backend> = match arg("--backends") {
        Some(list) => list
            .split(',')
            .map(|b| b.parse().expect("backend"))
            .collect(),
        None => Backend::available()
            .into_iter()
            .filter(|b| b.name() != "wgpu")
            .collect(),
    };
    // `--candidates 1,8,32`: models trained side by side in one batched product.
    let candidates: Vec<usize> = arg("--candidates")
        .unwrap_or_else(|| "1".into())
        .split(',')
        .map(|n| n.parse().expect("a count"))
        .collect();
    // Every engine of each backend (the flex backend's CPU kernels and its tensor step), or
    // those of `--engines cpu-kernels,tensors` that the backend has.
    let engines = arg("--engines");
    let runs: Vec<(Backend, Engine)> = backends
        .iter()
        .flat_map(|&backend| {
            let default = Engine::for_device(&backend.device(), &task);
            let mut engines_here = vec![default];
            if default != Engine::Tensors {
                engines_here.push(Engine::Tensors);
            }
            let wanted = engines.clone();
            engines_here
                .into_iter()
                .filter(move |e| {
                    wanted
                        .as_ref()
                        .is_none_or(|w| w.split(',').any(|n| n == e.name()))
                })
                .map(move |engine| (backend, engine))
        })
        .collect();
    for &(backend, engine) in &runs {
        let mut trainer =
            Trainer::with_engine(&task, Arc::clone(&data), &backend.device(), engine).unwrap();
        let backend = format!("{backend}/{engine}");
        // The same 100 steps on every backend: the trace root must be the same everywhere.
        let start = Instant::now();
        let trace = trainer.train_trace(&seed, &w0, 10).unwrap();
        println!(
            "exactness/{backend}: 100-step trace root {} ({:.0} ms with hashing)",
            trace.root(),
            start.elapsed().as_secs_f64() * 1e3
        );
        for &n in &candidates {
            let starts = vec![w0.clone(); n];
            let keys: Vec<[u8; 32]> = (0..n)
                .map(|i| segment_key(&key, 0, &w0.hash()).map(|b| b ^ i as u8))
                .collect();
            let repeats = if n > 1 { 7 } else { 15 };
            // Warm-up (kernel compilation on a GPU), then the median of timed segments. The
            // models are built before the clock starts; reading back one small tensor at the
            // end waits for a GPU to finish (reading the weights for hashing is timed apart;
            // the CPU kernels hand back host weights, already there).
            let mut secs = Vec::with_capacity(repeats);
            for _ in 0..=repeats {
                let model = trainer.candidates(&starts);
                let start = Instant::now();
                let (trained, _) = trainer.train_segments(model, &keys).unwrap();
                if let Some(parameters) = trained.parameters() {
                    let _ = parameters.output_bias.clone().into_data();
                }
                secs.push(start.elapsed().as_secs_f64());
            }
            secs.remove(0);
            let secs = median(secs);
            println!(
                "training/{backend}/candidates_{n}: {:.2} ms per segment of {n} x {samples} samples = {:.0} samples/s",
                secs * 1e3,
                n as f64 * samples / secs
            );
        }
    }
    // `--cross-verify`: mine a block on each listed backend and verify it on each.
    if std::env::args().any(|a| a == "--cross-verify") {
        for &miner_backend in &backends {
            let tmp = tempfile::tempdir().unwrap();
            let store = ArtifactStore::open(tmp.path()).unwrap();
            let miner = Miner::with_backend(
                task.clone(),
                Arc::clone(&data),
                store.clone(),
                miner_backend,
            )
            .unwrap();
            let header = template(4);
            let start = Instant::now();
            let mined = miner
                .mine(&header, |_| std::ops::ControlFlow::Continue(()))
                .unwrap();
            println!(
                "cross/{miner_backend}: mined a block of 4 expected tickets in {:.0} ms ({} steps, {} bp, model {})",
                start.elapsed().as_secs_f64() * 1e3,
                mined.header.training.steps,
                mined.accuracy_bp,
                mined.header.training.model_hash
            );
            for &verifier_backend in &backends {
                let verifier = TrainingVerifier::with_backend(
                    task.clone(),
                    Arc::clone(&data),
                    store.clone(),
                    verifier_backend,
                )
                .unwrap();
                let verdict = verifier.verify(&mined.header);
                println!(
                    "cross/{miner_backend}->{verifier_backend}: {}",
                    match verdict {
                        Ok(v) => format!(
                            "valid ({} bp, audited {:?})",
                            v.accuracy_bp, v.audited_segments
                        ),
                        Err(e) => format!("REJECTED: {e}"),
                    }
                );
            }
        }
    }
    if std::env::args().any(|a| a == "--skip-blocks") {
        return;
    }

    // Blocks at several difficulties (`--tickets 40,400`): mining rate in tickets per second,
    // and full verification, which must cost the same whatever the work.
    let ticket_list: Vec<u128> = arg("--tickets")
        .unwrap_or_else(|| "40,400".into())
        .split(',')
        .map(|t| t.parse().unwrap())
        .collect();
    for expected in ticket_list {
        let header = template(expected);
        let tmp = tempfile::tempdir().unwrap();
        let store = ArtifactStore::open(tmp.path()).unwrap();
        let miner = Miner::new(task.clone(), Arc::clone(&data), store.clone()).unwrap();
        let start = Instant::now();
        let mined = miner
            .mine(&header, |_| std::ops::ControlFlow::Continue(()))
            .unwrap();
        let secs = start.elapsed().as_secs_f64();
        let segments = mined.trace.segments() as f64;
        let verifier =
            TrainingVerifier::new(task.clone(), Arc::clone(&data), store.clone()).unwrap();
        let verified = verifier.verify(&mined.header).unwrap();
        let verify = time(5, || verifier.verify(&mined.header).is_ok());
        let precheck = time(21, || verifier.precheck(&mined.header).is_ok());
        println!(
            "block/{expected}_tickets: mined in {:.2} s ({} steps, {} tickets, {:.1} segments/s incl. artifacts), \
             full verification {:.0} ms (audited {:?}), pre-checks {:.2} ms",
            secs,
            mined.header.training.steps,
            mined.tickets,
            segments / secs,
            verify * 1e3,
            verified.audited_segments,
            precheck * 1e3
        );
    }
    let mut trainer = Trainer::new(&task, Arc::clone(&data), &Backend::DEFAULT.device());
    let mut model = Some(trainer.model(&w0));
    let mut hash = w0.hash();
    let mut index = 0u64;
    let ticket_secs = time(50, || {
        let k = segment_key(&seed, index, &hash);
        let (next, _) = trainer.train_segment(model.take().unwrap(), &k).unwrap();
        hash = next.weights().unwrap().hash();
        index += 1;
        model = Some(next);
        ann_ledger::ticket(&seed, index * 10, &hash)
    });
    let trained = trainer.model(&w0);
    let readback = time(50, || trained.weights().is_ok());
    let weights = trained.weights().unwrap();
    let hashing = time(50, || weights.hash());
    println!(
        "mining/ticket parts: weights read back from the device {:.2} ms, hashed {:.2} ms",
        readback * 1e3,
        hashing * 1e3
    );
    let main = ann_ledger::Difficulty::main();
    let main_mining = main.initial.work() as f64 * ticket_secs;
    println!(
        "mining/ticket_flex: {:.2} ms per ticket = {:.1} tickets/s; the main preset's {} expected tickets take {:.0} s",
        ticket_secs * 1e3,
        1.0 / ticket_secs,
        main.initial.work(),
        main_mining
    );

    let header = template(4);
    let tmp = tempfile::tempdir().unwrap();
    let store = ArtifactStore::open(tmp.path()).unwrap();
    let miner = Miner::new(task.clone(), Arc::clone(&data), store.clone()).unwrap();
    let mined = miner
        .mine(&header, |_| std::ops::ControlFlow::Continue(()))
        .unwrap();
    let verifier = TrainingVerifier::new(task.clone(), Arc::clone(&data), store.clone()).unwrap();
    let verify = time(7, || verifier.verify(&mined.header).is_ok());
    println!(
        "verification/full: {:.0} ms = {:.2} % of the expected mining time at the main preset",
        verify * 1e3,
        100.0 * verify / main_mining
    );
    let w0_cost = time(7, || {
        Weights::initial(&mined.header.training_seed(), &task.arithmetic).hash()
    });
    let load = time(7, || {
        store
            .get_checkpoint(&mined.trace.checkpoints()[mined.trace.segments()])
            .is_ok()
    });
    let evaluator = Evaluator::new(data.test(), &task.arithmetic, &Backend::DEFAULT.device());
    let eval = time(7, || evaluator.accuracy_of(&mined.weights).is_ok());
    let replay = time(7, || {
        let model = trainer.model(&w0);
        trainer
            .train_segment(model, &key)
            .map(|(m, _)| m.weights().map(|w| w.hash()))
            .is_ok()
    });
    println!(
        "verification parts: W0 regenerate+hash {:.1} ms, checkpoint load+hash {:.1} ms, \
         test-set accuracy {:.0} ms, one segment replay+hash {:.1} ms",
        w0_cost * 1e3,
        load * 1e3,
        eval * 1e3,
        replay * 1e3
    );
}
