//! Wallet files: a private key in hex, with a format line, the key kind, and the address as a
//! check.
//!
//! ```text
//! blockchain-ann wallet v1
//! private-key <256 lowercase hex digits>
//! address ann1<58 bech32m characters>
//! ```
//!
//! Version 1 is an ed25519 wallet. Version 2 names the kind of key the wallet spends with,
//! and is what an ML-DSA-65 wallet is written as (an ed25519 wallet is still written as
//! version 1, which older readers know):
//!
//! ```text
//! blockchain-ann wallet v2
//! kind ml-dsa-65
//! private-key <256 lowercase hex digits>
//! address ann1<58 bech32m characters>
//! ```
//!
//! Version 3 is the same wallet encrypted at rest with a passphrase ([`export_wallet_encrypted`],
//! [`import_wallet_with_passphrase`]): Argon2id (RFC 9106) stretches the passphrase with a
//! random salt into a 32-byte key, and XChaCha20-Poly1305 (a 24-byte random nonce) seals the
//! 128-byte private key, with every line before the ciphertext as associated data, so the
//! kind, the address, the parameters and the salt cannot be changed either:
//!
//! ```text
//! blockchain-ann wallet v3
//! kind ml-dsa-65
//! address ann1<58 bech32m characters>
//! kdf argon2id m=65536 t=3 p=1
//! salt <64 hex digits>
//! nonce <48 hex digits>
//! check <16 hex digits>
//! ciphertext <288 hex digits>
//! ```
//!
//! `check` is the first 8 bytes of `SHA-256("blockchain-ann/wallet-check/v1" || key)`: it tells
//! a wrong passphrase ([`WalletFileError::WrongPassphrase`]) from a file altered after it was
//! written ([`WalletFileError::Tampered`]). It lets no one guess faster than the AEAD tag
//! already does: each guess still costs an Argon2id derivation.
//!
//! Lines end with `\n` (a `\r\n` is accepted on import). On import the address is derived
//! again and must match (written in bech32m, or in the hex form of files written before it:
//! `ann`, 64 hex digits and 8 of checksum), so a corrupted digit is caught instead of silently
//! giving another wallet. Export never overwrites an existing file, and on Unix creates it
//! readable by its owner only.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use ann_ledger::{KeyKind, Wallet};
use zeroize::Zeroizing;

use crate::entropy::EntropySource;
use crate::key::{KeyDerivation, PRIVATE_KEY_BYTES, PrivateKey};
use crate::secret::Secret;

/// The format line of version 1 (an ed25519 wallet).
pub const FORMAT_LINE: &str = "blockchain-ann wallet v1";
/// The format line of version 2 (a `kind` line follows).
pub const FORMAT_LINE_V2: &str = "blockchain-ann wallet v2";
/// The format line of version 3 (encrypted with a passphrase).
pub const FORMAT_LINE_V3: &str = "blockchain-ann wallet v3";
const CHECK_TAG: &[u8] = b"blockchain-ann/wallet-check/v1";

/// Argon2id's costs for an encrypted wallet file. The file records them, so a file written
/// with other costs still opens; reading refuses costs outside the bounds below (a hostile file
/// must not make the reader allocate gigabytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB (8 to 1,048,576).
    pub memory_kib: u32,
    /// Passes over the memory (1 to 16).
    pub iterations: u32,
    /// Lanes (1 to 4).
    pub parallelism: u32,
}

impl Default for KdfParams {
    /// 64 MiB, 3 passes, 1 lane (RFC 9106's second recommended option; about 0.3 s here).
    fn default() -> Self {
        KdfParams {
            memory_kib: 64 * 1024,
            iterations: 3,
            parallelism: 1,
        }
    }
}

impl KdfParams {
    fn check(self) -> Result<Self, WalletFileError> {
        let ok = (8..=1_048_576).contains(&self.memory_kib)
            && (1..=16).contains(&self.iterations)
            && (1..=4).contains(&self.parallelism)
            && self.memory_kib >= 8 * self.parallelism;
        if ok {
            Ok(self)
        } else {
            Err(WalletFileError::BadKdf)
        }
    }

    fn line(self) -> String {
        format!(
            "kdf argon2id m={} t={} p={}",
            self.memory_kib, self.iterations, self.parallelism
        )
    }

    fn parse(value: &str) -> Result<Self, WalletFileError> {
        let mut fields = value.split(' ');
        if fields.next() != Some("argon2id") {
            return Err(WalletFileError::BadKdf);
        }
        let mut number = |name: &str| -> Result<u32, WalletFileError> {
            fields
                .next()
                .and_then(|f| f.strip_prefix(name))
                .and_then(|n| n.parse().ok())
                .ok_or(WalletFileError::BadKdf)
        };
        let params = KdfParams {
            memory_kib: number("m=")?,
            iterations: number("t=")?,
            parallelism: number("p=")?,
        };
        if fields.next().is_some() {
            return Err(WalletFileError::BadKdf);
        }
        params.check()
    }

    /// The 32-byte key of `passphrase` and `salt`.
    fn derive(
        self,
        passphrase: &Secret,
        salt: &[u8],
    ) -> Result<Zeroizing<[u8; 32]>, WalletFileError> {
        let params =
            argon2::Params::new(self.memory_kib, self.iterations, self.parallelism, Some(32))
                .map_err(|_| WalletFileError::BadKdf)?;
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut key = Zeroizing::new([0_u8; 32]);
        argon
            .hash_password_into(passphrase.expose().as_bytes(), salt, key.as_mut())
            .map_err(|_| WalletFileError::BadKdf)?;
        Ok(key)
    }
}

fn key_check(key: &[u8; 32]) -> [u8; 8] {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(CHECK_TAG)
        .chain_update(key)
        .finalize();
    let mut check = [0_u8; 8];
    check.copy_from_slice(&digest[..8]);
    check
}

/// What a wallet file holds: the private key, and which of its keys the wallet spends with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalletKey {
    /// The private key (redacted in `Debug`).
    pub private_key: PrivateKey,
    /// The kind of key the wallet's coins are locked to.
    pub kind: KeyKind,
}

impl WalletKey {
    /// An ed25519 wallet of `private_key`.
    pub fn ed25519(private_key: PrivateKey) -> Self {
        WalletKey {
            private_key,
            kind: KeyKind::Ed25519,
        }
    }

    /// The wallet's address.
    pub fn address(&self) -> ann_ledger::Address {
        KeyDerivation::default()
            .derive(&self.private_key)
            .address_of(self.kind)
    }

    /// The ledger wallet spending with this key.
    pub fn wallet(&self) -> Wallet {
        Wallet::with_key(
            KeyDerivation::default()
                .derive(&self.private_key)
                .into_spending_key(self.kind),
        )
    }
}
/// Largest file accepted on import (a valid one is under 400 bytes).
pub const MAX_FILE_BYTES: u64 = 4096;

/// Why a wallet file could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalletFileError {
    /// Reading or writing failed.
    #[error("wallet file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Export refused to replace an existing file (it may hold another key).
    #[error("wallet file {0} already exists; refusing to overwrite a key")]
    AlreadyExists(PathBuf),
    /// The file is larger than any wallet file.
    #[error("wallet file is over {MAX_FILE_BYTES} bytes: not a wallet file")]
    TooLarge,
    /// The file is not UTF-8 text.
    #[error("wallet file is not UTF-8 text")]
    NotText,
    /// The first line is not a wallet format line.
    #[error("wallet file must start with the line {FORMAT_LINE:?}")]
    MissingFormatLine,
    /// The format line names a version this code does not read.
    #[error(
        "wallet file format {0:?} is not supported (this version reads {FORMAT_LINE:?} and {FORMAT_LINE_V2:?})"
    )]
    UnsupportedVersion(String),
    /// The `kind` line names no key kind.
    #[error("wallet file: {0}")]
    UnknownKind(#[from] ann_ledger::UnknownKeyKind),
    /// A line is not `private-key <hex>` or `address <address>` (or, in version 2,
    /// `kind <kind>`).
    #[error(
        "wallet file line {line}: expected \"private-key <hex>\" or \"address <address>\" (or, in v2, \"kind <kind>\")"
    )]
    UnexpectedLine {
        /// 1-based line number.
        line: usize,
    },
    /// A field appears twice.
    #[error("wallet file line {line}: {field} given twice")]
    DuplicateField {
        /// 1-based line number.
        line: usize,
        /// The field.
        field: &'static str,
    },
    /// A required field is absent.
    #[error("wallet file has no {0} line")]
    MissingField(&'static str),
    /// The private key is not hex.
    #[error("wallet file: private key is not hexadecimal")]
    BadHex,
    /// The private key has the wrong length.
    #[error("wallet file: private key has {got} hex digits, expected {}", PRIVATE_KEY_BYTES * 2)]
    WrongKeyLength {
        /// Hex digits found.
        got: usize,
    },
    /// The address written does not belong to the private key: the file is corrupted.
    #[error("wallet file: address {written} does not match the key's address {derived}")]
    AddressMismatch {
        /// Address in the file.
        written: String,
        /// Address derived from the private key.
        derived: String,
    },
    /// The file is encrypted (version 3) and no passphrase was given.
    #[error("wallet file is encrypted: a passphrase is needed to open it")]
    PassphraseRequired,
    /// The passphrase does not open the file.
    #[error("wrong passphrase for this wallet file")]
    WrongPassphrase,
    /// The passphrase is right but the file was altered after it was written (its
    /// ciphertext, kind, address, parameters or salt).
    #[error("wallet file was altered after it was written: it does not authenticate")]
    Tampered,
    /// The `kdf` line is not Argon2id with costs within bounds.
    #[error(
        "wallet file: kdf must be \"argon2id m=<8..=1048576> t=<1..=16> p=<1..=4>\" (memory in KiB)"
    )]
    BadKdf,
    /// A hex field of an encrypted file has the wrong length.
    #[error("wallet file: {field} has {got} hex digits, expected {expected}")]
    WrongFieldLength {
        /// The field.
        field: &'static str,
        /// Hex digits expected.
        expected: usize,
        /// Hex digits found.
        got: usize,
    },
    /// No wallet file existed and the entropy source could not make a new key.
    #[error("making a new key: {0}")]
    Entropy(#[from] crate::entropy::EntropyError),
}

/// The file's text for `key` (secret: zeroize it after use).
pub fn wallet_file_text(key: &WalletKey) -> Zeroizing<String> {
    let address = key.address();
    let key_hex = Zeroizing::new(hex::encode(key.private_key.as_bytes()));
    Zeroizing::new(match key.kind {
        KeyKind::Ed25519 => format!(
            "{FORMAT_LINE}\nprivate-key {}\naddress {address}\n",
            key_hex.as_str()
        ),
        KeyKind::MlDsa65 => format!(
            "{FORMAT_LINE_V2}\nkind {}\nprivate-key {}\naddress {address}\n",
            key.kind,
            key_hex.as_str()
        ),
    })
}

/// Parses a wallet file's text and checks its address. An encrypted (version 3) file needs
/// [`parse_wallet_file_with`].
pub fn parse_wallet_file(text: &str) -> Result<WalletKey, WalletFileError> {
    parse_wallet_file_with(text, None)
}

/// Parses a wallet file's text, opening it with `passphrase` if it is encrypted, and checks
/// its address.
///
/// # Errors
/// [`WalletFileError`]: every malformed file has its own; an encrypted one without a
/// passphrase is [`WalletFileError::PassphraseRequired`], with the wrong one
/// [`WalletFileError::WrongPassphrase`], altered [`WalletFileError::Tampered`].
pub fn parse_wallet_file_with(
    text: &str,
    passphrase: Option<&Secret>,
) -> Result<WalletKey, WalletFileError> {
    let mut lines = text.lines().map(|l| l.strip_suffix('\r').unwrap_or(l));
    let v2 = match lines.next() {
        Some(FORMAT_LINE) => false,
        Some(FORMAT_LINE_V2) => true,
        Some(FORMAT_LINE_V3) => {
            let passphrase = passphrase.ok_or(WalletFileError::PassphraseRequired)?;
            return open_encrypted(text, passphrase);
        }
        Some(line) if line.starts_with("blockchain-ann wallet ") => {
            return Err(WalletFileError::UnsupportedVersion(line.to_owned()));
        }
        _ => return Err(WalletFileError::MissingFormatLine),
    };
    let mut key_hex: Option<&str> = None;
    let mut address: Option<&str> = None;
    let mut kind: Option<&str> = None;
    for (i, line) in lines.enumerate() {
        let line_no = i + 2;
        if line.is_empty() {
            continue;
        }
        let (slot, field, value) = if let Some(v) = line.strip_prefix("private-key ") {
            (&mut key_hex, "private-key", v)
        } else if let Some(v) = line.strip_prefix("address ") {
            (&mut address, "address", v)
        } else if let Some(v) = line.strip_prefix("kind ").filter(|_| v2) {
            (&mut kind, "kind", v)
        } else {
            return Err(WalletFileError::UnexpectedLine { line: line_no });
        };
        if slot.replace(value.trim()).is_some() {
            return Err(WalletFileError::DuplicateField {
                line: line_no,
                field,
            });
        }
    }
    let kind = match kind {
        Some(name) => name.parse::<KeyKind>()?,
        None if v2 => return Err(WalletFileError::MissingField("kind")),
        None => KeyKind::Ed25519,
    };
    let key_hex = key_hex.ok_or(WalletFileError::MissingField("private-key"))?;
    let address = address.ok_or(WalletFileError::MissingField("address"))?;
    if key_hex.len() != PRIVATE_KEY_BYTES * 2 {
        return Err(WalletFileError::WrongKeyLength { got: key_hex.len() });
    }
    let mut bytes = Zeroizing::new([0_u8; PRIVATE_KEY_BYTES]);
    hex::decode_to_slice(key_hex, bytes.as_mut()).map_err(|_| WalletFileError::BadHex)?;
    checked_key(&bytes, kind, address)
}

/// The wallet of `bytes` and `kind`, if its address is the one `written` in the file.
fn checked_key(
    bytes: &[u8; PRIVATE_KEY_BYTES],
    kind: KeyKind,
    written: &str,
) -> Result<WalletKey, WalletFileError> {
    let key = WalletKey {
        private_key: PrivateKey::from_bytes(*bytes),
        kind,
    };
    let derived = key.address();
    // Files written before bech32m hold the old hex form: still read, never written.
    let matches = derived.to_string() == written
        || ann_ledger::Address::from_legacy_text(written) == Ok(derived);
    if !matches {
        return Err(WalletFileError::AddressMismatch {
            written: written.to_owned(),
            derived: derived.to_string(),
        });
    }
    Ok(key)
}

/// The text of an encrypted (version 3) wallet file for `key` under `passphrase`, with a fresh
/// salt and nonce from the operating system.
///
/// # Errors
/// [`WalletFileError::BadKdf`] for costs outside the bounds, [`WalletFileError::Entropy`] if
/// the OS has no randomness.
pub fn encrypted_wallet_file_text(
    key: &WalletKey,
    passphrase: &Secret,
    params: KdfParams,
) -> Result<Zeroizing<String>, WalletFileError> {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    let params = params.check()?;
    let mut salt = [0_u8; 32];
    let mut nonce = [0_u8; 24];
    let mut os = crate::entropy::OsEntropy;
    os.fill(&mut salt)?;
    os.fill(&mut nonce)?;
    let secret = params.derive(passphrase, &salt)?;
    let header = format!(
        "{FORMAT_LINE_V3}\nkind {}\naddress {}\n{}\nsalt {}\nnonce {}\ncheck {}\n",
        key.kind,
        key.address(),
        params.line(),
        hex::encode(salt),
        hex::encode(nonce),
        hex::encode(key_check(&secret)),
    );
    let cipher = chacha20poly1305::XChaCha20Poly1305::new((&*secret).into());
    let sealed = cipher
        .encrypt(
            &nonce.into(),
            Payload {
                msg: key.private_key.as_bytes(),
                aad: header.as_bytes(),
            },
        )
        .map_err(|_| WalletFileError::Tampered)?;
    Ok(Zeroizing::new(format!(
        "{header}ciphertext {}\n",
        hex::encode(sealed)
    )))
}

/// Reads a version-3 file's fields in their fixed order.
fn open_encrypted(text: &str, passphrase: &Secret) -> Result<WalletKey, WalletFileError> {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    const FIELDS: [&str; 7] = [
        "kind",
        "address",
        "kdf",
        "salt",
        "nonce",
        "check",
        "ciphertext",
    ];
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut values = [""; 7];
    for (i, field) in FIELDS.iter().enumerate() {
        let line = lines
            .get(i + 1)
            .ok_or(WalletFileError::MissingField(field))?;
        values[i] = line
            .strip_prefix(field)
            .and_then(|rest| rest.strip_prefix(' '))
            .ok_or(WalletFileError::UnexpectedLine { line: i + 2 })?;
    }
    if let Some(extra) = lines.iter().skip(8).position(|l| !l.is_empty()) {
        return Err(WalletFileError::UnexpectedLine { line: extra + 9 });
    }
    let [kind, address, kdf, salt, nonce, check, ciphertext] = values;
    let kind = kind.parse::<KeyKind>()?;
    let params = KdfParams::parse(kdf)?;
    let salt: [u8; 32] = hex_field("salt", salt)?;
    let nonce: [u8; 24] = hex_field("nonce", nonce)?;
    let check: [u8; 8] = hex_field("check", check)?;
    let sealed: [u8; PRIVATE_KEY_BYTES + 16] = hex_field("ciphertext", ciphertext)?;
    let secret = params.derive(passphrase, &salt)?;
    if key_check(&secret) != check {
        return Err(WalletFileError::WrongPassphrase);
    }
    // The associated data: the file's lines before the ciphertext, as written.
    let header: String = lines[..7].iter().map(|l| format!("{l}\n")).collect();
    let cipher = chacha20poly1305::XChaCha20Poly1305::new((&*secret).into());
    let opened = Zeroizing::new(
        cipher
            .decrypt(
                &nonce.into(),
                Payload {
                    msg: &sealed,
                    aad: header.as_bytes(),
                },
            )
            .map_err(|_| WalletFileError::Tampered)?,
    );
    let mut bytes = Zeroizing::new([0_u8; PRIVATE_KEY_BYTES]);
    bytes.copy_from_slice(&opened);
    // Authenticated, so a mismatch was written this way: a writer with another derivation.
    checked_key(&bytes, kind, address)
}

fn hex_field<const N: usize>(field: &'static str, value: &str) -> Result<[u8; N], WalletFileError> {
    if value.len() != 2 * N {
        return Err(WalletFileError::WrongFieldLength {
            field,
            expected: 2 * N,
            got: value.len(),
        });
    }
    let mut out = [0_u8; N];
    hex::decode_to_slice(value, &mut out).map_err(|_| WalletFileError::BadHex)?;
    Ok(out)
}

/// Writes a new wallet file at `path` encrypted under `passphrase` (version 3); never
/// overwrites an existing file, and on Unix creates it readable by its owner only.
///
/// # Errors
/// As [`export_wallet`], and [`encrypted_wallet_file_text`]'s.
pub fn export_wallet_encrypted(
    key: &WalletKey,
    passphrase: &Secret,
    params: KdfParams,
    path: &Path,
) -> Result<(), WalletFileError> {
    write_new(path, &encrypted_wallet_file_text(key, passphrase, params)?)
}

/// Reads the wallet file at `path`, opening it with `passphrase` if it is encrypted.
///
/// # Errors
/// As [`import_wallet`], and [`parse_wallet_file_with`]'s.
pub fn import_wallet_with_passphrase(
    path: &Path,
    passphrase: Option<&Secret>,
) -> Result<WalletKey, WalletFileError> {
    parse_wallet_file_with(&read_text(path)?, passphrase)
}

/// Writes a new wallet file at `path`; never overwrites an existing file.
pub fn export_wallet(key: &WalletKey, path: &Path) -> Result<(), WalletFileError> {
    write_new(path, &wallet_file_text(key))
}

fn write_new(path: &Path, text: &str) -> Result<(), WalletFileError> {
    let io = |source| WalletFileError::Io {
        path: path.to_owned(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            WalletFileError::AlreadyExists(path.to_owned())
        } else {
            io(e)
        }
    })?;
    file.write_all(text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}

/// Reads the wallet file at `path` (an encrypted one needs [`import_wallet_with_passphrase`]).
pub fn import_wallet(path: &Path) -> Result<WalletKey, WalletFileError> {
    parse_wallet_file(&read_text(path)?)
}

fn read_text(path: &Path) -> Result<Zeroizing<String>, WalletFileError> {
    let io = |source| WalletFileError::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(WalletFileError::TooLarge);
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| WalletFileError::NotText)?;
    Ok(Zeroizing::new(text.to_owned()))
}

/// The wallet in `path`, or, when there is no file there, a new key drawn from `source` and
/// exported there first (unencrypted), spending with `kind`. Returns the key and whether it is
/// new; an existing file keeps the kind it was written with, and an encrypted one is opened
/// with `passphrase`. If another process creates the file at the same moment, its key is read
/// back, so both use one key.
///
/// # Errors
/// [`WalletFileError`]: the file exists but does not read, or the new key could not be drawn
/// or written.
pub fn load_or_create_wallet(
    path: &Path,
    source: &mut dyn EntropySource,
    kind: KeyKind,
    passphrase: Option<&Secret>,
) -> Result<(WalletKey, bool), WalletFileError> {
    let existing = || import_wallet_with_passphrase(path, passphrase);
    if path.exists() {
        return Ok((existing()?, false));
    }
    let key = WalletKey {
        private_key: PrivateKey::generate(source)?,
        kind,
    };
    match export_wallet(&key, path) {
        Ok(()) => Ok((key, true)),
        Err(WalletFileError::AlreadyExists(_)) => Ok((existing()?, false)),
        Err(e) => Err(e),
    }
}
