//! Timing harness for the numbers in `docs/proof-of-training.md` (medians of repeated runs),
//! for machines where building the root criterion bench (`benches/mining.rs`, the reference
//! measurement) is too slow, and for a GPU machine with no Rust toolchain (`scripts/gpu-check`):
//! `cargo build --release --workspace --examples && target/release/examples/measure`.
//!
//! Options: `--backends flex,ndarray,wgpu` (default: the CPU backends), `--candidates 1,8,32`
//! (models trained side by side), `--data DIR`, `--cross-verify` (mine a block on each
//! backend, verify it on each), `--skip-blocks` (no CPU block timings).
//! Every backend also prints the root of the same 100-step trace: they must all agree.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// Training allocates and frees megabyte-sized tensors every step; glibc's malloc hands those
/// back to the kernel each time, and the page faults then cost as much as the arithmetic.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use ann_ledger::{AccuracyTarget, BlockHash, BlockHeader, MerkleRoot};
use ann_mining::trace::chain_key;
use ann_mining::training::{Evaluator, Trainer};
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

fn template(target_bp: u16) -> BlockHeader {
    BlockHeader {
        version: 1,
        height: 1,
        prev_hash: BlockHash::ZERO,
        merkle_root: MerkleRoot::from_bytes([0x42; 32]),
        timestamp: 1_763_900_000,
        target: AccuracyTarget::from_basis_points(target_bp).unwrap(),
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
    let key = chain_key(&seed, &w0.hash());
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
    for &backend in &backends {
        let mut trainer = Trainer::new(&task, Arc::clone(&data), &backend.device());
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
                .map(|i| chain_key(&key, &w0.hash()).map(|b| b ^ i as u8))
                .collect();
            let repeats = if n > 1 { 7 } else { 15 };
            // Warm-up (kernel compilation on a GPU), then the median of timed segments. The
            // models are built before the clock starts; reading back one small tensor at the
            // end waits for a GPU to finish (reading the weights for hashing is timed apart).
            let mut secs = Vec::with_capacity(repeats);
            for _ in 0..=repeats {
                let model = trainer.candidates(&starts);
                let start = Instant::now();
                let (trained, _) = trainer.train_segments(model, &keys).unwrap();
                let _ = trained.parameters().output_bias.clone().into_data();
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
    // `--cross-verify`: mine a 90 % block on each listed backend and verify it on each.
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
            let header = template(9000);
            let start = Instant::now();
            let mined = miner.mine(&header, |_| {}).unwrap();
            println!(
                "cross/{miner_backend}: mined a 90 % block in {:.0} ms ({} steps, {} bp, model {})",
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

    let header = template(9000);
    let tmp = tempfile::tempdir().unwrap();
    let store = ArtifactStore::open(tmp.path()).unwrap();
    let miner = Miner::new(task.clone(), Arc::clone(&data), store.clone()).unwrap();
    let mined = miner.mine(&header, |_| {}).unwrap();
    let mine = time(5, || miner.mine(&header, |_| {}).is_ok());
    let verifier = TrainingVerifier::new(task.clone(), Arc::clone(&data), store.clone()).unwrap();
    let verified = verifier.verify(&mined.header).unwrap();
    let verify = time(7, || verifier.verify(&mined.header).is_ok());
    println!(
        "mining/block_90pct: {:.0} ms ({} steps, accuracy {} bp)",
        mine * 1e3,
        mined.header.training.steps,
        mined.accuracy_bp
    );
    println!(
        "verification/full: {:.0} ms (audited segments {:?}) = {:.1} % of mining",
        verify * 1e3,
        verified.audited_segments,
        100.0 * verify / mine
    );
    let cheap = time(21, || {
        verifier.check_header(&mined.header).is_ok()
            && store
                .get_trace(
                    &mined.header.training.checkpoint_root,
                    task.checkpoints_for(mined.header.training.steps),
                )
                .is_ok()
    });
    let w0_cost = time(7, || {
        Weights::initial(&mined.header.training_seed(), &task.arithmetic).hash()
    });
    let load = time(7, || {
        store.get_checkpoint(&mined.trace.checkpoints()[1]).is_ok()
    });
    let evaluator = Evaluator::new(data.test(), &task.arithmetic, &Backend::DEFAULT.device());
    let eval = time(7, || evaluator.accuracy_of(&mined.weights).is_ok());
    let mut trainer = Trainer::new(&task, Arc::clone(&data), &Backend::DEFAULT.device());
    let replay = time(7, || {
        let model = trainer.model(&w0);
        trainer
            .train_segment(model, &key)
            .map(|(m, _)| m.weights().map(|w| w.hash()))
            .is_ok()
    });
    println!(
        "verification parts: header+trace {:.2} ms, W0 regenerate+hash {:.1} ms, \
         checkpoint load+hash {:.1} ms, test-set accuracy {:.0} ms, one segment replay+hash {:.1} ms",
        cheap * 1e3,
        w0_cost * 1e3,
        load * 1e3,
        eval * 1e3,
        replay * 1e3
    );
}
