//! Draws a private key from a chosen entropy source, derives its keys through the chaotic
//! network, prints the address, and optionally exports the wallet file and draws the network's
//! percolation map (every layer's states) as a PNG.
//!
//! ```sh
//! cargo run --release --example keygen -- --source simulated --out wallet.key --map map.png
//! cargo run --release --example keygen -- --source os --map dead.png --mean -0.2
//! cargo run --release --example keygen -- --kind ml-dsa-65 --out pq-wallet.key
//! ANN_WALLET_PASSPHRASE='…' cargo run --release --example keygen -- --out sealed.key
//! ```
//!
//! With `ANN_WALLET_PASSPHRASE` set, `--out` writes the file encrypted (Argon2id and
//! XChaCha20-Poly1305) and `--import` opens encrypted files with it.

// A command-line program: its output is the point.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use blockchain_ann::keys::KeySource;
use blockchain_ann::keys::{
    ChaoticNet, KdfParams, KeyDerivation, KeyKind, NetConfig, PrivateKey, WalletKey, export_wallet,
    export_wallet_encrypted, import_wallet_with_passphrase,
};
use clap::Parser;
use clap::builder::TypedValueParser as _;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Generate a wallet key from an entropy source, export it, draw its percolation map."
)]
struct Args {
    /// Where the private key comes from.
    #[arg(long, default_value = "os", value_parser = clap::builder::PossibleValuesParser::new(KeySource::NAMES.iter().copied()).try_map(|s| s.parse::<KeySource>()))]
    source: KeySource,
    /// Seed of the simulated qubit, 64 hex digits (default: all zero).
    #[arg(long, value_parser = parse_seed)]
    seed: Option<[u8; 32]>,
    /// Restore the key from this wallet file instead of drawing a new one.
    #[arg(long, conflicts_with = "source")]
    import: Option<PathBuf>,
    /// Export the private key to this wallet file (refuses to overwrite); encrypted with the
    /// passphrase in ANN_WALLET_PASSPHRASE when that is set.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The kind of key the wallet spends with: ed25519, or the post-quantum ml-dsa-65
    /// (FIPS 204). Both come from the same private key. An imported file keeps its own kind.
    #[arg(long, default_value = "ed25519", conflicts_with = "import")]
    kind: KeyKind,
    /// Draw the chaotic network's percolation map for this key as a PNG.
    #[arg(long)]
    map: Option<PathBuf>,
    /// Mean of the weights for the map (0 keeps the network chaotic; away from 0 activity
    /// dies or saturates). Key derivation always uses the default network.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    mean: f64,
}

fn parse_seed(text: &str) -> Result<[u8; 32], String> {
    let bytes = hex::decode(text).map_err(|e| format!("not hex: {e}"))?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("{} bytes, expected 32", b.len()))
}

fn main() {
    common::main_with::<Args>(run);
}

fn run(args: Args) -> Result<()> {
    if let Some(path) = &args.out {
        ensure!(
            !path.exists(),
            "{} exists; not overwriting a wallet file",
            path.display()
        );
    }
    let wallet_key = match &args.import {
        Some(path) => import_wallet_with_passphrase(path, common::wallet_passphrase().as_ref())
            .with_context(|| format!("importing {}", path.display()))?,
        None => {
            let mut source = args.source.open(args.seed.unwrap_or_default())?;
            WalletKey {
                private_key: PrivateKey::generate(source.as_mut())?,
                kind: args.kind,
            }
        }
    };
    let private_key = &wallet_key.private_key;
    let keys = KeyDerivation::default().derive(private_key);
    println!("kind:          {}", wallet_key.kind);
    println!("address:       {}", keys.address_of(wallet_key.kind));
    match wallet_key.kind {
        KeyKind::Ed25519 => println!(
            "verifying key: {}",
            hex::encode(keys.verifying_key().as_bytes())
        ),
        KeyKind::MlDsa65 => {
            let key = keys.ml_dsa_65_signing_key();
            let bytes = key.public_key().as_bytes();
            println!(
                "public key:    {}… ({} bytes)",
                hex::encode(&bytes[..16]),
                bytes.len()
            );
        }
    }

    if let Some(path) = &args.out {
        match common::wallet_passphrase() {
            Some(passphrase) => {
                export_wallet_encrypted(&wallet_key, &passphrase, KdfParams::default(), path)?;
                println!("encrypted:     yes (Argon2id, XChaCha20-Poly1305)");
            }
            None => export_wallet(&wallet_key, path)?,
        }
        println!("wallet file:   {}", path.display());
    }
    if let Some(path) = &args.map {
        let config = NetConfig {
            mean: args.mean,
            ..NetConfig::default()
        };
        let net = ChaoticNet::new(config, private_key.as_bytes())?;
        let states = net.layer_states(&private_key.bits())?;
        write_map(&states, path)?;
        let active: Vec<f64> = states
            .iter()
            .map(|layer| layer.iter().filter(|b| **b).count() as f64 / layer.len().max(1) as f64)
            .collect();
        println!(
            "percolation map: {} ({} layers; active fraction first {:.2}, middle {:.2}, last {:.2})",
            path.display(),
            states.len(),
            active.first().copied().unwrap_or(0.0),
            active.get(active.len() / 2).copied().unwrap_or(0.0),
            active.last().copied().unwrap_or(0.0),
        );
    }
    Ok(())
}

/// One row of pixels per layer (scaled up so the map is readable), one column per unit:
/// white for an active unit, black for a silent one.
fn write_map(states: &[Vec<bool>], path: &Path) -> Result<()> {
    const ROW_HEIGHT: usize = 8;
    let width = states.iter().map(Vec::len).max().unwrap_or(0);
    ensure!(
        width > 0 && !states.is_empty(),
        "the network has no states to draw"
    );
    let height = states.len() * ROW_HEIGHT;
    let mut pixels = Vec::with_capacity(width * height);
    for layer in states {
        let row: Vec<u8> = (0..width)
            .map(|u| {
                if layer.get(u).copied().unwrap_or(false) {
                    255
                } else {
                    0
                }
            })
            .collect();
        for _ in 0..ROW_HEIGHT {
            pixels.extend_from_slice(&row);
        }
    }
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut encoder = png::Encoder::new(
        BufWriter::new(file),
        u32::try_from(width)?,
        u32::try_from(height)?,
    );
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header()?.write_image_data(&pixels)?;
    Ok(())
}
