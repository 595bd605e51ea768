//! Shows forgeries being rejected, each with the error the validator gives: a proof of training
//! reused for another block, a mined block re-stamped into another, a trace padded with free
//! (no-op) segments, a side block forking below the reorganisation window, a bogus proof in a
//! block of bad signatures (refused before any signature is checked), a tampered training
//! artifact, a checkpoint holding a value the exact step never produces, a double spend, a
//! forged signature, a spend signed with the wrong key, and against the post-quantum
//! (ML-DSA-65) kind a forged signature and two malleated ones, a block dated two hours ahead
//! (which on the main preset once cut the next block's work by four), and calls to a node's
//! wallet RPC without credentials, from a web page and through DNS rebinding. Exits non-zero if
//! any forgery is accepted.
//!
//! The chain runs at the regression-test difficulty (every ticket wins) so that each forgery
//! meets the proof checks themselves rather than losing the lottery first.
//!
//! ```sh
//! cargo run --release --example attack
//! ```

// A command-line program: its output is the point.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use anyhow::{Context, Result, bail};
use blockchain_ann::ledger::validation::{HeaderContext, check_header};
use blockchain_ann::ledger::{
    Amount, BlockHeader, Chain, ChainParams, Decode, Difficulty, Encode, Mempool,
    MlDsa65SigningKey, ModelHash, Transaction, TxIn, TxOut, Wallet, Witness, merkle_root,
};
use blockchain_ann::mining::trace::segment_key;
use blockchain_ann::mining::training::Trainer;
use blockchain_ann::mining::verifier::{audit_challenge, audited_segments};
use blockchain_ann::mining::{
    ArtifactStore, AuditProof, Backend, Task, Trace, TrainingVerifier, Weights,
};
use blockchain_ann::node::{NodeConfig, regtest};
use blockchain_ann::store::Store;
use clap::Parser;
use ed25519_dalek::SigningKey;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Try forgeries against a freshly mined chain and show each rejection."
)]
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
    let alice_key = SigningKey::from_bytes(&[0xA1; 32]);
    let alice = Wallet::new(alice_key.clone());
    let bob = Wallet::new(SigningKey::from_bytes(&[0xB0; 32]));
    let mallory_key = SigningKey::from_bytes(&[0x3A; 32]);
    let mallory = Wallet::new(mallory_key.clone());
    // Carol's coins are locked to a post-quantum (ML-DSA-65) key.
    let carol = Wallet::with_key(MlDsa65SigningKey::from_seed(&[0xCA; 32]));
    let coins = |n: u64| Amount::from_coins(n).context("amount");
    let now = common::now()?;
    let mut params = ChainParams::new(
        vec![
            TxOut {
                amount: coins(10)?,
                address: alice.address(),
            },
            TxOut {
                amount: coins(10)?,
                address: carol.address(),
            },
        ],
        now.saturating_sub(600),
        Difficulty::regtest(),
    );
    params.max_reorg_depth = 1;
    let dir = tempfile::tempdir()?;
    let mut chain = Chain::open(params, Store::open(dir.path())?)?;
    let artifact_dir = chain.store().artifact_dir();
    let verifier = common::recording_verifier(&data, &task, &artifact_dir, Backend::DEFAULT)?;

    println!("Mining block 1 honestly (Alice pays Bob 3 coins)...");
    let mut mempool = Mempool::new();
    mempool.add(
        alice.pay(&chain, None, bob.address(), coins(3)?, Amount::ZERO)?,
        &chain,
    )?;
    let template = chain.block_template(&mempool, mallory.address(), now)?;
    let mined1 = common::mine_block(&chain, &data, &task, Backend::DEFAULT, template)?;
    let block1 = mined1.block.clone();
    chain.submit_block_with(mined1.block, mined1.record, now, &verifier)?;
    println!("block 1 {} accepted\n", chain.tip());

    // 1. The original's flaw: one trained model presented again for the next block.
    let mut reused = chain.block_template(&Mempool::new(), mallory.address(), now + 1)?;
    reused.header.training = block1.header.training;
    expect_rejected(
        "a proof of training reused for block 2",
        chain.submit_block(reused, now + 1, &verifier),
    )?;

    // 2. Block 1 re-stamped: a new timestamp makes a new block hash, but the training seed
    // covers the timestamp, so the proof no longer starts from the block's W0.
    let mut restamped = block1.clone();
    restamped.header.timestamp += 1;
    expect_rejected(
        "block 1 re-stamped one second later (a second block from one mining run)",
        chain.submit_block(restamped, now, &verifier),
    )?;

    // 3. A trace padded with free segments: after block 1's trace, weights that training
    // cannot move (every hidden unit dead) repeated 2,000 times, then block 1's final model
    // and one more honest segment. Before, the audit missed the fake segments 99.6 % of the
    // time (a dead network replayed to itself); now an audited padding segment either does
    // not replay (training moves the output bias) or, were it a true fixed point, is idle,
    // and is not live: the audit lands on one almost surely.
    let artifacts = ArtifactStore::open(&artifact_dir)?;
    let padded = padded_trace(&task, &data, &artifacts, &block1.header)?;
    expect_rejected(
        "block 1's proof padded with 2,000 no-op segments of a dead network",
        TrainingVerifier::new(task.clone(), data.clone(), artifacts.clone())?.verify(&padded),
    )?;

    // 4. Cheap junk: a block forking from genesis (two blocks below the tip, outside the
    // reorganisation window of 1) whose input never existed: refused on its work alone,
    // before its transactions are looked at, and not stored.
    let template = chain.block_template(&Mempool::new(), mallory.address(), now + 1)?;
    let mined2 = common::mine_block(&chain, &data, &task, Backend::DEFAULT, template)?;
    chain.submit_block_with(mined2.block, mined2.record, now + 1, &verifier)?;
    let genesis = chain.block_at(0)?.context("genesis")?.clone();
    let mut deep = block1.clone();
    deep.header.prev_hash = genesis.hash();
    deep.transactions.push(junk_spend(&mallory_key, coins(1)?));
    let txids: Vec<_> = deep.transactions.iter().map(Transaction::txid).collect();
    deep.header.merkle_root = merkle_root(&txids);
    let stored = chain.block_count()?;
    expect_rejected(
        "a side block from far below the tip, spending coins that never existed",
        chain.submit_block(deep, now + 1, &verifier),
    )?;
    anyhow::ensure!(chain.block_count()? == stored, "the junk block was stored");

    // 5. A block with a bogus proof (no artifacts behind its commitment) and a transaction
    // with a garbage signature: refused by the proof's pre-checks, before any signature.
    let mut junk = chain.block_template(&Mempool::new(), mallory.address(), now + 2)?;
    junk.transactions.push(junk_spend(&alice_key, coins(1)?));
    let txids: Vec<_> = junk.transactions.iter().map(Transaction::txid).collect();
    junk.header.merkle_root = merkle_root(&txids);
    junk.header.training = block1.header.training;
    junk.header.training.model_hash = ModelHash::from_bytes([0x5a; 32]);
    expect_rejected(
        "a block with a bogus proof and a garbage signature (no signature checked)",
        chain.submit_block(junk, now + 2, &verifier),
    )?;

    // 6. A training artifact altered on disk after the block was accepted.
    let model_path = artifacts.checkpoint_path(&block1.header.training.model_hash);
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

    // 7. A recommitted trace whose final model holds a value the exact step never produces
    // (the bits of an f32 NaN): refused before any tensor is built from it.
    let training = &block1.header.training;
    let artifacts = audit.store();
    let trace = artifacts.get_trace(
        &training.checkpoint_root,
        task.checkpoints_for(training.steps),
    )?;
    let mut poisoned = artifacts.get_checkpoint(&training.model_hash)?;
    if let Some(master) = poisoned.hidden_weight.first_mut() {
        *master = f32::NAN.to_bits() as i32;
    }
    let mut checkpoints = trace.checkpoints().to_vec();
    if let Some(last) = checkpoints.last_mut() {
        *last = artifacts.put_checkpoint(&poisoned)?;
    }
    let header = recommit(&task, artifacts, &block1.header, Trace::new(checkpoints))?;
    expect_rejected(
        "block 1 recommitted with a NaN bit pattern in its final model",
        audit.verify(&header),
    )?;

    // 8. Alice spends the same 7 coins twice, to Bob and to Mallory, in one block.
    let to_bob = alice.pay(&chain, None, bob.address(), coins(7)?, Amount::ZERO)?;
    let to_mallory = alice.pay(&chain, None, mallory.address(), coins(7)?, Amount::ZERO)?;
    let mut pool = Mempool::new();
    pool.add(to_bob.clone(), &chain)?;
    expect_rejected(
        "the second spend offered to the mempool",
        pool.add(to_mallory.clone(), &chain),
    )?;
    let mut double = chain.block_template(&pool, mallory.address(), now + 2)?;
    double.transactions.push(to_mallory);
    let txids: Vec<_> = double.transactions.iter().map(Transaction::txid).collect();
    double.header.merkle_root = merkle_root(&txids);
    expect_rejected(
        "a block spending the same output twice (its body alone, no training checked)",
        blockchain_ann::ledger::validation::check_block_body(&double),
    )?;

    // 9. Mallory redirects Alice's signed payment to herself.
    let mut redirected = to_bob;
    if let Some(output) = redirected.outputs.first_mut() {
        output.address = mallory.address();
    }
    expect_rejected(
        "Alice's payment with its recipient changed",
        Mempool::new().add(redirected, &chain),
    )?;

    // 10. Mallory signs a spend of Alice's coins with her own key.
    let alice_coin = alice
        .utxos(&chain)?
        .first()
        .map(|(o, _)| *o)
        .context("Alice has coins")?;
    let stolen = Transaction::new_signed(
        &[(alice_coin, &mallory_key)],
        vec![TxOut {
            amount: coins(7)?,
            address: mallory.address(),
        }],
    );
    expect_rejected(
        "a spend of Alice's coins signed by Mallory",
        Mempool::new().add(stolen, &chain),
    )?;

    post_quantum_forgeries(&chain, &carol, &mallory)?;

    // 14. Block 1's successor dated two hours ahead, checked against the main preset's rule:
    // under ASERT (half-life 1 hour) it would make the next block's target 4x easier.
    let main = Difficulty::main();
    let mut ahead = block1.header.clone();
    ahead.height += 1;
    ahead.prev_hash = block1.header.hash();
    ahead.timestamp = now + 2 * 60 * 60;
    expect_rejected(
        &format!(
            "a block dated 2 hours ahead on the main preset (the drift is now {} s: one block's \
             timestamp eases the next target by at most {:.1} %)",
            main.max_future_drift_secs,
            (main.max_timestamp_gain() - 1.0) * 100.0
        ),
        check_header(
            &ahead,
            &HeaderContext {
                parent: &block1.header,
                median_time_past: block1.header.timestamp,
                required_target: ahead.bits,
                now,
                max_future_drift_secs: main.max_future_drift_secs,
            },
        ),
    )?;

    rpc_forgeries(&mallory)?;

    println!(
        "\nEvery forgery was rejected; balances: Alice {}, Bob {}, Carol {}, Mallory {}.",
        alice.balance(&chain)?,
        bob.balance(&chain)?,
        carol.balance(&chain)?,
        mallory.balance(&chain)?
    );
    Ok(())
}

/// 11-13: forgeries against an ML-DSA-65 wallet. Mallory signs with her own post-quantum key
/// under Carol's public key; then she changes Carol's honest signature, once inside `z` (a
/// different signature) and once in the hint's zero padding (the same signature written a
/// second way, which a lax decoder would accept under a new txid).
fn post_quantum_forgeries(chain: &Chain<Store>, carol: &Wallet, mallory: &Wallet) -> Result<()> {
    let coins = |n: u64| Amount::from_coins(n).context("amount");
    let honest = carol.pay(chain, None, mallory.address(), coins(1)?, Amount::ZERO)?;
    Mempool::new()
        .add(honest.clone(), chain)
        .context("Carol's honest post-quantum payment")?;

    let mut forged = honest.clone();
    let mallory_key = MlDsa65SigningKey::from_seed(&[0x3A; 32]);
    if let Some(Witness::MlDsa65 { signature, .. }) =
        forged.inputs.first_mut().map(|i| &mut i.witness)
    {
        *signature = mallory_key.sign_digest(&honest.signing_digest());
    }
    expect_rejected(
        "a spend of Carol's post-quantum coins signed by Mallory's ML-DSA-65 key",
        Mempool::new().add(forged, chain),
    )?;

    // The one input's signature starts after the version, the input count, the outpoint, the
    // kind tag and the 1,952-byte key; its hint (55 index bytes, then 6 counts) ends it.
    let bytes = honest.encode();
    let signature_at = 4 + 4 + 36 + 1 + 1952;
    let hint_at = signature_at + 3309 - 61;
    let mut flipped = bytes.clone();
    flipped[signature_at + 100] ^= 0x01;
    let outcome = Transaction::decode(&flipped)
        .map_err(anyhow::Error::from)
        .and_then(|tx| Mempool::new().add(tx, chain).map_err(anyhow::Error::from));
    expect_rejected(
        "Carol's payment with one bit of its ML-DSA-65 signature's z flipped",
        outcome,
    )?;

    let used = usize::from(bytes[hint_at + 60]);
    anyhow::ensure!(used < 55, "a signature with every hint slot used");
    let mut padded = bytes;
    padded[hint_at + used] = 1;
    expect_rejected(
        "Carol's payment re-encoded with a non-zero hint padding byte (same signature, new txid)",
        Transaction::decode(&padded),
    )?;
    Ok(())
}

/// 15-17: a regtest node's wallet RPC asked to mine (`generate`) without credentials, by a page
/// of attacker.example whose name now resolves to 127.0.0.1 (DNS rebinding), and by a page
/// elsewhere through the browser (a foreign `Origin`). Nothing may run.
fn rpc_forgeries(mallory: &Wallet) -> Result<()> {
    let params = ChainParams::new(Vec::new(), common::now()?, Difficulty::regtest());
    let chain = Chain::new(params)?;
    let config = NodeConfig::local(chain.tip(), mallory.address());
    let node = regtest::start_node(config, chain, 0x3A)?;
    let handle = node.handle();
    let address = handle.rpc_address().context("the node has an RPC server")?;
    let host = address.to_string();
    let generate = r#"{"jsonrpc":"2.0","id":1,"method":"generate","params":[2]}"#;
    let attempts: [(&str, &[(&str, &str)]); 3] = [
        (
            "the wallet RPC asked to mine without credentials",
            &[("Host", &host)],
        ),
        (
            "the wallet RPC asked to mine by a page of attacker.example re-pointed at 127.0.0.1",
            &[("Host", "attacker.example")],
        ),
        (
            "the wallet RPC asked to mine by a web page elsewhere (a foreign Origin)",
            &[("Host", &host), ("Origin", "https://attacker.example")],
        ),
    ];
    for (name, headers) in attempts {
        let status = raw_post(address, headers, generate)?;
        let outcome = if status == 200 {
            Ok(())
        } else {
            Err(format!("HTTP {status}, nothing ran"))
        };
        expect_rejected(name, outcome)?;
    }
    anyhow::ensure!(
        handle.chain_info()?.blocks == 0,
        "a refused RPC call mined blocks"
    );
    node.shutdown();
    Ok(())
}

/// One HTTP/1.1 POST with exactly `headers` (a browser's or an attacker's); the status.
fn raw_post(address: std::net::SocketAddr, headers: &[(&str, &str)], body: &str) -> Result<u16> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(address)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    let mut request = format!(
        "POST / HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    answer
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .with_context(|| format!("not an HTTP answer: {answer:?}"))
}

/// Commits `header` to `trace`: stores the trace and the audit proof its new challenge draws,
/// and points the commitment at them.
fn recommit(
    task: &Task,
    artifacts: &ArtifactStore,
    header: &BlockHeader,
    trace: Trace,
) -> Result<BlockHeader> {
    let mut header = header.clone();
    let segments = trace.segments();
    header.training.checkpoint_root = artifacts.put_trace(&trace)?;
    header.training.steps = segments as u64 * u64::from(task.checkpoint_interval);
    header.training.model_hash = trace.checkpoints()[segments];
    let audited = audited_segments(
        &audit_challenge(&header),
        segments as u64,
        task.audit_segments,
    );
    let mut indices = vec![0, segments];
    for segment in audited {
        indices.extend([segment as usize, segment as usize + 1]);
    }
    let proof = AuditProof::from_trace(&trace, &indices).context("openings in range")?;
    artifacts.put_proof(&header.training.checkpoint_root, &proof)?;
    Ok(header)
}

/// The padded-trace forgery: block 1's trace, then a dead network repeated 2,000 times (free
/// segments), then block 1's final model again (trained elsewhere: free), then one honest
/// segment from it, recommitted.
fn padded_trace(
    task: &Task,
    data: &std::sync::Arc<blockchain_ann::mining::Mnist>,
    artifacts: &ArtifactStore,
    header: &BlockHeader,
) -> Result<BlockHeader> {
    let training = &header.training;
    let trace = artifacts.get_trace(
        &training.checkpoint_root,
        task.checkpoints_for(training.steps),
    )?;
    // First-layer weights near zero and every hidden bias at its negative limit: every hidden
    // unit is zero for every input, so the first layer never gets an update.
    let mut dead = Weights::initial(&[0xDE; 32], &task.arithmetic);
    let bias_min = i32::try_from(task.arithmetic.hidden_bias.master_min()).unwrap_or(i32::MIN);
    dead.hidden_bias.fill(bias_min);
    dead.hidden_weight.fill(0);
    let dead_hash = artifacts.put_checkpoint(&dead)?;
    let mut checkpoints = trace.checkpoints().to_vec();
    let model = *checkpoints
        .last()
        .context("a trace has a last checkpoint")?;
    checkpoints.extend(std::iter::repeat_n(dead_hash, 2_000));
    checkpoints.push(model);
    // The one honest segment: trained from the reused model with the consensus data key.
    let index = checkpoints.len() as u64 - 1;
    let key = segment_key(&header.training_seed(), index, &model);
    let mut trainer = Trainer::new(
        task,
        std::sync::Arc::clone(data),
        &Backend::DEFAULT.device(),
    );
    let start = artifacts.get_checkpoint(&model)?;
    let (last, _) = trainer.train_segment(trainer.model(&start), &key)?;
    checkpoints.push(artifacts.put_checkpoint(&last.weights()?)?);
    recommit(task, artifacts, header, Trace::new(checkpoints))
}

/// A spend of an output that never existed, with a garbage signature.
fn junk_spend(signer: &SigningKey, amount: Amount) -> Transaction {
    Transaction {
        version: 1,
        inputs: vec![TxIn::ed25519(
            blockchain_ann::ledger::OutPoint {
                txid: blockchain_ann::ledger::Txid::from_bytes([0xee; 32]),
                vout: 0,
            },
            signer.verifying_key(),
            ed25519_dalek::Signature::from_bytes(&[7; 64]),
        )],
        outputs: vec![TxOut {
            amount,
            address: blockchain_ann::ledger::Address::from_verifying_key(&signer.verifying_key()),
        }],
        coinbase_height: None,
    }
}
