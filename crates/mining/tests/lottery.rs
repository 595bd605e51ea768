//! Mining by lottery with the real trainer: tickets drawn one per checkpoint until one beats
//! the work target, a forged commitment that loses the lottery, cancellation, and a miner that
//! keeps few checkpoints and rebuilds the audited ones.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::ops::ControlFlow;

use ann_ledger::{BlockHash, ModelHash, ProofVerifier};
use ann_mining::{ArtifactStore, Miner, MiningError, ProofError, TrainingVerifier};
use common::{data, task, template};

#[test]
fn tickets_are_drawn_one_per_checkpoint_until_one_wins() {
    let t = task();
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::open(dir.path()).unwrap();
    let miner = Miner::new(t.clone(), data(), store.clone()).unwrap();
    let header = template(1, BlockHash::ZERO, 9, 8);
    let mut seen = Vec::new();
    let mined = miner
        .mine(&header, |p| {
            seen.push((p.step, p.tickets, p.expected_tickets));
            ControlFlow::Continue(())
        })
        .unwrap();
    assert!(mined.header.meets_target());
    let k = u64::from(t.checkpoint_interval);
    let floor = t.gate_min_steps();
    // One observation per checkpoint but the winning one; a ticket per checkpoint past the
    // floor.
    assert_eq!(seen.len() as u64 + 1, mined.header.training.steps / k);
    for &(step, tickets, expected) in &seen {
        assert_eq!(expected, 8);
        assert_eq!(tickets, (step + k).saturating_sub(floor) / k);
    }
    assert_eq!(mined.tickets, (mined.header.training.steps + k - floor) / k);
    // Every earlier checkpoint past the floor either lost the lottery or had its model fail
    // the gate: recompute their tickets from the trace.
    let seed = header.training_seed();
    let mut winners_before = 0;
    for (m, hash) in mined.trace.checkpoints().iter().enumerate().skip(1) {
        let steps = m as u64 * k;
        if steps < floor || steps == mined.header.training.steps {
            continue;
        }
        let ticket = ann_ledger::ticket(&seed, steps, hash);
        winners_before += u64::from(header.bits.is_beaten_by(ticket.as_bytes()));
    }
    // Those winners were evaluated below the gate (the accuracy climbs past 90 % within a
    // few segments, so there are few).
    assert!(winners_before <= 3, "{winners_before}");
    let verifier = TrainingVerifier::new(t, data(), store).unwrap();
    verifier.verify_proof(&mined.header).unwrap();
}

#[test]
fn a_forged_commitment_loses_the_lottery_before_any_artifact_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::open(dir.path()).unwrap();
    let miner = Miner::new(task(), data(), store).unwrap();
    let mined = miner
        .mine(&template(1, BlockHash::ZERO, 9, 64), |_| {
            ControlFlow::Continue(())
        })
        .unwrap();
    // Another model hash (as if the forger trained, or made up, another last checkpoint):
    // 63 in 64 such tickets lose. Take the first that does.
    let mut header = mined.header.clone();
    for byte in 0u8.. {
        header.training.model_hash = ModelHash::from_bytes([byte; 32]);
        if !header.meets_target() {
            break;
        }
    }
    let empty = tempfile::tempdir().unwrap();
    let verifier =
        TrainingVerifier::new(task(), data(), ArtifactStore::open(empty.path()).unwrap()).unwrap();
    let err = verifier.precheck(&header).unwrap_err();
    assert!(
        matches!(err, ProofError::TicketAboveTarget { target, .. } if target == header.bits),
        "{err}"
    );
}

#[test]
fn mining_stops_when_the_observer_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::open(dir.path()).unwrap();
    let miner = Miner::new(task(), data(), store).unwrap();
    // A target no run reaches in three checkpoints: the hardest there is.
    let mut header = template(1, BlockHash::ZERO, 9, 1);
    header.bits = ann_ledger::CompactTarget::MIN;
    let mut calls = 0;
    let err = miner
        .mine(&header, |_| {
            calls += 1;
            if calls == 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap_err();
    let k = u64::from(task().checkpoint_interval);
    assert!(
        matches!(err, MiningError::Cancelled { steps, .. } if steps == 3 * k),
        "{err}"
    );
}

#[test]
fn a_miner_that_keeps_few_checkpoints_rebuilds_the_audited_ones() {
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::open(dir.path()).unwrap();
    let miner = Miner::new(task(), data(), store.clone())
        .unwrap()
        .with_keep_every(4);
    assert_eq!(miner.keep_every(), 4);
    let mined = miner
        .mine(&template(1, BlockHash::ZERO, 9, 16), |_| {
            ControlFlow::Continue(())
        })
        .unwrap();
    let segments = mined.trace.segments();
    // Only the final checkpoint and the audited starts were written, not the whole trace.
    let written = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("checkpoint-")
        })
        .count();
    let audited = task().audit_segments as usize + 1;
    assert!(
        written <= audited + 1,
        "{written} files for {segments} segments"
    );
    assert!(
        segments > audited + 1,
        "a trace long enough to leave some out"
    );
    let verified = TrainingVerifier::new(task(), data(), store)
        .unwrap()
        .verify(&mined.header)
        .unwrap();
    assert_eq!(verified.accuracy_bp, mined.accuracy_bp);
}
