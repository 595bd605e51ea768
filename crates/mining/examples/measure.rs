//! Timing harness for the numbers in `docs/proof-of-training.md` (medians of repeated runs),
//! for machines where building the root criterion bench (`benches/mining.rs`, the reference
//! measurement) is too slow:
//! `cargo build --release --workspace --examples && target/release/examples/measure`.

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

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist");
    let data = Arc::new(Mnist::load(dir).expect("data/mnist"));
    let task = Task::mnist(data.hash());
    let seed = [7u8; 32];
    let w0 = Weights::initial(&seed);
    let key = chain_key(&seed, &w0.hash());
    let samples = f64::from(task.checkpoint_interval * task.batch_size);
    for backend in Backend::available() {
        if backend.name() == "wgpu" {
            continue;
        }
        let mut trainer = Trainer::new(&task, Arc::clone(&data), &backend.device());
        let secs = time(15, || {
            let model = trainer.model(&w0);
            trainer.train_segment(model, &key).is_ok()
        });
        println!(
            "training/{backend}: {:.1} ms per segment of {samples} samples = {:.0} samples/s",
            secs * 1e3,
            samples / secs
        );
    }

    let header = BlockHeader {
        version: 1,
        height: 1,
        prev_hash: BlockHash::ZERO,
        merkle_root: MerkleRoot::from_bytes([0x42; 32]),
        timestamp: 1_763_900_000,
        target: AccuracyTarget::from_basis_points(9000).unwrap(),
        training: Default::default(),
    };
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
    let w0_cost = time(7, || Weights::initial(&mined.header.training_seed()).hash());
    let load = time(7, || {
        store.get_checkpoint(&mined.trace.checkpoints()[1]).is_ok()
    });
    let evaluator = Evaluator::new(data.test(), &Backend::REFERENCE.device());
    let eval = time(7, || evaluator.accuracy_of(&mined.weights).is_ok());
    let mut trainer = Trainer::new(&task, Arc::clone(&data), &Backend::REFERENCE.device());
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
