//! The original project's `main.py`, working: ten wallets with quantum-style keys, funded with
//! 10 coins each, four payments, one block mined by training an MLP on MNIST until its test
//! accuracy reaches the difficulty (90 %), then the chain, the mining side chain, the balances
//! (which add up) and the validation of the whole chain from genesis, training audit included.
//!
//! ```sh
//! cargo run --release --example demo
//! ```

// A command-line program: its output is the point.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use blockchain_ann::keys::KeySource;
use blockchain_ann::keys::{KeyDerivation, NetConfig, PrivateKey};
use blockchain_ann::ledger::{
    Amount, Chain, ChainParams, Difficulty, KeyKind, Mempool, TxOut, Wallet,
};
use blockchain_ann::mining::Backend;
use blockchain_ann::store::Store;
use clap::Parser;
use clap::builder::TypedValueParser as _;

/// The payments of the original demo: (from, to, coins).
const PAYMENTS: [(usize, usize, u64); 4] = [(0, 2, 3), (2, 3, 2), (4, 3, 1), (5, 4, 10)];
const WALLETS: usize = 10;
const FUNDING_COINS: u64 = 10;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "The original blockchain_ann demo, working end to end."
)]
struct Args {
    /// Where keys come from (default: IBM or ANU when their credentials are set, else a
    /// simulated qubit).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(KeySource::NAMES.iter().copied()).try_map(|s| s.parse::<KeySource>()))]
    source: Option<KeySource>,
    /// Store directory (default: a fresh temporary directory, removed at the end).
    #[arg(long)]
    store: Option<PathBuf>,
    #[command(flatten)]
    task: common::TaskArgs,
    /// Backend that trains (flex, ndarray, wgpu). Verification replays on flex: every
    /// backend computes the same bits, so a block mined on a GPU verifies on a CPU.
    #[arg(long, default_value = "flex")]
    backend: Backend,
    /// The kind of key the wallets spend with: ed25519, or the post-quantum ml-dsa-65
    /// (FIPS 204), derived from the same quantum-drawn private keys.
    #[arg(long, default_value = "ed25519")]
    key_kind: KeyKind,
}

fn main() {
    common::main_with::<Args>(run);
}

fn run(args: Args) -> Result<()> {
    let source = args.source.unwrap_or_else(KeySource::from_environment);
    let (data, task) = common::load_task(&args.task.data)?;

    println!(
        "--- Wallets (keys from the {source} source, {} signatures) ---",
        args.key_kind
    );
    let derivation = KeyDerivation::new(NetConfig::default())?;
    let started = Instant::now();
    let mut wallets = Vec::with_capacity(WALLETS + 1);
    for index in 0..=WALLETS {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&(index as u64).to_le_bytes());
        let mut entropy = source.open(seed)?;
        let private_key = PrivateKey::generate(entropy.as_mut())
            .with_context(|| format!("drawing the private key of wallet {index}"))?;
        wallets.push(Wallet::with_key(
            derivation
                .derive(&private_key)
                .into_spending_key(args.key_kind),
        ));
    }
    let miner = wallets.pop().context("the miner's wallet")?;
    for (index, wallet) in wallets.iter().enumerate() {
        println!("wallet {index}: {}", wallet.address());
    }
    println!("miner:    {}", miner.address());
    println!(
        "({} keys through the chaotic network in {:.0} ms)",
        WALLETS + 1,
        started.elapsed().as_secs_f64() * 1e3
    );

    let coins = |n: u64| Amount::from_coins(n).context("amount");
    let genesis: Vec<TxOut> = wallets
        .iter()
        .map(|w| {
            Ok(TxOut {
                amount: coins(FUNDING_COINS)?,
                address: w.address(),
            })
        })
        .collect::<Result<_>>()?;
    let now = common::now()?;
    let params = ChainParams::new(genesis, now.saturating_sub(600), Difficulty::devnet());

    let temporary;
    let store_dir = match &args.store {
        Some(dir) => dir.clone(),
        None => {
            temporary = tempfile::tempdir()?;
            temporary.path().to_path_buf()
        }
    };
    let mut chain = Chain::open(params.clone(), Store::open(&store_dir)?)?;
    ensure!(
        chain.height() == 0,
        "the store {} already holds a chain; give the demo a new directory",
        store_dir.display()
    );

    println!("\n--- Transactions ---");
    let mut mempool = Mempool::new();
    for (number, (from, to, amount)) in PAYMENTS.iter().enumerate() {
        let payment = wallets[*from].pay(
            &chain,
            Some(&mempool),
            wallets[*to].address(),
            coins(*amount)?,
            Amount::ZERO,
        )?;
        let txid = payment.txid();
        let size = payment.encoded_len();
        match mempool.add(payment, &chain) {
            Ok(_) => println!(
                "Transaction #{} | id: {txid} | {from} -> {to}: {amount} is valid ({size} bytes)",
                number + 1
            ),
            Err(e) => bail!(
                "transaction #{} ({from} -> {to}) was rejected: {e}",
                number + 1
            ),
        }
    }

    let gate = f64::from(task.accuracy_gate.basis_points()) / 100.0;
    println!(
        "\n--- A new block is being mined (difficulty: {} expected tickets, accuracy gate {gate:.2} %) ---",
        params.difficulty.initial.work()
    );
    let template = chain.block_template(&mempool, miner.address(), now)?;
    let started = Instant::now();
    let common::MinedIntoStore {
        block,
        mined,
        record,
    } = common::mine_block(&chain, &data, &task, args.backend, template)?;
    println!(
        "trained {} steps in {:.1} s on {}: ticket {} of this attempt won, test accuracy {:.2} % >= {gate:.2} %",
        mined.header.training.steps,
        started.elapsed().as_secs_f64(),
        args.backend,
        mined.tickets,
        f64::from(mined.accuracy_bp) / 100.0,
    );
    let verifier = common::recording_verifier(
        &data,
        &task,
        &chain.store().artifact_dir(),
        Backend::DEFAULT,
    )?;
    let started = Instant::now();
    chain.submit_block_with(block, record, now, &verifier)?;
    mempool.remove_for_block(chain.tip_block());
    let audit = verifier
        .take(&chain.tip())
        .context("the block was verified")?;
    println!(
        "New block #{} is mined! (verified in {:.2} s: accuracy re-measured {:.2} %, segments {:?} replayed bit for bit)",
        chain.height(),
        started.elapsed().as_secs_f64(),
        f64::from(audit.accuracy_bp) / 100.0,
        audit.audited_segments
    );

    print_chain(&chain, &miner)?;
    print_side_chain(&chain)?;

    println!("\n### Balances ###");
    let mut total = Amount::ZERO;
    let mut everyone: Vec<(String, &Wallet)> = wallets
        .iter()
        .enumerate()
        .map(|(i, w)| (format!("wallet {i}"), w))
        .collect();
    everyone.push(("miner".into(), &miner));
    for (name, wallet) in &everyone {
        let balance = wallet.balance(&chain)?;
        total = total.checked_add(balance).context("total overflows")?;
        println!("{name:>9}: {balance}");
    }
    let genesis_total = coins(FUNDING_COINS * WALLETS as u64)?;
    let expected = genesis_total
        .checked_add(params.subsidy(1))
        .context("supply overflows")?;
    println!(
        "    total: {total} (genesis {genesis_total} + block reward {})",
        params.subsidy(1)
    );
    ensure!(
        total == expected,
        "balances add up to {total}, expected {expected}"
    );
    ensure!(
        u128::from(total.to_base_units()) == chain.total_supply()?,
        "balances add up to {total} but the UTXO set holds {}",
        chain.total_supply()?
    );

    let blocks = common::best_chain_blocks(&chain)?;
    let fresh = common::recording_verifier(
        &data,
        &task,
        &chain.store().artifact_dir(),
        Backend::DEFAULT,
    )?;
    let valid = common::verify_from_genesis(&params, &blocks, &fresh, common::now()?).is_ok();
    println!("\nBlockchain validation: {valid}");
    ensure!(valid, "the chain failed validation");
    Ok(())
}

fn print_chain(chain: &Chain<Store>, miner: &Wallet) -> Result<()> {
    println!("\n### Blockchain ###");
    for block in common::best_chain_blocks(chain)? {
        println!("Block #{}", block.header.height);
        println!("Hash: {}", block.hash());
        for tx in &block.transactions {
            let from = match tx.inputs.first() {
                Some(input) => common::short(&input.witness.address()),
                None => "coinbase".to_string(),
            };
            for output in &tx.outputs {
                let change = tx
                    .inputs
                    .first()
                    .is_some_and(|i| i.witness.address() == output.address);
                let note = if change {
                    " (change)"
                } else if tx.is_coinbase() && output.address == miner.address() {
                    " (block reward)"
                } else {
                    ""
                };
                println!(
                    "  {from} -> {}: {}{note}",
                    common::short(&output.address),
                    output.amount
                );
            }
        }
        println!("---------------------");
    }
    Ok(())
}

fn print_side_chain(chain: &Chain<Store>) -> Result<()> {
    println!("\n### Mining side chain ###");
    for entry in chain.store().side_chain()? {
        match &entry.artifacts {
            None => println!(
                "#{} {} timestamp {} (genesis: not mined)",
                entry.height, entry.block_hash, entry.timestamp
            ),
            Some(record) => {
                let model = record
                    .file(blockchain_ann::store::ArtifactRole::Model)
                    .map_or("-".to_string(), |f| {
                        format!("{} ({} bytes)", f.path, f.size)
                    });
                println!(
                    "#{} {} timestamp {}\n    task {}\n    steps {}, checkpoint root {}\n    model {}\n    at {}\n    {} artifact files",
                    entry.height,
                    entry.block_hash,
                    entry.timestamp,
                    record.task_id,
                    record.steps,
                    record.checkpoint_root,
                    record.model_hash,
                    model,
                    record.files.len()
                );
            }
        }
    }
    Ok(())
}
