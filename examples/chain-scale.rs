//! How import cost and memory scale with the chain's length: imports `--blocks` cheap blocks
//! (coinbase only, proofs accepted unchecked) into a fresh redb store and prints the cost per
//! block of the 1,000 imports ending at 1k, 10k, 100k and 1M blocks (as far as `--blocks`
//! goes) with the peak resident memory, then the time and store reads to reopen the chain,
//! and last the ratio of the last interval's cost per block to the first's (flat is 1.0).
//!
//! ```sh
//! cargo run --release --example chain-scale -- --blocks 100000
//! ```

#![allow(clippy::print_stdout)]

mod common;

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use blockchain_ann::ledger::{
    Amount, Block, BlockHeader, Chain, ChainParams, ChainStore, CountingStore, Difficulty,
    MemoryChainStore, Mempool, ProofVerifier, TxOut, Wallet,
};
use blockchain_ann::store::Store;
use clap::{Parser, ValueEnum};
use ed25519_dalek::SigningKey;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Import cheap blocks and print how the cost per block and memory scale."
)]
struct Args {
    /// Blocks to import.
    #[arg(long, default_value_t = 100_000)]
    blocks: u64,
    /// Where the chain lives.
    #[arg(long, value_enum, default_value_t = Backing::Redb)]
    store: Backing,
    /// Store directory (default: a temporary directory, removed at the end).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Make every this many commits durable (1, the default: every import is fsynced, as a
    /// node runs; a bulk import may batch, e.g. 100).
    #[arg(long, default_value_t = NonZeroU32::MIN)]
    durable_every: NonZeroU32,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Backing {
    /// `ann-store`'s redb store.
    Redb,
    /// The ledger's in-memory store (everything stays in memory: memory grows).
    Memory,
}

/// Cheap blocks: the proof of training is not what is measured here.
struct AcceptAnyProof;

impl ProofVerifier for AcceptAnyProof {
    type Error = std::convert::Infallible;
    fn verify_proof(&self, _: &BlockHeader) -> Result<(), Self::Error> {
        Ok(())
    }
}

const GENESIS_TIME: u64 = 1_700_000_000;
const SPACING: u64 = 600;
/// Imports averaged at each checkpoint.
const SAMPLE: u64 = 1_000;

fn main() {
    common::main_with::<Args>(run);
}

fn run(args: Args) -> Result<()> {
    anyhow::ensure!(args.blocks >= 1, "--blocks must be at least 1");
    let miner = Wallet::new(SigningKey::from_bytes(&[1; 32]));
    let params = ChainParams::new(
        vec![TxOut {
            amount: Amount::from_coins(10)?,
            address: miner.address(),
        }],
        GENESIS_TIME,
        Difficulty::regtest(),
    );
    println!(
        "importing {} empty blocks into {:?} (reorg window {})",
        args.blocks, args.store, params.max_reorg_depth
    );
    match args.store {
        Backing::Memory => {
            let chain = Chain::open(params.clone(), MemoryChainStore::new())?;
            let (chain, ratio) = import(chain, &miner, args.blocks)?;
            let reopen = Instant::now();
            let reopened = Chain::open(params, CountingStore::new(chain.into_store()))?;
            report_reopen(reopen.elapsed(), &reopened);
            println!("ratio of the last interval's cost per block to the first's: {ratio:.2}");
        }
        Backing::Redb => {
            let scratch = tempfile::tempdir()?;
            let dir = args.dir.unwrap_or_else(|| scratch.path().join("store"));
            let mut store = Store::open(&dir)?;
            store.set_durable_every(args.durable_every);
            let chain = Chain::open(params.clone(), store)?;
            let (chain, ratio) = import(chain, &miner, args.blocks)?;
            let mut store = chain.into_store();
            store.flush()?;
            drop(store);
            let reopen = Instant::now();
            let store = Store::open(&dir)?;
            let opened_store = reopen.elapsed();
            let reopened = Chain::open(params, CountingStore::new(store))?;
            println!(
                "store file: {:.1} MB; opening it (redb's integrity check included): {:.0} ms",
                std::fs::metadata(dir.join("chain.redb"))?.len() as f64 / 1e6,
                opened_store.as_secs_f64() * 1e3
            );
            report_reopen(reopen.elapsed(), &reopened);
            println!("ratio of the last interval's cost per block to the first's: {ratio:.2}");
        }
    }
    Ok(())
}

/// Imports `blocks` blocks, printing the cost per block of the [`SAMPLE`] imports ending at
/// each checkpoint; returns the chain and the last checkpoint's cost over the first's.
fn import<S: ChainStore>(
    mut chain: Chain<S>,
    miner: &Wallet,
    blocks: u64,
) -> Result<(Chain<S>, f64)> {
    let checkpoints: Vec<u64> = [1_000, 10_000, 100_000, 1_000_000, 10_000_000]
        .into_iter()
        .filter(|c| *c <= blocks)
        .chain((!matches!(blocks, 1_000 | 10_000 | 100_000 | 1_000_000)).then_some(blocks))
        .collect();
    let now = GENESIS_TIME + SPACING * (blocks + 10);
    let mut sample = Duration::ZERO;
    let mut costs = Vec::new();
    let started = Instant::now();
    for height in 1..=blocks {
        let block = cheap_block(&chain, miner, GENESIS_TIME + SPACING * height)?;
        let import = Instant::now();
        chain
            .submit_block(block, now, &AcceptAnyProof)
            .with_context(|| format!("block {height}"))?;
        if checkpoints
            .iter()
            .any(|c| height > c.saturating_sub(SAMPLE) && height <= *c)
        {
            sample += import.elapsed();
        }
        if checkpoints.contains(&height) {
            let counted = SAMPLE.min(height);
            let ms = sample.as_secs_f64() * 1e3 / counted as f64;
            costs.push(ms);
            println!(
                "at {height:>9} blocks: {ms:.3} ms per block (the last {counted} imports), \
                 peak RSS {}, {} blocks in memory, {:.0} s so far",
                peak_rss(),
                chain.non_finalized_count(),
                started.elapsed().as_secs_f64()
            );
            sample = Duration::ZERO;
        }
    }
    let ratio = match (costs.first(), costs.last()) {
        (Some(first), Some(last)) if *first > 0.0 => last / first,
        _ => 1.0,
    };
    Ok((chain, ratio))
}

fn report_reopen<S: ChainStore>(elapsed: Duration, chain: &Chain<CountingStore<S>>) {
    println!(
        "reopening the chain at height {}: {:.1} ms, {} store reads",
        chain.height(),
        elapsed.as_secs_f64() * 1e3,
        chain.store().reads()
    );
}

/// A coinbase-only block on the tip at `timestamp` (nudged until its ticket wins, which at the
/// regtest difficulty is almost always at once).
fn cheap_block<S: ChainStore>(chain: &Chain<S>, miner: &Wallet, timestamp: u64) -> Result<Block> {
    let mut block = chain.block_template(&Mempool::new(), miner.address(), timestamp)?;
    while !block.header.meets_target() {
        block.header.timestamp += 1;
    }
    Ok(block)
}

/// The process's peak resident set (Linux `VmHWM`), or "unknown".
fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .map(|kb| kb.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}
