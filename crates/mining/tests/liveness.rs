//! The trap of DIFFICULTY.md: weights that training cannot move, or moves predictably, would
//! give tickets without the cost of a segment. Each kind of such model, trained one segment
//! with the real trainer, falls below the task's liveness floor (so no audited segment can
//! start from it, and no ticket can come from it), while honest segments stay far above it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use ann_ledger::BlockHash;
use ann_mining::trace::{Trace, segment_key};
use ann_mining::training::Trainer;
use ann_mining::{ArtifactStore, Backend, ProofError, TrainingVerifier, Weights};
use common::{TEST_TICKETS, commit_trace, data, honest, task, template};

/// Live backward entries of one segment trained from `weights`, and whether it moved them.
fn one_segment(weights: &Weights) -> (u32, bool) {
    let t = task();
    let mut trainer = Trainer::new(&t, data(), &Backend::DEFAULT.device());
    let key = segment_key(&[0x11; 32], 3, &weights.hash());
    let (model, stats) = trainer.train_segment(trainer.model(weights), &key).unwrap();
    let moved = model.weights().unwrap().hash() != weights.hash();
    (stats.live_deltas[0], moved)
}

/// A trained model (the honest block's), as the starting point of the crafted ones.
fn trained() -> Weights {
    honest().block.weights.clone()
}

/// Every hidden bias at its negative limit and the first layer at zero: every hidden unit is
/// zero for every input.
fn dead_network() -> Weights {
    let mut dead = trained();
    dead.hidden_weight.fill(0);
    dead.hidden_bias
        .fill(i32::try_from(task().arithmetic.hidden_bias.master_min()).unwrap());
    dead
}

#[test]
fn honest_segments_are_live_from_w0_to_a_trained_model() {
    let floor = task().min_live_deltas();
    let w0 = Weights::initial(&[5; 32], &task().arithmetic);
    for weights in [w0, trained()] {
        let (live, moved) = one_segment(&weights);
        assert!(moved);
        // `docs/proof-of-training.md` measures the honest minimum over 40,000 steps at
        // 13.3 %; the floor is 8 %.
        assert!(live > floor + floor / 2, "{live} <= 1.5 x {floor}");
    }
}

#[test]
fn a_dead_network_is_not_live() {
    // Every hidden bias at its negative limit and the first layer at zero: every hidden unit
    // is zero for every input, so D is zero everywhere (only the output bias moves).
    let (live, _) = one_segment(&dead_network());
    assert_eq!(live, 0);
}

#[test]
fn an_output_layer_that_passes_no_gradient_does_not_stay_so() {
    // The limit of an over-confident model with tiny output weights: with W2q = 0 the first
    // step's backward signal G W2q^T rounds to zero, so the first layer would never learn and
    // its forward could be cached. But label smoothing keeps G nonzero (G = P - T is never 0:
    // T puts 4/1024 on every class), so the output layer moves by H^T G at once and the
    // segment is live: it costs a dense backward pass like any other.
    let mut blocked = trained();
    let f = task().arithmetic.output_weight.fraction_bits;
    // Masters in [0, 2^f) quantise to 0.
    blocked.output_weight.fill(1 << (f - 1));
    let (live, moved) = one_segment(&blocked);
    assert!(moved);
    assert!(live >= task().min_live_deltas(), "{live}");
}

#[test]
fn a_model_that_learns_from_one_class_only_does_not_stay_so() {
    // Only class 0 has output weights and its bias is at the bottom, so at first the backward
    // signal is nonzero only for the zeros (a predictable tenth of the samples). The output
    // layer's update brings the other classes in within the segment: it is live.
    let a = task().arithmetic;
    let mut one_class = trained();
    let f = a.output_weight.fraction_bits;
    for (i, master) in one_class.output_weight.iter_mut().enumerate() {
        *master = if i % 10 == 0 { 20 << f } else { 1 << (f - 1) };
    }
    for (c, master) in one_class.output_bias.iter_mut().enumerate() {
        *master = if c == 0 {
            i32::try_from(a.output_bias.master_min()).unwrap()
        } else {
            0
        };
    }
    let (live, moved) = one_segment(&one_class);
    assert!(moved);
    assert!(live >= task().min_live_deltas(), "{live}");
}

#[test]
fn a_saturated_network_is_live() {
    // Every first-layer weight at its negative limit: the background pixels (input -16) drive
    // most hidden units to their clamp of 127. The ReLU mask is [H > 0], so the backward
    // signal is dense and the first layer moves; whether a unit stays saturated depends on
    // every input, so the forward pass must be computed.
    let a = task().arithmetic;
    let mut saturated = trained();
    saturated
        .hidden_weight
        .fill(i32::try_from(a.hidden_weight.master_min()).unwrap());
    let (live, moved) = one_segment(&saturated);
    assert!(moved);
    assert!(live >= task().min_live_deltas(), "{live}");
}

#[test]
fn a_trace_ending_in_a_dead_segment_gains_no_ticket() {
    // A forger's trace W0 -> dead -> train(dead) for a task whose gate the dead network passes
    // (1 bp, no step floor): the last segment replays exactly (it is honest training of the
    // dead network), changes the weights (the output bias moves) and is replayed first; it is
    // not live, so the block is refused whatever the other segments are.
    let mut t = task();
    t.accuracy_gate = ann_ledger::AccuracyTarget::from_basis_points(1).unwrap();
    t.step_floors.clear();
    let header = template(1, BlockHash::ZERO, 7, TEST_TICKETS);
    let seed = header.training_seed();
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::open(dir.path()).unwrap();
    let dead = dead_network();
    let w0 = Weights::initial(&seed, &t.arithmetic);
    let mut trainer = Trainer::new(&t, data(), &Backend::DEFAULT.device());
    let dead_hash = store.put_checkpoint(&dead).unwrap();
    let (model, _) = trainer
        .train_segment(trainer.model(&dead), &segment_key(&seed, 1, &dead_hash))
        .unwrap();
    let last = store.put_checkpoint(&model.weights().unwrap()).unwrap();
    let trace = Trace::new(vec![w0.hash(), dead_hash, last]);
    let header = commit_trace(&t, &store, &header, &trace);
    let err = TrainingVerifier::new(t, data(), store)
        .unwrap()
        .verify(&header)
        .unwrap_err();
    assert!(
        matches!(
            err,
            ProofError::DeadSegment {
                segment: 1,
                live: 0,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_trace_padded_with_a_fixed_point_is_refused() {
    // The padding forgery: a checkpoint repeated, claiming segments that changed nothing.
    // Whichever repeated segment the audit draws is refused, as idle if it replays to itself,
    // or as a mismatch if training does move it.
    let t = task();
    let mined = honest();
    let (_dir, store) = mined.copy_store();
    let mut checkpoints = mined.block.trace.checkpoints().to_vec();
    let last = checkpoints.pop().unwrap();
    let repeated = checkpoints[checkpoints.len() - 1];
    checkpoints.extend(std::iter::repeat_n(repeated, 200));
    checkpoints.push(last);
    let header = commit_trace(&t, &store, &mined.block.header, &Trace::new(checkpoints));
    let err = TrainingVerifier::new(t, data(), store)
        .unwrap()
        .verify(&header)
        .unwrap_err();
    assert!(
        matches!(
            err,
            ProofError::IdleSegment { .. } | ProofError::SegmentMismatch { .. }
        ),
        "{err}"
    );
}
