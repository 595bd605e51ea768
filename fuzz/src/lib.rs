//! The fuzz targets' checks: each decodes bytes from outside with the decoder a node, a store
//! or a wallet really uses, and says whether it accepted them. Refusing the bytes with a typed
//! error is a pass. A panic fails.
//! So does accepting bytes that do not re-encode to themselves: the consensus and wire
//! encodings are canonical, and two byte strings for one value would give two hashes for one
//! block.
//!
//! Shared by `fuzz_targets/*` (libFuzzer) and the root crate's `tests/fuzz_corpus.rs`, which
//! replays `corpus/` and `regressions/` on stable.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use ann_ledger::{Block, BlockHash, BlockHeader, BlockMeta, BlockUndo, Transaction, UtxoEntry};

fn canonical<T: ann_ledger::Encode + ann_ledger::Decode>(data: &[u8]) -> bool {
    let Ok(value) = ann_ledger::decode::<T>(data) else {
        return false;
    };
    assert_eq!(
        ann_ledger::encode(&value),
        data,
        "accepted bytes that are not the canonical encoding of what they decode to"
    );
    true
}

pub fn ledger_block(data: &[u8]) -> bool {
    canonical::<Block>(data)
}

pub fn ledger_transaction(data: &[u8]) -> bool {
    canonical::<Transaction>(data)
}

pub fn ledger_header(data: &[u8]) -> bool {
    canonical::<BlockHeader>(data)
}

/// The store's records of the ledger's types: the first byte picks the type.
pub fn ledger_store_records(data: &[u8]) -> bool {
    let Some((&kind, rest)) = data.split_first() else {
        return false;
    };
    match kind % 3 {
        0 => canonical::<BlockMeta>(rest),
        1 => canonical::<BlockUndo>(rest),
        _ => canonical::<UtxoEntry>(rest),
    }
}

pub fn net_request(data: &[u8]) -> bool {
    let Ok(request) = ann_net::Request::from_bytes(data) else {
        return false;
    };
    assert_eq!(request.to_bytes(), data, "a request that is not canonical");
    true
}

pub fn net_response(data: &[u8]) -> bool {
    let Ok(response) = ann_net::Response::from_bytes(data) else {
        return false;
    };
    assert_eq!(
        response.to_bytes(),
        data,
        "a response that is not canonical"
    );
    true
}

pub fn store_artifact_record(data: &[u8]) -> bool {
    let hash = BlockHash::from_bytes([0x42; 32]);
    let Ok(record) = ann_store::ArtifactRecord::decode_value(hash, data) else {
        return false;
    };
    assert_eq!(record.block_hash, hash);
    assert_eq!(
        record.encode_value(),
        data,
        "a record that is not canonical"
    );
    true
}

pub fn wallet_file(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let Ok(key) = ann_keys::wallet_file::parse_wallet_file(text) else {
        return false;
    };
    // Lines may end in `\r\n` on import, so the text is not canonical; the key is.
    let written = ann_keys::wallet_file::wallet_file_text(&key);
    let again = ann_keys::wallet_file::parse_wallet_file(&written).expect("our own file");
    assert_eq!(again, key);
    true
}

/// A target's check: whether it accepted the bytes (a panic is the failure).
pub type Check = fn(&[u8]) -> bool;

/// Every target by name, for the corpus replay.
pub const TARGETS: [(&str, Check); 8] = [
    ("ledger_block", ledger_block),
    ("ledger_transaction", ledger_transaction),
    ("ledger_header", ledger_header),
    ("ledger_store_records", ledger_store_records),
    ("net_request", net_request),
    ("net_response", net_response),
    ("store_artifact_record", store_artifact_record),
    ("wallet_file", wallet_file),
];
