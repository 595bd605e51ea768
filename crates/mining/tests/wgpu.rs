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
use common::{data, honest, task, template};

/// Target for the GPU test: the chain's default difficulty.
const WGPU_TARGET_BP: u16 = 9000;

#[test]
fn a_block_mined_on_wgpu_verifies_on_flex_segment_by_segment() {
    let header = template(1, BlockHash::ZERO, 4, WGPU_TARGET_BP);
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::open(dir.path()).unwrap();
    let miner = Miner::with_backend(task(), data(), store.clone(), Backend::Wgpu).unwrap();
    let mined = miner.mine(&header, |_| {}).unwrap();
    assert!(mined.accuracy_bp >= WGPU_TARGET_BP);
    let seed = header.training_seed();
    assert_eq!(
        mined.trace.checkpoints()[0],
        Weights::initial(&seed, &task().arithmetic).hash()
    );

    // Every segment of the GPU's trace, replayed on the CPU, gives the committed checkpoint.
    let mut cpu = Trainer::new(&task(), data(), &Backend::Flex.device());
    let keys = mined.trace.segment_keys(&seed);
    for (segment, key) in keys.iter().enumerate() {
        let start = store
            .get_checkpoint(&mined.trace.checkpoints()[segment])
            .unwrap();
        let replay = cpu.train_segment(cpu.model(&start), key).unwrap().0;
        assert_eq!(
            replay.weights().unwrap().hash(),
            mined.trace.checkpoints()[segment + 1],
            "segment {segment}"
        );
    }
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
