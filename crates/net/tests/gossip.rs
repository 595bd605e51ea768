//! Real libp2p nodes on 127.0.0.1: a block gossiped to a peer that reports it valid is relayed
//! along a line of three nodes; a status request is answered; a peer gossiping bytes that are
//! not a block is banned and disconnected. Every wait is bounded.

use std::time::Duration;

use ann_ledger::{Block, ChainParams, Difficulty, Encode};
use ann_net::{NetConfig, NetEvent, NetworkHandle, Request, Response, Status, Verdict, start};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(20);

fn genesis() -> Block {
    ChainParams::new(Vec::new(), 1_700_000_000, Difficulty::regtest()).genesis_block()
}

/// A block to gossip: genesis's header with another timestamp (the network layer only
/// decodes; validation is the application's, reported as a verdict).
fn some_block(seconds: u64) -> Block {
    let mut block = genesis();
    block.header.timestamp += seconds;
    block
}

struct Node {
    handle: NetworkHandle,
    events: UnboundedReceiver<NetEvent>,
    address: libp2p::Multiaddr,
}

async fn node() -> Node {
    let (handle, mut events) = start(NetConfig::local(genesis().hash())).expect("starts");
    let address = timeout(WAIT, async {
        loop {
            if let Some(NetEvent::Listening(address)) = events.recv().await {
                return address;
            }
        }
    })
    .await
    .expect("listens within the bound");
    Node {
        handle,
        events,
        address,
    }
}

/// Waits for the first event `pick` accepts, within the bound.
async fn wait_for<T>(
    events: &mut UnboundedReceiver<NetEvent>,
    what: &str,
    mut pick: impl FnMut(NetEvent) -> Option<T>,
) -> T {
    timeout(WAIT, async {
        loop {
            match events.recv().await {
                Some(event) => {
                    if let Some(found) = pick(event) {
                        return found;
                    }
                }
                None => panic!("the node stopped while waiting for {what}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {what} within {WAIT:?}"))
}

async fn connect(from: &mut Node, to: &mut Node) {
    from.handle.dial(to.address.clone()).expect("running");
    let to_id = to.handle.peer_id();
    let from_id = from.handle.peer_id();
    // Both peers' subscriptions to the block topic, as each side sees them.
    let blocks = NetConfig::local(genesis().hash()).block_topic().to_string();
    wait_for(&mut from.events, "subscription", |e| match e {
        NetEvent::Subscribed { peer, topic } if peer == to_id && topic == blocks => Some(()),
        _ => None,
    })
    .await;
    wait_for(&mut to.events, "subscription", |e| match e {
        NetEvent::Subscribed { peer, topic } if peer == from_id && topic == blocks => Some(()),
        _ => None,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_reported_valid_is_relayed_along_a_line() {
    let (mut a, mut b, mut c) = (node().await, node().await, node().await);
    connect(&mut a, &mut b).await;
    connect(&mut b, &mut c).await;
    let block = some_block(1);
    a.handle.publish_block(&block).expect("running");
    // B decodes it and must say whether it is valid before gossipsub relays it.
    let (from, id, got) = wait_for(&mut b.events, "the block at B", |e| match e {
        NetEvent::Block { from, id, block } => Some((from, id, block)),
        _ => None,
    })
    .await;
    assert_eq!(from, a.handle.peer_id());
    assert_eq!(*got, block);
    b.handle.report(from, id, Verdict::Accept).expect("running");
    let at_c = wait_for(&mut c.events, "the block at C", |e| match e {
        NetEvent::Block { from, block, .. } => Some((from, block)),
        _ => None,
    })
    .await;
    assert_eq!(
        at_c.0,
        b.handle.peer_id(),
        "relayed by B, C is not connected to A"
    );
    assert_eq!(*at_c.1, block);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_reported_invalid_is_not_relayed_and_bans_its_sender() {
    let (mut a, mut b, mut c) = (node().await, node().await, node().await);
    connect(&mut a, &mut b).await;
    connect(&mut b, &mut c).await;
    a.handle.publish_block(&some_block(2)).expect("running");
    let (from, id) = wait_for(&mut b.events, "the block at B", |e| match e {
        NetEvent::Block { from, id, .. } => Some((from, id)),
        _ => None,
    })
    .await;
    b.handle
        .report(from, id, Verdict::Reject { penalty: 100 })
        .expect("running");
    let banned = wait_for(&mut b.events, "a ban", |e| match e {
        NetEvent::Banned(peer) => Some(peer),
        _ => None,
    })
    .await;
    assert_eq!(banned, a.handle.peer_id());
    // C never sees the block: wait a while and check nothing arrived.
    let seen = timeout(Duration::from_secs(2), async {
        loop {
            if let Some(NetEvent::Block { .. }) = c.events.recv().await {
                return;
            }
        }
    })
    .await;
    assert!(seen.is_err(), "an invalid block was relayed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_gossip_gets_its_sender_banned_and_disconnected() {
    let (mut a, mut b) = (node().await, node().await);
    connect(&mut a, &mut b).await;
    let topic = NetConfig::local(genesis().hash()).block_topic();
    a.handle
        .publish_raw(topic, b"not a block at all".to_vec())
        .expect("running");
    let banned = wait_for(&mut b.events, "a ban", |e| match e {
        NetEvent::Banned(peer) => Some(peer),
        NetEvent::Block { .. } => panic!("junk decoded as a block"),
        _ => None,
    })
    .await;
    assert_eq!(banned, a.handle.peer_id());
    let a_id = a.handle.peer_id();
    wait_for(&mut b.events, "the disconnection", |e| match e {
        NetEvent::Disconnected(peer) if peer == a_id => Some(()),
        _ => None,
    })
    .await;
    // And it cannot come back.
    a.handle.dial(b.address.clone()).expect("running");
    let reconnected = timeout(Duration::from_secs(2), async {
        loop {
            if let Some(NetEvent::Subscribed { peer, .. }) = b.events.recv().await
                && peer == a_id
            {
                return;
            }
        }
    })
    .await;
    assert!(reconnected.is_err(), "a banned peer reconnected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_request_is_answered() {
    let (mut a, mut b) = (node().await, node().await);
    connect(&mut a, &mut b).await;
    let ours = Status {
        genesis: genesis().hash(),
        tip: genesis().hash(),
        height: 0,
        work: 1,
    };
    let id = a
        .handle
        .request(b.handle.peer_id(), Request::Status(ours))
        .await
        .expect("running");
    let (request, channel) = wait_for(&mut b.events, "the request", |e| match e {
        NetEvent::Request {
            request, channel, ..
        } => Some((request, channel)),
        _ => None,
    })
    .await;
    assert_eq!(request, Request::Status(ours));
    let theirs = Status {
        height: 7,
        work: 8,
        ..ours
    };
    b.handle
        .respond(channel, Response::Status(theirs))
        .expect("running");
    let (answer_id, response) = wait_for(&mut a.events, "the response", |e| match e {
        NetEvent::Response { id, response, .. } => Some((id, response)),
        _ => None,
    })
    .await;
    assert_eq!(answer_id, id);
    assert_eq!(response, Response::Status(theirs));
    // The block the wire carries is the ledger's canonical encoding.
    assert_eq!(some_block(3).encode().len(), some_block(3).encoded_len());
}
