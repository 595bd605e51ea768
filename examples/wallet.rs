//! A wallet that holds only its key and learns everything else from a node's JSON-RPC: its
//! balance (`getaddressutxos`), and a payment built and signed here, then sent with
//! `sendrawtransaction`. The private key never leaves this process. It authenticates with the
//! cookie that the node wrote into its store directory (`--cookie`, Bitcoin Core's habit).
//!
//! ```sh
//! cargo run --release --example wallet -- --rpc http://127.0.0.1:PORT --cookie node-a/.cookie \
//!     --wallet miner.key
//! cargo run --release --example wallet -- --rpc http://127.0.0.1:PORT --cookie node-a/.cookie \
//!     --wallet miner.key --pay ADDRESS --amount 1.5
//! ```

// A command-line program: its output is the point.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use blockchain_ann::keys::import_wallet_with_passphrase;
use blockchain_ann::ledger::{Address, Amount, Encode};
use blockchain_ann::node::{NodeRpcClient, RpcCredentials, rpc};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(version, about = "A wallet that pays through a node's JSON-RPC.")]
struct Args {
    /// The node's RPC URL.
    #[arg(long)]
    rpc: String,
    /// The node's RPC cookie (`.cookie` in its store directory), or any `user:password` file.
    #[arg(long)]
    cookie: PathBuf,
    /// The wallet file.
    #[arg(long)]
    wallet: PathBuf,
    /// Pay this address.
    #[arg(long, requires = "amount")]
    pay: Option<Address>,
    /// Amount in coins (e.g. 1.5).
    #[arg(long)]
    amount: Option<Amount>,
    /// Fee in coins.
    #[arg(long, default_value = "0.0001")]
    fee: Amount,
}

fn main() {
    common::main_with::<Args>(run);
}

fn run(args: Args) -> Result<()> {
    let key = import_wallet_with_passphrase(&args.wallet, common::wallet_passphrase().as_ref())
        .with_context(|| format!("importing {}", args.wallet.display()))?;
    let wallet = key.wallet();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let credentials = RpcCredentials::from_cookie_file(&args.cookie)?;
    let client = rpc::client(&args.rpc, &credentials)?;
    let utxos = runtime.block_on(client.get_address_utxos(wallet.address().to_string()))?;
    let total: u64 = utxos.iter().map(|u| u.amount).sum();
    let spendable = utxos
        .iter()
        .filter(|u| u.spendable)
        .map(|u| u.to_coin())
        .collect::<Result<Vec<_>, _>>()?;
    println!("address  {}", wallet.address());
    println!(
        "balance  {} ({} outputs, {} spendable now)",
        Amount::from_base_units(total)?,
        utxos.len(),
        spendable.len()
    );
    let (Some(to), Some(amount)) = (args.pay, args.amount) else {
        return Ok(());
    };
    if spendable.is_empty() {
        bail!("nothing is spendable yet");
    }
    let tx = wallet.pay_from(spendable, to, amount, args.fee)?;
    let txid = runtime.block_on(client.send_raw_transaction(hex::encode(tx.encode())))?;
    println!("sent     {amount} to {to}: {txid}");
    Ok(())
}
