//! The secrets audit: every public type of `ann-keys` that holds a private key, a derived
//! signing key, an API key or a token is formatted with `Debug` (and `Display` where it has
//! one) around a known marker secret, and the marker must not appear, in any of the
//! encodings a leak would use (text, lowercase and uppercase hex, decimal byte lists).

use ann_keys::wallet_file::{parse_wallet_file, wallet_file_text};
#[cfg(feature = "remote")]
use ann_keys::{AnuConfig, AnuQrng, Conditioned, IbmConfig, IbmQuantum};
use ann_keys::{
    KeyKind, PrivateKey, Secret, SimulatedQubit, SpendingKey, WalletFileError, WalletKey,
    derive_keys,
};

const API_KEY: &str = "apikey-TOPSECRET-0123456789";

/// Each form in which `bytes` could leak into text.
fn forms(bytes: &[u8]) -> Vec<String> {
    let head = &bytes[..bytes.len().min(12)];
    let decimal: Vec<String> = head.iter().map(u8::to_string).collect();
    vec![
        hex::encode(head),
        hex::encode_upper(head),
        decimal.join(", "),
        decimal.join(","),
        String::from_utf8_lossy(head).into_owned(),
    ]
}

fn assert_hides(what: &str, text: &str, secret: &[u8]) {
    for form in forms(secret) {
        if form.trim().len() >= 8 {
            assert!(
                !text.contains(&form),
                "{what} shows a secret ({form:?}): {text}"
            );
        }
    }
}

#[test]
fn the_audit_catches_each_form_of_a_leak() {
    let secret: Vec<u8> = (100..140).collect();
    for form in forms(&secret).into_iter().take(4) {
        let leak = format!("Key {{ bytes: [{form}] }}");
        let caught = std::panic::catch_unwind(|| assert_hides("a leaky type", &leak, &secret));
        assert!(caught.is_err(), "the audit missed {leak}");
    }
    assert_hides("a redacted type", "Key(<redacted>)", &secret);
}

#[test]
fn no_public_type_shows_a_private_key_or_a_derived_signing_key() {
    let bytes: [u8; 128] = std::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11));
    let key = PrivateKey::from_bytes(bytes);
    assert_hides("PrivateKey", &format!("{key:?}"), &bytes);

    let derived = derive_keys(&key);
    let signing = derived.signing_key().to_bytes();
    let output = derived.network_output().to_vec();
    for text in [
        format!("{derived:?}"),
        format!("{:?}", derived.signing_key()),
    ] {
        assert_hides("DerivedKeys", &text, &signing);
        assert_hides("DerivedKeys", &text, &output);
        assert_hides("DerivedKeys", &text, &bytes);
    }
    // The post-quantum key of the same private key: its seed never shows, through the key,
    // the ledger's spending key, a wallet or a wallet file's key.
    let pq = derived.ml_dsa_65_signing_key();
    let pq_seed = *pq.seed();
    let wallet_key = WalletKey {
        private_key: key.clone(),
        kind: KeyKind::MlDsa65,
    };
    for (what, text) in [
        ("MlDsa65SigningKey", format!("{pq:?}")),
        (
            "SpendingKey",
            format!("{:?}", SpendingKey::from(pq.clone())),
        ),
        ("Wallet", format!("{:?}", wallet_key.wallet())),
        ("WalletKey", format!("{wallet_key:?}")),
        ("DerivedKeys", format!("{derived:?}")),
    ] {
        assert_hides(what, &text, &pq_seed);
        assert_hides(what, &text, &bytes);
    }

    // The verifying key and address are public, and shown.
    assert!(format!("{derived:?}").contains(&hex::encode(derived.verifying_key().as_bytes())));

    // Wallet files: the file text holds the key by design; errors about a file never do.
    let text = wallet_file_text(&WalletKey::ed25519(key.clone()));
    let address_line = text.lines().nth(2).expect("address line").to_owned();
    let other = wallet_file_text(&WalletKey::ed25519(PrivateKey::from_bytes([7; 128])));
    let other_address = other.lines().nth(2).expect("address line");
    let tampered = text.replace(&address_line, other_address);
    let error = parse_wallet_file(&tampered).expect_err("a wrong address");
    assert!(matches!(error, WalletFileError::AddressMismatch { .. }));
    for shown in [error.to_string(), format!("{error:?}")] {
        assert_hides("WalletFileError", &shown, &bytes);
    }
    let short = text.replace(&hex::encode(bytes), &hex::encode(&bytes[..100]));
    let error = parse_wallet_file(&short).expect_err("a short key");
    for shown in [error.to_string(), format!("{error:?}")] {
        assert_hides("WalletFileError", &shown, &bytes[..100]);
    }
}

#[test]
fn no_public_type_shows_an_api_key() {
    let secret = Secret::new(API_KEY);
    let shown = std::iter::once(format!("{secret:?}")).chain(remote_clients_shown(&secret));
    for text in shown {
        assert_hides("a client or its configuration", &text, API_KEY.as_bytes());
        assert!(!text.contains("TOPSECRET"), "{text}");
    }
    // A simulated qubit's seed is its secret state.
    let seed = [0x5a; 32];
    let qubit = SimulatedQubit::new(seed, SimulatedQubit::TYPICAL_P_ONE);
    assert_hides("SimulatedQubit", &format!("{qubit:?}"), &seed);
}

/// Without the quantum clients, nothing more to show.
#[cfg(not(feature = "remote"))]
fn remote_clients_shown(_secret: &Secret) -> Vec<String> {
    Vec::new()
}

/// The quantum clients and their configurations around `secret`, as `Debug` shows them.
#[cfg(feature = "remote")]
fn remote_clients_shown(secret: &Secret) -> Vec<String> {
    let anu_config = AnuConfig::new(secret.clone());
    let mut ibm_config = IbmConfig::new(secret.clone(), "crn:test", "ibm_test");
    ibm_config.base_url = "http://127.0.0.1:9/api/v1".to_owned();
    ibm_config.iam_url = "http://127.0.0.1:9/identity/token".to_owned();
    let anu = AnuQrng::new(anu_config.clone()).expect("client");
    let ibm = IbmQuantum::new(ibm_config.clone()).expect("client");
    vec![
        format!("{anu_config:?}"),
        format!("{ibm_config:?}"),
        format!("{anu:?}"),
        format!("{ibm:?}"),
        format!(
            "{:?}",
            Conditioned::new(AnuQrng::new(anu_config).expect("client")).expect("conditioned")
        ),
        format!(
            "{:?}",
            Conditioned::new(IbmQuantum::new(ibm_config).expect("client")).expect("conditioned")
        ),
    ]
}
