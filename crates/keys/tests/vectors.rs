//! Golden vectors: the chaotic network and the whole key pipeline, pinned in files.
//!
//! The vectors were generated once from this code (`ANN_KEYS_WRITE_VECTORS=1 cargo test
//! --release -p ann-keys --test vectors`), reviewed, and committed; any change to the weight
//! stream, the normal table, the network or the key derivation fails these tests.

use ann_keys::net::bytes_to_bits;
use ann_keys::{ChaoticNet, NetConfig, PrivateKey, derive_keys};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn vectors_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name)
}

/// Compares `computed` with the file, or writes the file when asked to.
fn check_or_write(name: &str, computed: &Value) {
    let path = vectors_path(name);
    if std::env::var_os("ANN_KEYS_WRITE_VECTORS").is_some() {
        let text = serde_json::to_string_pretty(computed).expect("serialize") + "\n";
        std::fs::write(&path, text).expect("write vectors");
    }
    let stored: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("vectors file")).expect("json");
    assert_eq!(&stored, computed, "{name} changed: a format change?");
}

fn test_key(i: u8) -> PrivateKey {
    let mut bytes = [0_u8; 128];
    for (j, b) in bytes.iter_mut().enumerate() {
        // A fixed, irregular pattern (not all zeros: the network would stay silent).
        *b = (j as u8).wrapping_mul(37).wrapping_add(i.wrapping_mul(101)) ^ 0x5a;
    }
    PrivateKey::from_bytes(bytes)
}

#[test]
fn normal_table_is_pinned() {
    let mut hasher = Sha256::new();
    for x in ann_keys::normal::quantiles() {
        hasher.update(x.to_bits().to_le_bytes());
    }
    let computed = json!({
        "description": "SHA-256 of the 4096 quantiles as little-endian IEEE-754 f64 bit patterns",
        "sha256": hex::encode(hasher.finalize()),
    });
    check_or_write("normal_table.json", &computed);
}

#[test]
fn small_networks_are_pinned() {
    let shapes = [
        (
            NetConfig {
                input_bits: 64,
                width: 64,
                hidden_layers: 4,
                output_bits: 64,
                mean: 0.0,
                std: 1.0,
            },
            "k1",
        ),
        (
            NetConfig {
                input_bits: 40,
                width: 37,
                hidden_layers: 3,
                output_bits: 29,
                mean: 0.0,
                std: 1.0,
            },
            "odd sizes",
        ),
        (
            NetConfig {
                input_bits: 128,
                width: 256,
                hidden_layers: 8,
                output_bits: 128,
                mean: 0.1,
                std: 2.0,
            },
            "shifted",
        ),
    ];
    let mut cases = Vec::new();
    for (config, seed) in shapes {
        let net = ChaoticNet::new(config, seed.as_bytes()).expect("valid");
        let input: Vec<bool> = (0..config.input_bits)
            .map(|i| (i * 7 + 3) % 5 < 2)
            .collect();
        let output = net.evaluate(&input).expect("evaluate");
        cases.push(json!({
            "config": {
                "input_bits": config.input_bits, "width": config.width,
                "hidden_layers": config.hidden_layers, "output_bits": config.output_bits,
                "mean": config.mean, "std": config.std,
            },
            "seed": seed,
            "input_hex": hex::encode(ann_keys::net::bits_to_bytes(&input)),
            "weight_0_0_0_f64_bits": format!("{:016x}", net.weight(0, 0, 0).expect("weight").to_bits()),
            "weight_last_f64_bits": format!("{:016x}", net.weight(config.hidden_layers, config.width - 1, config.output_bits - 1).expect("weight").to_bits()),
            "output_hex": hex::encode(ann_keys::net::bits_to_bytes(&output)),
        }));
    }
    check_or_write("chaotic_net_small.json", &json!({ "cases": cases }));
}

#[test]
fn key_pipeline_is_pinned() {
    let mut cases = Vec::new();
    for i in 0..2 {
        let key = test_key(i);
        let keys = derive_keys(&key);
        // The network alone, fed and seeded by the key, gives the stored output.
        let net = ChaoticNet::new(NetConfig::default(), key.as_bytes()).expect("valid");
        let output = net
            .evaluate(&bytes_to_bits(key.as_bytes()))
            .expect("evaluate");
        assert_eq!(ann_keys::net::bits_to_bytes(&output), keys.network_output());
        cases.push(json!({
            "private_key_hex": hex::encode(key.as_bytes()),
            "network_output_hex": hex::encode(keys.network_output()),
            "signing_key_seed_hex": hex::encode(keys.signing_key().to_bytes()),
            "verifying_key_hex": hex::encode(keys.verifying_key().as_bytes()),
            "address": keys.address().to_string(),
        }));
    }
    check_or_write(
        "key_pipeline.json",
        &json!({
            "description": "default network (1024 bits, 50 hidden layers of 1024, N(0,1)) and ed25519 derivation",
            "cases": cases,
        }),
    );
}

/// The ML-DSA-65 keys of the same private keys: seed, public key (by its SHA-256) and address.
#[test]
fn ml_dsa_65_derivation_is_pinned() {
    let mut cases = Vec::new();
    for i in 0..2 {
        let keys = derive_keys(&test_key(i));
        let key = keys.ml_dsa_65_signing_key();
        let address = keys.address_of(ann_keys::KeyKind::MlDsa65);
        assert_eq!(
            address,
            ann_ledger::Address::from_ml_dsa_65_key(key.public_key())
        );
        assert_ne!(address, keys.address(), "the two kinds' addresses differ");
        assert_ne!(
            key.seed(),
            &keys.signing_key().to_bytes(),
            "the two kinds' seeds differ"
        );
        cases.push(json!({
            "private_key_hex": hex::encode(test_key(i).as_bytes()),
            "ml_dsa_65_seed_hex": hex::encode(key.seed()),
            "ml_dsa_65_public_key_sha256": hex::encode(Sha256::digest(key.public_key().as_bytes())),
            "ml_dsa_65_address": address.to_string(),
        }));
    }
    check_or_write(
        "ml_dsa_65_keys.json",
        &json!({
            "description": "ML-DSA-65 seed = SHA-256(\"blockchain-ann/ml-dsa-65-seed/v1\" || u32 BE len || network output || private key); key pair = ML-DSA.KeyGen_internal(seed)",
            "cases": cases,
        }),
    );
}
