//! What the node tests share: regtest chains, nodes on 127.0.0.1, bounded waits, and raw
//! `ann-net` peers that play the adversary.
#![allow(dead_code, missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use ann_ledger::{
    Amount, Block, BlockHash, Chain, ChainParams, ChainStore, Difficulty, OutPoint, Transaction,
    TxOut, UtxoEntry, Wallet,
};
use ann_net::libp2p::Multiaddr;
use ann_net::{NetConfig, NetEvent, NetworkHandle, Request, Response};
use ann_node::{Node, NodeConfig, NodeHandle, Snapshot, SyncConfig};
use ed25519_dalek::SigningKey;
use tokio::sync::mpsc::UnboundedReceiver;

pub const GENESIS_TIME: u64 = 1_700_000_000;
/// Every wait in these tests ends within this.
pub const WAIT: Duration = Duration::from_secs(60);
/// Genesis outputs paying the test wallet, one coin each (so payments need no unconfirmed
/// chains).
pub const GENESIS_OUTPUTS: usize = 60;

pub fn wallet(seed: u8) -> Wallet {
    Wallet::new(SigningKey::from_bytes(&[seed; 32]))
}

pub fn params() -> ChainParams {
    let payer = wallet(1).address();
    let genesis = (0..GENESIS_OUTPUTS)
        .map(|_| TxOut {
            amount: Amount::from_coins(1).unwrap(),
            address: payer,
        })
        .collect();
    ChainParams::new(genesis, GENESIS_TIME, Difficulty::regtest())
}

pub fn genesis() -> BlockHash {
    Chain::new(params()).unwrap().tip()
}

/// Test-speed sync: short timeouts, status every second.
pub fn fast_sync() -> SyncConfig {
    SyncConfig {
        window: 16,
        block_timeout: Duration::from_secs(2),
        artifact_timeout: Duration::from_secs(10),
        status_every: Duration::from_secs(1),
        ..SyncConfig::default()
    }
}

pub fn config(bootstrap: &[Multiaddr], seed: u8) -> NodeConfig {
    let mut config = NodeConfig::local(genesis(), wallet(100u8.wrapping_add(seed)).address());
    config.bootstrap = bootstrap.to_vec();
    config.sync = fast_sync();
    config
}

pub fn start_with<S: ChainStore + Send + 'static>(
    config: NodeConfig,
    chain: Chain<S>,
    seed: u8,
) -> Node {
    ann_node::regtest::start_node(config, chain, u64::from(seed)).unwrap()
}

/// A regtest node with an in-memory chain, dialling `bootstrap`.
pub fn start(bootstrap: &[Multiaddr], seed: u8) -> Node {
    start_with(config(bootstrap, seed), Chain::new(params()).unwrap(), seed)
}

pub fn snapshot(node: &NodeHandle) -> Snapshot {
    node.snapshot().unwrap()
}

/// Polls `condition` until it holds; panics with `what` after [`WAIT`].
pub fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until every node has the same tip at `height` or more; returns it.
pub fn wait_converged(nodes: &[NodeHandle], height: u64) -> BlockHash {
    let mut tip = None;
    wait_for(
        &format!("{} nodes to agree at height >= {height}", nodes.len()),
        || {
            let snaps: Vec<Snapshot> = nodes.iter().map(snapshot).collect();
            let agreed = snaps.windows(2).all(|w| w[0].tip == w[1].tip);
            tip = Some(snaps[0].tip);
            agreed && snaps[0].height >= height
        },
    );
    tip.unwrap()
}

/// Waits until `node` has at least `peers` peers.
pub fn wait_peers(node: &NodeHandle, peers: usize) {
    wait_for(&format!("{peers} peers"), || snapshot(node).peers >= peers);
}

/// A payment of `amount` base units from the test wallet's genesis output `index` to `to`.
pub fn payment(index: usize, to: &Wallet, amount: u64) -> Transaction {
    let genesis = Chain::new(params()).unwrap();
    let coinbase = genesis.tip_block().transactions[0].txid();
    let outpoint = OutPoint {
        txid: coinbase,
        vout: index as u32,
    };
    let entry = UtxoEntry {
        output: TxOut {
            amount: Amount::from_coins(1).unwrap(),
            address: wallet(1).address(),
        },
        height: 0,
        is_coinbase: true,
    };
    wallet(1)
        .pay_from(
            vec![(outpoint, entry)],
            to.address(),
            Amount::from_base_units(amount).unwrap(),
            Amount::from_base_units(10_000).unwrap(),
        )
        .unwrap()
}

/// A raw `ann-net` peer, driven by the test: the adversary.
pub struct RawPeer {
    pub net: NetworkHandle,
    pub events: UnboundedReceiver<NetEvent>,
    pub runtime: tokio::runtime::Runtime,
}

impl RawPeer {
    pub fn start(genesis: BlockHash) -> RawPeer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (net, events) = {
            let _entered = runtime.enter();
            ann_net::start(NetConfig::local(genesis)).unwrap()
        };
        RawPeer {
            net,
            events,
            runtime,
        }
    }

    /// The next event, waiting at most [`WAIT`].
    pub fn next(&mut self) -> Option<NetEvent> {
        let events = &mut self.events;
        self.runtime.block_on(async {
            tokio::time::timeout(WAIT, events.recv())
                .await
                .ok()
                .flatten()
        })
    }

    /// Dials `node` and waits until it subscribed to our block topic.
    pub fn connect(&mut self, node: &NodeHandle) {
        self.net.dial(node.listen_address()).unwrap();
        loop {
            match self.next() {
                Some(NetEvent::Subscribed { peer, topic })
                    if peer == node.peer_id() && topic.contains("/block/") =>
                {
                    return;
                }
                Some(_) => {}
                None => panic!("the node never subscribed"),
            }
        }
    }
}

/// A block that the regtest proof refuses: another task.
pub fn block_with_wrong_task(chain_tip: &Block) -> Block {
    let mut block = chain_tip.clone();
    block.header.height += 1;
    block.header.prev_hash = chain_tip.hash();
    block.header.timestamp += 1;
    block.header.training.task_id = ann_ledger::TaskId::from_bytes([9; 32]);
    block
}

/// Answers the node's requests with `answer` (those it returns `None` for go unanswered)
/// until the node bans us (the connection closes) or [`WAIT`] passes.
pub fn answer_requests(peer: &mut RawPeer, mut answer: impl FnMut(&Request) -> Option<Response>) {
    while let Some(event) = peer.next() {
        match event {
            NetEvent::Request {
                request, channel, ..
            } => {
                if let Some(response) = answer(&request) {
                    peer.net.respond(channel, response).unwrap();
                }
            }
            NetEvent::Disconnected(_) => return,
            _ => {}
        }
    }
}
