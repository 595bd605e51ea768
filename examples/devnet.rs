//! A local network of mining nodes on 127.0.0.1, in one process: each node has its own redb
//! store, trains blocks, audits its peers' blocks and fetches their artifacts over libp2p.
//! Payments are sent through the nodes' JSON-RPC. It prints each node's tip as the network
//! converges and exits 0 once every node agrees on one tip at `--blocks` or more with every
//! payment confirmed, non-zero if that does not happen within `--timeout-secs`.
//!
//! ```sh
//! cargo run --release --example devnet -- --nodes 3 --blocks 5
//! ```

// A command-line program: its output is the point.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use blockchain_ann::ledger::{Amount, Encode, Wallet};
use blockchain_ann::mining::Backend;
use blockchain_ann::node::{NodeConfig, NodeRpcClient, rpc};
use clap::Parser;
use ed25519_dalek::SigningKey;
use jsonrpsee::http_client::HttpClient;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Run a local network of mining nodes and pay through their RPC."
)]
struct Args {
    /// How many nodes.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// The height every node must agree on.
    #[arg(long, default_value_t = 5)]
    blocks: u64,
    /// Payments to send through the RPC (each from node 0's rewards to another node's).
    #[arg(long, default_value_t = 2)]
    payments: usize,
    /// Give up (exit non-zero) after this long.
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
    /// Backend that trains (flex, ndarray, wgpu).
    #[arg(long, default_value = "flex")]
    backend: Backend,
    #[command(flatten)]
    task: common::TaskArgs,
}

fn main() {
    common::main_with::<Args>(run);
}

fn run(args: Args) -> Result<()> {
    if !(1..=16).contains(&args.nodes) {
        bail!("--nodes must be between 1 and 16, not {}", args.nodes);
    }
    let (data, task) = common::load_task(&args.task.data)?;
    let dirs: Vec<tempfile::TempDir> = (0..args.nodes)
        .map(|_| tempfile::tempdir())
        .collect::<std::io::Result<_>>()?;
    // Throwaway wallets: this network's coins are worth nothing.
    let wallets: Vec<Wallet> = (0..args.nodes)
        .map(|i| {
            Wallet::new(SigningKey::from_bytes(
                &[u8::try_from(i + 1).unwrap_or(1); 32],
            ))
        })
        .collect();
    let mut nodes: Vec<blockchain_ann::node::Node> = Vec::new();
    for (i, dir) in dirs.iter().enumerate() {
        let parts = common::training_node(dir.path(), &data, &task, args.backend, None)?;
        let mut config = NodeConfig::local(
            parts.chain.params().genesis_block().hash(),
            wallets[i].address(),
        );
        config.mine = true;
        // A line, closed into a ring from the third node on.
        config.bootstrap = nodes
            .iter()
            .rev()
            .take(1)
            .chain(nodes.first().filter(|_| i >= 2))
            .map(|n| n.handle().listen_address())
            .collect();
        let node = parts.start(config)?;
        println!(
            "node {i}: {}  rpc http://{}",
            node.handle().listen_address(),
            node.handle()
                .rpc_address()
                .context("the node has an RPC server")?
        );
        nodes.push(node);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let clients: Vec<HttpClient> = nodes
        .iter()
        .map(|n| {
            let handle = n.handle();
            let address = handle.rpc_address().context("an RPC server")?;
            let credentials = handle.rpc_credentials().context("an RPC cookie")?;
            Ok(rpc::client(&format!("http://{address}"), credentials)?)
        })
        .collect::<Result<_>>()?;

    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.timeout_secs);
    let mut printed: Vec<String> = vec![String::new(); nodes.len()];
    let mut sent: Vec<(String, usize)> = Vec::new();
    let mut spent: BTreeSet<(String, u32)> = BTreeSet::new();
    loop {
        if Instant::now() > deadline {
            bail!(
                "the nodes did not agree on a tip at height {} with {} payments confirmed within {} s",
                args.blocks,
                args.payments,
                args.timeout_secs
            );
        }
        let infos = runtime.block_on(async {
            let mut infos = Vec::new();
            for client in &clients {
                infos.push(client.get_blockchain_info().await);
            }
            infos
        });
        let infos = infos.into_iter().collect::<Result<Vec<_>, _>>()?;
        for (i, info) in infos.iter().enumerate() {
            let line = format!(
                "height {:>3}  tip {}",
                info.blocks,
                &info.bestblockhash[..16]
            );
            if printed[i] != line {
                println!(
                    "{:>6.1} s  node {i}  {line}  peers {}",
                    started.elapsed().as_secs_f64(),
                    info.peers
                );
                printed[i] = line;
            }
        }
        // Pay from node 0's rewards, through the RPC of the next node in turn.
        if sent.len() < args.payments && nodes.len() > 1 {
            let k = 1 + sent.len() % (nodes.len() - 1);
            let payee = &wallets[k];
            if let Some(txid) = pay(
                &runtime,
                &clients[k],
                &wallets[0],
                payee,
                infos[0].blocks,
                &mut spent,
            )? {
                println!(
                    "{:>6.1} s  payment {} sent through node {k}'s RPC: {txid}",
                    started.elapsed().as_secs_f64(),
                    sent.len() + 1
                );
                sent.push((txid, k));
            }
        }
        let agreed = infos
            .windows(2)
            .all(|w| w[0].bestblockhash == w[1].bestblockhash)
            && infos[0].blocks >= args.blocks;
        if agreed
            && sent.len()
                >= args
                    .payments
                    .min(if nodes.len() > 1 { usize::MAX } else { 0 })
        {
            let confirmed = runtime.block_on(confirmed_everywhere(&clients, &wallets, &sent))?;
            if confirmed {
                println!(
                    "all {} nodes agree on {} at height {} with {} payments confirmed, after {:.1} s",
                    nodes.len(),
                    infos[0].bestblockhash,
                    infos[0].blocks,
                    sent.len(),
                    started.elapsed().as_secs_f64()
                );
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    for node in nodes {
        node.shutdown();
    }
    Ok(())
}

/// Sends one coin's worth of a payment from `payer` to `payee` through `client`, spending an
/// output two blocks deep (so a short reorganisation cannot take it away); `None` if none is.
fn pay(
    runtime: &tokio::runtime::Runtime,
    client: &HttpClient,
    payer: &Wallet,
    payee: &Wallet,
    height: u64,
    spent: &mut BTreeSet<(String, u32)>,
) -> Result<Option<String>> {
    let utxos = runtime.block_on(client.get_address_utxos(payer.address().to_string()))?;
    let Some(coin) = utxos.into_iter().find(|u| {
        u.spendable && u.height + 2 <= height && !spent.contains(&(u.txid.clone(), u.vout))
    }) else {
        return Ok(None);
    };
    spent.insert((coin.txid.clone(), coin.vout));
    let amount = Amount::from_base_units(coin.amount / 2)?;
    let tx = payer.pay_from(
        vec![coin.to_coin()?],
        payee.address(),
        amount,
        Amount::from_base_units(10_000)?,
    )?;
    let txid = runtime.block_on(client.send_raw_transaction(hex::encode(tx.encode())))?;
    Ok(Some(txid))
}

/// Whether every node sees an output of every sent payment paying its payee.
async fn confirmed_everywhere(
    clients: &[HttpClient],
    wallets: &[Wallet],
    sent: &[(String, usize)],
) -> Result<bool> {
    for client in clients {
        for (txid, payee) in sent {
            let out = client.get_tx_out(txid.clone(), 0).await?;
            if out.is_none_or(|o| o.address != wallets[*payee].address().to_string()) {
                return Ok(false);
            }
        }
    }
    Ok(true)
}
