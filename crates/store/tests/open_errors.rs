//! Opening what is not a healthy store of this version is a typed error, never a panic and
//! never silently different data.

#![allow(clippy::unwrap_used)] // Test helpers outside `#[test]` functions unwrap too.

mod common;

use ann_ledger::{Block, BlockHash, BlockMeta, BlockUndo, Chain, ChainStore, OutPoint, UtxoEntry};
use ann_store::{OpenError, SCHEMA_VERSION, Store, StoreError};
use common::*;
use redb::{ReadableTable, TableDefinition};

const FORMAT: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("format");
const BLOCKS: TableDefinition<'_, &[u8; 32], &[u8]> = TableDefinition::new("blocks");
const UTXOS: TableDefinition<'_, &[u8; 36], &[u8]> = TableDefinition::new("utxos");

/// Everything a store answers for its chain, through the ledger's queries.
#[derive(Clone, Debug, PartialEq)]
struct Dump {
    tip: Option<BlockHash>,
    best: Vec<BlockHash>,
    blocks: Vec<(Block, Option<BlockMeta>, Option<BlockUndo>)>,
    utxos: Vec<(OutPoint, UtxoEntry)>,
}

fn dump(store: &Store) -> Result<Dump, StoreError> {
    let tip = ChainStore::tip(store)?;
    let mut best = Vec::new();
    while let Some(hash) = store.best_hash(best.len() as u64)? {
        best.push(hash);
    }
    let mut blocks = Vec::new();
    for hash in store.blocks_from_height(0)? {
        let block = ChainStore::block(store, &hash)?.ok_or_else(|| {
            StoreError::Load(ann_store::LoadError::Inconsistent(format!(
                "{hash} indexed, missing"
            )))
        })?;
        blocks.push((block, store.meta(&hash)?, store.undo(&hash)?));
    }
    let mut utxos = Vec::new();
    store.for_each_utxo(&mut |o, e| utxos.push((*o, *e)))?;
    Ok(Dump {
        tip,
        best,
        blocks,
        utxos,
    })
}

/// A store holding a short chain; returns its directory and what it holds.
fn populated_store() -> (tempfile::TempDir, Dump) {
    let dir = tempfile::tempdir().unwrap();
    let people = wallets(3);
    let mut chain = Chain::open(params(&people, 50), Store::open(dir.path()).unwrap()).unwrap();
    for salt in 0..5 {
        let block = block_with_payments(&chain, &people, 2, salt);
        chain
            .submit_block(block, now(), &SeedBoundVerifier)
            .unwrap();
    }
    let stored = dump(chain.store()).unwrap();
    assert_eq!(stored.blocks.len(), 6);
    (dir, stored)
}

fn db_path(dir: &tempfile::TempDir) -> std::path::PathBuf {
    dir.path().join("chain.redb")
}

#[test]
fn a_file_is_not_a_store_directory() {
    let file = tempfile::NamedTempFile::new().unwrap();
    assert!(matches!(
        Store::open(file.path()),
        Err(OpenError::NotADirectory { .. })
    ));
}

#[test]
fn a_store_is_not_created_over_other_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    match Store::open(dir.path()) {
        Err(OpenError::NotAStore { entry, .. }) => assert_eq!(entry, "notes.txt"),
        other => panic!("expected NotAStore, got {other:?}"),
    }
}

#[test]
fn a_missing_directory_is_created_and_a_fresh_store_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b");
    let store = Store::open(&path).unwrap();
    assert!(store.artifact_dir().is_dir());
    assert_eq!(
        dump(&store).unwrap(),
        Dump {
            tip: None,
            best: Vec::new(),
            blocks: Vec::new(),
            utxos: Vec::new()
        }
    );
    assert_eq!(store.tip().unwrap(), None);
    assert!(store.side_chain().unwrap().is_empty());
}

#[test]
fn a_creation_interrupted_by_a_crash_is_redone() {
    let dir = tempfile::tempdir().unwrap();
    // What a crash during creation leaves: a half-written database under the temporary name.
    std::fs::write(dir.path().join("chain.redb.creating"), [0xab; 5000]).unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert!(!dir.path().join("chain.redb.creating").exists());
    assert_eq!(store.tip().unwrap(), None);
}

#[test]
fn a_file_that_is_not_redb_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pattern: Vec<u8> = (0..20_000u32).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(db_path(&dir), pattern).unwrap();
    assert!(matches!(
        Store::open(dir.path()),
        Err(OpenError::NotRedb { .. })
    ));
    std::fs::write(db_path(&dir), b"").unwrap();
    assert!(matches!(
        Store::open(dir.path()),
        Err(OpenError::NotRedb { .. })
    ));
}

#[test]
fn another_applications_redb_database_is_foreign() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = redb::Database::create(db_path(&dir)).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(TableDefinition::<&str, u64>::new("my_data"))
            .unwrap()
            .insert("k", &1)
            .unwrap();
        txn.commit().unwrap();
    }
    assert!(matches!(
        Store::open(dir.path()),
        Err(OpenError::Foreign { .. })
    ));

    // A `format` table with another application's magic is foreign too.
    {
        let db = redb::Database::create(db_path(&dir)).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(FORMAT)
            .unwrap()
            .insert("magic", b"someone-else".as_slice())
            .unwrap();
        txn.commit().unwrap();
    }
    match Store::open(dir.path()) {
        Err(OpenError::Foreign { reason, .. }) => assert!(reason.contains("someone-else")),
        other => panic!("expected Foreign, got {other:?}"),
    }
}

fn set_schema_version(dir: &tempfile::TempDir, version: u32) {
    let db = redb::Database::open(db_path(dir)).unwrap();
    let txn = db.begin_write().unwrap();
    txn.open_table(FORMAT)
        .unwrap()
        .insert("schema_version", version.to_le_bytes().as_slice())
        .unwrap();
    txn.commit().unwrap();
}

#[test]
fn a_newer_or_unknown_schema_is_refused() {
    let (dir, _) = populated_store();
    set_schema_version(&dir, SCHEMA_VERSION + 1);
    assert!(matches!(
        Store::open(dir.path()),
        Err(OpenError::NewerSchema { found, supported, .. })
            if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION
    ));
    set_schema_version(&dir, 0);
    assert!(matches!(
        Store::open(dir.path()),
        Err(OpenError::UnsupportedSchema { found: 0, .. })
    ));
    set_schema_version(&dir, SCHEMA_VERSION);
    Store::open(dir.path()).unwrap();
}

#[test]
fn a_store_open_elsewhere_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Store::open(dir.path()).unwrap();
    assert!(matches!(
        Store::open(dir.path()),
        Err(OpenError::AlreadyOpen { .. })
    ));
}

#[test]
fn undecodable_or_misfiled_records_are_typed_load_errors() {
    let (dir, stored) = populated_store();
    let some_block = stored.blocks[1].0.hash();
    {
        let db = redb::Database::open(db_path(&dir)).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut blocks = txn.open_table(BLOCKS).unwrap();
            let bytes = blocks
                .get(some_block.as_bytes())
                .unwrap()
                .unwrap()
                .value()
                .to_vec();
            // The same block under another key.
            blocks.insert(&[0xee; 32], bytes.as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert!(matches!(
        ChainStore::block(&store, &BlockHash::from_bytes([0xee; 32])),
        Err(StoreError::Load(ann_store::LoadError::HashMismatch { .. }))
    ));
    assert!(matches!(
        ChainStore::header(&store, &BlockHash::from_bytes([0xee; 32])),
        Err(StoreError::Load(ann_store::LoadError::HashMismatch { .. }))
    ));
    drop(store);

    let (dir, stored) = populated_store();
    let (outpoint, _) = stored.utxos[0];
    {
        let db = redb::Database::open(db_path(&dir)).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut key = [0u8; 36];
            key.copy_from_slice(&ann_ledger::encode(&outpoint));
            // An amount above the maximum supply.
            txn.open_table(UTXOS)
                .unwrap()
                .insert(&key, [0xff; 49].as_slice())
                .unwrap();
        }
        txn.commit().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    match store.utxo(&outpoint) {
        Err(StoreError::Load(ann_store::LoadError::Decode { table, .. })) => {
            assert_eq!(table, "utxos")
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
    assert!(
        dump(&store).is_err(),
        "a full scan meets the bad record too"
    );
    // The ledger reports the store's error instead of using bad data.
    let people = wallets(3);
    let chain = Chain::open(params(&people, 50), store).unwrap();
    assert!(chain.utxo(&outpoint).is_err());
    assert!(chain.total_supply().is_err());
}

/// Overwrites 64 bytes at many places of a copy of a healthy store: each open must either fail
/// with a typed error or give back exactly the chain that was stored; a damaged magic number
/// makes it not a redb file.
#[test]
fn damaged_files_fail_with_typed_errors_or_read_back_unchanged() {
    let (dir, stored) = populated_store();
    let original = std::fs::read(db_path(&dir)).unwrap();
    let mut refused = 0;
    let mut offsets: Vec<usize> = (0..48).map(|i| i * original.len() / 48).collect();
    offsets.extend([0, 16, 64, 200, 512, 1024, 4096 + 10]);
    for offset in offsets {
        let scratch = tempfile::tempdir().unwrap();
        let mut bytes = original.clone();
        let end = (offset + 64).min(bytes.len());
        for (i, b) in bytes[offset..end].iter_mut().enumerate() {
            *b ^= 0x5a ^ (i as u8);
        }
        std::fs::write(scratch.path().join("chain.redb"), &bytes).unwrap();
        match Store::open(scratch.path()) {
            Err(_) => refused += 1,
            Ok(store) => match dump(&store) {
                Err(_) => refused += 1,
                Ok(loaded) => {
                    let expected = stored.clone();
                    assert_eq!(
                        loaded, expected,
                        "damage at {offset} changed the chain silently"
                    );
                }
            },
        }
        if offset == 0 {
            assert!(
                matches!(Store::open(scratch.path()), Err(OpenError::NotRedb { .. })),
                "damage to redb's magic number was accepted"
            );
        }
    }
    // 15 of the 55 places hit live pages with schema 2, 9 with schema 3 (its file holds more
    // free space); the rest hit free space.
    assert!(refused >= 6, "only {refused} damaged copies were refused");
}
