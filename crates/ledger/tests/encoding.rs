//! The decoder's typed errors, one per way bytes can be wrong, and the strict signature
//! policy against a weak key.

mod common;

use ann_ledger::encoding::{HEADER_SIZE, MAX_TX_INPUTS, TXIN_SIZE};
use ann_ledger::validation::verify_transaction_signatures;
use ann_ledger::{
    Address, Amount, Block, BlockHeader, Decode, DecodeError, Encode, MAX_BLOCK_SIZE, MAX_SUPPLY,
    OutPoint, Transaction, TxError, TxIn, TxOut, Txid,
};
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};

fn signed() -> Transaction {
    Transaction::new_signed(
        &[(
            OutPoint {
                txid: Txid::from_bytes([1; 32]),
                vout: 0,
            },
            &SigningKey::from_bytes(&[5; 32]),
        )],
        vec![TxOut {
            amount: Amount::from_coins(1).expect("small"),
            address: Address::from_bytes([2; 32]),
        }],
    )
}

/// Offset of the first input's verifying key in a transaction encoding.
const KEY_OFFSET: usize = 4 + 4 + 36;
/// Offset of the output count in `signed()`'s encoding.
const OUTPUT_COUNT_OFFSET: usize = 8 + TXIN_SIZE;

#[test]
fn truncated_input() {
    let bytes = signed().encode();
    assert_eq!(
        Transaction::decode(&bytes[..bytes.len() - 1]),
        Err(DecodeError::UnexpectedEnd {
            what: "coinbase height",
            needed: 1,
            remaining: 0
        })
    );
}

#[test]
fn trailing_bytes() {
    let mut bytes = signed().encode();
    bytes.push(0);
    assert_eq!(
        Transaction::decode(&bytes),
        Err(DecodeError::TrailingBytes(1))
    );
}

#[test]
fn unsupported_version() {
    let mut bytes = signed().encode();
    bytes[0] = 3;
    assert_eq!(
        Transaction::decode(&bytes),
        Err(DecodeError::UnsupportedVersion {
            what: "transaction",
            version: 3,
            supported: 2
        })
    );
    // A version-1 transaction read as version 2: its first key byte is taken for a kind tag.
    bytes[0] = 2;
    assert!(Transaction::decode(&bytes).is_err());
    let mut header = common_header().encode();
    header[0] = 9;
    assert!(matches!(
        BlockHeader::decode(&header),
        Err(DecodeError::UnsupportedVersion {
            what: "block",
            version: 9,
            ..
        })
    ));
}

#[test]
fn count_above_cap_is_rejected_before_allocating() {
    let mut bytes = signed().encode();
    bytes[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(
        Transaction::decode(&bytes),
        Err(DecodeError::CountTooLarge {
            what: "input",
            count: u64::from(u32::MAX),
            max: MAX_TX_INPUTS
        })
    );
}

#[test]
fn count_beyond_input_is_rejected_before_allocating() {
    let mut bytes = signed().encode();
    bytes[4..8].copy_from_slice(&1000u32.to_le_bytes());
    let remaining = bytes.len() - 8;
    assert_eq!(
        Transaction::decode(&bytes),
        Err(DecodeError::CountExceedsInput {
            what: "input",
            count: 1000,
            needed: 1000 * TXIN_SIZE as u64,
            remaining
        })
    );
}

#[test]
fn invalid_coinbase_tag() {
    let mut bytes = signed().encode();
    let last = bytes.len() - 1;
    bytes[last] = 2;
    assert_eq!(
        Transaction::decode(&bytes),
        Err(DecodeError::InvalidTag {
            what: "coinbase height",
            tag: 2
        })
    );
}

#[test]
fn amount_above_max_supply() {
    let mut bytes = signed().encode();
    let at = OUTPUT_COUNT_OFFSET + 4;
    bytes[at..at + 8].copy_from_slice(&(MAX_SUPPLY + 1).to_le_bytes());
    assert_eq!(
        Transaction::decode(&bytes),
        Err(DecodeError::AmountAboveMaxSupply(MAX_SUPPLY + 1))
    );
}

fn common_header() -> BlockHeader {
    let mut block = Block {
        header: ann_ledger::ChainParams::new(vec![], 0, common::target())
            .genesis_block()
            .header,
        transactions: vec![],
    };
    block.header.height = 3;
    block.header
}

#[test]
fn target_not_canonical() {
    let mut bytes = common_header().encode();
    // Version 4, height 8, two hashes 64, timestamp 8: the bits start at byte 84.
    for bits in [
        0u32,
        (200 << 24) | 0x7f_ffff,
        (233 << 24) | 0x80_0000,
        u32::MAX,
    ] {
        bytes[84..88].copy_from_slice(&bits.to_le_bytes());
        assert_eq!(
            BlockHeader::decode(&bytes),
            Err(DecodeError::InvalidTarget(bits))
        );
    }
    assert_eq!(bytes.len(), HEADER_SIZE);
}

#[test]
fn verifying_key_not_on_the_curve() {
    // Find a y coordinate with no matching x: roughly half of all values.
    let bad = (2u8..=255)
        .map(|y| {
            let mut bytes = [0u8; 32];
            bytes[0] = y;
            bytes
        })
        .find(|bytes| VerifyingKey::from_bytes(bytes).is_err())
        .expect("some small y is not on the curve");
    let mut bytes = signed().encode();
    bytes[KEY_OFFSET..KEY_OFFSET + 32].copy_from_slice(&bad);
    assert_eq!(
        Transaction::decode(&bytes),
        Err(DecodeError::InvalidVerifyingKey)
    );
}

#[test]
fn verifying_key_not_canonical() {
    // y = p + 1, which reduces to y = 1: a valid point, written non-canonically.
    let mut y = [0xffu8; 32];
    y[0] = 0xee;
    y[31] = 0x7f;
    assert!(VerifyingKey::from_bytes(&y).is_ok(), "dalek accepts it");
    let mut bytes = signed().encode();
    bytes[KEY_OFFSET..KEY_OFFSET + 32].copy_from_slice(&y);
    assert_eq!(
        Transaction::decode(&bytes),
        Err(DecodeError::NonCanonicalVerifyingKey)
    );
}

#[test]
fn oversize_block_input() {
    let bytes = vec![0u8; MAX_BLOCK_SIZE + 1];
    assert_eq!(
        Block::decode(&bytes),
        Err(DecodeError::TooLarge {
            what: "block",
            len: MAX_BLOCK_SIZE + 1,
            max: MAX_BLOCK_SIZE
        })
    );
}

/// With the identity as key, `(R = B, s = 1)` satisfies the cofactorless equation
/// `[s]B = R + [k]A` for every message; strict verification refuses small-order keys.
#[test]
fn weak_key_signature_is_rejected() {
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let weak = VerifyingKey::from_bytes(&identity).expect("the identity is a point");
    assert!(weak.is_weak());
    let b_encoding: [u8; 32] = curve_basepoint();
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&b_encoding);
    sig[32] = 1;
    let tx = Transaction {
        version: 1,
        inputs: vec![TxIn::ed25519(
            OutPoint {
                txid: Txid::from_bytes([1; 32]),
                vout: 0,
            },
            weak,
            Signature::from_bytes(&sig),
        )],
        outputs: vec![TxOut {
            amount: Amount::from_coins(1).expect("small"),
            address: Address::from_bytes([2; 32]),
        }],
        coinbase_height: None,
    };
    // The lax check would accept this forgery; the ledger does not.
    use ed25519_dalek::Verifier;
    let digest = tx.signing_digest();
    assert!(weak.verify(&digest, &Signature::from_bytes(&sig)).is_ok());
    assert_eq!(
        verify_transaction_signatures(&tx),
        Err(TxError::BadSignature {
            input: 0,
            kind: ann_ledger::KeyKind::Ed25519
        })
    );
}

/// The standard encoding of the ed25519 basepoint (y = 4/5).
fn curve_basepoint() -> [u8; 32] {
    let mut b = [0x66u8; 32];
    b[0] = 0x58;
    b
}
