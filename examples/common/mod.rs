//! What the examples share: the data directory, logging, the devnet parameters, mining a block
//! into a store with a progress bar, and re-verifying a chain from genesis.
//!
//! Each example compiles this module on its own and uses part of it.
#![allow(dead_code)]
#![allow(clippy::print_stderr)] // `main_with` reports the error of a command-line program.

use std::cell::RefCell;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use blockchain_ann::ledger::{
    Address, Block, BlockHash, BlockHeader, Chain, ChainParams, ChainStore, ImportOutcome,
    MemoryChainStore, ProofVerifier,
};
use blockchain_ann::mining::{
    ArtifactStore, Backend, MinedBlock, Miner, Mnist, ProofError, Task, TrainingVerifier, Verified,
    WeightsHash,
};
use blockchain_ann::store::{ArtifactRole, Store};
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

/// Logs through `tracing` to stderr; `RUST_LOG` overrides the level (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
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
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> Result<u64> {
    Ok(SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the system clock is before 1970")?
        .as_secs())
}

/// Loads MNIST and the chain's task on it.
pub fn load_task(data_dir: &Path) -> Result<(Arc<Mnist>, Task)> {
    let data = Mnist::load(data_dir)
        .with_context(|| format!("loading MNIST from {}", data_dir.display()))?;
    let task = Task::mnist(data.hash());
    Ok((Arc::new(data), task))
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

/// Mines `template` on `backend` with a progress bar, writing the artifacts into the store's
/// artifact directory, and stages the side-chain record so that it is committed together with
/// the block. Returns the mined block.
pub fn mine_block(
    chain: &Chain<Store>,
    data: &Arc<Mnist>,
    task: &Task,
    backend: Backend,
    mut template: Block,
) -> Result<(Block, MinedBlock)> {
    let artifacts = ArtifactStore::open(chain.store().artifact_dir())?;
    let miner = Miner::with_backend(task.clone(), Arc::clone(data), artifacts.clone(), backend)?;
    let bar = mining_progress_bar(template.header.bits.work());
    let started = Instant::now();
    let mined = miner.mine(&template.header, |p| {
        bar.set_position(p.tickets);
        let accuracy = p
            .accuracy_bp
            .map_or(String::new(), |a| format!("  a winning ticket at {a} bp"));
        bar.set_message(format!("step {:>6}  loss {:.4}{accuracy}", p.step, p.loss));
        ControlFlow::Continue(())
    })?;
    bar.finish_and_clear();
    tracing::info!(
        steps = mined.header.training.steps,
        tickets = mined.tickets,
        expected_tickets = %mined.header.bits.work(),
        accuracy_bp = mined.accuracy_bp,
        backend = %backend,
        seconds = format!("{:.1}", started.elapsed().as_secs_f64()),
        "trained"
    );
    template.header = mined.header.clone();

    let store = chain.store();
    let mut files = vec![
        store.artifact_file(
            ArtifactRole::Model,
            artifacts.checkpoint_path(&WeightsHash(*mined.header.training.model_hash.as_bytes())),
        )?,
        store.artifact_file(
            ArtifactRole::Proof,
            artifacts.dir().join(ArtifactStore::proof_name(
                &mined.header.training.checkpoint_root,
            )),
        )?,
        store.artifact_file(
            ArtifactRole::Trace,
            artifacts.trace_path(&mined.header.training.checkpoint_root),
        )?,
    ];
    // The checkpoints the audit proof opens and the miner wrote (W0 is regenerated).
    let proof = artifacts.get_proof(&mined.header.training.checkpoint_root)?;
    let last = mined.trace.segments() as u64;
    for opening in proof.openings() {
        let path = artifacts.checkpoint_path(&opening.checkpoint);
        if opening.index != 0 && opening.index != last && path.exists() {
            files.push(store.artifact_file(ArtifactRole::Checkpoint, path)?);
        }
    }
    store.stage_artifacts(&template.header, files)?;
    Ok((template, mined))
}

/// A [`ProofVerifier`] that runs the full training audit and remembers what it measured, so
/// that a report can show it without verifying twice.
pub struct RecordingVerifier {
    inner: TrainingVerifier,
    last: RefCell<Option<Verified>>,
}

impl RecordingVerifier {
    /// Audits on `backend` (any backend gives the same bits) with the artifacts in
    /// `artifact_dir`.
    pub fn new(
        data: &Arc<Mnist>,
        task: &Task,
        artifact_dir: &Path,
        backend: Backend,
    ) -> Result<Self> {
        let store = ArtifactStore::open(artifact_dir)?;
        Ok(Self {
            inner: TrainingVerifier::with_backend(task.clone(), Arc::clone(data), store, backend)?,
            last: RefCell::new(None),
        })
    }

    /// What the last successful verification measured.
    pub fn take_last(&self) -> Option<Verified> {
        self.last.borrow_mut().take()
    }
}

impl ProofVerifier for RecordingVerifier {
    type Error = ProofError;

    fn precheck(&self, header: &BlockHeader) -> Result<(), ProofError> {
        self.inner.precheck(header).map(|_| ())
    }

    fn verify_proof(&self, header: &BlockHeader) -> Result<(), ProofError> {
        let verified = self.inner.verify(header)?;
        *self.last.borrow_mut() = Some(verified);
        Ok(())
    }
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

/// Re-validates `blocks` (a best chain, genesis first) from scratch in a fresh in-memory chain:
/// every ledger rule and the full training audit for every mined block. Returns one report line
/// per block, or the first failure.
pub fn verify_from_genesis(
    params: &ChainParams,
    blocks: &[Block],
    verifier: &RecordingVerifier,
    now: u64,
) -> Result<Vec<VerifiedBlock>> {
    let Some((genesis, rest)) = blocks.split_first() else {
        bail!("the chain is empty");
    };
    let mut chain = Chain::open(params.clone(), MemoryChainStore::new())?;
    if genesis.hash() != chain.tip() {
        bail!(
            "the stored genesis {} is not the genesis of these parameters {}",
            genesis.hash(),
            chain.tip()
        );
    }
    let mut report = vec![VerifiedBlock {
        height: 0,
        hash: genesis.hash(),
        audit: None,
        elapsed: Duration::ZERO,
    }];
    for block in rest {
        let started = Instant::now();
        let hash = block.hash();
        let height = block.header.height;
        match chain.submit_block(block.clone(), now, verifier) {
            Ok(ImportOutcome::AlreadyKnown) => bail!("block {height} ({hash}) appears twice"),
            Ok(_) if chain.tip() == hash => {}
            Ok(_) => bail!("block {height} ({hash}) does not extend the chain"),
            Err(e) => return Err(e).with_context(|| format!("block {height} ({hash})")),
        }
        report.push(VerifiedBlock {
            height,
            hash,
            audit: verifier.take_last(),
            elapsed: started.elapsed(),
        });
    }
    Ok(report)
}

/// The best chain of a store, genesis first.
pub fn best_chain_blocks<S: ChainStore>(chain: &Chain<S>) -> Vec<Block> {
    chain
        .best_chain()
        .iter()
        .filter_map(|hash| chain.block(hash).cloned())
        .collect()
}

/// An address shortened for tables: its first 12 and last 4 characters.
pub fn short(address: &Address) -> String {
    let text = address.to_string();
    if text.len() <= 20 {
        return text;
    }
    format!("{}…{}", &text[..12], &text[text.len() - 4..])
}

/// Where private keys come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum KeySource {
    /// The operating system's random number generator.
    Os,
    /// A simulated biased qubit (seeded: the same seed gives the same raw bits), health-tested,
    /// conditioned and mixed with OS randomness like a real one.
    Simulated,
    /// IBM Quantum (Qiskit Runtime REST API); needs `IBM_QUANTUM_API_KEY`,
    /// `IBM_QUANTUM_INSTANCE` and `IBM_QUANTUM_BACKEND`.
    Ibm,
    /// ANU Quantum Numbers; needs `ANU_QRNG_API_KEY`.
    Anu,
}

impl KeySource {
    /// IBM or ANU when their credentials are in the environment, else the simulated qubit.
    pub fn from_environment() -> KeySource {
        let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        if set(blockchain_ann::keys::ibm::ENV_API_KEY) {
            KeySource::Ibm
        } else if set(blockchain_ann::keys::anu::ENV_API_KEY) {
            KeySource::Anu
        } else {
            KeySource::Simulated
        }
    }

    /// An entropy source of this kind; `seed` seeds the simulated qubit.
    pub fn open(self, seed: [u8; 32]) -> Result<Box<dyn blockchain_ann::keys::EntropySource>> {
        use blockchain_ann::keys::{AnuQrng, Conditioned, IbmQuantum, OsEntropy, SimulatedQubit};
        Ok(match self {
            KeySource::Os => Box::new(OsEntropy),
            KeySource::Simulated => Box::new(Conditioned::new(SimulatedQubit::new(
                seed,
                SimulatedQubit::TYPICAL_P_ONE,
            ))?),
            KeySource::Ibm => Box::new(Conditioned::new(IbmQuantum::from_env()?)?),
            KeySource::Anu => Box::new(Conditioned::new(AnuQrng::from_env()?)?),
        })
    }
}

/// What a proof-of-training node needs besides its configuration.
pub struct TrainingNodeParts {
    /// The chain, resumed from its store.
    pub chain: Chain<Store>,
    /// The full training audit.
    pub verifier: TrainingVerifier,
    /// The store's artifact directory, as the network's artifact source.
    pub artifacts: blockchain_ann::node::TrainingArtifacts,
    /// A miner training on `backend`, with a progress bar when asked.
    pub miner: Box<dyn blockchain_ann::node::BlockMiner>,
}

impl TrainingNodeParts {
    /// Starts a node of these parts (mining only if `config.mine`, or on `generate`).
    pub fn start(
        self,
        config: blockchain_ann::node::NodeConfig,
    ) -> Result<blockchain_ann::node::Node> {
        Ok(blockchain_ann::node::Node::start(
            config,
            self.chain,
            self.verifier,
            self.artifacts,
            Some(self.miner),
        )?)
    }
}

/// The wallet in `path`, or a new one made with OS randomness and saved there.
pub fn load_or_create_wallet(path: &Path) -> Result<blockchain_ann::ledger::Wallet> {
    use blockchain_ann::keys::{OsEntropy, PrivateKey, derive_keys, export_wallet, import_wallet};
    let key = if path.exists() {
        import_wallet(path).with_context(|| format!("importing {}", path.display()))?
    } else {
        let key = PrivateKey::generate(&mut OsEntropy)?;
        export_wallet(&key, path)?;
        tracing::info!(wallet = %path.display(), "created a new wallet");
        key
    };
    Ok(blockchain_ann::ledger::Wallet::new(
        derive_keys(&key).into_signing_key(),
    ))
}

/// Opens (or creates) a devnet store in `dir` and the verifier, artifacts and miner of a
/// node on it. Verification runs on flex (every backend gives the same bits); mining runs on
/// `backend`.
pub fn training_node_parts(
    dir: &Path,
    data: &Arc<Mnist>,
    task: &Task,
    backend: Backend,
    progress: Option<ProgressBar>,
) -> Result<TrainingNodeParts> {
    let store = Store::open(dir).with_context(|| format!("opening {}", dir.display()))?;
    let chain = Chain::open(devnet_params(), store)
        .context("resuming the chain (was it made with other parameters?)")?;
    let artifacts = ArtifactStore::open(chain.store().artifact_dir())?;
    let verifier = TrainingVerifier::with_backend(
        task.clone(),
        Arc::clone(data),
        artifacts.clone(),
        Backend::DEFAULT,
    )?;
    let miner = Miner::with_backend(task.clone(), Arc::clone(data), artifacts.clone(), backend)?;
    let mut miner = blockchain_ann::node::TrainingMiner::new(miner);
    if let Some(bar) = progress {
        miner = miner.with_observer(move |p| {
            bar.set_length(u64::try_from(p.expected_tickets).unwrap_or(u64::MAX));
            bar.set_position(p.tickets);
            bar.set_message(format!("step {:>6}  loss {:.4}", p.step, p.loss));
        });
    }
    Ok(TrainingNodeParts {
        chain,
        verifier,
        artifacts: blockchain_ann::node::TrainingArtifacts::new(artifacts, task.clone()),
        miner: Box::new(miner),
    })
}
