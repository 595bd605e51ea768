//! A stored chain resumes exactly where it stopped: tip, UTXO set, balances, side branches,
//! reorganisations, invalid marks and the mining side chain all survive a reopen.

#![allow(clippy::unwrap_used)] // Test helpers outside `#[test]` functions unwrap too.

mod common;

use ann_ledger::{
    Amount, BlockStatus, Chain, ChainError, ImportOutcome, Mempool, OutPoint, Transaction, TxOut,
    merkle_root,
};
use ann_store::{ArtifactRecordError, ArtifactRole, Store};
use common::*;
use ed25519_dalek::SigningKey;

#[test]
fn a_reopened_store_resumes_tip_utxos_and_balances() {
    let dir = tempfile::tempdir().unwrap();
    let people = wallets(4);
    let params = params(&people, 50);

    let mut chain = Chain::open(params.clone(), Store::open(dir.path()).unwrap()).unwrap();
    for salt in 0..12 {
        let block = block_with_payments(&chain, &people, 3, salt);
        assert_eq!(
            chain
                .submit_block(block, now(), &SeedBoundVerifier)
                .unwrap(),
            ImportOutcome::Extended
        );
    }
    let tip = chain.tip();
    let best = chain.best_chain().unwrap().to_vec();
    let utxos = chain.utxo_set().unwrap().clone();
    let balances: Vec<Amount> = people.iter().map(|w| w.balance(&chain).unwrap()).collect();
    assert_eq!(chain.height(), 12);
    assert_eq!(chain.store().best_chain().unwrap(), best);
    drop(chain);

    let mut chain = Chain::open(params.clone(), Store::open(dir.path()).unwrap()).unwrap();
    assert_eq!(chain.tip(), tip);
    assert_eq!(chain.best_chain().unwrap(), best.as_slice());
    assert_eq!(chain.utxo_set().unwrap(), utxos);
    assert_eq!(chain.rebuild_utxo_set().unwrap(), utxos);
    let reopened: Vec<Amount> = people.iter().map(|w| w.balance(&chain).unwrap()).collect();
    assert_eq!(reopened, balances);
    // 4 wallets x 50 coins, plus 10 coins for each of 12 blocks.
    assert_eq!(
        chain.total_supply().unwrap(),
        u128::from(coins(200 + 120).to_base_units())
    );

    // The resumed chain keeps going, and so does the store under it.
    let block = block_with_payments(&chain, &people, 2, 99);
    chain
        .submit_block(block, now(), &SeedBoundVerifier)
        .unwrap();
    let tip = chain.tip();
    drop(chain);
    let chain = Chain::open(params, Store::open(dir.path()).unwrap()).unwrap();
    assert_eq!(chain.tip(), tip);
    assert_eq!(chain.height(), 13);
    let fresh = rebuild_in_memory(&chain);
    assert_eq!(fresh.tip(), chain.tip());
    assert_eq!(fresh.utxo_set().unwrap(), chain.utxo_set().unwrap());
}

#[test]
fn a_store_of_another_chain_is_refused_by_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let people = wallets(2);
    drop(Chain::open(params(&people, 50), Store::open(dir.path()).unwrap()).unwrap());
    let other = Chain::open(params(&people, 51), Store::open(dir.path()).unwrap());
    assert!(matches!(other, Err(ChainError::GenesisMismatch { .. })));
}

#[test]
fn side_branches_a_reorg_and_invalid_marks_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let people = wallets(3);
    let params = params(&people, 50);
    let mut chain = Chain::open(params.clone(), Store::open(dir.path()).unwrap()).unwrap();

    // Main chain A1..A3; A2 pays 5 coins from wallet 1 to wallet 2.
    let a1 = mine(&chain, &Mempool::new(), &people[0], 1);
    chain
        .submit_block(a1.clone(), now(), &SeedBoundVerifier)
        .unwrap();
    let mut mempool = Mempool::new();
    let payment = people[0]
        .pay(&chain, None, people[1].address(), coins(5), Amount::ZERO)
        .unwrap();
    mempool.add(payment.clone(), &chain).unwrap();
    let a2 = mine(&chain, &mempool, &people[0], 2);
    chain
        .submit_block(a2.clone(), now(), &SeedBoundVerifier)
        .unwrap();
    let a3 = mine(&chain, &Mempool::new(), &people[0], 3);
    chain
        .submit_block(a3.clone(), now(), &SeedBoundVerifier)
        .unwrap();

    // Side branch B2 on A1, then B3: equal work, so the first seen (A3) stays the tip.
    let b2 = block_on(&chain, a1.hash(), &people[2], 20);
    assert_eq!(
        chain
            .submit_block(b2.clone(), now(), &SeedBoundVerifier)
            .unwrap(),
        ImportOutcome::SideBranch
    );
    let b3 = block_on(&chain, b2.hash(), &people[2], 30);
    assert_eq!(
        chain
            .submit_block(b3.clone(), now(), &SeedBoundVerifier)
            .unwrap(),
        ImportOutcome::SideBranch
    );
    drop(chain);

    let mut chain = Chain::open(params.clone(), Store::open(dir.path()).unwrap()).unwrap();
    assert_eq!(chain.tip(), a3.hash());
    assert_eq!(chain.block_count().unwrap(), 6);
    assert!(chain.block(&b3.hash()).unwrap().is_some());

    // B4 makes the side branch heavier: reorg, which undoes A2's payment.
    let b4 = block_on(&chain, b3.hash(), &people[2], 40);
    let outcome = chain
        .submit_block(b4.clone(), now(), &SeedBoundVerifier)
        .unwrap();
    assert_eq!(
        outcome,
        ImportOutcome::Reorganized {
            disconnected: vec![a3.hash(), a2.hash()],
            connected: vec![b2.hash(), b3.hash(), b4.hash()],
        }
    );
    let balances: Vec<Amount> = people.iter().map(|w| w.balance(&chain).unwrap()).collect();
    assert_eq!(balances, vec![coins(60), coins(50), coins(80)]);
    let utxos = chain.utxo_set().unwrap().clone();
    drop(chain);

    let chain = Chain::open(params.clone(), Store::open(dir.path()).unwrap()).unwrap();
    assert_eq!(chain.tip(), b4.hash());
    assert_eq!(
        chain.best_chain().unwrap(),
        &[
            chain.best_chain().unwrap()[0],
            a1.hash(),
            b2.hash(),
            b3.hash(),
            b4.hash()
        ]
    );
    assert_eq!(chain.utxo_set().unwrap(), utxos);
    assert_eq!(chain.rebuild_utxo_set().unwrap(), utxos);
    assert_eq!(
        chain.store().best_chain().unwrap(),
        chain.best_chain().unwrap()
    );
    assert!(!chain.is_on_best_chain(&a2.hash()).unwrap());
    assert!(chain.block(&a3.hash()).unwrap().is_some());
    let balances_after: Vec<Amount> = people.iter().map(|w| w.balance(&chain).unwrap()).collect();
    assert_eq!(balances_after, balances);
    let mut chain = chain;

    // A branch from A3 whose first block spends B2's coinbase, which exists only on the B
    // branch: when it becomes heavier, connecting it fails and the ledger marks it invalid.
    let key = SigningKey::from_bytes(&[3; 32]);
    let foreign_output = OutPoint {
        txid: b2.transactions[0].txid(),
        vout: 0,
    };
    let spend = Transaction::new_signed(
        &[(foreign_output, &key)],
        vec![TxOut {
            amount: coins(10),
            address: people[1].address(),
        }],
    );
    let mut c4 = block_on(&chain, a3.hash(), &people[1], 41);
    c4.transactions.push(spend);
    let txids: Vec<_> = c4.transactions.iter().map(Transaction::txid).collect();
    c4.header.merkle_root = merkle_root(&txids);
    prove(&mut c4.header, 41);
    assert_eq!(
        chain
            .submit_block(c4.clone(), now(), &SeedBoundVerifier)
            .unwrap(),
        ImportOutcome::SideBranch
    );
    let c5 = block_on(&chain, c4.hash(), &people[1], 51);
    assert!(matches!(
        chain.submit_block(c5.clone(), now(), &SeedBoundVerifier),
        Err(ChainError::InvalidBlock { .. })
    ));
    assert_eq!(chain.tip(), b4.hash());
    drop(chain);

    let chain = Chain::open(params, Store::open(dir.path()).unwrap()).unwrap();
    assert_eq!(chain.tip(), b4.hash());
    assert_eq!(chain.block_count().unwrap(), 9);
    for invalid in [c4.hash(), c5.hash()] {
        assert_eq!(
            chain.block_meta(&invalid).unwrap().unwrap().status,
            BlockStatus::Invalid
        );
    }
    assert_eq!(chain.utxo_set().unwrap(), utxos);
    assert_eq!(chain.rebuild_utxo_set().unwrap(), utxos);
}

/// Writes `bytes` content-addressed into the store's artifact directory, as `ann-mining`'s
/// `ArtifactStore` does, and returns the path.
fn write_artifact(store: &Store, prefix: &str, bytes: &[u8]) -> std::path::PathBuf {
    let name = format!(
        "{prefix}-{}.bin",
        ann_ledger::BlockHash::from_bytes(ann_ledger::hash::sha256(&[bytes]))
    );
    let path = store.artifact_dir().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn artifact_records_are_committed_with_their_block_and_listed_in_chain_order() {
    let dir = tempfile::tempdir().unwrap();
    let people = wallets(2);
    let params = params(&people, 50);
    let mut chain = Chain::open(params.clone(), Store::open(dir.path()).unwrap()).unwrap();

    let mut mined = Vec::new();
    for salt in 0..3u64 {
        let block = mine(&chain, &Mempool::new(), &people[0], salt);
        let store = chain.store();
        let model = write_artifact(store, "model", &[salt as u8; 4000]);
        let trace = write_artifact(store, "trace", &[salt as u8 + 100; 72]);
        let files = vec![
            store.artifact_file(ArtifactRole::Model, &model).unwrap(),
            store.artifact_file(ArtifactRole::Trace, &trace).unwrap(),
        ];
        assert_eq!(files[0].size, 4000);
        assert!(files[0].path.starts_with("artifacts/model-"));
        let record = store.artifact_record(&block.header, files).unwrap();
        chain
            .submit_block_with(block.clone(), record, now(), &SeedBoundVerifier)
            .unwrap();
        mined.push(block);
    }
    drop(chain);

    let store = Store::open(dir.path()).unwrap();
    let side = store.side_chain().unwrap();
    assert_eq!(side.len(), 4);
    assert_eq!(side[0].height, 0);
    assert_eq!(side[0].artifacts, None);
    for (entry, block) in side[1..].iter().zip(&mined) {
        assert_eq!(entry.block_hash, block.hash());
        assert_eq!(entry.height, block.header.height);
        assert_eq!(entry.timestamp, block.header.timestamp);
        let record = entry.artifacts.as_ref().unwrap();
        assert_eq!(record.model_hash, block.header.training.model_hash);
        assert_eq!(
            record.checkpoint_root,
            block.header.training.checkpoint_root
        );
        assert_eq!(record.steps, block.header.training.steps);
        for file in &record.files {
            store.check_artifact_file(file).unwrap();
        }
        assert_eq!(
            store.artifacts(&block.hash()).unwrap().as_ref(),
            Some(record)
        );
    }

    // A tampered (resized) file is detected against its record.
    let model = side[1]
        .artifacts
        .as_ref()
        .unwrap()
        .file(ArtifactRole::Model)
        .unwrap()
        .clone();
    std::fs::write(store.artifact_path(&model), [0u8; 10]).unwrap();
    assert!(matches!(
        store.check_artifact_file(&model),
        Err(ArtifactRecordError::SizeMismatch {
            expected: 4000,
            found: 10,
            ..
        })
    ));
}

#[test]
fn artifacts_are_only_recorded_for_their_own_committed_block() {
    let dir = tempfile::tempdir().unwrap();
    let people = wallets(2);
    let mut chain = Chain::open(params(&people, 50), Store::open(dir.path()).unwrap()).unwrap();
    let block = mine(&chain, &Mempool::new(), &people[0], 1);
    let model = write_artifact(chain.store(), "model", b"weights");
    let file = chain
        .store()
        .artifact_file(ArtifactRole::Model, &model)
        .unwrap();

    // A file that is not there yet, or lies outside the store, cannot be recorded.
    let mut missing = file.clone();
    missing.path = "artifacts/not-written-yet.bin".into();
    assert!(matches!(
        chain.store().artifact_record(&block.header, vec![missing]),
        Err(ArtifactRecordError::Io { .. })
    ));
    let outside = tempfile::NamedTempFile::new().unwrap();
    assert!(matches!(
        chain
            .store()
            .artifact_file(ArtifactRole::Model, outside.path()),
        Err(ArtifactRecordError::InvalidPath { .. })
    ));

    // A rejected block writes nothing, its record neither; a record given with another
    // block than its own is refused, and nothing of that import is written.
    let mut forged = block.clone();
    forged.header.training.steps = 0;
    let forged_record = chain
        .store()
        .artifact_record(&forged.header, vec![file.clone()])
        .unwrap();
    assert!(
        chain
            .submit_block_with(
                forged.clone(),
                forged_record.clone(),
                now(),
                &SeedBoundVerifier
            )
            .is_err()
    );
    assert!(matches!(
        chain.submit_block_with(block.clone(), forged_record, now(), &SeedBoundVerifier),
        Err(ann_ledger::ChainError::Store(_))
    ));
    assert_eq!(
        chain.block_count().unwrap(),
        1,
        "the mismatched import wrote nothing"
    );
    chain
        .submit_block(block.clone(), now(), &SeedBoundVerifier)
        .unwrap();
    assert_eq!(chain.store().artifacts(&block.hash()).unwrap(), None);
    assert_eq!(chain.store().artifacts(&forged.hash()).unwrap(), None);

    // Artifacts of a stored block can be recorded afterwards; of an unknown one, not.
    chain
        .store()
        .record_artifacts(&block.header, vec![file.clone()])
        .unwrap();
    let record = chain.store().artifacts(&block.hash()).unwrap().unwrap();
    assert_eq!(record.files, vec![file.clone()]);
    assert!(matches!(
        chain.store().record_artifacts(&forged.header, vec![file]),
        Err(ann_store::StoreError::Artifact(
            ArtifactRecordError::UnknownBlock(_)
        ))
    ));
}
