//! NIST's known-answer vectors for ML-DSA-65 (FIPS 204), from the ACVP server, run through
//! this crate's wrappers: key generation from a seed ([`MlDsa65SigningKey::from_seed`]) and
//! verification with the strict signature decoding ([`MlDsa65Signature::from_bytes`],
//! [`MlDsa65PublicKey::verify_internal`]), the code consensus runs. Signature generation is
//! checked on the `ml-dsa` crate underneath, since its vectors give expanded keys, which this
//! crate never takes.
//!
//! `tests/vectors/acvp_ml_dsa_65.json` says where the vectors come from.

use std::path::PathBuf;

use ann_ledger::{MlDsa65PublicKey, MlDsa65Signature, MlDsa65SigningKey, MlDsaError};
use serde_json::Value;

fn vectors() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/acvp_ml_dsa_65.json");
    let text = std::fs::read_to_string(&path).expect("the ACVP vectors");
    serde_json::from_str(&text).expect("JSON")
}

fn bytes(value: &Value, field: &str) -> Vec<u8> {
    hex::decode(value[field].as_str().expect("a hex field")).expect("hex")
}

#[test]
fn key_generation_matches_nist() {
    let vectors = vectors();
    let cases = vectors["key_gen"].as_array().expect("cases");
    assert_eq!(cases.len(), 10);
    for case in cases {
        let seed: [u8; 32] = bytes(case, "seed").try_into().expect("32-byte seed");
        let key = MlDsa65SigningKey::from_seed(&seed);
        assert_eq!(
            key.public_key().as_bytes().as_slice(),
            bytes(case, "pk").as_slice(),
            "keyGen case {}",
            case["tcId"]
        );
    }
}

#[test]
fn verification_matches_nist_including_malformed_signatures() {
    let vectors = vectors();
    let group = &vectors["sig_ver"];
    let key = MlDsa65PublicKey::from_bytes(&bytes(group, "pk")).expect("a 1,952-byte key");
    let cases = group["tests"].as_array().expect("cases");
    assert_eq!(cases.len(), 15);
    let (mut passed, mut refused_at_decoding) = (0, 0);
    for case in cases {
        let expected = case["testPassed"].as_bool().expect("bool");
        let reason = case["reason"].as_str().expect("reason");
        let decoded = MlDsa65Signature::from_bytes(&bytes(case, "signature"));
        // A hint that does not encode (more than 55 set bits) never reaches verification.
        if reason == "too many hints" {
            assert_eq!(
                decoded,
                Err(MlDsaError::MalformedSignature),
                "case {}",
                case["tcId"]
            );
            refused_at_decoding += 1;
        }
        let verified = decoded.is_ok_and(|s| key.verify_internal(&bytes(case, "message"), &s));
        assert_eq!(
            verified, expected,
            "sigVer case {} ({reason})",
            case["tcId"]
        );
        passed += usize::from(verified);
    }
    assert_eq!((passed, refused_at_decoding), (3, 3));
}

#[test]
#[allow(deprecated)] // `from_expanded`: the vectors give expanded signing keys.
fn deterministic_signing_matches_nist() {
    use ml_dsa::{ExpandedSigningKey, ExpandedSigningKeyBytes, MlDsa65};
    let vectors = vectors();
    let cases = vectors["sig_gen_deterministic"].as_array().expect("cases");
    assert_eq!(cases.len(), 4);
    for case in cases {
        let sk = ExpandedSigningKeyBytes::<MlDsa65>::try_from(bytes(case, "sk").as_slice())
            .expect("an expanded key");
        let key = ExpandedSigningKey::<MlDsa65>::from_expanded(&sk);
        let signature = key.sign_internal(&[&bytes(case, "message")], &Default::default());
        let encoded = signature.encode();
        assert_eq!(
            encoded.as_slice(),
            bytes(case, "signature").as_slice(),
            "sigGen case {}",
            case["tcId"]
        );
        // And the strict decoding takes NIST's signature as it is.
        let strict = MlDsa65Signature::from_bytes(encoded.as_slice()).expect("canonical");
        assert_eq!(strict.as_bytes().as_slice(), encoded.as_slice());
    }
}
