//! The key pipeline and wallet files.

use ann_keys::wallet_file::{self, FORMAT_LINE};
use ann_keys::{
    KdfParams, KeyDerivation, KeyKind, NetConfig, NetError, PrivateKey, RngEntropy, Secret,
    WalletFileError, WalletKey, derive_keys, export_wallet, export_wallet_encrypted, import_wallet,
    import_wallet_with_passphrase, load_or_create_wallet,
};
use ed25519_dalek::Signer;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// A wallet file is readable by its owner only (on Unix).
fn assert_owner_only(path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    #[cfg(not(unix))]
    let _ = path;
}

fn key(seed: u8) -> PrivateKey {
    let mut source = RngEntropy::new(ChaCha20Rng::from_seed([seed; 32]), "test");
    PrivateKey::generate(&mut source).expect("seeded generator")
}

#[test]
fn the_same_private_key_restores_the_same_keys() {
    let private_key = key(1);
    let first = derive_keys(&private_key);
    let restored = derive_keys(&PrivateKey::from_bytes(*private_key.as_bytes()));
    assert_eq!(
        first.signing_key().to_bytes(),
        restored.signing_key().to_bytes()
    );
    assert_eq!(first.verifying_key(), restored.verifying_key());
    assert_eq!(first.address(), restored.address());
    assert_eq!(
        first.address(),
        ann_ledger::Address::from_verifying_key(&first.verifying_key())
    );

    let message = b"blockchain-ann test message";
    let signature = first.signing_key().sign(message);
    restored
        .verifying_key()
        .verify_strict(message, &signature)
        .expect("valid signature");
    assert!(
        restored
            .verifying_key()
            .verify_strict(b"another message", &signature)
            .is_err()
    );
}

#[test]
fn secrets_are_redacted_from_debug_output() {
    let private_key = PrivateKey::from_bytes([0xab; 128]);
    let debug = format!("{private_key:?}");
    assert_eq!(debug, "PrivateKey(<redacted>)");
    assert!(!debug.contains("abab"));
    let secret = Secret::new("hunter2-TOPSECRET");
    assert!(!format!("{secret:?}").contains("TOPSECRET"));
    assert_eq!(private_key, PrivateKey::from_bytes([0xab; 128]));
    assert_ne!(private_key, PrivateKey::from_bytes([0xac; 128]));
}

#[test]
fn a_small_network_can_be_used_but_must_take_1024_bits() {
    let small = NetConfig {
        width: 64,
        hidden_layers: 3,
        output_bits: 256,
        ..NetConfig::default()
    };
    let derivation = KeyDerivation::new(small).expect("valid");
    let a = derivation.derive(&key(2));
    assert_eq!(a.network_output().len(), 32);
    assert_eq!(a.address(), derivation.derive(&key(2)).address());
    assert_ne!(a.address(), derivation.derive(&key(3)).address());
    let debug = format!("{a:?}");
    assert!(
        debug.contains("address") && !debug.contains("signing"),
        "{debug}"
    );
    assert!(matches!(
        KeyDerivation::new(NetConfig {
            input_bits: 512,
            ..NetConfig::default()
        }),
        Err(NetError::InputLength { .. })
    ));
}

#[test]
fn wallet_files_round_trip_and_never_overwrite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("wallet.txt");
    let private_key = key(4);
    export_wallet(&WalletKey::ed25519(private_key.clone()), &path).expect("export");
    let text = std::fs::read_to_string(&path).expect("read");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], FORMAT_LINE);
    assert_eq!(
        lines[1],
        format!("private-key {}", hex::encode(private_key.as_bytes()))
    );
    assert!(lines[2].starts_with("address ann"));
    assert_owner_only(&path);
    assert_eq!(
        import_wallet(&path).expect("import"),
        WalletKey::ed25519(private_key)
    );
    assert!(matches!(
        export_wallet(&WalletKey::ed25519(key(5)), &path),
        Err(WalletFileError::AlreadyExists(_))
    ));
    // The existing wallet is intact.
    assert_eq!(std::fs::read_to_string(&path).expect("read"), text);
}

#[test]
fn load_or_create_makes_a_key_once_then_reads_it_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("wallet.txt");
    let mut source = RngEntropy::new(ChaCha20Rng::from_seed([6; 32]), "test");
    let (created, new) =
        load_or_create_wallet(&path, &mut source, KeyKind::Ed25519, None).expect("create");
    assert!(new);
    assert_eq!(import_wallet(&path).expect("import"), created);
    let (loaded, new) =
        load_or_create_wallet(&path, &mut source, KeyKind::MlDsa65, None).expect("load");
    assert!(!new);
    assert_eq!(
        loaded, created,
        "the second call reads the first key, not a new one"
    );

    // A damaged file is an error, never silently replaced by a new key.
    std::fs::write(&path, "not a wallet\n").expect("write");
    assert!(matches!(
        load_or_create_wallet(&path, &mut source, KeyKind::Ed25519, None),
        Err(WalletFileError::MissingFormatLine)
    ));
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        "not a wallet\n"
    );
}

#[test]
fn malformed_wallet_files_get_typed_errors() {
    let key_hex = "ab".repeat(128);
    let address = "ann".to_owned() + &"0".repeat(72);
    let parse = |text: &str| wallet_file::parse_wallet_file(text).expect_err("malformed");
    assert!(matches!(parse(""), WalletFileError::MissingFormatLine));
    assert!(matches!(
        parse("hello\n"),
        WalletFileError::MissingFormatLine
    ));
    assert!(matches!(
        parse("blockchain-ann wallet v9\n"),
        WalletFileError::UnsupportedVersion(v) if v == "blockchain-ann wallet v9"
    ));
    assert!(matches!(
        parse(&format!("{FORMAT_LINE}\naddress {address}\n")),
        WalletFileError::MissingField("private-key")
    ));
    assert!(matches!(
        parse(&format!("{FORMAT_LINE}\nprivate-key {key_hex}\n")),
        WalletFileError::MissingField("address")
    ));
    assert!(matches!(
        parse(&format!(
            "{FORMAT_LINE}\nprivate-key {key_hex}\nprivate-key {key_hex}\n"
        )),
        WalletFileError::DuplicateField {
            line: 3,
            field: "private-key"
        }
    ));
    assert!(matches!(
        parse(&format!(
            "{FORMAT_LINE}\nprivate-key {key_hex}\nseed words\n"
        )),
        WalletFileError::UnexpectedLine { line: 3 }
    ));
    assert!(matches!(
        parse(&format!(
            "{FORMAT_LINE}\nprivate-key abcd\naddress {address}\n"
        )),
        WalletFileError::WrongKeyLength { got: 4 }
    ));
    let not_hex = "zz".repeat(128);
    assert!(matches!(
        parse(&format!(
            "{FORMAT_LINE}\nprivate-key {not_hex}\naddress {address}\n"
        )),
        WalletFileError::BadHex
    ));
    // A well-formed file whose address does not belong to its key (a corrupted digit).
    let error = parse(&format!(
        "{FORMAT_LINE}\r\nprivate-key {key_hex}\r\naddress {address}\r\n"
    ));
    match error {
        WalletFileError::AddressMismatch { written, derived } => {
            assert_eq!(written, address);
            assert!(derived.starts_with("ann") && derived != address);
            // The message names addresses only, never the key.
            let message = WalletFileError::AddressMismatch { written, derived }.to_string();
            assert!(!message.contains(&key_hex));
        }
        other => panic!("expected AddressMismatch, got {other:?}"),
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let big = dir.path().join("big.txt");
    std::fs::write(&big, vec![b'a'; 5000]).expect("write");
    assert!(matches!(
        import_wallet(&big),
        Err(WalletFileError::TooLarge)
    ));
    let binary = dir.path().join("binary.txt");
    std::fs::write(&binary, [0xff, 0xfe, 0x00]).expect("write");
    assert!(matches!(
        import_wallet(&binary),
        Err(WalletFileError::NotText)
    ));
    assert!(matches!(
        import_wallet(&dir.path().join("missing.txt")),
        Err(WalletFileError::Io { .. })
    ));
}

#[test]
fn post_quantum_wallet_files_name_their_kind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("pq.txt");
    let mut source = RngEntropy::new(ChaCha20Rng::from_seed([8; 32]), "test");
    let (created, new) =
        load_or_create_wallet(&path, &mut source, KeyKind::MlDsa65, None).expect("create");
    assert!(new);
    assert_eq!(created.kind, KeyKind::MlDsa65);
    let text = std::fs::read_to_string(&path).expect("read");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], wallet_file::FORMAT_LINE_V2);
    assert_eq!(lines[1], "kind ml-dsa-65");
    let keys = derive_keys(&created.private_key);
    let pq_address = keys.address_of(KeyKind::MlDsa65);
    assert_eq!(lines[3], format!("address {pq_address}"));
    assert_eq!(import_wallet(&path).expect("import"), created);
    assert_eq!(created.wallet().address(), pq_address);
    assert_eq!(created.wallet().kind(), KeyKind::MlDsa65);

    let parse = |text: &str| wallet_file::parse_wallet_file(text);
    // The same private key under the ed25519 address: the kind and the address disagree.
    let ed_text = text.replace(&pq_address.to_string(), &keys.address().to_string());
    assert!(matches!(
        parse(&ed_text),
        Err(WalletFileError::AddressMismatch { .. })
    ));
    assert!(matches!(
        parse(&text.replace("kind ml-dsa-65\n", "")),
        Err(WalletFileError::MissingField("kind"))
    ));
    assert!(matches!(
        parse(&text.replace("ml-dsa-65", "ml-dsa-44")),
        Err(WalletFileError::UnknownKind(_))
    ));
    // Version 1 has no kind line.
    assert!(matches!(
        parse(&text.replace(wallet_file::FORMAT_LINE_V2, FORMAT_LINE)),
        Err(WalletFileError::UnexpectedLine { line: 2 })
    ));
    // An ed25519 wallet written as version 2 reads as the ed25519 wallet.
    let v2_ed = format!(
        "{}\nkind ed25519\nprivate-key {}\naddress {}\n",
        wallet_file::FORMAT_LINE_V2,
        hex::encode(created.private_key.as_bytes()),
        keys.address()
    );
    assert_eq!(
        parse(&v2_ed).expect("v2 ed25519"),
        WalletKey::ed25519(created.private_key.clone())
    );
}

#[test]
fn encrypted_wallet_files_open_with_their_passphrase_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sealed.txt");
    let key = WalletKey {
        private_key: PrivateKey::from_bytes([6; 128]),
        kind: KeyKind::MlDsa65,
    };
    let passphrase = Secret::new("correct horse battery staple");
    // The default costs (64 MiB, 3 passes), as a user's file would have them.
    export_wallet_encrypted(&key, &passphrase, KdfParams::default(), &path).expect("export");
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(text.starts_with(wallet_file::FORMAT_LINE_V3));
    assert!(text.contains("kdf argon2id m=65536 t=3 p=1\n"));
    assert!(
        !text.contains(&hex::encode(key.private_key.as_bytes())),
        "the key is not in the file in clear"
    );
    assert_owner_only(&path);
    assert_eq!(
        import_wallet_with_passphrase(&path, Some(&passphrase)).expect("open"),
        key
    );
    assert!(matches!(
        import_wallet(&path),
        Err(WalletFileError::PassphraseRequired)
    ));
    // Loading an existing encrypted wallet opens it, and never replaces it by a new key.
    let mut source = RngEntropy::new(ChaCha20Rng::from_seed([9; 32]), "test");
    let (loaded, new) =
        load_or_create_wallet(&path, &mut source, KeyKind::Ed25519, Some(&passphrase))
            .expect("load");
    assert_eq!((loaded, new), (key.clone(), false));
    assert!(matches!(
        load_or_create_wallet(&path, &mut source, KeyKind::Ed25519, None),
        Err(WalletFileError::PassphraseRequired)
    ));
    assert!(matches!(
        import_wallet_with_passphrase(&path, Some(&Secret::new("Correct horse battery staple"))),
        Err(WalletFileError::WrongPassphrase)
    ));
    assert!(matches!(
        export_wallet_encrypted(&key, &passphrase, KdfParams::default(), &path),
        Err(WalletFileError::AlreadyExists(_))
    ));
    // Two files of one key differ: a fresh salt and nonce each time.
    let again = wallet_file::encrypted_wallet_file_text(&key, &passphrase, KdfParams::default())
        .expect("text");
    assert_ne!(again.as_str(), text);
}

#[test]
fn an_encrypted_wallet_file_cut_or_altered_is_refused_with_its_own_error() {
    let cheap = KdfParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };
    let key = WalletKey::ed25519(PrivateKey::from_bytes([7; 128]));
    let passphrase = Secret::new("hunter2");
    let text = wallet_file::encrypted_wallet_file_text(&key, &passphrase, cheap).expect("text");
    let open = |t: &str| wallet_file::parse_wallet_file_with(t, Some(&passphrase));
    assert_eq!(open(&text).expect("opens"), key);
    let line = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .expect("a line")
            .to_owned()
    };
    let ciphertext = line("ciphertext ");

    // Truncated: the last line cut short, or gone.
    let short = text.replace(&ciphertext, &ciphertext[..ciphertext.len() - 2]);
    assert!(matches!(
        open(&short),
        Err(WalletFileError::WrongFieldLength {
            field: "ciphertext",
            expected: 288,
            got: 286
        })
    ));
    let cut = text.replace(&format!("{ciphertext}\n"), "");
    assert!(matches!(
        open(&cut),
        Err(WalletFileError::MissingField("ciphertext"))
    ));

    // Tampered: one digit of the ciphertext, or the kind or address it is bound to.
    let mut flipped = ciphertext.clone().into_bytes();
    let last = flipped.len() - 1;
    flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
    let flipped = String::from_utf8(flipped).expect("ascii");
    assert!(matches!(
        open(&text.replace(&ciphertext, &flipped)),
        Err(WalletFileError::Tampered)
    ));
    assert!(matches!(
        open(&text.replace("kind ed25519", "kind ml-dsa-65")),
        Err(WalletFileError::Tampered)
    ));
    let other = derive_keys(&PrivateKey::from_bytes([8; 128]))
        .address()
        .to_string();
    assert!(matches!(
        open(&text.replace(&line("address ")[8..], &other)),
        Err(WalletFileError::Tampered)
    ));

    // Costs a reader must not pay, and a KDF it does not know.
    let kdf = line("kdf ");
    for bad in [
        "kdf argon2id m=4194304 t=1 p=1",
        "kdf argon2id m=64 t=99 p=1",
        "kdf scrypt m=64 t=1 p=1",
        "kdf argon2id m=64 t=1",
    ] {
        assert!(
            matches!(open(&text.replace(&kdf, bad)), Err(WalletFileError::BadKdf)),
            "{bad}"
        );
    }
    // No passphrase appears in any error.
    let error = open(&text.replace(&ciphertext, &flipped)).expect_err("tampered");
    assert!(!format!("{error} {error:?}").contains("hunter2"));
}
