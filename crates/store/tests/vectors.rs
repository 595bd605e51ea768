//! Golden vectors: the artifact record bytes and a schema-2 store written by this version,
//! which every later version must keep reading or refuse by its version (as redb's
//! backward-compatibility tests do); the schema-1 store of the version before proof of
//! training v2 (headers with an accuracy target) is refused with its version. Regenerate only
//! for a deliberate format change, with a new schema version:
//! `ANN_STORE_WRITE_VECTORS=1 cargo test -p ann-store --test vectors -- --include-ignored`.

#![allow(clippy::unwrap_used)] // Test helpers outside `#[test]` functions unwrap too.

mod common;

use std::path::{Path, PathBuf};

use ann_ledger::{BlockHash, Chain, CheckpointRoot, ImportOutcome, Mempool, ModelHash, TaskId};
use ann_store::{ArtifactFile, ArtifactRecord, ArtifactRole, Store};
use common::*;

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn golden_record() -> ArtifactRecord {
    ArtifactRecord {
        block_hash: BlockHash::from_bytes([0x11; 32]),
        task_id: TaskId::from_bytes([0x22; 32]),
        steps: 4690,
        checkpoint_root: CheckpointRoot::from_bytes([0x33; 32]),
        model_hash: ModelHash::from_bytes([0x44; 32]),
        files: vec![
            ArtifactFile {
                role: ArtifactRole::Model,
                path: "artifacts/checkpoint-44.f32le".into(),
                size: 31_840,
            },
            ArtifactFile {
                role: ArtifactRole::Trace,
                path: "artifacts/trace-33.bin".into(),
                size: 1_512,
            },
            ArtifactFile {
                role: ArtifactRole::Checkpoint,
                path: "artifacts/checkpoint-55.f32le".into(),
                size: 31_840,
            },
        ],
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    let text = text.trim();
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// The chain of the store vector: three blocks with payments, a side block, and artifacts
/// recorded for block 1.
fn build_store_vector(dir: &Path) -> Chain<Store> {
    let people = wallets(3);
    let mut chain = Chain::open(params(&people, 50), Store::open(dir).unwrap()).unwrap();
    for salt in 0..3 {
        let block = block_with_payments(&chain, &people, 2, salt);
        if salt == 0 {
            let path = chain.store().artifact_dir().join("model-vector.bin");
            std::fs::write(&path, [7u8; 100]).unwrap();
            let file = chain
                .store()
                .artifact_file(ArtifactRole::Model, &path)
                .unwrap();
            let record = chain
                .store()
                .artifact_record(&block.header, vec![file])
                .unwrap();
            chain
                .submit_block_with(block, record, now(), &SeedBoundVerifier)
                .unwrap();
        } else {
            chain
                .submit_block(block, now(), &SeedBoundVerifier)
                .unwrap();
        }
    }
    let side = block_on(&chain, chain.best_chain().unwrap()[1], &people[2], 77);
    assert_eq!(
        chain.submit_block(side, now(), &SeedBoundVerifier).unwrap(),
        ImportOutcome::SideBranch
    );
    chain
}

#[test]
#[ignore = "writes the golden vectors; run only for a deliberate format change"]
fn write_vectors() {
    if std::env::var("ANN_STORE_WRITE_VECTORS").is_err() {
        return;
    }
    std::fs::write(
        vectors().join("artifact-record-v1.hex"),
        hex(&golden_record().encode_value()) + "\n",
    )
    .unwrap();
    let dir = vectors().join("store-v3");
    let _ = std::fs::remove_dir_all(&dir);
    let chain = build_store_vector(&dir);
    std::fs::write(
        vectors().join("store-v3.tip"),
        format!("{}\n{}\n", chain.tip(), chain.block_count().unwrap()),
    )
    .unwrap();
}

#[test]
fn the_artifact_record_layout_is_pinned() {
    let expected = std::fs::read_to_string(vectors().join("artifact-record-v1.hex")).unwrap();
    let record = golden_record();
    assert_eq!(hex(&record.encode_value()), expected.trim());
    assert_eq!(
        ArtifactRecord::decode_value(record.block_hash, &unhex(&expected)).unwrap(),
        record
    );
}

#[test]
fn a_schema_1_store_is_refused_with_its_version() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = copy_vector_store("store-v1", &scratch);
    match Store::open(&dir) {
        Err(ann_store::OpenError::UnsupportedSchema { found: 1, .. }) => {}
        other => panic!("expected the schema-1 store to be refused, got {other:?}"),
    }
}

fn copy_vector_store(name: &str, scratch: &tempfile::TempDir) -> PathBuf {
    let dir = scratch.path().join("store");
    std::fs::create_dir_all(dir.join("artifacts")).unwrap();
    let source = vectors().join(name);
    for name in ["chain.redb", "artifacts/model-vector.bin"] {
        std::fs::copy(source.join(name), dir.join(name)).unwrap();
    }
    dir
}

#[test]
fn a_schema_2_store_is_migrated_and_resumes() {
    resumes_from_vector("store-v2");
    // Migrated in place: the file now says schema 3, and opens again without migrating.
    let scratch = tempfile::tempdir().unwrap();
    let dir = copy_vector_store("store-v2", &scratch);
    drop(Store::open(&dir).unwrap());
    let db = redb::Database::open(dir.join("chain.redb")).unwrap();
    let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
    let format = txn
        .open_table(redb::TableDefinition::<&str, &[u8]>::new("format"))
        .unwrap();
    let version = format
        .get("schema_version")
        .unwrap()
        .unwrap()
        .value()
        .to_vec();
    assert_eq!(version, ann_store::SCHEMA_VERSION.to_le_bytes());
    assert_eq!(ann_store::SCHEMA_VERSION, 3);
    drop((format, txn, db));
    resumes_from_dir(&dir, "store-v2");
}

#[test]
fn a_schema_3_store_written_earlier_opens_and_resumes() {
    resumes_from_vector("store-v3");
}

fn resumes_from_vector(name: &str) {
    let scratch = tempfile::tempdir().unwrap();
    let dir = copy_vector_store(name, &scratch);
    resumes_from_dir(&dir, name);
}

/// Opens the copy of vector `name` in `dir`, checks it against what was recorded and the
/// same chain built today, and extends it.
fn resumes_from_dir(dir: &Path, name: &str) {
    let expected = std::fs::read_to_string(vectors().join(format!("{name}.tip"))).unwrap();
    let mut lines = expected.lines();
    let tip: BlockHash = lines.next().unwrap().parse().unwrap();
    let count: u64 = lines.next().unwrap().parse().unwrap();

    let people = wallets(3);
    let mut chain = Chain::open(params(&people, 50), Store::open(dir).unwrap()).unwrap();
    assert_eq!(chain.tip(), tip);
    assert_eq!(chain.block_count().unwrap(), count);
    assert_eq!(chain.rebuild_utxo_set().unwrap(), chain.utxo_set().unwrap());

    // Rebuilding the same chain today gives the same blocks: the encodings did not move.
    let rebuilt_dir = tempfile::tempdir().unwrap();
    let rebuilt = build_store_vector(rebuilt_dir.path());
    assert_eq!(rebuilt.tip(), tip);
    assert_eq!(rebuilt.utxo_set().unwrap(), chain.utxo_set().unwrap());

    let side_chain = chain.store().side_chain().unwrap();
    let record = side_chain[1].artifacts.as_ref().unwrap();
    assert_eq!(record.files[0].path, "artifacts/model-vector.bin");
    chain.store().check_artifact_file(&record.files[0]).unwrap();

    // And it keeps going.
    let block = mine(&chain, &Mempool::new(), &people[0], 1000);
    assert_eq!(
        chain
            .submit_block(block, now(), &SeedBoundVerifier)
            .unwrap(),
        ImportOutcome::Extended
    );
}
