//! Golden vectors of every consensus-critical format of proof of training, in
//! `tests/vectors/mining.json`. A change of format (task encoding, W0 sampling, weight hashing,
//! data order, Merkle root, audit draw, or the exact step's arithmetic) fails here. The
//! training vectors (checkpoint 1, the 100-step trace) are checked on every backend in
//! `tests/exact.rs`.
//!
//! The file was generated once by running this test with `ANN_WRITE_VECTORS=1`, reviewed,
//! and committed; without that variable the test only compares.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use ann_ledger::BlockHash;
use ann_mining::model::ModelHash;
use ann_mining::trace::{AuditProof, Trace, checkpoint_root, segment_key};
use ann_mining::training::{Trainer, input_table, segment_samples};
use ann_mining::verifier::audited_segments;
use ann_mining::{Backend, Weights};
use common::{data, task, template};

fn actual() -> BTreeMap<&'static str, String> {
    let mut v = BTreeMap::new();
    let task = task();
    v.insert("dataset_hash", data().hash().to_string());
    v.insert("task_encoding", hex::encode(task.encode()));
    v.insert("task_id", task.id().to_string());

    let zero = [0u8; 32];
    let w0 = Weights::initial(&zero, &task.arithmetic);
    v.insert("w0_seed_zero_hash", w0.hash().to_string());
    let first: Vec<String> = w0.hidden_weight[..4]
        .iter()
        .chain(w0.output_bias.iter().take(2))
        .map(i32::to_string)
        .collect();
    v.insert("w0_seed_zero_first_bits", first.join(" "));

    let header = template(1, BlockHash::ZERO, 1, common::TEST_TICKETS);
    let seed = header.training_seed();
    v.insert("template_training_seed", hex::encode(seed));
    let w0 = Weights::initial(&seed, &task.arithmetic);
    v.insert("template_w0_hash", w0.hash().to_string());

    let table = input_table(&task.arithmetic);
    v.insert(
        "inputs_0_128_255",
        format!("{} {} {}", table[0], table[128], table[255]),
    );

    let key = segment_key(&seed, 0, &w0.hash());
    v.insert("segment0_key", hex::encode(key));
    let samples: Vec<String> = segment_samples(&task, &key, 60_000)[..8]
        .iter()
        .map(u32::to_string)
        .collect();
    v.insert("segment0_first_samples", samples.join(" "));

    let hashes: Vec<ModelHash> = (0..5u8).map(|i| ModelHash::from_bytes([i; 32])).collect();
    v.insert(
        "checkpoint_root_of_0_to_4",
        checkpoint_root(&hashes).to_string(),
    );
    v.insert(
        "trace_bytes_of_0_to_1",
        hex::encode(Trace::new(hashes[..2].to_vec()).to_bytes()),
    );
    v.insert(
        "audit_proof_of_0_to_4_opening_0_3_4",
        hex::encode(
            AuditProof::from_trace(&Trace::new(hashes.clone()), &[0, 3, 4])
                .unwrap()
                .to_bytes(),
        ),
    );
    let audit: Vec<String> = audited_segments(&zero, 40, 4)
        .iter()
        .map(u64::to_string)
        .collect();
    v.insert("audit_zero_challenge_40_segments_s4", audit.join(" "));

    // Training on the default backend; every other backend must give the same hashes.
    let mut trainer = Trainer::new(&task, data(), &Backend::DEFAULT.device());
    let trace = trainer.train_trace(&seed, &w0, 10).unwrap();
    v.insert(
        "template_checkpoint1_hash",
        trace.checkpoints()[1].to_string(),
    );
    v.insert("template_trace_100_steps_root", trace.root().to_string());
    v
}

#[test]
fn golden_vectors_match() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/mining.json");
    let actual = actual();
    if std::env::var_os("ANN_WRITE_VECTORS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, serde_json::to_string_pretty(&actual).unwrap() + "\n").unwrap();
    }
    let expected: BTreeMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("vectors file")).unwrap();
    assert_eq!(expected.len(), actual.len(), "vector set changed");
    for (name, value) in &actual {
        assert_eq!(expected.get(*name), Some(value), "vector {name}");
    }
}
