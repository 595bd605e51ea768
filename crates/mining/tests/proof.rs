//! The properties of proof of training (docs/proof-of-training.md), each as a test that
//! fails if the property breaks: honest blocks pass, and each forgery is rejected with the
//! error of the rule it breaks.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use ann_ledger::{BlockHash, BlockHeader, ProofVerifier};
use ann_mining::artifact::ArtifactError;
use ann_mining::trace::{Trace, segment_key};
use ann_mining::training::{Engine, Trainer};
use ann_mining::verifier::{audit_challenge, audited_segments};
use ann_mining::{ArtifactStore, Backend, ProofError, TrainingVerifier, Weights};
use common::{TEST_TICKETS, commit_trace, data, honest, task, template};

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
    assert!(verified.audited_segments.contains(&(segments as u64 - 1)));
    assert!(verified.live_deltas >= task().min_live_deltas());
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
        mined.block.weights.hash().as_bytes()
    );
    // Through the ledger's trait too.
    verifier(mined.store()).verify_proof(header).unwrap();
}

#[test]
fn proof_for_another_block_is_rejected() {
    let mined = honest();
    for other in [
        // another parent
        template(1, BlockHash::from_bytes([7; 32]), 1, TEST_TICKETS),
        // another height
        template(2, BlockHash::ZERO, 1, TEST_TICKETS),
        // another timestamp: a re-stamped block
        {
            let mut later = template(1, BlockHash::ZERO, 1, TEST_TICKETS);
            later.timestamp += 1;
            later
        },
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
    let mut header = template(1, BlockHash::ZERO, 2, TEST_TICKETS);
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
fn step_counts_off_the_checkpoint_grid_are_rejected() {
    let mined = honest();
    let t = task();
    for steps in [0, u64::from(t.checkpoint_interval) * 7 + 1, u64::MAX] {
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
fn fewer_steps_than_the_gates_floor_are_rejected_before_any_artifact_is_read() {
    let mined = honest();
    let t = task();
    let floor = t.gate_min_steps();
    assert!(floor > u64::from(t.checkpoint_interval));
    let mut header = mined.block.header.clone();
    header.training.steps = floor - u64::from(t.checkpoint_interval);
    match verify_without_artifacts(&header) {
        ProofError::TooFewSteps { steps, min_steps } => {
            assert_eq!((steps, min_steps), (header.training.steps, floor));
        }
        other => panic!("expected TooFewSteps, got {other}"),
    }
}

#[test]
fn a_missing_or_malformed_audit_proof_is_rejected_by_the_prechecks() {
    let mined = honest();
    let root = mined.block.header.training.checkpoint_root;
    let (_dir, store) = mined.copy_store();
    let path = store.dir().join(ArtifactStore::proof_name(&root));
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
    let err = verifier(store.clone())
        .precheck(&mined.block.header)
        .unwrap_err();
    assert!(
        matches!(err, ProofError::Proof(ArtifactError::MalformedProof { .. })),
        "{err}"
    );
    // A proof whose openings were made for another root.
    let proof = ann_mining::AuditProof::from_bytes(&bytes).unwrap();
    let mut openings = proof.openings().to_vec();
    let mut flipped = openings[1].checkpoint.to_bytes();
    flipped[0] ^= 1;
    openings[1].checkpoint = ann_ledger::ModelHash::from_bytes(flipped);
    let other = ann_mining::Trace::new(mined.block.trace.checkpoints().to_vec());
    let mut forged = other.checkpoints().to_vec();
    forged[openings[1].index as usize] = openings[1].checkpoint;
    let forged_proof = ann_mining::AuditProof::from_trace(
        &Trace::new(forged),
        &proof
            .openings()
            .iter()
            .map(|o| o.index as usize)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    store.put_proof(&root, &forged_proof).unwrap();
    let err = verifier(store.clone())
        .precheck(&mined.block.header)
        .unwrap_err();
    assert!(matches!(err, ProofError::BadOpening { .. }), "{err}");
    // A proof that leaves out an audited checkpoint.
    let partial = ann_mining::AuditProof::from_trace(&other, &[0, other.segments()]).unwrap();
    store.put_proof(&root, &partial).unwrap();
    let err = verifier(store.clone())
        .precheck(&mined.block.header)
        .unwrap_err();
    assert!(matches!(err, ProofError::MissingOpening { .. }), "{err}");
    std::fs::remove_file(&path).unwrap();
    let err = verifier(store).precheck(&mined.block.header).unwrap_err();
    assert!(
        matches!(err, ProofError::Proof(ArtifactError::Missing { .. })),
        "{err}"
    );
}

#[test]
fn the_miner_draws_no_ticket_below_the_floor() {
    // 80 % is reached within the first segments; a floor of 150 steps at an 80 % gate must
    // still make the miner train 150 steps before its first ticket, and the verifier of that
    // task accepts the block.
    let mut t = task();
    t.accuracy_gate = ann_ledger::AccuracyTarget::from_basis_points(8000).unwrap();
    t.step_floors = vec![ann_mining::StepFloor {
        target_bp: 8000,
        min_steps: 150,
    }];
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::open(dir.path()).unwrap();
    let miner = ann_mining::Miner::new(t.clone(), data(), store.clone()).unwrap();
    let mut tickets_seen = Vec::new();
    let block = miner
        .mine(&template(1, BlockHash::ZERO, 1, TEST_TICKETS), |p| {
            tickets_seen.push(p.tickets);
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(block.header.training.steps, 150);
    assert_eq!(block.tickets, 1);
    assert!(tickets_seen.iter().all(|&t| t == 0), "{tickets_seen:?}");
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
    let elsewhere = common::mine(&template(1, BlockHash::ZERO, 3, TEST_TICKETS));
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
    let header = commit_trace(&task(), &store, &honest().block.header, &spliced);
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
        } => assert_eq!(index, mined.block.trace.segments() as u64),
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
    let header = commit_trace(
        &task(),
        &store,
        &mined.block.header,
        &Trace::new(checkpoints),
    );
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
                segment + 1 == index as u64 || segment == index as u64,
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
        ProofError::SegmentMismatch { segment, .. } => assert_eq!(segment + 1, index as u64),
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
                    assert_eq!(at, checkpoint as u64);
                    assert_eq!(source.value, i64::from(value));
                    assert_eq!(source.index, index);
                }
                other => panic!("{value:#x} at checkpoint {checkpoint}: {other}"),
            }
        }
    }
}

#[test]
fn accuracy_below_the_gate_is_rejected() {
    // A genuine trace (five segments trained from this block's W0 with the consensus data
    // order), committed for a task whose 99 % gate it does not reach. The task has no step
    // floors, so that the accuracy rule is the one that fires.
    let mut t = task();
    t.step_floors.clear();
    t.accuracy_gate = ann_ledger::AccuracyTarget::from_basis_points(9900).unwrap();
    let segments = 5;
    let header = template(5, BlockHash::from_bytes([5; 32]), 1, TEST_TICKETS);
    let seed = header.training_seed();
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::open(dir.path()).unwrap();
    let mut trainer = Trainer::new(&t, data(), &Backend::Flex.device());
    let w0 = Weights::initial(&seed, &t.arithmetic);
    let trace = trainer.train_trace(&seed, &w0, segments).unwrap();
    // The verifier loads the final model and the audited starts.
    let mut model = trainer.model(&w0);
    for (j, hash) in trace.checkpoints().iter().take(segments).enumerate() {
        model = trainer
            .train_segment(model, &segment_key(&seed, j as u64, hash))
            .unwrap()
            .0;
        store.put_checkpoint(&model.weights().unwrap()).unwrap();
    }
    let header = commit_trace(&t, &store, &header, &trace);
    let err = TrainingVerifier::new(t, data(), store)
        .unwrap()
        .verify(&header)
        .unwrap_err();
    match err {
        ProofError::AccuracyBelowGate {
            measured_bp,
            gate_bp,
        } => {
            assert_eq!(gate_bp, 9900);
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
    // Another checkpoint root draws another audit, and so does another timestamp (which also
    // changes the training seed, so no trained block can be re-stamped).
    let mut other = header.clone();
    other.training.checkpoint_root = ann_ledger::CheckpointRoot::from_bytes([1; 32]);
    assert_ne!(audited_segments(&audit_challenge(&other), 40, 4), chosen);
    let mut later = header.clone();
    later.timestamp += 1;
    assert_ne!(audit_challenge(&later), challenge);
    // Short traces are audited in full; a hostile step count costs no memory.
    assert_eq!(audited_segments(&challenge, 3, 4), vec![0, 1, 2]);
    let huge = audited_segments(&challenge, u64::MAX / 10, 4);
    assert_eq!(huge.len(), 5);
    assert_eq!(huge.last(), Some(&(u64::MAX / 10 - 1)));
}

#[test]
fn replay_is_bit_exact_with_one_two_and_three_threads() {
    let mined = honest();
    let run = |threads: usize, engine: Engine| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            assert_eq!(rayon::current_num_threads(), threads);
            // Full verification (replays the audited segments)...
            verifier(mined.store()).verify(&mined.block.header).unwrap();
            // ...and a direct replay of the first segment, compared parameter by parameter
            // (the CPU kernels split each step between the threads by blocks of hidden units).
            let seed = mined.block.header.training_seed();
            let w0 = Weights::initial(&seed, &task().arithmetic);
            let device = Backend::Flex.device();
            let mut trainer = Trainer::with_engine(&task(), data(), &device, engine).unwrap();
            let model = trainer
                .train_segment(trainer.model(&w0), &segment_key(&seed, 0, &w0.hash()))
                .unwrap()
                .0;
            model.weights().unwrap()
        })
    };
    let first = mined.block.trace.checkpoints()[1];
    for engine in [Engine::CpuKernels, Engine::Tensors] {
        let one = run(1, engine);
        for threads in [2, 3] {
            let other = run(threads, engine);
            assert_eq!(one.differing_parameters(&other), 0, "{engine}, {threads}");
            assert_eq!(other.hash(), first, "{engine}, {threads} threads");
        }
        assert_eq!(one.hash(), first, "{engine}, 1 thread");
    }
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
