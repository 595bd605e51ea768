//! What the examples share, which is presentation around the libraries: the data directory,
//! logging and errors of a command-line program, progress bars around mining, and the report
//! lines of a re-verification.
//!
//! Each example compiles this module on its own and uses part of it.
#![allow(dead_code)]
#![allow(clippy::print_stderr)] // `main_with` reports the error of a command-line program.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use blockchain_ann::ledger::replay::replay;
use blockchain_ann::ledger::{Address, Block, BlockHash, Chain, ChainParams, ChainStore};
use blockchain_ann::mining::{
    ArtifactStore, Backend, Miner, Mnist, NetworkParams, RecordingVerifier, Task, TrainingVerifier,
    Verified,
};
use blockchain_ann::node::TrainingNode;
pub use blockchain_ann::node::training::MinedIntoStore;
use blockchain_ann::node::training::mine_into_store;
use blockchain_ann::store::Store;
use indicatif::{ProgressBar, ProgressStyle};

/// Training allocates and frees megabyte-sized tensors every step; glibc's malloc hands those
/// back to the kernel each time, and the page faults then cost as much as the arithmetic.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The command-line arguments that pick the task's data.
#[derive(clap::Args, Debug)]
pub struct TaskArgs {
    /// MNIST directory.
    #[arg(long, default_value_os_t = default_data_dir())]
    pub data: PathBuf,
}

/// The MNIST files shipped with the repository.
pub fn default_data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist")
}

/// What the examples log unless `RUST_LOG` says otherwise: this project's INFO, and only
/// warnings from the GPU stack and libp2p (cubecl's autotune cache, wgpu's adapters and
/// libp2p's connection chatter are INFO there).
pub const DEFAULT_LOG_FILTER: &str =
    "info,cubecl=warn,burn=warn,wgpu=warn,naga=warn,libp2p=warn,multistream_select=warn,yamux=warn";

/// Logs through `tracing` to stderr; `RUST_LOG` overrides [`DEFAULT_LOG_FILTER`].
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    // A second initialisation (never done here) would only be refused, so ignoring is safe.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .try_init();
}

/// The body of every example's `main`: logging, argument parsing, and an error shown as one
/// clear message with a non-zero exit status.
pub fn main_with<A: clap::Parser>(run: fn(A) -> Result<()>) {
    init_logging();
    if let Err(error) = run(A::parse()) {
        eprintln!("error: {}", describe(&error));
        std::process::exit(1);
    }
}

/// An error and its causes in one line, each cause named once: a cause whose text an outer
/// message already includes (many errors print their source in their own message) is not
/// repeated.
pub fn describe(error: &anyhow::Error) -> String {
    let mut line = error.to_string();
    for cause in error.chain().skip(1) {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    line
}

/// Seconds since the Unix epoch.
pub fn now() -> Result<u64> {
    Ok(SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the system clock is before 1970")?
        .as_secs())
}

/// Loads the devnet's data set (refused unless it is the MNIST the devnet pins) and the
/// devnet's task on it.
pub fn load_task(data_dir: &Path) -> Result<(Arc<Mnist>, Task)> {
    let network = NetworkParams::devnet();
    let data = network
        .load_data(data_dir)
        .with_context(|| format!("loading MNIST from {}", data_dir.display()))?;
    Ok((Arc::new(data), network.task().clone()))
}

/// Parameters of the local development network used by `mine`, `verify`, `node` and
/// `devnet` (the library's preset: fixed, so a store made by one run resumes in the next).
pub fn devnet_params() -> ChainParams {
    blockchain_ann::node::devnet::params()
}

/// A progress bar of tickets drawn against the tickets a block takes on average.
pub fn mining_progress_bar(expected_tickets: u128) -> ProgressBar {
    let bar = ProgressBar::new(u64::try_from(expected_tickets).unwrap_or(u64::MAX));
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>8} [{bar:30.cyan/blue}] tickets {pos:>6}/{len} expected  {msg}  ({elapsed}, about {eta} to go)",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_prefix("training");
    bar
}

/// Mines `template` on `backend` with a progress bar and makes its artifact record
/// ([`blockchain_ann::node::training::mine_into_store`]): submit the block with it,
/// `chain.submit_block_with(mined.block, mined.record, ..)`.
pub fn mine_block(
    chain: &Chain<Store>,
    data: &Arc<Mnist>,
    task: &Task,
    backend: Backend,
    template: Block,
) -> Result<MinedIntoStore> {
    let artifacts = ArtifactStore::open(chain.store().artifact_dir())?;
    let miner = Miner::with_backend(task.clone(), Arc::clone(data), artifacts, backend)?;
    let bar = mining_progress_bar(template.header.bits.work());
    let started = Instant::now();
    let mined = mine_into_store(chain, &miner, template, |p| {
        bar.set_position(p.tickets);
        let accuracy = p
            .accuracy_bp
            .map_or(String::new(), |a| format!("  a winning ticket at {a} bp"));
        bar.set_message(format!("step {:>6}  loss {:.4}{accuracy}", p.step, p.loss));
        ControlFlow::Continue(())
    })?;
    bar.finish_and_clear();
    tracing::info!(
        steps = mined.mined.header.training.steps,
        tickets = mined.mined.tickets,
        expected_tickets = %mined.mined.header.bits.work(),
        accuracy_bp = mined.mined.accuracy_bp,
        backend = %backend,
        seconds = format!("{:.1}", started.elapsed().as_secs_f64()),
        "trained"
    );
    Ok(mined)
}

/// The full training audit on `backend` with the artifacts in `artifact_dir`, remembering
/// what it measured for reports.
pub fn recording_verifier(
    data: &Arc<Mnist>,
    task: &Task,
    artifact_dir: &Path,
    backend: Backend,
) -> Result<RecordingVerifier> {
    let artifacts = ArtifactStore::open(artifact_dir)?;
    Ok(RecordingVerifier::new(TrainingVerifier::with_backend(
        task.clone(),
        Arc::clone(data),
        artifacts,
        backend,
    )?))
}

/// One block's line in a verification report.
pub struct VerifiedBlock {
    /// Height.
    pub height: u64,
    /// Hash.
    pub hash: BlockHash,
    /// What the audit measured (`None` for genesis, which is not mined).
    pub audit: Option<Verified>,
    /// Time spent on the block.
    pub elapsed: Duration,
}

/// Re-validates `blocks` (a best chain, genesis first) from scratch
/// ([`blockchain_ann::ledger::replay::replay`]): every ledger rule and the full training
/// audit for every mined block. Returns one report line per block, or the first failure.
pub fn verify_from_genesis(
    params: &ChainParams,
    blocks: &[Block],
    verifier: &RecordingVerifier,
    now: u64,
) -> Result<Vec<VerifiedBlock>> {
    let mut report: Vec<VerifiedBlock> = blocks
        .first()
        .map(|genesis| VerifiedBlock {
            height: 0,
            hash: genesis.hash(),
            audit: None,
            elapsed: Duration::ZERO,
        })
        .into_iter()
        .collect();
    let mut started = Instant::now();
    replay(params, blocks, verifier, now, |block| {
        let hash = block.hash();
        report.push(VerifiedBlock {
            height: block.header.height,
            hash,
            audit: verifier.take(&hash),
            elapsed: started.elapsed(),
        });
        started = Instant::now();
    })?;
    Ok(report)
}

/// The best chain of a store, genesis first.
pub fn best_chain_blocks<S: ChainStore>(chain: &Chain<S>) -> Result<Vec<Block>> {
    Ok(chain.best_blocks().collect::<Result<_, _>>()?)
}

/// An address shortened for tables: its first 12 and last 4 characters.
pub fn short(address: &Address) -> String {
    let text = address.to_string();
    if text.len() <= 20 {
        return text;
    }
    format!("{}…{}", &text[..12], &text[text.len() - 4..])
}

/// The environment variable holding the passphrase of encrypted wallet files.
pub const PASSPHRASE_ENV: &str = "ANN_WALLET_PASSPHRASE";

/// The wallet passphrase from [`PASSPHRASE_ENV`], if set (never a command-line argument: those
/// show in `ps` and in shell histories).
pub fn wallet_passphrase() -> Option<blockchain_ann::keys::Secret> {
    std::env::var(PASSPHRASE_ENV)
        .ok()
        .filter(|p| !p.is_empty())
        .map(blockchain_ann::keys::Secret::new)
}

/// The wallet in `path` (opened with [`wallet_passphrase`] if it is encrypted), or a new
/// ed25519 one made with OS randomness and saved there (an existing file keeps its kind;
/// `keygen --kind ml-dsa-65` writes a post-quantum one).
pub fn load_or_create_wallet(path: &Path) -> Result<blockchain_ann::ledger::Wallet> {
    use blockchain_ann::keys::{KeyKind, OsEntropy};
    let (key, created) = blockchain_ann::keys::load_or_create_wallet(
        path,
        &mut OsEntropy,
        KeyKind::Ed25519,
        wallet_passphrase().as_ref(),
    )
    .with_context(|| {
        format!(
            "the wallet {} (an encrypted one opens with {PASSPHRASE_ENV})",
            path.display()
        )
    })?;
    if created {
        tracing::info!(wallet = %path.display(), "created a new wallet");
    }
    Ok(key.wallet())
}

/// Opens (or creates) a devnet store in `dir` with the parts of a proof-of-training node on
/// it, mining on `backend`, with `progress` showing the miner's tickets.
pub fn training_node(
    dir: &Path,
    data: &Arc<Mnist>,
    task: &Task,
    backend: Backend,
    progress: Option<ProgressBar>,
) -> Result<TrainingNode> {
    let mut node = TrainingNode::open(
        dir,
        devnet_params(),
        Arc::clone(data),
        task.clone(),
        backend,
    )
    .with_context(|| format!("opening the node's store in {}", dir.display()))?;
    if let Some(bar) = progress {
        node.miner = node.miner.with_observer(move |p| {
            bar.set_length(u64::try_from(p.expected_tickets).unwrap_or(u64::MAX));
            bar.set_position(p.tickets);
            bar.set_message(format!("step {:>6}  loss {:.4}", p.step, p.loss));
        });
    }
    Ok(node)
}
