//! The wgpu backend trains the task (in CI on lavapipe, Mesa's software Vulkan), and the GPU
//! rule holds: a GPU-mined block is valid exactly when the CPU reference replay reproduces its
//! checkpoints bit for bit.

#![cfg(feature = "wgpu")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use ann_ledger::BlockHash;
use ann_mining::trace::chain_key;
use ann_mining::training::Trainer;
use ann_mining::verifier::{audit_challenge, audited_segments};
use ann_mining::{ArtifactStore, Backend, Miner, ProofError, TrainingVerifier, Weights};
use common::{data, task, template};

/// The measured divergence is a finding to report, not a property to assert.
#[allow(clippy::print_stderr)]
fn report(line: &str) {
    eprintln!("{line}");
}

/// Target for the GPU test: the chain's default difficulty.
const WGPU_TARGET_BP: u16 = 9000;

#[test]
fn wgpu_trains_the_task_and_the_gpu_rule_holds() {
    let header = template(1, BlockHash::ZERO, 4, WGPU_TARGET_BP);
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::open(dir.path()).unwrap();
    let miner = Miner::with_backend(task(), data(), store.clone(), Backend::Wgpu).unwrap();
    let mined = miner.mine(&header, |_| {}).unwrap();
    assert!(mined.accuracy_bp >= WGPU_TARGET_BP);

    // W0 is bit-identical on the GPU (it is built from host values).
    let seed = header.training_seed();
    let w0 = Weights::initial(&seed);
    assert_eq!(mined.trace.checkpoints()[0], w0.hash());

    // How far the GPU's first segment is from the CPU reference's.
    let key = chain_key(&seed, &w0.hash());
    let mut cpu = Trainer::new(&task(), data(), &Backend::Flex.device());
    let cpu_weights = cpu
        .train_segment(cpu.model(&w0), &key)
        .unwrap()
        .0
        .weights()
        .unwrap();
    let gpu_weights = store.get_checkpoint(&mined.trace.checkpoints()[1]).unwrap();
    let differing = cpu_weights.differing_parameters(&gpu_weights);
    let max_diff = cpu_weights.max_abs_diff(&gpu_weights);
    // Same training, different summation order: close, but a tolerance would be a forgery
    // budget, so consensus does not use one.
    assert!(max_diff < 1e-3, "GPU diverged: max |diff| {max_diff}");
    // Reported, not asserted: how far the GPU is from the reference (run with --nocapture).
    report(&format!(
        "wgpu vs flex after {} steps: {differing} of {} parameters differ, max |diff| {max_diff:e}",
        task().checkpoint_interval,
        ann_mining::model::PARAMETER_COUNT
    ));

    // The GPU rule: replay every GPU segment on the CPU reference; the verifier must accept
    // exactly when none of the segments it audits diverged.
    let keys = mined.trace.segment_keys(&seed);
    let mut diverged = Vec::new();
    for (segment, key) in keys.iter().enumerate() {
        let start = store
            .get_checkpoint(&mined.trace.checkpoints()[segment])
            .unwrap();
        let replay = cpu.train_segment(cpu.model(&start), key).unwrap().0;
        if replay.weights().unwrap().hash() != mined.trace.checkpoints()[segment + 1] {
            diverged.push(segment);
        }
    }
    // Segment 0 starts from the shared W0, so it diverges exactly when the weights differ.
    assert_eq!(differing > 0, diverged.contains(&0));
    let audited = audited_segments(
        &audit_challenge(&mined.header),
        mined.trace.segments(),
        task().audit_segments,
    );
    let verifier = TrainingVerifier::new(task(), data(), store).unwrap();
    let verdict = verifier.verify(&mined.header);
    report(&format!(
        "wgpu block: {} steps, {} of {} segments diverge on CPU replay, verdict {:?}",
        mined.header.training.steps,
        diverged.len(),
        mined.trace.segments(),
        verdict.as_ref().map(|_| ()).map_err(ToString::to_string)
    ));
    if audited.iter().any(|s| diverged.contains(s)) {
        let err = verdict.unwrap_err();
        assert!(matches!(err, ProofError::SegmentMismatch { .. }), "{err}");
    } else {
        verdict.unwrap();
    }
}
