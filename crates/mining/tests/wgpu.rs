//! The GPU rule: any backend mines, any backend verifies. A block mined on wgpu (lavapipe,
//! Mesa's software Vulkan, in CI; a real GPU where there is one) verifies on flex, and a block
//! mined on flex verifies on wgpu, with every checkpoint of the wgpu trace reproduced on the
//! CPU bit for bit.

#![cfg(feature = "wgpu")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use ann_ledger::BlockHash;
use ann_mining::training::Trainer;
use ann_mining::{ArtifactStore, Backend, Miner, TrainingVerifier, Weights};
use common::{TEST_TICKETS, data, honest, task, template};

#[test]
fn a_block_mined_on_wgpu_verifies_on_flex_segment_by_segment() {
    let header = template(1, BlockHash::ZERO, 4, TEST_TICKETS);
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::open(dir.path()).unwrap();
    let miner = Miner::with_backend(task(), data(), store.clone(), Backend::Wgpu).unwrap();
    let mined = miner
        .mine(&header, |_| std::ops::ControlFlow::Continue(()))
        .unwrap();
    assert!(mined.accuracy_bp >= task().accuracy_gate.basis_points());
    let seed = header.training_seed();
    assert_eq!(
        mined.trace.checkpoints()[0],
        Weights::initial(&seed, &task().arithmetic).hash()
    );

    // The GPU's whole trace, trained again on the CPU, is the same checkpoint by checkpoint.
    let mut cpu = Trainer::new(&task(), data(), &Backend::Flex.device());
    let w0 = Weights::initial(&seed, &task().arithmetic);
    let replay = cpu.train_trace(&seed, &w0, mined.trace.segments()).unwrap();
    assert_eq!(replay.checkpoints(), mined.trace.checkpoints());
    // And the verifier on flex accepts the block, measuring the miner's accuracy.
    let verifier = TrainingVerifier::with_backend(task(), data(), store, Backend::Flex).unwrap();
    let verified = verifier.verify(&mined.header).unwrap();
    assert_eq!(verified.accuracy_bp, mined.accuracy_bp);
}

#[test]
fn a_block_mined_on_flex_verifies_on_wgpu() {
    let mined = honest();
    let verifier =
        TrainingVerifier::with_backend(task(), data(), mined.store(), Backend::Wgpu).unwrap();
    let verified = verifier.verify(&mined.block.header).unwrap();
    assert_eq!(verified.accuracy_bp, mined.block.accuracy_bp);
}
