//! One set of bits on every backend: 100 steps from the same W0 give the same trace on every
//! compiled backend (flex, ndarray, wgpu: lavapipe in CI, a GPU where there is one), equal to
//! the golden vectors in `tests/vectors/mining.json`; candidates trained side by side in one
//! batched product give what each gives alone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use ann_ledger::BlockHash;
use ann_mining::trace::segment_key;
use ann_mining::training::Trainer;
use ann_mining::{Backend, Weights};
use common::{data, golden_vectors, task, template};

#[test]
fn one_hundred_steps_give_the_golden_trace_on_every_backend() {
    let golden = golden_vectors();
    let header = template(1, BlockHash::ZERO, 1, common::TEST_TICKETS);
    let seed = header.training_seed();
    let w0 = Weights::initial(&seed, &task().arithmetic);
    assert_eq!(golden["template_w0_hash"], w0.hash().to_string());
    let backends = Backend::available();
    assert!(!backends.is_empty());
    for backend in backends {
        let mut trainer = Trainer::new(&task(), data(), &backend.device());
        let trace = trainer.train_trace(&seed, &w0, 10).unwrap();
        assert_eq!(
            golden["template_checkpoint1_hash"],
            trace.checkpoints()[1].to_string(),
            "{backend}: checkpoint 1"
        );
        assert_eq!(
            golden["template_trace_100_steps_root"],
            trace.root().to_string(),
            "{backend}: the 100-step trace"
        );
    }
}

#[test]
fn candidates_trained_side_by_side_equal_each_trained_alone() {
    let t = task();
    let seeds: Vec<[u8; 32]> = (0..3u8).map(|i| [i + 40; 32]).collect();
    let starts: Vec<Weights> = seeds
        .iter()
        .map(|s| Weights::initial(s, &t.arithmetic))
        .collect();
    let keys: Vec<[u8; 32]> = seeds
        .iter()
        .zip(&starts)
        .map(|(s, w)| segment_key(s, 0, &w.hash()))
        .collect();
    for backend in Backend::available() {
        let mut trainer = Trainer::new(&t, data(), &backend.device());
        let alone: Vec<Weights> = starts
            .iter()
            .zip(&keys)
            .map(|(w, key)| {
                let model = trainer.train_segment(trainer.model(w), key).unwrap().0;
                model.weights().unwrap()
            })
            .collect();
        let batched = trainer
            .train_segments(trainer.candidates(&starts), &keys)
            .unwrap()
            .0
            .candidate_weights()
            .unwrap();
        assert_eq!(batched.len(), alone.len());
        for (i, (b, a)) in batched.iter().zip(&alone).enumerate() {
            assert_eq!(b.hash(), a.hash(), "{backend}: candidate {i}");
            assert_ne!(
                b.hash(),
                starts[i].hash(),
                "{backend}: candidate {i} did not move"
            );
        }
        // A key per candidate, no more, no fewer.
        assert!(
            trainer
                .train_segments(trainer.candidates(&starts), &keys[..2])
                .is_err()
        );
    }
}
