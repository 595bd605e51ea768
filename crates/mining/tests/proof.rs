//! The properties of proof of training (docs/proof-of-training.md), each as a test that
//! fails if the property breaks: honest blocks pass, and each forgery is rejected with the
//! error of the rule it breaks.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use ann_ledger::{BlockHash, BlockHeader, ModelHash, ProofVerifier, TrainingCommitment};
use ann_mining::artifact::ArtifactError;
use ann_mining::trace::{Trace, chain_key};
use ann_mining::training::Trainer;
use ann_mining::verifier::{audit_challenge, audited_segments};
use ann_mining::{ArtifactStore, Backend, ProofError, TrainingVerifier, Weights};
use common::{data, honest, task, template};

fn verifier(store: ArtifactStore) -> TrainingVerifier {
    TrainingVerifier::new(task(), data(), store).unwrap()
}

/// Verifies `header` against an empty artifact store: the error of a rule that must fire
/// before any artifact is read.
fn verify_without_artifacts(header: &BlockHeader) -> ProofError {
    let empty = tempfile::tempdir().unwrap();
    verifier(ArtifactStore::open(empty.path()).unwrap())
        .verify(header)
        .unwrap_err()
}

#[test]
fn honest_block_passes_and_reaches_its_target() {
    let mined = honest();
    let header = &mined.block.header;
    let verified = verifier(mined.store()).verify(header).unwrap();
    assert!(verified.accuracy_bp >= 9000, "{verified:?}");
    assert_eq!(verified.accuracy_bp, mined.block.accuracy_bp);
    // The last segment is always replayed, plus s others when the trace is long enough.
    let segments = mined.block.trace.segments();
    assert!(verified.audited_segments.contains(&(segments - 1)));
    let expected = (task().audit_segments as usize + 1).min(segments);
    assert_eq!(verified.audited_segments.len(), expected);
    // The commitment is what the trace says.
    assert_eq!(header.training.task_id, task().id());
    assert_eq!(header.training.checkpoint_root, mined.block.trace.root());
    assert_eq!(
        header.training.steps,
        segments as u64 * u64::from(task().checkpoint_interval)
    );
    assert_eq!(
        header.training.model_hash.as_bytes(),
        &mined.block.weights.hash().0
    );
    // Through the ledger's trait too.
    verifier(mined.store()).verify_proof(header).unwrap();
}

#[test]
fn proof_for_another_block_is_rejected() {
    let mined = honest();
    for other in [
        // another parent
        template(1, BlockHash::from_bytes([7; 32]), 1, 9000),
        // another height
        template(2, BlockHash::ZERO, 1, 9000),
    ] {
        let mut header = other;
        header.training = mined.block.header.training;
        let err = verifier(mined.store()).verify(&header).unwrap_err();
        assert!(
            matches!(err, ProofError::NotFromInitialWeights { .. }),
            "{err}"
        );
    }
}

#[test]
fn proof_for_another_coinbase_is_rejected() {
    let mined = honest();
    // Same block, but the coinbase pays key 2: another Merkle root.
    let mut header = template(1, BlockHash::ZERO, 2, 9000);
    assert_ne!(header.merkle_root, mined.block.header.merkle_root);
    header.training = mined.block.header.training;
    let err = verifier(mined.store()).verify(&header).unwrap_err();
    assert!(
        matches!(err, ProofError::NotFromInitialWeights { .. }),
        "{err}"
    );
}

#[test]
fn proof_for_another_task_is_rejected() {
    let mined = honest();
    // A chain whose task differs only in its label smoothing does not accept the proof...
    let mut other_task = task();
    other_task.arithmetic.label_smoothing += 1;
    let other = TrainingVerifier::new(other_task, data(), mined.store()).unwrap();
    let err = other.verify(&mined.block.header).unwrap_err();
    assert!(matches!(err, ProofError::WrongTask { .. }), "{err}");
    // ...and a header naming another task is rejected before any artifact is read.
    let mut header = mined.block.header.clone();
    header.training.task_id = other.task().id();
    let err = verify_without_artifacts(&header);
    assert!(matches!(err, ProofError::WrongTask { .. }), "{err}");
}

#[test]
fn step_counts_off_the_evaluation_grid_or_above_the_cap_are_rejected() {
    let mined = honest();
    let t = task();
    for steps in [
        0,
        u64::from(t.eval_interval) + 1,
        t.max_steps + u64::from(t.eval_interval),
    ] {
        let mut header = mined.block.header.clone();
        header.training.steps = steps;
        let err = verifier(mined.store()).verify(&header).unwrap_err();
        assert!(
            matches!(err, ProofError::InvalidStepCount { .. }),
            "{steps}: {err}"
        );
    }
}

#[test]
fn fewer_steps_than_the_targets_floor_are_rejected_before_any_artifact_is_read() {
    let mined = honest();
    let t = task();
    // 95 %: a floor above one evaluation interval, so one interval short is a valid count.
    let mut header = mined.block.header.clone();
    header.target = ann_ledger::AccuracyTarget::from_basis_points(9500).unwrap();
    let floor = t.min_steps(9500);
    assert!(
        floor > u64::from(t.eval_interval),
        "the 95 % target has a floor above one evaluation"
    );
    header.training.steps = floor - u64::from(t.eval_interval);
    match verify_without_artifacts(&header) {
        ProofError::TooFewSteps {
            steps,
            min_steps,
            target_bp,
        } => {
            assert_eq!(
                (steps, min_steps, target_bp),
                (header.training.steps, floor, 9500)
            );
        }
        other => panic!("expected TooFewSteps, got {other}"),
    }
}

#[test]
fn the_miner_trains_to_the_floor_even_when_the_target_comes_earlier() {
    // 80 % is reached within the first evaluation; a floor of 150 steps at 80 % must still
    // make the miner train 150 steps, and the verifier of that task accepts the block.
    let mut t = task();
    t.step_floors = vec![ann_mining::StepFloor {
        target_bp: 8000,
        min_steps: 150,
    }];
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::open(dir.path()).unwrap();
    let miner = ann_mining::Miner::new(t.clone(), data(), store.clone()).unwrap();
    let mut evaluated_at = Vec::new();
    let block = miner
        .mine(&template(1, BlockHash::ZERO, 1, 8000), |p| {
            if p.accuracy_bp.is_some() {
                evaluated_at.push(p.step);
            }
        })
        .unwrap();
    assert_eq!(block.header.training.steps, 150);
    assert_eq!(evaluated_at, vec![150], "no evaluation below the floor");
    let verified = TrainingVerifier::new(t, data(), store)
        .unwrap()
        .verify(&block.header)
        .unwrap();
    assert!(verified.accuracy_bp >= 8000);
}

#[test]
fn model_trained_elsewhere_is_rejected() {
    // A model honestly trained for another block (another coinbase), presented for this one:
    // its trace starts at the other block's W0.
    let elsewhere = common::mine(&template(1, BlockHash::ZERO, 3, 9000));
    let mut header = honest().block.header.clone();
    header.training = elsewhere.block.header.training;
    let err = verifier(elsewhere.store()).verify(&header).unwrap_err();
    match err {
        ProofError::NotFromInitialWeights { expected, found } => {
            assert_eq!(expected, honest().block.trace.checkpoints()[0]);
            assert_eq!(found, elsewhere.block.trace.checkpoints()[0]);
        }
        other => panic!("{other}"),
    }

    // Splicing it onto this block's W0 (the trace starts right, then jumps to the foreign
    // model) is caught by the always-audited last segment.
    let (_dir, store) = honest().copy_store();
    for hash in elsewhere.block.trace.checkpoints() {
        let weights = elsewhere.store().get_checkpoint(hash).unwrap();
        store.put_checkpoint(&weights).unwrap();
    }
    let mut spliced = vec![honest().block.trace.checkpoints()[0]];
    spliced.extend_from_slice(&elsewhere.block.trace.checkpoints()[1..]);
    let spliced = Trace::new(spliced);
    let mut header = honest().block.header.clone();
    header.training.checkpoint_root = store.put_trace(&spliced).unwrap();
    header.training.steps = elsewhere.block.header.training.steps;
    header.training.model_hash = elsewhere.block.header.training.model_hash;
    let err = verifier(store).verify(&header).unwrap_err();
    assert!(matches!(err, ProofError::SegmentMismatch { .. }), "{err}");
}

#[test]
fn tampered_checkpoint_is_rejected() {
    let mined = honest();
    let (_dir, store) = mined.copy_store();
    let last = *mined.block.trace.checkpoints().last().unwrap();
    let path = store.checkpoint_path(&last);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[1234] ^= 0x40;
    std::fs::write(&path, bytes).unwrap();
    let err = verifier(store).verify(&mined.block.header).unwrap_err();
    match err {
        ProofError::Checkpoint {
            index,
            source: ArtifactError::Tampered { .. },
        } => assert_eq!(index, mined.block.trace.segments()),
        other => panic!("{other}"),
    }
}

#[test]
fn truncated_or_oversized_artifacts_are_rejected() {
    let mined = honest();
    let last = *mined.block.trace.checkpoints().last().unwrap();

    let (_dir, store) = mined.copy_store();
    let path = store.checkpoint_path(&last);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 4]).unwrap();
    let err = verifier(store).verify(&mined.block.header).unwrap_err();
    assert!(
        matches!(
            err,
            ProofError::Checkpoint {
                source: ArtifactError::Truncated { .. },
                ..
            }
        ),
        "{err}"
    );

    let (_dir, store) = mined.copy_store();
    let mut longer = bytes;
    longer.push(0);
    std::fs::write(store.checkpoint_path(&last), longer).unwrap();
    let err = verifier(store).verify(&mined.block.header).unwrap_err();
    assert!(
        matches!(
            err,
            ProofError::Checkpoint {
                source: ArtifactError::Oversized { .. },
                ..
            }
        ),
        "{err}"
    );

    let (_dir, store) = mined.copy_store();
    let trace_path = store.trace_path(&mined.block.header.training.checkpoint_root);
    let trace = std::fs::read(&trace_path).unwrap();
    std::fs::write(&trace_path, &trace[..trace.len() - 1]).unwrap();
    let err = verifier(store).verify(&mined.block.header).unwrap_err();
    assert!(
        matches!(err, ProofError::Trace(ArtifactError::Truncated { .. })),
        "{err}"
    );

    let (_dir, store) = mined.copy_store();
    std::fs::remove_file(store.checkpoint_path(&last)).unwrap();
    let err = verifier(store).verify(&mined.block.header).unwrap_err();
    assert!(
        matches!(
            err,
            ProofError::Checkpoint {
                source: ArtifactError::Missing { .. },
                ..
            }
        ),
        "{err}"
    );
}

/// Replaces checkpoint `index` of the honest trace with `weights`, recommits, and returns the
/// forged header and its store.
fn forge(index: usize, weights: &Weights) -> (tempfile::TempDir, ArtifactStore, BlockHeader) {
    let mined = honest();
    let (dir, store) = mined.copy_store();
    let mut checkpoints = mined.block.trace.checkpoints().to_vec();
    checkpoints[index] = store.put_checkpoint(weights).unwrap();
    let trace = Trace::new(checkpoints);
    let mut header = mined.block.header.clone();
    header.training.checkpoint_root = store.put_trace(&trace).unwrap();
    if index == trace.segments() {
        header.training.model_hash = ModelHash::from_bytes(trace.checkpoints()[index].0);
    }
    (dir, store, header)
}

#[test]
fn faked_segment_is_rejected() {
    let mined = honest();
    let segments = mined.block.trace.segments();
    // A forger replaces an intermediate checkpoint by weights that training did not produce
    // (here: the honest ones with one parameter nudged). The forged trace is committed, so
    // the audit is drawn from the forged header; find a checkpoint whose forgery the audit
    // sees (the last segment's start always is).
    let index = segments - 1;
    let mut fake = mined
        .store()
        .get_checkpoint(&mined.block.trace.checkpoints()[index])
        .unwrap();
    fake.hidden_weight[0] += 1;
    let (_dir, store, header) = forge(index, &fake);
    let err = verifier(store).verify(&header).unwrap_err();
    match err {
        ProofError::SegmentMismatch { segment, .. } => {
            // Either the segment that should have produced it or the one starting from it.
            assert!(
                segment == index - 1 || segment == index,
                "segment {segment}"
            );
        }
        other => panic!("{other}"),
    }
}

#[test]
fn faked_final_model_is_rejected() {
    let mined = honest();
    let index = mined.block.trace.segments();
    let mut fake = mined.block.weights.clone();
    fake.output_bias[3] += 1;
    let (_dir, store, header) = forge(index, &fake);
    let err = verifier(store).verify(&header).unwrap_err();
    match err {
        ProofError::SegmentMismatch { segment, .. } => assert_eq!(segment, index - 1),
        other => panic!("{other}"),
    }
}

#[test]
fn checkpoints_holding_values_outside_the_exact_ranges_are_rejected_before_tensor_work() {
    let mined = honest();
    let arithmetic = task().arithmetic;
    let last = mined.block.trace.segments();
    let honest_final = mined.block.weights.clone();
    // (tensor, index, value): the bits of the f32 0.5 (a fraction), of a NaN, a value just
    // past its tensor's clamp, and one past the 2^23 that no checkpoint may exceed.
    let forgeries: [(usize, usize, i32); 4] = [
        (0, 17, 0.5f32.to_bits() as i32),
        (2, 3, f32::NAN.to_bits() as i32),
        (
            0,
            100,
            i32::try_from(arithmetic.hidden_weight.master_max() + 1).unwrap(),
        ),
        (3, 9, (1 << 23) + 1),
    ];
    for (tensor, index, value) in forgeries {
        for checkpoint in [last, last - 1] {
            let mut fake = if checkpoint == last {
                honest_final.clone()
            } else {
                mined
                    .store()
                    .get_checkpoint(&mined.block.trace.checkpoints()[checkpoint])
                    .unwrap()
            };
            match tensor {
                0 => fake.hidden_weight[index] = value,
                2 => fake.output_weight[index] = value,
                _ => fake.output_bias[index] = value,
            }
            let (_dir, store, header) = forge(checkpoint, &fake);
            let err = verifier(store).verify(&header).unwrap_err();
            match err {
                ProofError::CheckpointValue { index: at, source } => {
                    assert_eq!(at, checkpoint);
                    assert_eq!(source.value, i64::from(value));
                    assert_eq!(source.index, index);
                }
                other => panic!("{value:#x} at checkpoint {checkpoint}: {other}"),
            }
        }
    }
}

#[test]
fn accuracy_below_target_is_rejected() {
    // A genuine trace (two segments trained from this block's W0 with the consensus data
    // order), committed in a header whose target it does not reach. The task has no step
    // floors, so that the accuracy rule is the one that fires.
    let mut t = task();
    t.step_floors.clear();
    let segments = (t.eval_interval / t.checkpoint_interval) as usize;
    let header = template(5, BlockHash::from_bytes([5; 32]), 1, 9900);
    let seed = header.training_seed();
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::open(dir.path()).unwrap();
    let mut trainer = Trainer::new(&t, data(), &Backend::Flex.device());
    let w0 = Weights::initial(&seed, &t.arithmetic);
    let mut checkpoints = vec![store.put_checkpoint(&w0).unwrap()];
    let mut key = chain_key(&seed, &checkpoints[0]);
    let mut model = trainer.model(&w0);
    for _ in 0..segments {
        model = trainer.train_segment(model, &key).unwrap().0;
        let hash = store.put_checkpoint(&model.weights().unwrap()).unwrap();
        checkpoints.push(hash);
        key = chain_key(&key, &hash);
    }
    let trace = Trace::new(checkpoints);
    let mut header = header;
    header.training = TrainingCommitment {
        task_id: t.id(),
        steps: u64::from(t.eval_interval),
        checkpoint_root: store.put_trace(&trace).unwrap(),
        model_hash: ModelHash::from_bytes(trace.checkpoints()[segments].0),
    };
    let err = TrainingVerifier::new(t, data(), store)
        .unwrap()
        .verify(&header)
        .unwrap_err();
    match err {
        ProofError::AccuracyBelowTarget {
            measured_bp,
            target_bp,
        } => {
            assert_eq!(target_bp, 9900);
            assert!(measured_bp < 9900 && measured_bp > 1000, "{measured_bp}");
        }
        other => panic!("{other}"),
    }
}

#[test]
fn audit_depends_on_the_commitment_and_always_covers_the_last_segment() {
    let header = &honest().block.header;
    let challenge = audit_challenge(header);
    let chosen = audited_segments(&challenge, 40, 4);
    assert_eq!(chosen.len(), 5);
    assert_eq!(chosen.last(), Some(&39));
    assert!(chosen.windows(2).all(|w| w[0] < w[1]));
    // Another checkpoint root draws another audit; the timestamp does not (it is free to
    // grind, so it must not re-draw the audit).
    let mut other = header.clone();
    other.training.checkpoint_root = ann_ledger::CheckpointRoot::from_bytes([1; 32]);
    assert_ne!(audited_segments(&audit_challenge(&other), 40, 4), chosen);
    let mut later = header.clone();
    later.timestamp += 1;
    assert_eq!(audit_challenge(&later), challenge);
    // Short traces are audited in full.
    assert_eq!(audited_segments(&challenge, 3, 4), vec![0, 1, 2]);
}

#[test]
fn replay_is_bit_exact_with_one_and_two_threads() {
    let mined = honest();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            assert_eq!(rayon::current_num_threads(), threads);
            // Full verification (replays the audited segments)...
            verifier(mined.store()).verify(&mined.block.header).unwrap();
            // ...and a direct replay of the first segment, compared parameter by parameter.
            let seed = mined.block.header.training_seed();
            let w0 = Weights::initial(&seed, &task().arithmetic);
            let mut trainer = Trainer::new(&task(), data(), &Backend::Flex.device());
            let model = trainer
                .train_segment(trainer.model(&w0), &chain_key(&seed, &w0.hash()))
                .unwrap()
                .0;
            model.weights().unwrap()
        })
    };
    let one = run(1);
    let two = run(2);
    assert_eq!(one.differing_parameters(&two), 0);
    assert_eq!(one.hash(), mined.block.trace.checkpoints()[1]);
    assert_eq!(two.hash(), mined.block.trace.checkpoints()[1]);
}

#[test]
fn w0_is_the_same_on_every_backend() {
    let w0 = Weights::initial(&honest().block.header.training_seed(), &task().arithmetic);
    for backend in Backend::available() {
        let trainer = Trainer::new(&task(), Arc::clone(&data()), &backend.device());
        let round_trip = trainer.model(&w0).weights().unwrap();
        assert_eq!(round_trip.hash(), w0.hash(), "{backend}");
    }
}
