//! The node: one actor thread that owns the chain, the mempool, the verifier and the
//! artifacts, fed by a queue (network events, RPC queries, mined blocks, a clock tick), so
//! that validation, which is CPU-bound, never runs on the network's executor.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ann_ledger::{
    Address, Block, BlockHash, Chain, ChainStore, Decode, Encode, ImportOutcome, Mempool,
    MempoolPolicy, OutPoint, ProofVerifier, Transaction, Txid, UtxoEntry,
};
use ann_net::score::{BAN, MALFORMED, MINOR};
use ann_net::sync::{DownloadWindow, OrphanPool, chain_locator, headers_after};
use ann_net::wire::MAX_HEADERS;
use ann_net::{
    NetConfig, NetError, NetEvent, NetworkHandle, Refusal, Request, Response, Status, Verdict,
    block_verdict, transaction_verdict,
};
use libp2p_types::{MessageId, Multiaddr, OutboundRequestId, PeerId, ResponseChannel};
use tokio::sync::oneshot;

use crate::artifacts::{ArtifactId, ArtifactRefused, Artifacts};
use crate::miner::{BlockMiner, MinerError};
use crate::rpc::{
    BlockInfo, ChainInfo, CredentialsError, MempoolInfo, PeerInfo, RpcConfig, RpcCredentials,
    UtxoInfo,
};

/// The libp2p types the node's API mentions, re-exported by `ann-net`.
mod libp2p_types {
    pub use ann_net::libp2p::gossipsub::MessageId;
    pub use ann_net::libp2p::request_response::{OutboundRequestId, ResponseChannel};
    pub use ann_net::libp2p::{Multiaddr, PeerId};
}

/// A peer that lies about its chain: it claimed more work than the headers it serves.
pub const FALSE_CLAIM: Verdict = Verdict::Reject { penalty: BAN };

/// How a node syncs and serves.
#[derive(Clone, Debug)]
pub struct SyncConfig {
    /// Most blocks in flight from peers at once.
    pub window: usize,
    /// How long a peer has to deliver requested blocks before they are asked of another.
    pub block_timeout: Duration,
    /// How long a block may wait for its artifacts.
    pub artifact_timeout: Duration,
    /// How often each peer is asked for its status.
    pub status_every: Duration,
    /// Orphan blocks kept in all, and from one peer.
    pub max_orphans: usize,
    /// Orphan blocks kept from one peer.
    pub max_orphans_per_peer: usize,
    /// Encoded bytes of orphan blocks kept in all.
    pub max_orphan_bytes: usize,
    /// Requests a peer may make in `rate_window` before it is refused and penalised.
    pub max_requests: u32,
    /// The window of `max_requests`.
    pub rate_window: Duration,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            window: 64,
            block_timeout: Duration::from_secs(10),
            artifact_timeout: Duration::from_secs(30),
            status_every: Duration::from_secs(5),
            max_orphans: 256,
            max_orphans_per_peer: 64,
            max_orphan_bytes: ann_net::sync::DEFAULT_MAX_ORPHAN_BYTES,
            max_requests: 2_000,
            rate_window: Duration::from_secs(10),
        }
    }
}

/// What a node runs.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// The network (genesis, listen address, scores).
    pub net: NetConfig,
    /// Peers to dial at start.
    pub bootstrap: Vec<Multiaddr>,
    /// The JSON-RPC server: where it listens, its cookie file, who may call it (`None`: no
    /// server).
    pub rpc: Option<RpcConfig>,
    /// Mine continuously (a node with a miner mines on request through `generate` otherwise).
    pub mine: bool,
    /// Where mining rewards go.
    pub coinbase: Address,
    /// The pool's policy for transactions from strangers.
    pub mempool: MempoolPolicy,
    /// Sync and serving limits.
    pub sync: SyncConfig,
}

impl NodeConfig {
    /// A node of the chain with genesis `genesis` on loopback (free ports for libp2p and the
    /// RPC server), rewards to `coinbase`, no mining, the relay policy.
    pub fn local(genesis: BlockHash, coinbase: Address) -> Self {
        NodeConfig {
            net: NetConfig::local(genesis),
            bootstrap: Vec::new(),
            rpc: Some(RpcConfig::local()),
            mine: false,
            coinbase,
            mempool: MempoolPolicy::relay(),
            sync: SyncConfig::default(),
        }
    }
}

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The async runtime could not be built.
    #[error("starting the runtime failed: {0}")]
    Runtime(#[source] std::io::Error),
    /// The network failed to start.
    #[error(transparent)]
    Net(#[from] NetError),
    /// The network reported no listening address in time.
    #[error("the network did not start listening within 10 s")]
    NotListening,
    /// The RPC server could not bind.
    #[error("the RPC server could not listen on {address}: {source}")]
    Rpc {
        /// The address.
        address: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The RPC server's cookie could not be made or written.
    #[error(transparent)]
    RpcCookie(#[from] CredentialsError),
    /// The node thread could not be spawned.
    #[error("spawning the node thread failed: {0}")]
    Thread(#[source] std::io::Error),
}

/// Why a query was not answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// A parameter is malformed.
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
    /// What was asked for does not exist here.
    #[error("not found: {0}")]
    NotFound(String),
    /// The transaction (or request) was refused, with the rule it broke.
    #[error("rejected: {0}")]
    Rejected(String),
    /// The node cannot do it (no miner, mining failed).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The node has stopped.
    #[error("the node has stopped")]
    Stopped,
}

type Reply<T> = oneshot::Sender<Result<T, QueryError>>;

/// A question to the node thread (the RPC server's and [`NodeHandle`]'s).
#[derive(Debug)]
pub(crate) enum Query {
    ChainInfo(Reply<ChainInfo>),
    BlockHash {
        height: u64,
        reply: Reply<String>,
    },
    Block {
        hash: String,
        reply: Reply<BlockInfo>,
    },
    TxOut {
        txid: String,
        vout: u32,
        reply: Reply<Option<UtxoInfo>>,
    },
    AddressUtxos {
        address: String,
        reply: Reply<Vec<UtxoInfo>>,
    },
    SendRawTransaction {
        hex: String,
        reply: Reply<String>,
    },
    Peers(Reply<Vec<PeerInfo>>),
    MempoolInfo(Reply<MempoolInfo>),
    Generate {
        blocks: u32,
        reply: Reply<Vec<String>>,
    },
    Dial {
        address: Multiaddr,
        reply: Reply<()>,
    },
    Snapshot(Reply<Snapshot>),
}

/// What the node thread consumes.
#[derive(Debug)]
pub(crate) enum Input {
    Net(NetEvent),
    Query(Query),
    Mined {
        job: u64,
        result: Result<Option<Block>, MinerError>,
    },
    Shutdown,
}

/// A consistent view of a node's state, for tests and monitoring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Best block.
    pub tip: BlockHash,
    /// Its height.
    pub height: u64,
    /// The best chain's cumulative work.
    pub work: u128,
    /// Whether the UTXO set equals one rebuilt from the best chain's blocks.
    pub utxos_match_rebuild: bool,
    /// Total value of the UTXO set.
    pub utxo_value: u128,
    /// Connected peers.
    pub peers: usize,
    /// Peers banned since start.
    pub banned: Vec<PeerId>,
    /// Transactions in the pool.
    pub mempool: usize,
    /// Blocks queued or in flight for download.
    pub downloading: usize,
    /// Blocks received from peers (by gossip or download), and their encoded bytes.
    pub blocks_received: u64,
    /// Encoded bytes of those blocks, and of the artifacts fetched.
    pub bytes_received: u64,
}

/// A running node: its actor thread, its network and its RPC server. Dropping it stops all.
pub struct Node {
    handle: NodeHandle,
    thread: Option<JoinHandle<()>>,
    miner_thread: Option<JoinHandle<()>>,
    rpc: Option<jsonrpsee::server::ServerHandle>,
    /// The cookie file to remove at shutdown.
    cookie_file: Option<std::path::PathBuf>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("peer_id", &self.handle.peer_id)
            .field("listen", &self.handle.listen)
            .field("rpc", &self.handle.rpc)
            .finish_non_exhaustive()
    }
}

/// Talks to a running node from any thread. Cheap to clone.
#[derive(Clone, Debug)]
pub struct NodeHandle {
    inputs: mpsc::Sender<Input>,
    peer_id: PeerId,
    listen: Multiaddr,
    rpc: Option<SocketAddr>,
    rpc_cookie: Option<RpcCredentials>,
}

impl NodeHandle {
    /// The node's libp2p peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The address it listens on, with its peer id (`/ip4/.../tcp/.../p2p/...`).
    pub fn listen_address(&self) -> Multiaddr {
        self.listen.clone()
    }

    /// Where its RPC server listens.
    pub fn rpc_address(&self) -> Option<SocketAddr> {
        self.rpc
    }

    /// The credentials of its RPC server's cookie (also in [`RpcConfig::cookie_file`] when
    /// one is set), for a client in the same process ([`crate::rpc::client`]).
    pub fn rpc_credentials(&self) -> Option<&RpcCredentials> {
        self.rpc_cookie.as_ref()
    }

    fn ask<T>(&self, query: impl FnOnce(Reply<T>) -> Query) -> Result<T, QueryError> {
        let (reply, answer) = oneshot::channel();
        self.inputs
            .send(Input::Query(query(reply)))
            .map_err(|_| QueryError::Stopped)?;
        answer.blocking_recv().map_err(|_| QueryError::Stopped)?
    }

    /// The chain's state (as `getblockchaininfo`).
    ///
    /// # Errors
    /// [`QueryError::Stopped`] if the node has stopped.
    pub fn chain_info(&self) -> Result<ChainInfo, QueryError> {
        self.ask(Query::ChainInfo)
    }

    /// A consistent view of the node's state.
    ///
    /// # Errors
    /// [`QueryError::Stopped`] if the node has stopped.
    pub fn snapshot(&self) -> Result<Snapshot, QueryError> {
        self.ask(Query::Snapshot)
    }

    /// Mines `blocks` blocks on the tip (as `generate`).
    ///
    /// # Errors
    /// [`QueryError::Unavailable`] without a miner or if mining fails.
    pub fn generate(&self, blocks: u32) -> Result<Vec<String>, QueryError> {
        self.ask(|reply| Query::Generate { blocks, reply })
    }

    /// Submits a transaction to the pool and gossips it (as `sendrawtransaction`).
    ///
    /// # Errors
    /// [`QueryError::Rejected`] with the pool's reason.
    pub fn send_transaction(&self, transaction: &Transaction) -> Result<String, QueryError> {
        let hex = hex::encode(transaction.encode());
        self.ask(|reply| Query::SendRawTransaction { hex, reply })
    }

    /// The unspent outputs paying `address` (as `getaddressutxos`).
    ///
    /// # Errors
    /// [`QueryError::Stopped`] if the node has stopped.
    pub fn address_utxos(&self, address: &Address) -> Result<Vec<UtxoInfo>, QueryError> {
        let address = address.to_string();
        self.ask(|reply| Query::AddressUtxos { address, reply })
    }

    /// A block by hash (as `getblock`).
    ///
    /// # Errors
    /// [`QueryError::NotFound`] if the node does not have it.
    pub fn block(&self, hash: &BlockHash) -> Result<BlockInfo, QueryError> {
        let hash = hash.to_string();
        self.ask(|reply| Query::Block { hash, reply })
    }

    /// Connects to a peer.
    ///
    /// # Errors
    /// [`QueryError::Stopped`] if the node has stopped.
    pub fn dial(&self, address: Multiaddr) -> Result<(), QueryError> {
        self.ask(|reply| Query::Dial { address, reply })
    }
}

impl Node {
    /// Starts a node on `chain` (resumed from its store), checking proofs with `verifier`
    /// against `artifacts`, mining with `miner` if there is one.
    ///
    /// # Errors
    /// [`NodeError`] if the runtime, the network, the RPC server or the thread cannot start.
    pub fn start<S, V, A>(
        config: NodeConfig,
        chain: Chain<S>,
        verifier: V,
        artifacts: A,
        miner: Option<Box<dyn BlockMiner>>,
    ) -> Result<Node, NodeError>
    where
        S: ChainStore + Send + 'static,
        V: ProofVerifier + Send + 'static,
        A: Artifacts,
    {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ann-node-net")
            .enable_all()
            .build()
            .map_err(NodeError::Runtime)?;
        let (net, mut events) = {
            let _entered = runtime.enter();
            ann_net::start(config.net.clone())?
        };
        let listen = runtime
            .block_on(async {
                tokio::time::timeout(Duration::from_secs(10), async {
                    while let Some(event) = events.recv().await {
                        if let NetEvent::Listening(address) = event {
                            return Some(address);
                        }
                    }
                    None
                })
                .await
            })
            .ok()
            .flatten()
            .ok_or(NodeError::NotListening)?;
        let listen = listen.with_p2p(net.peer_id()).unwrap_or_else(|a| a);

        let (inputs, queue) = mpsc::channel();
        let forward = inputs.clone();
        runtime.spawn(async move {
            while let Some(event) = events.recv().await {
                if forward.send(Input::Net(event)).is_err() {
                    return;
                }
            }
        });
        for address in &config.bootstrap {
            net.dial(address.clone())?;
        }
        let (rpc_address, rpc, rpc_cookie) = match &config.rpc {
            Some(rpc) => {
                let cookie = RpcCredentials::random_cookie()?;
                let accepted: Vec<&RpcCredentials> =
                    std::iter::once(&cookie).chain(rpc.user.as_ref()).collect();
                let (local, handle) = {
                    let _entered = runtime.enter();
                    crate::rpc::serve(rpc, &accepted, inputs.clone()).map_err(|source| {
                        NodeError::Rpc {
                            address: rpc.address,
                            source,
                        }
                    })?
                };
                // Written once the server listens, so that a reader of the file finds it up.
                if let Some(path) = &rpc.cookie_file
                    && let Err(error) = cookie.write_cookie_file(path)
                {
                    let _ = handle.stop();
                    return Err(error.into());
                }
                (Some(local), Some(handle), Some(cookie))
            }
            None => (None, None, None),
        };
        let cookie_file = config.rpc.as_ref().and_then(|rpc| rpc.cookie_file.clone());

        let (miner_jobs, miner_thread) = match miner {
            Some(miner) => {
                let (jobs, thread) = spawn_miner(miner, inputs.clone())?;
                (Some(jobs), Some(thread))
            }
            None => (None, None),
        };
        let handle = NodeHandle {
            inputs: inputs.clone(),
            peer_id: net.peer_id(),
            listen,
            rpc: rpc_address,
            rpc_cookie,
        };
        let mempool = Mempool::with_policy(config.mempool);
        let state = State {
            window: DownloadWindow::new(config.sync.window, config.sync.block_timeout),
            orphans: OrphanPool::new(config.sync.max_orphans, config.sync.max_orphans_per_peer)
                .with_max_bytes(config.sync.max_orphan_bytes),
            config,
            chain,
            mempool,
            verifier,
            artifacts,
            net,
            runtime: runtime.handle().clone(),
            peers: HashMap::new(),
            requests: HashMap::new(),
            parked: HashMap::new(),
            queue: VecDeque::new(),
            miner: miner_jobs.map(|jobs| MinerState {
                jobs,
                current: None,
                next_job: 0,
            }),
            generating: None,
            banned: Vec::new(),
            blocks_received: 0,
            bytes_received: 0,
        };
        let thread = std::thread::Builder::new()
            .name("ann-node".into())
            .spawn(move || state.run(queue))
            .map_err(NodeError::Thread)?;
        Ok(Node {
            handle,
            thread: Some(thread),
            miner_thread,
            rpc,
            cookie_file,
            runtime: Some(runtime),
        })
    }

    /// A handle to the node.
    pub fn handle(&self) -> NodeHandle {
        self.handle.clone()
    }

    /// Stops the node: the actor finishes the input at hand, the miner is cancelled, the
    /// network and the RPC server close.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.handle.inputs.send(Input::Shutdown);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Some(thread) = self.miner_thread.take() {
            let _ = thread.join();
        }
        if let Some(rpc) = self.rpc.take() {
            let _ = rpc.stop();
        }
        if let Some(path) = self.cookie_file.take() {
            // Bitcoin Core's habit: the cookie is valid only while its node runs.
            let _ = std::fs::remove_file(path);
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Job {
    id: u64,
    template: Block,
    cancel: Arc<AtomicBool>,
}

fn spawn_miner(
    mut miner: Box<dyn BlockMiner>,
    inputs: mpsc::Sender<Input>,
) -> Result<(mpsc::Sender<Job>, JoinHandle<()>), NodeError> {
    let (jobs, queue) = mpsc::channel::<Job>();
    let thread = std::thread::Builder::new()
        .name("ann-node-miner".into())
        .spawn(move || {
            // Ends when the node drops its sender.
            while let Ok(job) = queue.recv() {
                let result = miner.mine(job.template, &job.cancel);
                if inputs
                    .send(Input::Mined {
                        job: job.id,
                        result,
                    })
                    .is_err()
                {
                    return;
                }
            }
        })
        .map_err(NodeError::Thread)?;
    Ok((jobs, thread))
}

struct MinerState {
    jobs: mpsc::Sender<Job>,
    /// The job in progress: its id, its cancel flag, the tip it builds on.
    current: Option<(u64, Arc<AtomicBool>, BlockHash)>,
    next_job: u64,
}

struct Generating {
    remaining: u32,
    mined: Vec<String>,
    reply: Reply<Vec<String>>,
}

#[derive(Debug)]
struct Peer {
    status: Option<Status>,
    /// Where headers pre-sync stands with this peer.
    presync: HeaderSync,
    headers_in_flight: bool,
    next_status: Instant,
    requests_in_window: u32,
    window_start: Instant,
}

/// Headers pre-sync with one peer ([`State::presync`]).
#[derive(Clone, Debug)]
enum HeaderSync {
    /// No branch being counted.
    Idle,
    /// A branch whose work, so far, does not beat our tip (nothing of it downloaded): its last
    /// header, and the branch's cumulative work there.
    Counting(Box<ann_ledger::BlockHeader>, u128),
    /// The branch was shown heavier than our tip over several answers: its headers are being
    /// asked for again from where it leaves our chain, and those are downloaded.
    Proven,
}

/// What [`State::presync`] decided about an answer of headers.
enum Presync {
    /// Download the blocks the headers name.
    Download,
    /// Not yet: more headers were asked for.
    Continue,
    /// The headers break a rule, or show less work than their sender claimed.
    Refuse(Verdict),
}

#[derive(Debug)]
enum Pending {
    Status,
    Headers,
    Blocks(Vec<BlockHash>),
    Artifact { id: ArtifactId, block: BlockHash },
}

/// A block waiting for its artifacts.
struct Parked {
    /// The peer that sent the block.
    from: PeerId,
    block: Block,
    gossip: Option<MessageId>,
    /// The peer its artifacts are asked of: the sender, then, after one served a bad
    /// artifact or had none, another connected peer.
    source: PeerId,
    /// The peers asked so far.
    tried: Vec<PeerId>,
    waiting: HashSet<ArtifactId>,
    deadline: Instant,
}

/// A block to process: who sent it, and its gossip id if it came by gossip.
struct Incoming {
    from: Option<PeerId>,
    block: Block,
    gossip: Option<MessageId>,
}

struct State<S: ChainStore, V: ProofVerifier, A: Artifacts> {
    config: NodeConfig,
    chain: Chain<S>,
    mempool: Mempool,
    verifier: V,
    artifacts: A,
    net: NetworkHandle,
    runtime: tokio::runtime::Handle,
    peers: HashMap<PeerId, Peer>,
    requests: HashMap<OutboundRequestId, (PeerId, Pending)>,
    window: DownloadWindow<PeerId>,
    orphans: OrphanPool<PeerId>,
    parked: HashMap<BlockHash, Parked>,
    queue: VecDeque<Incoming>,
    miner: Option<MinerState>,
    generating: Option<Generating>,
    banned: Vec<PeerId>,
    blocks_received: u64,
    bytes_received: u64,
}

/// A chain-store failure, as the RPC reports it.
fn internal(error: ann_ledger::ChainError) -> QueryError {
    QueryError::Unavailable(format!("chain store: {error}"))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl<S: ChainStore, V: ProofVerifier, A: Artifacts> State<S, V, A> {
    fn run(mut self, queue: mpsc::Receiver<Input>) {
        let tick = Duration::from_millis(100);
        let mut next_tick = Instant::now() + tick;
        self.restart_mining();
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            match queue.recv_timeout(wait) {
                Ok(Input::Shutdown) | Err(RecvTimeoutError::Disconnected) => break,
                Ok(Input::Net(event)) => self.on_net(event),
                Ok(Input::Query(query)) => self.on_query(query),
                Ok(Input::Mined { job, result }) => self.on_mined(job, result),
                Err(RecvTimeoutError::Timeout) => {}
            }
            self.drain();
            if Instant::now() >= next_tick {
                self.on_tick();
                self.drain();
                next_tick = Instant::now() + tick;
            }
        }
        if let Some(miner) = &self.miner
            && let Some((_, cancel, _)) = &miner.current
        {
            cancel.store(true, Ordering::Relaxed);
        }
        if let Some(generating) = self.generating.take() {
            let _ = generating.reply.send(Err(QueryError::Stopped));
        }
    }

    fn status(&self) -> Status {
        Status {
            genesis: self.config.net.genesis,
            tip: self.chain.tip(),
            height: self.chain.height(),
            work: self.chain.tip_work(),
        }
    }

    fn penalize(&mut self, peer: PeerId, verdict: Verdict) {
        if verdict != Verdict::Accept {
            let _ = self.net.penalize(peer, verdict);
        }
    }

    fn verdict(&mut self, from: Option<PeerId>, gossip: Option<MessageId>, verdict: Verdict) {
        match (from, gossip) {
            (Some(from), Some(id)) => {
                let _ = self.net.report(from, id, verdict);
            }
            (Some(from), None) => self.penalize(from, verdict),
            _ => {}
        }
    }

    fn request(&mut self, peer: PeerId, request: Request, pending: Pending) {
        let net = self.net.clone();
        match self.runtime.block_on(net.request(peer, request)) {
            Ok(id) => {
                self.requests.insert(id, (peer, pending));
            }
            Err(error) => tracing::warn!(%error, "request not sent"),
        }
    }

    // ---- network events ----

    fn on_net(&mut self, event: NetEvent) {
        match event {
            NetEvent::Connected(peer) => {
                self.peers.entry(peer).or_insert_with(|| Peer {
                    status: None,
                    presync: HeaderSync::Idle,
                    headers_in_flight: false,
                    next_status: Instant::now() + self.config.sync.status_every,
                    requests_in_window: 0,
                    window_start: Instant::now(),
                });
                let status = self.status();
                self.request(peer, Request::Status(status), Pending::Status);
            }
            NetEvent::Disconnected(peer) => {
                self.peers.remove(&peer);
            }
            NetEvent::Banned(peer) => {
                self.peers.remove(&peer);
                if !self.banned.contains(&peer) {
                    self.banned.push(peer);
                }
            }
            NetEvent::Block { from, id, block } => {
                self.blocks_received += 1;
                self.bytes_received += block.encoded_len() as u64;
                self.queue.push_back(Incoming {
                    from: Some(from),
                    block: *block,
                    gossip: Some(id),
                });
            }
            NetEvent::Transaction {
                from,
                id,
                transaction,
            } => {
                let verdict = match self.mempool.add(*transaction, &self.chain) {
                    Ok(_) => Verdict::Accept,
                    Err(error) => {
                        tracing::debug!(%from, %error, "transaction refused");
                        transaction_verdict(&error)
                    }
                };
                let _ = self.net.report(from, id, verdict);
            }
            NetEvent::Request {
                from,
                request,
                channel,
            } => self.on_request(from, request, channel),
            NetEvent::Response { from, id, response } => self.on_response(from, id, response),
            NetEvent::RequestFailed { peer, id, reason } => {
                tracing::debug!(%peer, %reason, "request failed");
                if let Some((_, pending)) = self.requests.remove(&id) {
                    self.on_request_failed(peer, pending);
                }
            }
            NetEvent::Listening(_) | NetEvent::Subscribed { .. } => {}
        }
    }

    fn on_request(
        &mut self,
        from: PeerId,
        request: Request,
        channel: ResponseChannel<ann_net::Response>,
    ) {
        let now = Instant::now();
        let limits = &self.config.sync;
        if let Some(peer) = self.peers.get_mut(&from) {
            if now.duration_since(peer.window_start) >= limits.rate_window {
                peer.window_start = now;
                peer.requests_in_window = 0;
            }
            peer.requests_in_window = peer.requests_in_window.saturating_add(1);
            if peer.requests_in_window > limits.max_requests {
                let _ = self
                    .net
                    .respond(channel, Response::Refused(Refusal::RateLimited));
                self.penalize(from, Verdict::Reject { penalty: MINOR });
                return;
            }
        }
        let response = match request {
            Request::Status(status) => {
                if status.genesis != self.config.net.genesis {
                    let _ = self
                        .net
                        .respond(channel, Response::Refused(Refusal::WrongGenesis));
                    self.penalize(from, MALFORMED);
                    return;
                }
                self.record_status(from, status);
                Response::Status(self.status())
            }
            Request::Headers { locator, max } => {
                match headers_after(&self.chain, &locator, usize::from(max)) {
                    Ok(headers) => Response::Headers(headers),
                    Err(error) => {
                        tracing::error!(%error, "cannot read headers from the chain store");
                        Response::Headers(Vec::new())
                    }
                }
            }
            Request::Blocks(hashes) => Response::Blocks(
                hashes
                    .iter()
                    .filter_map(|hash| self.stored_block(hash))
                    .collect(),
            ),
            Request::Artifact { kind, hash } => {
                Response::Artifact(self.artifacts.get(&ArtifactId { kind, hash }))
            }
        };
        let _ = self.net.respond(channel, response);
    }

    fn record_status(&mut self, from: PeerId, status: Status) {
        if let Some(peer) = self.peers.get_mut(&from) {
            peer.status = Some(status);
        }
        self.maybe_request_headers(from);
    }

    /// Asks `peer` for headers if it claims more work than we have and nothing is pending.
    fn maybe_request_headers(&mut self, peer: PeerId) {
        let our_work = self.chain.tip_work();
        let wants = self
            .peers
            .get(&peer)
            .is_some_and(|p| !p.headers_in_flight && p.status.is_some_and(|s| s.work > our_work));
        if wants && self.window.pending() == 0 {
            self.request_headers(peer, None);
        }
    }

    fn request_headers(&mut self, peer: PeerId, after: Option<BlockHash>) {
        let mut hashes = match chain_locator(&self.chain) {
            Ok(hashes) => hashes,
            Err(error) => {
                tracing::error!(%error, "cannot read the best chain from the chain store");
                return;
            }
        };
        if let Some(after) = after {
            hashes.insert(0, after);
            hashes.truncate(ann_net::wire::MAX_LOCATOR);
        }
        if let Some(p) = self.peers.get_mut(&peer) {
            p.headers_in_flight = true;
        }
        self.request(
            peer,
            Request::Headers {
                locator: hashes,
                max: MAX_HEADERS as u16,
            },
            Pending::Headers,
        );
    }

    fn on_response(&mut self, from: PeerId, id: OutboundRequestId, response: Response) {
        let Some((_, pending)) = self.requests.remove(&id) else {
            return;
        };
        match (pending, response) {
            (Pending::Status, Response::Status(status)) => {
                if status.genesis != self.config.net.genesis {
                    self.penalize(from, MALFORMED);
                } else {
                    self.record_status(from, status);
                }
            }
            (_, Response::Refused(Refusal::WrongGenesis)) => self.penalize(from, MALFORMED),
            (pending, Response::Refused(Refusal::RateLimited)) => {
                self.on_request_failed(from, pending);
            }
            (Pending::Headers, Response::Headers(headers)) => self.on_headers(from, headers),
            (Pending::Blocks(asked), Response::Blocks(blocks)) => {
                for block in blocks {
                    let hash = block.hash();
                    if !asked.contains(&hash) {
                        // Bytes we did not ask for: a peer that does this is not syncing us.
                        self.penalize(from, MALFORMED);
                        return;
                    }
                    self.window.received(&hash);
                    self.blocks_received += 1;
                    self.bytes_received += block.encoded_len() as u64;
                    self.queue.push_back(Incoming {
                        from: Some(from),
                        block,
                        gossip: None,
                    });
                }
            }
            (Pending::Artifact { id, block }, Response::Artifact(bytes)) => {
                self.on_artifact(from, id, block, bytes);
            }
            // An answer of another kind than the question.
            (_, _) => self.penalize(from, MALFORMED),
        }
    }

    fn on_request_failed(&mut self, peer: PeerId, pending: Pending) {
        match pending {
            Pending::Headers => {
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.headers_in_flight = false;
                }
            }
            Pending::Artifact { block, .. } => self.drop_parked(&block, Verdict::Ignore),
            // Blocks time out in the download window and go to another peer.
            Pending::Status | Pending::Blocks(_) => {}
        }
    }

    fn on_headers(&mut self, from: PeerId, headers: Vec<ann_ledger::BlockHeader>) {
        if let Some(p) = self.peers.get_mut(&from) {
            p.headers_in_flight = false;
        }
        let claimed = self
            .peers
            .get(&from)
            .and_then(|p| p.status)
            .map_or(0, |s| s.work);
        if headers.is_empty() {
            if claimed > self.chain.tip_work()
                && self.window.pending() == 0
                && self.parked.is_empty()
            {
                // It claimed more work than ours but has nothing after our best chain.
                tracing::info!(%from, "peer claims work it cannot show");
                self.penalize(from, FALSE_CLAIM);
            }
            return;
        }
        // The first header follows a block we hold, or one we know of and are fetching: the
        // answer to a follow-up request (after a full answer) continues the headers before it,
        // whose blocks are still downloading.
        let presync_end = self.peers.get(&from).and_then(|p| match &p.presync {
            HeaderSync::Counting(last, _) => Some(last.hash()),
            _ => None,
        });
        let connects = headers.first().is_some_and(|h| {
            let parent = &h.prev_hash;
            self.knows(parent)
                || presync_end == Some(*parent)
                || self.parked.contains_key(parent)
                || self.window.contains(parent)
                || self.orphans.contains(parent)
        });
        let linked = headers.windows(2).all(|w| w[1].prev_hash == w[0].hash());
        if !connects || !linked {
            self.penalize(from, MALFORMED);
            return;
        }
        let unknown: Vec<BlockHash> = headers
            .iter()
            .map(ann_ledger::BlockHeader::hash)
            .filter(|h| !self.knows(h) && !self.parked.contains_key(h))
            .collect();
        // Every header is one we hold as valid, the answer is not cut at the cap, and still it
        // claims more work than our best chain: the same lie. (A block of the answer that is
        // only waiting for its artifacts is no lie: an honest fork looks like that.)
        let all_held = headers.iter().all(|h| self.knows(&h.hash()));
        if all_held
            && headers.len() < MAX_HEADERS
            && claimed > self.chain.tip_work()
            && self.parked.is_empty()
            && self.window.pending() == 0
        {
            tracing::info!(%from, "peer claims work its headers do not show");
            self.penalize(from, FALSE_CLAIM);
            return;
        }
        match self.presync(from, &headers) {
            Presync::Download => {}
            Presync::Continue => return,
            Presync::Refuse(verdict) => {
                self.penalize(from, verdict);
                return;
            }
        }
        self.window.want(unknown);
        if headers.len() >= MAX_HEADERS
            && let Some(last) = headers.last()
        {
            self.request_headers(from, Some(last.hash()));
        }
        self.plan_downloads();
    }

    /// Headers pre-sync (Bitcoin Core's anti-DoS for side branches): before any block of a
    /// branch is downloaded, its headers must carry the targets their parents require and
    /// tickets that beat them, dates within our clock's drift, and show more cumulative work
    /// than our tip. So a side block is stored only when its branch could become the best
    /// chain: junk costs its sender more work than our best chain holds. An answer that does not
    /// yet show enough work but is full is remembered and continued; one that ends short of it
    /// is a false claim. Headers whose parent is not a block we hold (a continuation of a
    /// branch already downloading) are left to the blocks' own checks.
    fn presync(&mut self, from: PeerId, headers: &[ann_ledger::BlockHeader]) -> Presync {
        let Some(first) = headers.first() else {
            return Presync::Download;
        };
        let state = self.peers.get_mut(&from).map_or(HeaderSync::Idle, |p| {
            std::mem::replace(&mut p.presync, HeaderSync::Idle)
        });
        let remembered = match state {
            // The answer to our request from the fork point, once the branch was proven.
            HeaderSync::Proven => return Presync::Download,
            HeaderSync::Counting(last, work) if last.hash() == first.prev_hash => {
                Some((*last, work))
            }
            _ => None,
        };
        let continued = remembered.is_some();
        let start = match remembered {
            Some(start) => Some(start),
            None => match (
                self.chain.header(&first.prev_hash),
                self.chain.block_meta(&first.prev_hash),
            ) {
                (Ok(Some(parent)), Ok(Some(meta))) => Some((parent, meta.cumulative_work)),
                _ => None,
            },
        };
        let Some((mut parent, mut work)) = start else {
            return Presync::Download;
        };
        let params = self.chain.params();
        let latest = unix_now().saturating_add(params.difficulty.max_future_drift_secs);
        for header in headers {
            let valid = header.height == parent.height.saturating_add(1)
                && header.bits == params.required_target(&parent)
                && header.meets_target();
            if !valid {
                tracing::info!(%from, height = header.height, "headers that break a header rule");
                return Presync::Refuse(Verdict::Reject { penalty: BAN });
            }
            if header.timestamp > latest {
                // Clocks differ (as for a block): not downloaded now, not punished.
                return Presync::Refuse(Verdict::Ignore);
            }
            work = work.saturating_add(header.bits.work());
            parent = header.clone();
        }
        let next = if work > self.chain.tip_work() {
            if !continued {
                return Presync::Download;
            }
            // Proven over several answers, none of which was kept: ask again from where the
            // branch leaves our chain, and download that.
            HeaderSync::Proven
        } else if headers.len() >= MAX_HEADERS {
            // Not enough yet: keep the branch's end and ask for what follows it.
            HeaderSync::Counting(Box::new(parent), work)
        } else {
            // The whole branch, and no heavier than our tip: a lie if its sender claimed more
            // work than it shows, else our tip grew since its status.
            let claimed = self
                .peers
                .get(&from)
                .and_then(|p| p.status)
                .map_or(0, |s| s.work);
            if claimed > work {
                tracing::info!(%from, "a branch with less work than its sender claimed");
                return Presync::Refuse(FALSE_CLAIM);
            }
            return Presync::Refuse(Verdict::Ignore);
        };
        let after = match &next {
            HeaderSync::Counting(last, _) => Some(last.hash()),
            _ => None,
        };
        if let Some(p) = self.peers.get_mut(&from) {
            p.presync = next;
        }
        self.request_headers(from, after);
        Presync::Continue
    }

    fn plan_downloads(&mut self) {
        let our_work = self.chain.tip_work();
        let mut peers: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.status.is_some_and(|s| s.work > our_work))
            .map(|(id, _)| *id)
            .collect();
        if peers.is_empty() {
            peers = self
                .peers
                .iter()
                .filter(|(_, p)| p.status.is_some())
                .map(|(id, _)| *id)
                .collect();
        }
        peers.sort_unstable();
        for (peer, hashes) in self.window.plan(&peers, Instant::now()) {
            self.request(
                peer,
                Request::Blocks(hashes.clone()),
                Pending::Blocks(hashes),
            );
        }
    }

    // ---- blocks ----

    /// Processes queued blocks (and the orphans each one releases) until none is left.
    fn drain(&mut self) {
        while let Some(incoming) = self.queue.pop_front() {
            self.on_block(incoming);
        }
    }

    fn on_block(&mut self, incoming: Incoming) {
        let Incoming {
            from,
            block,
            gossip,
        } = incoming;
        let hash = block.hash();
        if self.knows(&hash) || self.parked.contains_key(&hash) {
            self.verdict(from, gossip, Verdict::Ignore);
            return;
        }
        if !self.knows(&block.header.prev_hash) {
            // Not an offence: we may be behind. Keep it, and ask the sender how it connects.
            self.verdict(from, gossip, Verdict::Ignore);
            if let Some(peer) = from {
                self.orphans.insert(peer, block);
                let in_flight = self.peers.get(&peer).is_some_and(|p| p.headers_in_flight);
                if !in_flight {
                    self.request_headers(peer, None);
                }
            }
            return;
        }
        // An unrequested block (gossip) whose branch does not beat our tip is not stored
        // (Bitcoin Core's rule): were its branch to grow past our tip, its next block arrives as
        // an orphan and the branch is then fetched through headers pre-sync.
        if gossip.is_some()
            && let Ok(Some(parent)) = self.chain.block_meta(&block.header.prev_hash)
            && parent
                .cumulative_work
                .saturating_add(block.header.bits.work())
                <= self.chain.tip_work()
        {
            self.verdict(from, gossip, Verdict::Ignore);
            return;
        }
        match from {
            Some(peer) => {
                // The header's own checks (target, timestamps, ticket, work floor) before
                // anything its proof reads is asked for: a forged header costs us no download.
                if let Err(error) = self.chain.check_header(&block.header, unix_now()) {
                    tracing::info!(block = %hash, %error, "header refused before its artifacts were fetched");
                    self.verdict(from, gossip, block_verdict(&error));
                    return;
                }
                self.parked.insert(
                    hash,
                    Parked {
                        from: peer,
                        block,
                        gossip,
                        source: peer,
                        tried: vec![peer],
                        waiting: HashSet::new(),
                        deadline: Instant::now() + self.config.sync.artifact_timeout,
                    },
                );
                self.fetch_artifacts(hash);
            }
            // Our own block: its artifacts are here.
            None => self.submit(None, block, None),
        }
    }

    /// Asks the sender of a parked block for the artifacts it still lacks, or submits it.
    fn fetch_artifacts(&mut self, hash: BlockHash) {
        let Some(parked) = self.parked.get(&hash) else {
            return;
        };
        let missing = self.artifacts.missing(&parked.block.header);
        if missing.is_empty() {
            if let Some(parked) = self.parked.remove(&hash) {
                self.submit(Some(parked.from), parked.block, parked.gossip);
            }
            return;
        }
        // Once the audit proof is here, the proof's cheap checks run before the large
        // checkpoints are fetched: a forged header costs us one small download.
        let proof_held = missing
            .iter()
            .all(|id| id.kind != ann_net::ArtifactKind::AuditProof);
        if proof_held && let Err(error) = self.verifier.precheck(&parked.block.header) {
            tracing::info!(block = %hash, %error, "proof refused before its checkpoints were fetched");
            self.drop_parked(&hash, Verdict::Reject { penalty: BAN });
            return;
        }
        let from = parked.source;
        let new: Vec<ArtifactId> = missing
            .into_iter()
            .filter(|id| !parked.waiting.contains(id))
            .collect();
        for id in new {
            if let Some(parked) = self.parked.get_mut(&hash) {
                parked.waiting.insert(id);
            }
            self.request(
                from,
                Request::Artifact {
                    kind: id.kind,
                    hash: id.hash,
                },
                Pending::Artifact { id, block: hash },
            );
        }
    }

    fn drop_parked(&mut self, hash: &BlockHash, verdict: Verdict) {
        if let Some(parked) = self.parked.remove(hash) {
            self.verdict(Some(parked.from), parked.gossip, verdict);
        }
    }

    fn on_artifact(
        &mut self,
        from: PeerId,
        id: ArtifactId,
        block: BlockHash,
        bytes: Option<Vec<u8>>,
    ) {
        let Some(parked) = self.parked.get(&block) else {
            return;
        };
        let Some(bytes) = bytes else {
            if from == parked.from {
                // It sent (or relayed, which it does only after verifying) a block whose
                // artifacts it does not serve.
                tracing::info!(%from, "peer withholds the artifacts of its block");
                self.drop_parked(&block, Verdict::Reject { penalty: BAN });
            } else {
                // Asked because the sender failed us: it need not hold them.
                self.next_source(block);
            }
            return;
        };
        self.bytes_received += bytes.len() as u64;
        match self.artifacts.put(&parked.block.header, &id, &bytes) {
            Ok(()) => {
                if let Some(parked) = self.parked.get_mut(&block) {
                    parked.waiting.remove(&id);
                    if parked.waiting.is_empty() {
                        self.fetch_artifacts(block);
                    }
                }
            }
            Err(ArtifactRefused::Wrong(reason)) => {
                // The one who served it pays, nothing of it is kept, and the block's artifacts
                // are asked of another peer: a bad relay cannot cut us off a valid block.
                tracing::info!(%from, %reason, "wrong artifact");
                self.penalize(from, Verdict::Reject { penalty: BAN });
                self.next_source(block);
            }
            Err(ArtifactRefused::Store(reason)) => {
                tracing::warn!(%reason, "could not keep an artifact");
                self.drop_parked(&block, Verdict::Ignore);
            }
        }
    }

    /// Asks another connected peer, not yet asked, for the artifacts of a parked block; drops
    /// the block (no further verdict) when none is left.
    fn next_source(&mut self, block: BlockHash) {
        let Some(parked) = self.parked.get(&block) else {
            return;
        };
        let next = self
            .peers
            .keys()
            .copied()
            .filter(|peer| !parked.tried.contains(peer) && !self.banned.contains(peer))
            .min();
        let Some(next) = next else {
            tracing::info!(%block, "no other peer to fetch the block's artifacts from");
            self.parked.remove(&block);
            return;
        };
        if let Some(parked) = self.parked.get_mut(&block) {
            parked.source = next;
            parked.tried.push(next);
            parked.waiting.clear();
        }
        self.fetch_artifacts(block);
    }

    fn submit(&mut self, from: Option<PeerId>, block: Block, gossip: Option<MessageId>) {
        let hash = block.hash();
        let mined_here = from.is_none();
        match self
            .chain
            .submit_block(block.clone(), unix_now(), &self.verifier)
        {
            Ok(ImportOutcome::AlreadyKnown) => self.verdict(from, gossip, Verdict::Ignore),
            Ok(outcome) => {
                self.verdict(from, gossip, Verdict::Accept);
                let (connected, disconnected) = match outcome {
                    ImportOutcome::Extended => (vec![hash], Vec::new()),
                    ImportOutcome::Reorganized {
                        connected,
                        disconnected,
                    } => (connected, disconnected),
                    _ => (Vec::new(), Vec::new()),
                };
                let tip_changed = !connected.is_empty();
                for h in &connected {
                    if let Some(b) = self.stored_block(h) {
                        self.mempool.remove_for_block(&b);
                    }
                }
                // What a reorganisation took off the best chain goes back to the pool (what the
                // new chain confirmed or conflicts with is refused there).
                for h in &disconnected {
                    if let Some(b) = self.stored_block(h) {
                        for tx in b.transactions.iter().skip(1) {
                            let _ = self.mempool.add(tx.clone(), &self.chain);
                        }
                    }
                }
                if !disconnected.is_empty() {
                    self.mempool.revalidate(&self.chain);
                }
                if mined_here && self.chain.tip() == hash {
                    let _ = self.net.publish_block(&block);
                    if let Some(generating) = &mut self.generating {
                        generating.mined.push(hash.to_string());
                        generating.remaining = generating.remaining.saturating_sub(1);
                    }
                    self.finish_generating();
                }
                if tip_changed {
                    tracing::debug!(height = self.chain.height(), tip = %self.chain.tip(), "new tip");
                    self.restart_mining();
                }
                for (peer, child) in self.orphans.take_children(&hash) {
                    self.queue.push_back(Incoming {
                        from: Some(peer),
                        block: child,
                        gossip: None,
                    });
                }
                if self.window.pending() == 0 {
                    let peers: Vec<PeerId> = self.peers.keys().copied().collect();
                    for peer in peers {
                        self.maybe_request_headers(peer);
                    }
                }
            }
            Err(error) => {
                tracing::info!(block = %hash, %error, "block refused");
                let verdict = block_verdict(&error);
                self.verdict(from, gossip, verdict);
                if mined_here {
                    if let Some(generating) = self.generating.take() {
                        let _ = generating
                            .reply
                            .send(Err(QueryError::Unavailable(error.to_string())));
                    }
                    self.restart_mining();
                }
            }
        }
    }

    // ---- mining ----

    fn wants_mining(&self) -> bool {
        self.config.mine || self.generating.is_some()
    }

    fn restart_mining(&mut self) {
        let wants = self.wants_mining();
        let tip = self.chain.tip();
        let Some(miner) = &mut self.miner else {
            return;
        };
        if let Some((_, cancel, on)) = &miner.current {
            if *on == tip && wants {
                return;
            }
            cancel.store(true, Ordering::Relaxed);
            miner.current = None;
        }
        if !wants {
            return;
        }
        let template =
            match self
                .chain
                .block_template(&self.mempool, self.config.coinbase, unix_now())
            {
                Ok(template) => template,
                Err(error) => {
                    tracing::error!(%error, "cannot build a block template");
                    return;
                }
            };
        let id = miner.next_job;
        miner.next_job += 1;
        let cancel = Arc::new(AtomicBool::new(false));
        if miner
            .jobs
            .send(Job {
                id,
                template,
                cancel: Arc::clone(&cancel),
            })
            .is_ok()
        {
            miner.current = Some((id, cancel, tip));
        }
    }

    fn on_mined(&mut self, job: u64, result: Result<Option<Block>, MinerError>) {
        let current = self
            .miner
            .as_ref()
            .and_then(|m| m.current.as_ref())
            .is_some_and(|(id, _, _)| *id == job);
        if !current {
            return;
        }
        if let Some(miner) = &mut self.miner {
            miner.current = None;
        }
        match result {
            Ok(Some(block)) => {
                self.queue.push_back(Incoming {
                    from: None,
                    block,
                    gossip: None,
                });
                self.drain();
                self.restart_mining();
            }
            Ok(None) => self.restart_mining(),
            Err(error) => {
                tracing::warn!(%error, "mining failed; mining stops");
                self.config.mine = false;
                if let Some(generating) = self.generating.take() {
                    let _ = generating
                        .reply
                        .send(Err(QueryError::Unavailable(error.to_string())));
                }
            }
        }
    }

    fn finish_generating(&mut self) {
        if self.generating.as_ref().is_some_and(|g| g.remaining == 0)
            && let Some(generating) = self.generating.take()
        {
            let _ = generating.reply.send(Ok(generating.mined));
        }
    }

    // ---- the clock ----

    fn on_tick(&mut self) {
        let now = Instant::now();
        let expired: Vec<BlockHash> = self
            .parked
            .iter()
            .filter(|(_, p)| now >= p.deadline)
            .map(|(h, _)| *h)
            .collect();
        for hash in expired {
            self.drop_parked(&hash, Verdict::Ignore);
        }
        let due: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| now >= p.next_status)
            .map(|(id, _)| *id)
            .collect();
        for peer in due {
            if let Some(p) = self.peers.get_mut(&peer) {
                p.next_status = now + self.config.sync.status_every;
            }
            let status = self.status();
            self.request(peer, Request::Status(status), Pending::Status);
        }
        self.plan_downloads();
    }

    // ---- queries ----

    fn utxo_info(&self, outpoint: OutPoint, entry: &UtxoEntry) -> UtxoInfo {
        let next_height = self.chain.height().saturating_add(1);
        let maturity = self.chain.params().coinbase_maturity;
        let mature = entry.is_mature_at(next_height, maturity);
        UtxoInfo {
            txid: outpoint.txid.to_string(),
            vout: outpoint.vout,
            amount: entry.output.amount.to_base_units(),
            address: entry.output.address.to_string(),
            height: entry.height,
            coinbase: entry.is_coinbase,
            spendable: mature && self.mempool.spender_of(&outpoint).is_none(),
        }
    }

    fn on_query(&mut self, query: Query) {
        match query {
            Query::ChainInfo(reply) => {
                let info = ChainInfo {
                    genesis: self.config.net.genesis.to_string(),
                    blocks: self.chain.height(),
                    bestblockhash: self.chain.tip().to_string(),
                    chainwork: self.chain.tip_work().to_string(),
                    next_bits: self
                        .chain
                        .params()
                        .required_target(&self.chain.tip_block().header)
                        .to_bits(),
                    peers: self.peers.len(),
                    downloading: self.window.pending(),
                };
                let _ = reply.send(Ok(info));
            }
            Query::BlockHash { height, reply } => {
                let answer = self
                    .chain
                    .best_hash(height)
                    .map_err(internal)
                    .and_then(|hash| {
                        hash.map(|h| h.to_string()).ok_or_else(|| {
                            QueryError::NotFound(format!("no block at height {height}"))
                        })
                    });
                let _ = reply.send(answer);
            }
            Query::Block { hash, reply } => {
                let _ = reply.send(self.block_info(&hash));
            }
            Query::TxOut { txid, vout, reply } => {
                let answer = txid
                    .parse::<Txid>()
                    .map_err(|e| QueryError::InvalidParameter(format!("txid: {e}")))
                    .and_then(|txid| {
                        let outpoint = OutPoint { txid, vout };
                        let entry = self.chain.utxo(&outpoint).map_err(internal)?;
                        Ok(entry.map(|entry| self.utxo_info(outpoint, &entry)))
                    });
                let _ = reply.send(answer);
            }
            Query::AddressUtxos { address, reply } => {
                let answer = address
                    .parse::<Address>()
                    .map_err(|e| QueryError::InvalidParameter(format!("address: {e}")))
                    .and_then(|address| {
                        let outputs = self.chain.outputs_of(&address).map_err(internal)?;
                        Ok(outputs.iter().map(|(o, e)| self.utxo_info(*o, e)).collect())
                    });
                let _ = reply.send(answer);
            }
            Query::SendRawTransaction { hex, reply } => {
                let _ = reply.send(self.send_raw_transaction(&hex));
            }
            Query::Peers(reply) => {
                let mut peers: Vec<PeerInfo> = self
                    .peers
                    .iter()
                    .map(|(id, p)| PeerInfo {
                        id: id.to_string(),
                        height: p.status.map(|s| s.height),
                        tip: p.status.map(|s| s.tip.to_string()),
                    })
                    .collect();
                peers.sort_by(|a, b| a.id.cmp(&b.id));
                let _ = reply.send(Ok(peers));
            }
            Query::MempoolInfo(reply) => {
                let _ = reply.send(Ok(MempoolInfo {
                    size: self.mempool.len(),
                    bytes: self.mempool.bytes(),
                }));
            }
            Query::Generate { blocks, reply } => {
                if self.miner.is_none() {
                    let _ = reply.send(Err(QueryError::Unavailable(
                        "this node has no miner".into(),
                    )));
                } else if self.generating.is_some() {
                    let _ = reply.send(Err(QueryError::Unavailable(
                        "a generate call is already running".into(),
                    )));
                } else if blocks == 0 {
                    let _ = reply.send(Ok(Vec::new()));
                } else {
                    self.generating = Some(Generating {
                        remaining: blocks,
                        mined: Vec::new(),
                        reply,
                    });
                    self.restart_mining();
                }
            }
            Query::Dial { address, reply } => {
                let _ = reply.send(
                    self.net
                        .dial(address)
                        .map_err(|e| QueryError::Unavailable(e.to_string())),
                );
            }
            Query::Snapshot(reply) => {
                let _ = reply.send(self.snapshot());
            }
        }
    }

    fn snapshot(&self) -> Result<Snapshot, QueryError> {
        let rebuilt = self.chain.rebuild_utxo_set().map_err(internal)?;
        let utxos = self.chain.utxo_set().map_err(internal)?;
        Ok(Snapshot {
            tip: self.chain.tip(),
            height: self.chain.height(),
            work: self.chain.tip_work(),
            utxos_match_rebuild: rebuilt == utxos,
            utxo_value: utxos.total_value(),
            peers: self.peers.len(),
            banned: self.banned.clone(),
            mempool: self.mempool.len(),
            downloading: self.window.pending(),
            blocks_received: self.blocks_received,
            bytes_received: self.bytes_received,
        })
    }

    /// Whether the chain holds `hash`; a store failure is logged and counts as not held (the
    /// block is then asked for again, never accepted unchecked).
    fn knows(&self, hash: &BlockHash) -> bool {
        match self.chain.block_meta(hash) {
            Ok(meta) => meta.is_some(),
            Err(error) => {
                tracing::error!(%error, %hash, "cannot read the chain store");
                false
            }
        }
    }

    /// A block the chain holds; a store failure is logged and answers `None`.
    fn stored_block(&self, hash: &BlockHash) -> Option<Block> {
        match self.chain.block(hash) {
            Ok(block) => block,
            Err(error) => {
                tracing::error!(%error, %hash, "cannot read the chain store");
                None
            }
        }
    }

    fn block_info(&self, hash: &str) -> Result<BlockInfo, QueryError> {
        let hash: BlockHash = hash
            .parse()
            .map_err(|e| QueryError::InvalidParameter(format!("block hash: {e}")))?;
        let block = self
            .chain
            .block(&hash)
            .map_err(internal)?
            .ok_or_else(|| QueryError::NotFound(format!("block {hash}")))?;
        Ok(BlockInfo {
            hash: hash.to_string(),
            height: block.header.height,
            previousblockhash: block.header.prev_hash.to_string(),
            time: block.header.timestamp,
            bits: block.header.bits.to_bits(),
            steps: block.header.training.steps,
            in_best_chain: self.chain.is_on_best_chain(&hash).map_err(internal)?,
            tx: block
                .transactions
                .iter()
                .map(|t| t.txid().to_string())
                .collect(),
            hex: hex::encode(block.encode()),
        })
    }

    fn send_raw_transaction(&mut self, hex_text: &str) -> Result<String, QueryError> {
        let bytes = hex::decode(hex_text.trim())
            .map_err(|e| QueryError::InvalidParameter(format!("not hex: {e}")))?;
        let transaction = Transaction::decode(&bytes)
            .map_err(|e| QueryError::InvalidParameter(format!("not a transaction: {e}")))?;
        let txid = self
            .mempool
            .add(transaction.clone(), &self.chain)
            .map_err(|e| QueryError::Rejected(e.to_string()))?;
        let _ = self.net.publish_transaction(&transaction);
        Ok(txid.to_string())
    }
}
