//! Shared fixtures: the real MNIST data, block templates with real coinbases, and honest
//! blocks mined once per test binary (mining takes seconds; tampering tests copy the store).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use ann_ledger::{
    Address, Amount, BlockHash, BlockHeader, CompactTarget, Transaction, TxOut, merkle_root,
};
use ann_mining::trace::segment_key;
use ann_mining::training::{Engine, Trainer};
use ann_mining::verifier::{audit_challenge, audited_segments};
use ann_mining::{
    ArtifactStore, AuditProof, Backend, MinedBlock, Miner, Mnist, Task, Trace, Weights,
};
use ed25519_dalek::SigningKey;

/// The repository's MNIST directory.
pub fn mnist_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist")
}

/// The data set, loaded once.
pub fn data() -> Arc<Mnist> {
    static DATA: OnceLock<Arc<Mnist>> = OnceLock::new();
    Arc::clone(DATA.get_or_init(|| Arc::new(Mnist::load(mnist_dir()).expect("load MNIST"))))
}

/// The chain's task.
pub fn task() -> Task {
    Task::mnist(data().hash())
}

/// The engines of `backend`: its default, and the tensor step if that is another.
pub fn engines(backend: Backend, task: &Task) -> Vec<Engine> {
    let mut engines = vec![Engine::for_device(&backend.device(), task)];
    if engines[0] != Engine::Tensors {
        engines.push(Engine::Tensors);
    }
    engines
}

/// A trainer for every compiled backend and every engine it has (the flex backend's CPU
/// kernels and its tensor step; the tensor step elsewhere), named `backend/engine`.
pub fn every_trainer(task: &Task) -> Vec<(String, Trainer)> {
    let mut trainers = Vec::new();
    for backend in Backend::available() {
        let device = backend.device();
        for engine in engines(backend, task) {
            let trainer = Trainer::with_engine(task, data(), &device, engine).unwrap();
            trainers.push((format!("{backend}/{engine}"), trainer));
        }
    }
    assert!(
        trainers.iter().any(|(name, _)| name == "flex/cpu-kernels"),
        "the default CPU path is tested"
    );
    trainers
}

/// The work of the test blocks: every ticket but one in 2^24 wins, so that forged headers meet
/// the proof's own rules rather than losing the lottery (`tests/lottery.rs` tests the lottery).
pub const TEST_TICKETS: u128 = 1;

/// A block template at `height` on `prev`, whose coinbase pays `miner_key_byte`'s address, at
/// a work target of `expected_tickets`.
pub fn template(
    height: u64,
    prev: BlockHash,
    miner_key_byte: u8,
    expected_tickets: u128,
) -> BlockHeader {
    let key = SigningKey::from_bytes(&[miner_key_byte; 32]);
    let coinbase = Transaction::coinbase(
        height,
        vec![TxOut {
            amount: Amount::from_coins(50).unwrap(),
            address: Address::from_verifying_key(&key.verifying_key()),
        }],
    );
    BlockHeader {
        version: 1,
        height,
        prev_hash: prev,
        merkle_root: merkle_root(&[coinbase.txid()]),
        timestamp: 1_763_900_000 + height,
        bits: CompactTarget::from_expected_tickets(expected_tickets),
        training: Default::default(),
    }
}

/// An honest block, with its artifacts in a store.
pub struct Mined {
    pub block: MinedBlock,
    dir: PathBuf,
    /// Deletes `dir` on drop; `None` for the per-binary fixture, which lives in a static (never
    /// dropped) and so is kept under `target/tmp` and replaced by the next run instead.
    _temp: Option<tempfile::TempDir>,
}

impl Mined {
    pub fn store(&self) -> ArtifactStore {
        ArtifactStore::open(&self.dir).unwrap()
    }

    /// A private copy of the store, for tests that tamper with it.
    pub fn copy_store(&self) -> (tempfile::TempDir, ArtifactStore) {
        let copy = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(&self.dir).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), copy.path().join(entry.file_name())).unwrap();
        }
        let store = ArtifactStore::open(copy.path()).unwrap();
        (copy, store)
    }
}

fn mine_into(template: &BlockHeader, dir: PathBuf, temp: Option<tempfile::TempDir>) -> Mined {
    let store = ArtifactStore::open(&dir).unwrap();
    let miner = Miner::new(task(), data(), store.clone()).unwrap();
    let block = miner.mine(template, |_| ControlFlow::Continue(())).unwrap();
    // The miner writes only the checkpoints its audit opens; tampering tests re-commit
    // traces whose new audits open others, so store every checkpoint of the trace.
    let t = task();
    let seed = template.training_seed();
    let mut trainer = Trainer::new(&t, data(), &Backend::DEFAULT.device());
    let mut weights = Weights::initial(&seed, &t.arithmetic);
    store.put_checkpoint(&weights).unwrap();
    for (j, hash) in block.trace.checkpoints().iter().enumerate().skip(1) {
        let key = segment_key(&seed, j as u64 - 1, &block.trace.checkpoints()[j - 1]);
        weights = trainer
            .train_segment(trainer.model(&weights), &key)
            .unwrap()
            .0
            .weights()
            .unwrap();
        assert_eq!(store.put_checkpoint(&weights).unwrap(), *hash);
    }
    Mined {
        block,
        dir,
        _temp: temp,
    }
}

/// Mines `template` honestly into a fresh temporary store.
pub fn mine(template: &BlockHeader) -> Mined {
    let temp = tempfile::tempdir().unwrap();
    mine_into(template, temp.path().to_path_buf(), Some(temp))
}

/// Block 1 on a zero parent, paid to key 1, at [`TEST_TICKETS`]: mined once per test binary.
pub fn honest() -> &'static Mined {
    static MINED: OnceLock<Mined> = OnceLock::new();
    MINED.get_or_init(|| {
        // One directory per test binary under cargo's scratch space, emptied first.
        let exe = std::env::current_exe().unwrap();
        let name = exe.file_stem().unwrap().to_string_lossy().into_owned();
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("honest-block-{name}"));
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("clearing {}: {e}", dir.display()),
        }
        std::fs::create_dir_all(&dir).unwrap();
        mine_into(&template(1, BlockHash::ZERO, 1, TEST_TICKETS), dir, None)
    })
}

/// The golden vectors file, as a map.
pub fn golden_vectors() -> std::collections::BTreeMap<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/mining.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("vectors file")).unwrap()
}

/// Commits `header` to `trace` as a forger would: stores the trace and the audit proof that
/// the new commitment's challenge draws, and sets the step count, root and model hash.
pub fn commit_trace(
    t: &Task,
    store: &ArtifactStore,
    header: &BlockHeader,
    trace: &Trace,
) -> BlockHeader {
    let mut header = header.clone();
    let segments = trace.segments();
    header.training.task_id = t.id();
    header.training.steps = segments as u64 * u64::from(t.checkpoint_interval);
    header.training.checkpoint_root = store.put_trace(trace).unwrap();
    header.training.model_hash = trace.checkpoints()[segments];
    let audited = audited_segments(&audit_challenge(&header), segments as u64, t.audit_segments);
    let mut indices = vec![0, segments];
    for segment in audited {
        indices.extend([segment as usize, segment as usize + 1]);
    }
    let proof = AuditProof::from_trace(trace, &indices).unwrap();
    store
        .put_proof(&header.training.checkpoint_root, &proof)
        .unwrap();
    header
}
