//! Golden vectors: the encodings and hashes of a fixed transaction, block and records, from
//! keys derived from fixed seeds, checked against files in `tests/vectors/`.
//!
//! An accidental change of the consensus format fails here. To regenerate after a deliberate
//! change (and then review the diff): `UPDATE_VECTORS=1 cargo test -p ann-ledger --test vectors`.

use std::path::PathBuf;

use ann_ledger::validation::verify_transaction_signatures;
use ann_ledger::{
    Address, Amount, Block, BlockHeader, BlockMeta, BlockStatus, BlockUndo, CheckpointRoot,
    CompactTarget, Decode, Encode, ModelHash, OutPoint, TaskId, TrainingCommitment, Transaction,
    TxOut, Txid, UtxoEntry, merkle_root,
};
use ann_ledger::{InputSigner, MlDsa65SigningKey};
use ed25519_dalek::SigningKey;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn address(seed: u8) -> Address {
    Address::from_verifying_key(&key(seed).verifying_key())
}

fn fixed_transaction() -> Transaction {
    let spends = [
        (
            OutPoint {
                txid: Txid::from_bytes([0x11; 32]),
                vout: 0,
            },
            &key(1),
        ),
        (
            OutPoint {
                txid: Txid::from_bytes([0x22; 32]),
                vout: 3,
            },
            &key(2),
        ),
    ];
    let (a, b) = (key(1), key(2));
    let spends = [(spends[0].0, &a), (spends[1].0, &b)];
    Transaction::new_signed(
        &spends,
        vec![
            TxOut {
                amount: Amount::from_coins(3).expect("small"),
                address: address(3),
            },
            TxOut {
                amount: Amount::from_base_units(123_456_789).expect("small"),
                address: address(1),
            },
        ],
    )
}

fn fixed_block() -> Block {
    let coinbase = Transaction::coinbase(
        7,
        vec![TxOut {
            amount: Amount::from_coins(10).expect("small"),
            address: address(9),
        }],
    );
    let transactions = vec![coinbase, fixed_transaction()];
    let txids: Vec<Txid> = transactions.iter().map(Transaction::txid).collect();
    Block {
        header: BlockHeader {
            version: 1,
            height: 7,
            prev_hash: ann_ledger::BlockHash::from_bytes([0x33; 32]),
            merkle_root: merkle_root(&txids),
            timestamp: 1_700_000_000,
            bits: CompactTarget::from_expected_tickets(5_000),
            training: TrainingCommitment {
                task_id: TaskId::from_bytes([0x44; 32]),
                steps: 4690,
                checkpoint_root: CheckpointRoot::from_bytes([0x55; 32]),
                model_hash: ModelHash::from_bytes([0x66; 32]),
            },
        },
        transactions,
    }
}

fn vector_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name)
}

/// Compares `actual` with the stored vector (or writes it when regenerating).
fn check_vector(name: &str, actual: &Value) {
    let path = vector_path(name);
    if std::env::var_os("UPDATE_VECTORS").is_some() {
        let text = serde_json::to_string_pretty(actual).expect("json") + "\n";
        std::fs::write(&path, text).expect("write vector");
        return;
    }
    let stored = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "read {}: {e} (generate with UPDATE_VECTORS=1)",
            path.display()
        )
    });
    let stored: Value = serde_json::from_str(&stored).expect("vector is JSON");
    assert_eq!(&stored, actual, "golden vector {name} changed");
}

#[test]
fn transaction_vector() {
    let tx = fixed_transaction();
    let bytes = tx.encode();
    assert_eq!(bytes.len(), tx.encoded_len());
    assert_eq!(Transaction::decode(&bytes), Ok(tx.clone()));
    check_vector(
        "transaction.json",
        &json!({
            "encoding": hex::encode(&bytes),
            "txid": tx.txid().to_string(),
            "signing_digest": hex::encode(tx.signing_digest()),
            "signer_addresses": [address(1).to_string(), address(2).to_string()],
        }),
    );
}

/// A version-2 transaction spending an ed25519 coin and an ML-DSA-65 coin: the post-quantum
/// kind's encoding, signing digest and txid. ML-DSA-65 signing is deterministic here, so the
/// signature is fixed too.
#[test]
fn post_quantum_transaction_vector() {
    let ed = key(1);
    let pq = MlDsa65SigningKey::from_seed(&[0x0b; 32]);
    let spends: [(OutPoint, &dyn InputSigner); 2] = [
        (
            OutPoint {
                txid: Txid::from_bytes([0x11; 32]),
                vout: 0,
            },
            &ed,
        ),
        (
            OutPoint {
                txid: Txid::from_bytes([0x22; 32]),
                vout: 1,
            },
            &pq,
        ),
    ];
    let tx = Transaction::new_signed(
        &spends,
        vec![TxOut {
            amount: Amount::from_coins(2).expect("small"),
            address: Address::from_ml_dsa_65_key(pq.public_key()),
        }],
    );
    assert_eq!(tx.version, ann_ledger::TX_VERSION_TYPED_INPUTS);
    let bytes = tx.encode();
    assert_eq!(bytes.len(), tx.encoded_len());
    assert_eq!(Transaction::decode(&bytes), Ok(tx.clone()));
    assert_eq!(verify_transaction_signatures(&tx), Ok(()));
    check_vector(
        "transaction_ml_dsa_65.json",
        &json!({
            "ml_dsa_65_seed": hex::encode([0x0b; 32]),
            "ml_dsa_65_public_key_sha256": hex::encode(Sha256::digest(pq.public_key().as_bytes())),
            "ml_dsa_65_address": Address::from_ml_dsa_65_key(pq.public_key()).to_string(),
            "encoding_len": bytes.len(),
            "encoding": hex::encode(&bytes),
            "signing_digest": hex::encode(tx.signing_digest()),
            "txid": tx.txid().to_string(),
        }),
    );
}

#[test]
fn block_vector() {
    let block = fixed_block();
    let bytes = block.encode();
    assert_eq!(bytes.len(), block.encoded_len());
    assert_eq!(Block::decode(&bytes), Ok(block.clone()));
    let header = block.header.encode();
    assert_eq!(header.len(), ann_ledger::encoding::HEADER_SIZE);
    check_vector(
        "block.json",
        &json!({
            "encoding": hex::encode(&bytes),
            "header_encoding": hex::encode(&header),
            "block_hash": block.hash().to_string(),
            "merkle_root": block.header.merkle_root.to_string(),
            "coinbase_txid": block.transactions[0].txid().to_string(),
            "training_seed": hex::encode(block.header.training_seed()),
            "bits": block.header.bits.to_bits(),
            "work": block.header.bits.work().to_string(),
            "ticket": block.header.ticket().to_string(),
            "meets_target": block.header.meets_target(),
        }),
    );
}

#[test]
fn merkle_and_address_vectors() {
    let txids: Vec<Txid> = (0u8..5).map(|i| Txid::from_bytes([i; 32])).collect();
    let roots: Vec<String> = (0..=5)
        .map(|n| merkle_root(&txids[..n]).to_string())
        .collect();
    let key_hex = hex::encode(key(1).verifying_key().as_bytes());
    check_vector(
        "merkle_address.json",
        &json!({
            "merkle_roots_of_prefixes_of_txids_00_to_04": roots,
            "verifying_key_seed_01": key_hex,
            "address_seed_01": address(1).to_string(),
        }),
    );
}

#[test]
fn store_record_vectors() {
    let entry = UtxoEntry {
        output: TxOut {
            amount: Amount::from_coins(10).expect("small"),
            address: address(4),
        },
        height: 12,
        is_coinbase: true,
    };
    let undo = BlockUndo {
        spent: vec![(
            OutPoint {
                txid: Txid::from_bytes([0x77; 32]),
                vout: 1,
            },
            entry,
        )],
    };
    let meta = BlockMeta {
        height: 12,
        cumulative_work: 0x0123_4567_89ab_cdef_0011_2233_4455_6677,
        seen_order: 40,
        status: BlockStatus::Invalid,
    };
    assert_eq!(UtxoEntry::decode(&entry.encode()), Ok(entry));
    assert_eq!(BlockUndo::decode(&undo.encode()), Ok(undo.clone()));
    assert_eq!(BlockMeta::decode(&meta.encode()), Ok(meta));
    check_vector(
        "store_records.json",
        &json!({
            "utxo_entry": hex::encode(entry.encode()),
            "block_undo": hex::encode(undo.encode()),
            "block_meta": hex::encode(meta.encode()),
        }),
    );
}

#[test]
fn difficulty_vectors() {
    // Compact targets from expected tickets, their bytes and work; ASERT under the main
    // preset at a few schedule deviations; and a ticket of the fixed block's header.
    let compact: Vec<Value> = [1u128, 2, 3, 40, 5_000, 1 << 40]
        .iter()
        .map(|&tickets| {
            let target = CompactTarget::from_expected_tickets(tickets);
            json!({
                "expected_tickets": tickets.to_string(),
                "bits": target.to_bits(),
                "target_be": hex::encode(target.to_be_bytes()),
                "work": target.work().to_string(),
            })
        })
        .collect();
    let main = ann_ledger::Difficulty::main();
    let genesis = 1_700_000_000u64;
    let asert: Vec<Value> = [
        (1u64, genesis),
        (100, genesis + 6_000),
        (100, genesis + 6_000 + 1_800),
        (100, genesis + 6_000 + 3_600),
        (100, genesis + 6_000 - 900),
        (1_000, genesis + 60_000 - 7_200),
        (10, genesis + 10_000_000),
    ]
    .iter()
    .map(|&(parent_height, parent_timestamp)| {
        json!({
            "parent_height": parent_height,
            "parent_timestamp": parent_timestamp,
            "genesis_timestamp": genesis,
            "bits": main.next_target(parent_height, parent_timestamp, genesis).to_bits(),
        })
    })
    .collect();
    let header = fixed_block().header;
    check_vector(
        "difficulty.json",
        &json!({
            "compact": compact,
            "asert_main_preset": asert,
            "main_preset_initial_bits": main.initial.to_bits(),
            "main_preset_limit_bits": main.limit.to_bits(),
            "ticket_steps_10_model_66": header
                .ticket_for(10, &ModelHash::from_bytes([0x66; 32]))
                .to_string(),
        }),
    );
}
