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
    canonical_by(
        data,
        ann_ledger::decode::<T>,
        ann_ledger::encode::<T>,
        "ledger value",
    )
    .is_some()
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

/// Decodes with `decode`; what is accepted must give back `data` through `encode`.
fn canonical_by<T, E>(
    data: &[u8],
    decode: impl FnOnce(&[u8]) -> Result<T, E>,
    encode: impl FnOnce(&T) -> Vec<u8>,
    what: &str,
) -> Option<T> {
    let value = decode(data).ok()?;
    assert_eq!(
        encode(&value),
        data,
        "accepted a {what} that is not canonical"
    );
    Some(value)
}

pub fn net_request(data: &[u8]) -> bool {
    canonical_by(
        data,
        ann_net::Request::from_bytes,
        ann_net::Request::to_bytes,
        "request",
    )
    .is_some()
}

pub fn net_response(data: &[u8]) -> bool {
    canonical_by(
        data,
        ann_net::Response::from_bytes,
        ann_net::Response::to_bytes,
        "response",
    )
    .is_some()
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

/// An address in its text form, as a wallet RPC or a command line receives it. Accepted text
/// is the one bech32m text of its 32 bytes (in either case): nothing else names it.
pub fn ledger_address(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let Ok(address) = text.parse::<ann_ledger::Address>() else {
        return false;
    };
    assert_eq!(address.to_string(), text.to_ascii_lowercase());
    assert_eq!(
        address.to_string().parse::<ann_ledger::Address>(),
        Ok(address)
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

/// An ANU answer: the first two bytes pick the length asked for (1 to 1,024), the rest is the
/// body. Accepted bytes are exactly as many as asked for.
pub fn keys_anu_answer(data: &[u8]) -> bool {
    let Some((asked, body)) = data.split_first_chunk::<2>() else {
        return false;
    };
    let length = 1 + usize::from(u16::from_le_bytes(*asked)) % ann_keys::anu::MAX_LENGTH;
    let Ok(bytes) = ann_keys::anu::parse_answer(body, length) else {
        return false;
    };
    assert_eq!(bytes.len(), length);
    true
}

/// The IBM answers: the first byte picks the endpoint (token, job created, job status,
/// results); for results the next three bytes pick the qubits (1 to 64) and the shots (1 to
/// 4,096). What is accepted meets each parser's promises.
pub fn keys_ibm_answers(data: &[u8]) -> bool {
    use ann_keys::ibm;
    let Some((&kind, rest)) = data.split_first() else {
        return false;
    };
    match kind % 4 {
        0 => ibm::parse_token_answer(rest).is_ok_and(|(token, lifetime)| {
            assert!(!token.expose().is_empty());
            assert!(!lifetime.is_zero() && lifetime <= ibm::MAX_TOKEN_LIFETIME);
            true
        }),
        1 => ibm::parse_job_created(rest).is_ok_and(|id| {
            assert!((1..=128).contains(&id.len()));
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            );
            true
        }),
        2 => ibm::parse_job_status(rest).is_ok(),
        _ => {
            let Some((&[q, s0, s1], body)) = rest.split_first_chunk::<3>() else {
                return false;
            };
            let qubits = 1 + usize::from(q) % ibm::MAX_QUBITS;
            let shots = 1 + usize::from(u16::from_le_bytes([s0, s1])) % 4096;
            ibm::parse_results(body, qubits, shots).is_ok_and(|bits| {
                assert_eq!(bits.len() % qubits, 0);
                assert!(bits.len() <= qubits * shots);
                true
            })
        }
    }
}

/// A checkpoint (`Weights::from_bytes`), canonical.
pub fn mining_checkpoint(data: &[u8]) -> bool {
    use ann_mining::Weights;
    canonical_by(data, Weights::from_bytes, Weights::to_bytes, "checkpoint").is_some()
}

/// A trace of checkpoint hashes (`Trace::from_bytes`), canonical.
pub fn mining_trace(data: &[u8]) -> bool {
    use ann_mining::Trace;
    canonical_by(data, Trace::from_bytes, Trace::to_bytes, "trace").is_some_and(|trace| {
        assert!(trace.segments() >= 1);
        true
    })
}

/// An audit proof's Merkle openings (`AuditProof::from_bytes`), canonical.
pub fn mining_audit_proof(data: &[u8]) -> bool {
    use ann_mining::AuditProof;
    canonical_by(
        data,
        AuditProof::from_bytes,
        AuditProof::to_bytes,
        "audit proof",
    )
    .is_some()
}

/// A target's check: whether it accepted the bytes (a panic is the failure).
pub type Check = fn(&[u8]) -> bool;

/// Every target by name, for the corpus replay.
pub const TARGETS: [(&str, Check); 14] = [
    ("ledger_address", ledger_address),
    ("ledger_block", ledger_block),
    ("ledger_transaction", ledger_transaction),
    ("ledger_header", ledger_header),
    ("ledger_store_records", ledger_store_records),
    ("net_request", net_request),
    ("net_response", net_response),
    ("store_artifact_record", store_artifact_record),
    ("wallet_file", wallet_file),
    ("keys_anu_answer", keys_anu_answer),
    ("keys_ibm_answers", keys_ibm_answers),
    ("mining_checkpoint", mining_checkpoint),
    ("mining_trace", mining_trace),
    ("mining_audit_proof", mining_audit_proof),
];
