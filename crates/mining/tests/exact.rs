//! One set of bits on every backend: 100 steps from the same W0 give the same trace on every
//! compiled backend and engine (flex's CPU kernels and tensor step, ndarray, wgpu: lavapipe in
//! CI, a GPU where there is one), equal to the golden vectors in `tests/vectors/mining.json`;
//! candidates trained side by side give what each gives alone; every evaluator measures the
//! same accuracy.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use ann_ledger::BlockHash;
use ann_mining::trace::segment_key;
use ann_mining::training::{Engine, Evaluator, Trainer};
use ann_mining::{Backend, Mlp, Weights};
use common::{data, engines, every_trainer, golden_vectors, task, template};

#[test]
fn one_hundred_steps_give_the_golden_trace_on_every_backend() {
    let golden = golden_vectors();
    let header = template(1, BlockHash::ZERO, 1, common::TEST_TICKETS);
    let seed = header.training_seed();
    let w0 = Weights::initial(&seed, &task().arithmetic);
    assert_eq!(golden["template_w0_hash"], w0.hash().to_string());
    for (backend, mut trainer) in every_trainer(&task()) {
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
    for (backend, mut trainer) in every_trainer(&t) {
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

#[test]
fn every_evaluator_measures_the_same_accuracy_of_models_held_either_way() {
    let t = task();
    let a = &t.arithmetic;
    let seed = [21u8; 32];
    let w0 = Weights::initial(&seed, a);
    // Twenty segments (200 steps) of training: well above chance.
    let mut trainer = Trainer::new(&t, data(), &Backend::DEFAULT.device());
    let mut model = trainer.model(&w0);
    for j in 0..20u64 {
        model = trainer
            .train_segment(model, &segment_key(&seed, j, &w0.hash()))
            .unwrap()
            .0;
    }
    let trained = model.weights().unwrap();
    // Every logit equal (no output weights, no output bias): every prediction is class 0 by
    // the tie rule, so the accuracy is the test set's share of zeros (980 of 10,000).
    let tied = Weights {
        output_weight: vec![0; trained.output_weight.len()],
        output_bias: vec![0; trained.output_bias.len()],
        ..trained.clone()
    };
    let host =
        Trainer::with_engine(&t, data(), &Backend::DEFAULT.device(), Engine::CpuKernels).unwrap();
    let mut measured = Vec::new();
    for backend in Backend::available() {
        let device = backend.device();
        for engine in engines(backend, &t) {
            let evaluator = Evaluator::with_engine(data().test(), a, &device, engine).unwrap();
            assert_eq!(evaluator.engine(), engine);
            let name = format!("{backend}/{engine}");
            let accuracy: Vec<u16> = [&w0, &trained, &tied]
                .iter()
                .map(|w| evaluator.accuracy_of(w).unwrap())
                .collect();
            // The same model held as tensors on the device, and on the host for the kernels.
            let on_device = Mlp::from_weights(&trained, a, &device);
            assert!(on_device.parameters().is_some());
            assert_eq!(
                evaluator.accuracy(&on_device).unwrap(),
                accuracy[1],
                "{name}"
            );
            let on_host = host.model(&trained);
            assert!(on_host.parameters().is_none());
            assert_eq!(evaluator.accuracy(&on_host).unwrap(), accuracy[1], "{name}");
            measured.push((name, accuracy));
        }
    }
    let (_, first) = &measured[0];
    assert!(first[0] < 3_000, "W0 is near chance: {measured:?}");
    assert!(first[1] > 8_500, "200 steps pass 85 %: {measured:?}");
    assert_eq!(first[2], 980, "ties go to class 0: {measured:?}");
    assert!(measured.iter().all(|(_, m)| m == first), "{measured:?}");
}

#[test]
fn an_arithmetic_past_the_kernels_bounds_trains_with_the_tensor_step() {
    // Inputs centred on 0 (offset 64) and batches of 90: every bound of the task holds, but
    // the CPU kernels' sparse update (90 * 127 * 2047 before its correction) would round.
    let mut t = task();
    t.arithmetic.input_offset = 64;
    t.batch_size = 90;
    t.validate().unwrap();
    let device = Backend::Flex.device();
    assert_eq!(Engine::for_device(&device, &t), Engine::Tensors);
    assert_eq!(Trainer::new(&t, data(), &device).engine(), Engine::Tensors);
    let refused = Trainer::with_engine(&t, data(), &device, Engine::CpuKernels).unwrap_err();
    assert!(
        refused.to_string().contains("X'^T D (sparse update)"),
        "{refused}"
    );
    // The chain's task runs on the kernels.
    assert_eq!(
        Trainer::new(&task(), data(), &device).engine(),
        Engine::CpuKernels
    );
}
