//! Runs one node of the devnet: the chain on a redb store, the full training audit for every
//! block from peers, artifacts fetched and served by hash, gossip and sync over libp2p, the
//! JSON-RPC wallet interface on 127.0.0.1 (its cookie in `STORE/.cookie`), and, with `--mine`, mining by training (a progress
//! bar shows tickets drawn against those a block takes on average). A new block from a peer
//! cancels the attempt at hand and mining resumes on the new tip.
//!
//! ```sh
//! cargo run --release --example node -- --store node-a --mine
//! cargo run --release --example node -- --store node-b --peer /ip4/127.0.0.1/tcp/PORT/p2p/ID
//! ```
//!
//! It runs until interrupted, or until the chain reaches `--until-height`.

// A command-line program: its output is the point.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use blockchain_ann::mining::Backend;
use blockchain_ann::net::libp2p::Multiaddr;
use blockchain_ann::node::{NodeConfig, RpcConfig};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Run a devnet node (store, audit, gossip, sync, RPC, optional mining)."
)]
struct Args {
    /// Store directory (created if missing, resumed if not).
    #[arg(long)]
    store: PathBuf,
    /// Where libp2p listens.
    #[arg(long, default_value = "/ip4/127.0.0.1/tcp/0")]
    listen: Multiaddr,
    /// Peers to dial (repeatable).
    #[arg(long)]
    peer: Vec<Multiaddr>,
    /// Where the JSON-RPC server listens (keep it on loopback: basic authentication sends the
    /// cookie in clear text). Its cookie is written to STORE/.cookie.
    #[arg(long, default_value = "127.0.0.1:0")]
    rpc: SocketAddr,
    /// Mine continuously.
    #[arg(long)]
    mine: bool,
    /// Backend that trains (flex, ndarray, wgpu).
    #[arg(long, default_value = "flex")]
    backend: Backend,
    /// The wallet that receives mining rewards; created with OS randomness if missing.
    #[arg(long, default_value = "miner.key")]
    wallet: PathBuf,
    /// Stop once the best chain reaches this height.
    #[arg(long)]
    until_height: Option<u64>,
    #[command(flatten)]
    task: common::TaskArgs,
}

fn main() {
    common::main_with::<Args>(run);
}

fn run(args: Args) -> Result<()> {
    if !args.rpc.ip().is_loopback() {
        tracing::warn!(rpc = %args.rpc, "the RPC server listens beyond loopback: its credentials travel in clear text");
    }
    let coinbase = common::load_or_create_wallet(&args.wallet)?.address();
    let (data, task) = common::load_task(&args.task.data)?;
    let bar = args.mine.then(|| common::mining_progress_bar(1));
    let parts = common::training_node(&args.store, &data, &task, args.backend, bar.clone())?;
    let mut config = NodeConfig::local(parts.chain.params().genesis_block().hash(), coinbase);
    config.net.listen = args.listen;
    config.bootstrap = args.peer;
    config.rpc = Some(RpcConfig::new(args.rpc).with_cookie_file(args.store.join(".cookie")));
    config.mine = args.mine;
    let node = parts.start(config)?;
    let handle = node.handle();
    println!("peer address  {}", handle.listen_address());
    if let Some(rpc) = handle.rpc_address() {
        println!(
            "rpc           http://{rpc}  (cookie {})",
            args.store.join(".cookie").display()
        );
    }
    let mut last = None;
    loop {
        let info = handle.chain_info()?;
        if last.as_ref() != Some(&info.bestblockhash) {
            let line = format!(
                "height {:>5}  tip {}  peers {}  downloading {}",
                info.blocks, info.bestblockhash, info.peers, info.downloading
            );
            match &bar {
                Some(bar) => bar.println(line),
                None => println!("{line}"),
            }
            last = Some(info.bestblockhash.clone());
        }
        if args.until_height.is_some_and(|h| info.blocks >= h) {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    node.shutdown();
    Ok(())
}
