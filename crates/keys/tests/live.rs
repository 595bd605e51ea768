//! Real quantum services. Each test runs only when its credentials are in the environment
//! (IBM: `IBM_QUANTUM_API_KEY`, `IBM_QUANTUM_INSTANCE`, `IBM_QUANTUM_BACKEND`; ANU:
//! `ANU_QRNG_API_KEY`); without them it says so on stderr and checks nothing else.

#![allow(clippy::print_stderr)]

use ann_keys::{AnuQrng, Conditioned, IbmQuantum, PrivateKey, derive_keys};

#[test]
fn live_ibm_quantum_key() {
    if std::env::var_os(ann_keys::ibm::ENV_API_KEY).is_none() {
        eprintln!(
            "live_ibm_quantum_key: skipped, {} is not set",
            ann_keys::ibm::ENV_API_KEY
        );
        return;
    }
    let client = IbmQuantum::from_env().expect("IBM configuration");
    let mut source = Conditioned::new(client).expect("conditioned");
    let key = PrivateKey::generate(&mut source).expect("quantum key");
    eprintln!(
        "live_ibm_quantum_key: address {}",
        derive_keys(&key).address()
    );
}

#[test]
fn live_anu_key() {
    if std::env::var_os(ann_keys::anu::ENV_API_KEY).is_none() {
        eprintln!(
            "live_anu_key: skipped, {} is not set",
            ann_keys::anu::ENV_API_KEY
        );
        return;
    }
    let client = AnuQrng::from_env().expect("ANU configuration");
    let mut source = Conditioned::new(client).expect("conditioned");
    let key = PrivateKey::generate(&mut source).expect("quantum key");
    eprintln!("live_anu_key: address {}", derive_keys(&key).address());
}
