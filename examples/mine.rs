//! Mines blocks into a store directory, resumably: each run opens the store where the last one
//! stopped and adds `--blocks` blocks, each proven by training on MNIST until a checkpoint's
//! ticket wins (a progress bar shows tickets drawn against those a block takes on average).
//! The chain is the devnet preset with a fixed genesis (so that any later run can resume
//! it); that genesis lies in the past, so ASERT holds the target at the devnet's limit.
//!
//! ```sh
//! cargo run --release --example mine -- --store chain-data --blocks 3 --wallet miner.key
//! cargo run --release --features wgpu --example mine -- --store chain-data --blocks 1 --backend wgpu
//! ```

// A command-line program: its output is the point.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use blockchain_ann::ledger::{Chain, Mempool};
use blockchain_ann::mining::Backend;
use blockchain_ann::store::Store;
use clap::Parser;

#[derive(Parser, Debug)]
#[command(version, about = "Mine blocks into a persistent store (resumable).")]
struct Args {
    /// Store directory (created if missing, resumed if not).
    #[arg(long)]
    store: PathBuf,
    /// How many blocks to add.
    #[arg(long, default_value_t = 1)]
    blocks: u32,
    /// The miner's wallet file; created with OS randomness if it does not exist.
    #[arg(long, default_value = "miner.key")]
    wallet: PathBuf,
    /// Backend that trains (flex, ndarray, wgpu); blocks are verified on flex before they
    /// are stored (every backend computes the same bits).
    #[arg(long, default_value = "flex")]
    backend: Backend,
    #[command(flatten)]
    task: common::TaskArgs,
}

fn main() {
    common::main_with::<Args>(run);
}

fn run(args: Args) -> Result<()> {
    let miner = common::load_or_create_wallet(&args.wallet)?;

    let (data, task) = common::load_task(&args.task.data)?;
    let params = common::devnet_params();
    let store =
        Store::open(&args.store).with_context(|| format!("opening {}", args.store.display()))?;
    let mut chain = Chain::open(params, store)
        .context("resuming the chain (was it made with other parameters?)")?;
    tracing::info!(height = chain.height(), tip = %chain.tip(), "resumed");
    let verifier = common::recording_verifier(
        &data,
        &task,
        &chain.store().artifact_dir(),
        Backend::DEFAULT,
    )?;

    for _ in 0..args.blocks {
        let now = common::now()?;
        let template = chain.block_template(&Mempool::new(), miner.address(), now)?;
        let started = Instant::now();
        let common::MinedIntoStore {
            block,
            mined,
            record,
        } = common::mine_block(&chain, &data, &task, args.backend, template)?;
        let mined_in = started.elapsed();
        let started = Instant::now();
        chain.submit_block_with(block, record, now, &verifier)?;
        let audit = verifier
            .take(&chain.tip())
            .context("the block was verified")?;
        println!(
            "block {} {}: {} steps, accuracy {:.2} % (mined in {:.1} s on {}, verified in {:.2} s, segments {:?})",
            chain.height(),
            chain.tip(),
            mined.header.training.steps,
            f64::from(audit.accuracy_bp) / 100.0,
            mined_in.as_secs_f64(),
            args.backend,
            started.elapsed().as_secs_f64(),
            audit.audited_segments,
        );
    }
    println!(
        "height {}, miner balance {}",
        chain.height(),
        miner.balance(&chain)?
    );
    Ok(())
}
