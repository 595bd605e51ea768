//! Re-verifies a stored chain from genesis: every ledger rule and the full training audit of
//! every mined block (W0 from the seed, accuracy re-measured, Fiat-Shamir segments replayed bit
//! for bit), in a fresh in-memory chain, and reports block by block.
//!
//! ```sh
//! cargo run --release --example verify -- --store chain-data
//! ```

// A command-line program: its output is the point.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use blockchain_ann::ledger::Chain;
use blockchain_ann::mining::Backend;
use blockchain_ann::store::Store;
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Re-verify a stored chain from genesis, training audit included."
)]
struct Args {
    /// Store directory written by the `mine` example.
    #[arg(long)]
    store: PathBuf,
    #[command(flatten)]
    task: common::TaskArgs,
    /// Backend that replays the audited segments (flex, ndarray, wgpu): any backend verifies
    /// blocks mined on any other.
    #[arg(long, default_value = "flex")]
    backend: Backend,
}

fn main() {
    common::main_with::<Args>(run);
}

fn run(args: Args) -> Result<()> {
    anyhow::ensure!(
        args.store.is_dir(),
        "{} is not a store directory",
        args.store.display()
    );
    let (data, task) = common::load_task(&args.task.data)?;
    let params = common::devnet_params();
    let store =
        Store::open(&args.store).with_context(|| format!("opening {}", args.store.display()))?;
    let chain = Chain::open(params.clone(), store)?;
    let blocks = common::best_chain_blocks(&chain)?;
    let verifier =
        common::recording_verifier(&data, &task, &chain.store().artifact_dir(), args.backend)?;

    let started = Instant::now();
    let report = common::verify_from_genesis(&params, &blocks, &verifier, common::now()?)?;
    for line in &report {
        match &line.audit {
            None => println!("block {:>4} {}  genesis", line.height, line.hash),
            Some(audit) => println!(
                "block {:>4} {}  accuracy {:.2} %, segments {:?} replayed, {:.2} s",
                line.height,
                line.hash,
                f64::from(audit.accuracy_bp) / 100.0,
                audit.audited_segments,
                line.elapsed.as_secs_f64()
            ),
        }
    }
    println!(
        "chain valid: {} blocks from genesis to {} in {:.1} s",
        report.len(),
        chain.tip(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
