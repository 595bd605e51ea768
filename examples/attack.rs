//! Shows forgeries being rejected, each with the error the validator gives: a proof of training
//! reused for another block, a tampered training artifact, a checkpoint holding a value the exact
//! step never produces, a double spend, a forged signature and a spend signed with the wrong key. Exits non-zero if any forgery is accepted.
//!
//! ```sh
//! cargo run --release --example attack
//! ```

// A command-line program: its output is the point.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use anyhow::{Context, Result, bail};
use blockchain_ann::ledger::{
    Amount, Chain, ChainParams, Mempool, ModelHash, Transaction, TxOut, Wallet, merkle_root,
};
use blockchain_ann::mining::{ArtifactStore, Backend, Trace, TrainingVerifier, WeightsHash};
use blockchain_ann::store::Store;
use clap::Parser;
use common::RecordingVerifier;
use ed25519_dalek::SigningKey;

#[derive(Parser, Debug)]
#[command(about = "Try forgeries against a freshly mined chain and show each rejection.")]
struct Args {
    #[command(flatten)]
    task: common::TaskArgs,
}

fn main() {
    common::main_with::<Args>(run);
}

/// Prints the outcome of one forgery; an accepted forgery is an error.
fn expect_rejected<T, E: std::fmt::Display>(name: &str, outcome: Result<T, E>) -> Result<()> {
    match outcome {
        Ok(_) => bail!("{name}: the forgery was ACCEPTED"),
        Err(e) => {
            println!("[rejected] {name}\n           {e}");
            Ok(())
        }
    }
}

fn run(args: Args) -> Result<()> {
    let (data, task) = common::load_task(&args.task.data)?;
    let alice = Wallet::new(SigningKey::from_bytes(&[0xA1; 32]));
    let bob = Wallet::new(SigningKey::from_bytes(&[0xB0; 32]));
    let mallory = Wallet::new(SigningKey::from_bytes(&[0x3A; 32]));
    let coins = |n: u64| Amount::from_coins(n).context("amount");
    let now = common::now()?;
    let params = ChainParams::new(
        vec![TxOut {
            amount: coins(10)?,
            address: alice.address(),
        }],
        now.saturating_sub(600),
        common::target(args.task.target_bp)?,
    );
    let dir = tempfile::tempdir()?;
    let mut chain = Chain::open(params, Store::open(dir.path())?)?;
    let artifact_dir = chain.store().artifact_dir();
    let verifier = RecordingVerifier::new(&data, &task, &artifact_dir, Backend::DEFAULT)?;

    println!("Mining block 1 honestly (Alice pays Bob 3 coins)...");
    let mut mempool = Mempool::new();
    mempool.add(
        alice.pay(&chain, None, bob.address(), coins(3)?, Amount::ZERO)?,
        &chain,
    )?;
    let template = chain.block_template(&mempool, mallory.address(), now);
    let (block1, _) = common::mine_block(&chain, &data, &task, Backend::DEFAULT, template)?;
    chain.submit_block(block1.clone(), now, &verifier)?;
    println!("block 1 {} accepted\n", chain.tip());

    // 1. The original's flaw: one trained model presented again for the next block.
    let mut reused = chain.block_template(&Mempool::new(), mallory.address(), now + 1);
    reused.header.training = block1.header.training;
    expect_rejected(
        "a proof of training reused for block 2",
        chain.submit_block(reused, now + 1, &verifier),
    )?;

    // 2. A training artifact altered on disk after the block was accepted.
    let artifacts = ArtifactStore::open(&artifact_dir)?;
    let model_path =
        artifacts.checkpoint_path(&WeightsHash(*block1.header.training.model_hash.as_bytes()));
    let original = std::fs::read(&model_path)?;
    let mut tampered = original.clone();
    if let Some(byte) = tampered.get_mut(1000) {
        *byte ^= 0x01;
    }
    std::fs::write(&model_path, &tampered)?;
    let audit = TrainingVerifier::new(task.clone(), data.clone(), artifacts)?;
    expect_rejected(
        "block 1 re-verified with one bit of its model file flipped",
        audit.verify(&block1.header),
    )?;
    std::fs::write(&model_path, &original)?;

    // 3. A recommitted trace whose final model holds a value the exact step never produces
    // (the bits of an f32 NaN): refused before any tensor is built from it.
    let training = &block1.header.training;
    let artifacts = audit.store();
    let trace = artifacts.get_trace(
        &training.checkpoint_root,
        task.checkpoints_for(training.steps),
    )?;
    let mut poisoned = artifacts.get_checkpoint(&WeightsHash(*training.model_hash.as_bytes()))?;
    if let Some(master) = poisoned.hidden_weight.first_mut() {
        *master = f32::NAN.to_bits() as i32;
    }
    let mut checkpoints = trace.checkpoints().to_vec();
    if let Some(last) = checkpoints.last_mut() {
        *last = artifacts.put_checkpoint(&poisoned)?;
    }
    let forged = Trace::new(checkpoints);
    let mut header = block1.header.clone();
    header.training.checkpoint_root = artifacts.put_trace(&forged)?;
    header.training.model_hash = ModelHash::from_bytes(forged.checkpoints()[forged.segments()].0);
    expect_rejected(
        "block 1 recommitted with a NaN bit pattern in its final model",
        audit.verify(&header),
    )?;

    // 4. Alice spends the same 7 coins twice, to Bob and to Mallory, in one block.
    let to_bob = alice.pay(&chain, None, bob.address(), coins(7)?, Amount::ZERO)?;
    let to_mallory = alice.pay(&chain, None, mallory.address(), coins(7)?, Amount::ZERO)?;
    let mut pool = Mempool::new();
    pool.add(to_bob.clone(), &chain)?;
    expect_rejected(
        "the second spend offered to the mempool",
        pool.add(to_mallory.clone(), &chain),
    )?;
    let mut double = chain.block_template(&pool, mallory.address(), now + 2);
    double.transactions.push(to_mallory);
    let txids: Vec<_> = double.transactions.iter().map(Transaction::txid).collect();
    double.header.merkle_root = merkle_root(&txids);
    expect_rejected(
        "a block spending the same output twice (caught before any training is checked)",
        chain.submit_block(double, now + 2, &verifier),
    )?;

    // 5. Mallory redirects Alice's signed payment to herself.
    let mut redirected = to_bob;
    if let Some(output) = redirected.outputs.first_mut() {
        output.address = mallory.address();
    }
    expect_rejected(
        "Alice's payment with its recipient changed",
        Mempool::new().add(redirected, &chain),
    )?;

    // 6. Mallory signs a spend of Alice's coins with her own key.
    let alice_coin = alice
        .utxos(&chain)
        .first()
        .map(|(o, _)| *o)
        .context("Alice has coins")?;
    let stolen = Transaction::new_signed(
        &[(alice_coin, &SigningKey::from_bytes(&[0x3A; 32]))],
        vec![TxOut {
            amount: coins(7)?,
            address: mallory.address(),
        }],
    );
    expect_rejected(
        "a spend of Alice's coins signed by Mallory",
        Mempool::new().add(stolen, &chain),
    )?;

    println!(
        "\nEvery forgery was rejected; balances: Alice {}, Bob {}, Mallory {}.",
        alice.balance(&chain),
        bob.balance(&chain),
        mallory.balance(&chain)
    );
    Ok(())
}
