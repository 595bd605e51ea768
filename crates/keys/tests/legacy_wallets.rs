//! Wallet files written before addresses were bech32m (their `address` line in the old hex
//! form, fixtures written by that version's `keygen`) still open, the encrypted one included
//! (its old address line is part of the ciphertext's associated data); a changed address
//! line is still caught.

use std::path::PathBuf;

use ann_keys::wallet_file::parse_wallet_file_with;
use ann_keys::{KeyKind, Secret, WalletFileError};
use ann_ledger::Address;

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn legacy_address_line(text: &str) -> &str {
    text.lines()
        .find_map(|l| l.strip_prefix("address "))
        .expect("an address line")
}

#[test]
fn a_plain_wallet_with_a_hex_address_opens() {
    let text = fixture("legacy_wallet_v1.txt");
    let key = parse_wallet_file_with(&text, None).expect("a legacy v1 wallet");
    assert_eq!(key.kind, KeyKind::Ed25519);
    let legacy = legacy_address_line(&text);
    assert_eq!(Address::from_legacy_text(legacy), Ok(key.address()));
    // The address is shown in bech32m now, and the old text is no longer an address.
    assert!(key.address().to_string().starts_with("ann1"));
    assert!(legacy.parse::<Address>().is_err());
}

#[test]
fn an_encrypted_wallet_with_a_hex_address_opens_and_still_authenticates_it() {
    let text = fixture("legacy_wallet_v3.txt");
    let passphrase = Secret::new("legacy passphrase");
    let key = parse_wallet_file_with(&text, Some(&passphrase)).expect("a legacy v3 wallet");
    let plain = parse_wallet_file_with(&fixture("legacy_wallet_v1.txt"), None).expect("v1");
    assert_eq!(key.address(), plain.address());
    assert_eq!(key.private_key.as_bytes(), plain.private_key.as_bytes());

    // The same file with its address line in bech32m: the associated data changed.
    let legacy = legacy_address_line(&text);
    let rewritten = text.replace(legacy, &key.address().to_string());
    assert!(matches!(
        parse_wallet_file_with(&rewritten, Some(&passphrase)),
        Err(WalletFileError::Tampered)
    ));
}

#[test]
fn a_hex_address_of_another_key_is_still_a_mismatch() {
    let text = fixture("legacy_wallet_v1.txt");
    let legacy = legacy_address_line(&text);
    let other = Address::from_bytes([9; 32]);
    // The other address in the old form, its checksum right.
    let other_legacy = {
        let digest = {
            use sha2::{Digest, Sha256};
            let mut h = Sha256::new();
            h.update(b"blockchain-ann/address-checksum/v1");
            h.update(other.as_bytes());
            h.finalize()
        };
        format!(
            "ann{}{}",
            hex::encode(other.as_bytes()),
            hex::encode(&digest[..4])
        )
    };
    assert_eq!(Address::from_legacy_text(&other_legacy), Ok(other));
    let swapped = text.replace(legacy, &other_legacy);
    assert!(matches!(
        parse_wallet_file_with(&swapped, None),
        Err(WalletFileError::AddressMismatch { .. })
    ));
}
