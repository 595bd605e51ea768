//! Wallet files: a private key in hex, with a format line, the key kind, and the address as a
//! check.
//!
//! ```text
//! blockchain-ann wallet v1
//! private-key <256 lowercase hex digits>
//! address ann<72 hex digits>
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
//! address ann<72 hex digits>
//! ```
//!
//! Lines end with `\n` (a `\r\n` is accepted on import). On import the address is derived
//! again and must match, so a corrupted digit is caught instead of silently giving another
//! wallet. Export never overwrites an existing file, and on Unix creates it readable by its
//! owner only.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use ann_ledger::{KeyKind, Wallet};
use zeroize::Zeroizing;

use crate::entropy::EntropySource;
use crate::key::{KeyDerivation, PRIVATE_KEY_BYTES, PrivateKey};

/// The format line of version 1 (an ed25519 wallet).
pub const FORMAT_LINE: &str = "blockchain-ann wallet v1";
/// The format line of version 2 (a `kind` line follows).
pub const FORMAT_LINE_V2: &str = "blockchain-ann wallet v2";

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

/// Parses a wallet file's text and checks its address.
pub fn parse_wallet_file(text: &str) -> Result<WalletKey, WalletFileError> {
    let mut lines = text.lines().map(|l| l.strip_suffix('\r').unwrap_or(l));
    let v2 = match lines.next() {
        Some(FORMAT_LINE) => false,
        Some(FORMAT_LINE_V2) => true,
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
    let key = WalletKey {
        private_key: PrivateKey::from_bytes(*bytes),
        kind,
    };
    let derived = key.address().to_string();
    if derived != address {
        return Err(WalletFileError::AddressMismatch {
            written: address.to_owned(),
            derived,
        });
    }
    Ok(key)
}

/// Writes a new wallet file at `path`; never overwrites an existing file.
pub fn export_wallet(key: &WalletKey, path: &Path) -> Result<(), WalletFileError> {
    let io = |source| WalletFileError::Io {
        path: path.to_owned(),
        source,
    };
    let text = wallet_file_text(key);
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

/// Reads the wallet file at `path`.
pub fn import_wallet(path: &Path) -> Result<WalletKey, WalletFileError> {
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
    parse_wallet_file(text)
}

/// The wallet in `path`, or, when there is no file there, a new key drawn from `source` and
/// exported there first, spending with `kind`. Returns the key and whether it is new; an
/// existing file keeps the kind it was written with. If another process creates the file at
/// the same moment, its key is read back, so both use one key.
///
/// # Errors
/// [`WalletFileError`]: the file exists but does not read, or the new key could not be drawn
/// or written.
pub fn load_or_create_wallet(
    path: &Path,
    source: &mut dyn EntropySource,
    kind: KeyKind,
) -> Result<(WalletKey, bool), WalletFileError> {
    if path.exists() {
        return Ok((import_wallet(path)?, false));
    }
    let key = WalletKey {
        private_key: PrivateKey::generate(source)?,
        kind,
    };
    match export_wallet(&key, path) {
        Ok(()) => Ok((key, true)),
        Err(WalletFileError::AlreadyExists(_)) => Ok((import_wallet(path)?, false)),
        Err(e) => Err(e),
    }
}
