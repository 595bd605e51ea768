//! Real quantum services, against real accounts. Ignored by default, so that a run without
//! credentials reports them as ignored rather than passed; run them with
//! `cargo test --release -p ann-keys --test live -- --ignored` once the credentials are in the
//! environment (IBM: `IBM_QUANTUM_API_KEY`, `IBM_QUANTUM_INSTANCE`, `IBM_QUANTUM_BACKEND`;
//! ANU: `ANU_QRNG_API_KEY`). Without them they fail with the client's "no credentials" error.

#![cfg(feature = "remote")]

use ann_keys::{AnuQrng, Conditioned, IbmQuantum, PrivateKey, derive_keys};

#[test]
#[ignore = "needs an IBM Quantum account: set IBM_QUANTUM_* and run with --ignored"]
fn live_ibm_quantum_key() {
    let client = IbmQuantum::from_env().expect("IBM configuration");
    let mut source = Conditioned::new(client).expect("conditioned");
    let key = PrivateKey::generate(&mut source).expect("quantum key");
    let again = derive_keys(&key);
    assert_eq!(derive_keys(&key).address(), again.address());
}

#[test]
#[ignore = "needs an ANU Quantum Numbers key: set ANU_QRNG_API_KEY and run with --ignored"]
fn live_anu_key() {
    let client = AnuQrng::from_env().expect("ANU configuration");
    let mut source = Conditioned::new(client).expect("conditioned");
    let first = PrivateKey::generate(&mut source).expect("quantum key");
    let second = PrivateKey::generate(&mut source).expect("quantum key");
    assert_ne!(
        first.as_bytes(),
        second.as_bytes(),
        "two draws gave the same key"
    );
}
