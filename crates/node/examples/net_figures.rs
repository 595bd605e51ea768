//! The network's figures on 127.0.0.1: time for a block to reach every node of five (median
//! and p95), block bytes received per block per node, initial sync in blocks/s without the
//! proof audit (regtest) and with it (devnet blocks mined by training, artifacts fetched and
//! audited), and the time from a bad message to the ban.
//!
//! ```sh
//! cargo run --release -p ann-node --example net_figures -- [BLOCKS] [SYNC_BLOCKS] [TRAINED_BLOCKS]
//! ```
#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ann_ledger::{Chain, ChainParams, Difficulty, Wallet};
use ann_mining::{ArtifactStore, Miner, Mnist, Task, TrainingVerifier};
use ann_net::{NetConfig, NetEvent};
use ann_node::{BlockMiner, Node, NodeConfig, NodeHandle, TrainingArtifacts, TrainingMiner};
use ed25519_dalek::SigningKey;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn regtest() -> ChainParams {
    ChainParams::new(Vec::new(), 1_700_000_000, Difficulty::regtest())
}

fn coinbase(seed: u8) -> ann_ledger::Address {
    Wallet::new(SigningKey::from_bytes(&[seed; 32])).address()
}

fn regtest_node(bootstrap: Vec<ann_net::libp2p::Multiaddr>, seed: u8) -> Node {
    let chain = Chain::new(regtest()).unwrap();
    let mut config = NodeConfig::local(chain.tip(), coinbase(seed));
    config.bootstrap = bootstrap;
    config.rpc = None;
    config.sync.status_every = Duration::from_secs(1);
    ann_node::regtest::start_node(config, chain, u64::from(seed)).unwrap()
}

fn wait(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out: {what}");
        std::thread::sleep(Duration::from_micros(200));
    }
    start.elapsed()
}

fn tip(node: &NodeHandle) -> String {
    node.chain_info().unwrap().bestblockhash
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let blocks = args.first().copied().unwrap_or(50);
    let sync_blocks = args.get(1).copied().unwrap_or(1_000);
    let trained_blocks = args.get(2).copied().unwrap_or(5);
    let limit = Duration::from_secs(300);

    // Five nodes in a line: the farthest is four hops from the miner.
    let mut nodes: Vec<Node> = Vec::new();
    for i in 0..5u8 {
        let bootstrap = nodes
            .last()
            .map(|n| vec![n.handle().listen_address()])
            .unwrap_or_default();
        nodes.push(regtest_node(bootstrap, i + 1));
    }
    let handles: Vec<NodeHandle> = nodes.iter().map(Node::handle).collect();
    wait("the line to connect", limit, || {
        handles
            .iter()
            .enumerate()
            .all(|(i, h)| h.chain_info().unwrap().peers >= if i == 0 || i == 4 { 1 } else { 2 })
    });
    std::thread::sleep(Duration::from_secs(2));
    let mut times = Vec::new();
    for b in 0..blocks {
        let miner = &handles[(b as usize * 2) % 5];
        let mined = miner.generate(1).unwrap();
        let hash = mined[0].clone();
        times.push(wait("the block to reach every node", limit, || {
            handles.iter().all(|h| tip(h) == hash)
        }));
    }
    times.sort();
    let received: u64 = handles
        .iter()
        .map(|h| h.snapshot().unwrap().bytes_received)
        .sum();
    println!(
        "propagation to all 5 nodes (line, 4 hops), {blocks} blocks: median {:.2} ms, p95 {:.2} ms, max {:.2} ms",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.95).as_secs_f64() * 1e3,
        times.last().unwrap().as_secs_f64() * 1e3,
    );
    println!(
        "block bytes received per block per node: {:.0} (a regtest block with its coinbase; libp2p framing not counted)",
        received as f64 / (blocks as f64 * 5.0)
    );

    // Initial sync without the audit: a fresh node catching up on a long regtest chain.
    handles[0]
        .generate(u32::try_from(sync_blocks).unwrap())
        .unwrap();
    let target = tip(&handles[0]);
    wait("the line to take the long chain", limit, || {
        handles.iter().all(|h| tip(h) == target)
    });
    let height = handles[0].chain_info().unwrap().blocks;
    let late = regtest_node(
        vec![handles[0].listen_address(), handles[2].listen_address()],
        9,
    );
    let took = wait("the late node to sync", limit, || {
        tip(&late.handle()) == target
    });
    println!(
        "initial sync without proof audit (regtest): {height} blocks in {:.2} s = {:.0} blocks/s",
        took.as_secs_f64(),
        height as f64 / took.as_secs_f64()
    );

    // Time from a bad message to the ban: junk on the block topic.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let genesis = Chain::new(regtest()).unwrap().tip();
    let (net, mut events) = {
        let _entered = runtime.enter();
        ann_net::start(NetConfig::local(genesis)).unwrap()
    };
    net.dial(handles[4].listen_address()).unwrap();
    runtime.block_on(async {
        while let Some(event) = events.recv().await {
            if matches!(event, NetEvent::Subscribed { ref topic, .. } if topic.contains("/block/"))
            {
                break;
            }
        }
    });
    // Timed on the attacker's side: from publishing junk to the node closing the connection
    // (the ban disconnects), with no polling of the node in between.
    let victim = handles[4].peer_id();
    let bad_at = Instant::now();
    net.publish_raw(NetConfig::local(genesis).block_topic(), vec![0xee; 200])
        .unwrap();
    let to_ban = runtime.block_on(async {
        tokio::time::timeout(limit, async {
            while let Some(event) = events.recv().await {
                if matches!(event, NetEvent::Disconnected(peer) if peer == victim) {
                    return bad_at.elapsed();
                }
            }
            panic!("the attacker's network stopped");
        })
        .await
        .expect("timed out: the ban")
    });
    let peer = net.peer_id();
    assert!(
        handles[4].snapshot().unwrap().banned.contains(&peer),
        "the node disconnected the attacker without banning it"
    );
    println!(
        "junk gossip to ban (the node closes the connection): {:.2} ms",
        to_ban.as_secs_f64() * 1e3
    );
    drop(late);
    drop(nodes);

    // Initial sync with the audit: devnet blocks mined by training.
    if trained_blocks == 0 {
        return;
    }
    let data_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist");
    let data = Arc::new(Mnist::load(&data_dir).unwrap());
    let task = Task::mnist(data.hash());
    let params = || ChainParams::new(Vec::new(), 1_767_225_600, Difficulty::devnet());
    let training_node = |dir: &Path, mine: bool, bootstrap: Vec<ann_net::libp2p::Multiaddr>| {
        let store = ArtifactStore::open(dir).unwrap();
        let verifier =
            TrainingVerifier::new(task.clone(), Arc::clone(&data), store.clone()).unwrap();
        let miner: Option<Box<dyn BlockMiner>> = mine.then(|| {
            Box::new(TrainingMiner::new(
                Miner::new(task.clone(), Arc::clone(&data), store.clone()).unwrap(),
            )) as Box<dyn BlockMiner>
        });
        let chain = Chain::new(params()).unwrap();
        let mut config = NodeConfig::local(chain.tip(), coinbase(1));
        config.bootstrap = bootstrap;
        config.rpc = None;
        Node::start(
            config,
            chain,
            verifier,
            TrainingArtifacts::new(store, task.clone()),
            miner,
        )
        .unwrap()
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let miner = training_node(dir_a.path(), true, Vec::new());
    let mined_at = Instant::now();
    miner
        .handle()
        .generate(u32::try_from(trained_blocks).unwrap())
        .unwrap();
    let mining = mined_at.elapsed();
    let target = tip(&miner.handle());
    let late = training_node(dir_b.path(), false, vec![miner.handle().listen_address()]);
    let took = wait("the trained chain to sync", limit, || {
        tip(&late.handle()) == target
    });
    let s = late.handle().snapshot().unwrap();
    println!(
        "initial sync with proof audit (devnet, flex): {trained_blocks} blocks in {:.2} s = {:.1} blocks/s ({:.1} MB of blocks and artifacts fetched; mining them took {:.1} s)",
        took.as_secs_f64(),
        trained_blocks as f64 / took.as_secs_f64(),
        s.bytes_received as f64 / 1e6,
        mining.as_secs_f64()
    );
}
