//! Sync logic: locators, headers served after a locator (also from a fork), the download
//! window's bounds and retries, the orphan pool's bounds.

use std::time::{Duration, Instant};

use ann_ledger::{
    Block, BlockHash, BlockHeader, Chain, ChainParams, CheckpointRoot, Difficulty, Mempool,
    ModelHash, ProofVerifier, TaskId, TrainingCommitment, Wallet,
};
use ann_net::sync::{DownloadWindow, OrphanPool, chain_locator, headers_after, locator};
use ann_net::wire::MAX_BLOCKS;
use ed25519_dalek::SigningKey;

struct AnyProof;
impl ProofVerifier for AnyProof {
    type Error = std::convert::Infallible;
    fn verify_proof(&self, _: &BlockHeader) -> Result<(), Self::Error> {
        Ok(())
    }
}

const NOW: u64 = 1_800_000_000;

fn chain_of(blocks: u64) -> Chain {
    let mut chain = Chain::new(ChainParams::new(
        Vec::new(),
        1_700_000_000,
        Difficulty::regtest(),
    ))
    .expect("genesis");
    let miner = Wallet::new(SigningKey::from_bytes(&[3; 32]));
    for i in 0..blocks {
        let mut block = chain
            .block_template(&Mempool::new(), miner.address(), 1_700_000_600 + i)
            .expect("chain store");
        block.header.training = TrainingCommitment {
            task_id: TaskId::from_bytes([1; 32]),
            steps: 10,
            checkpoint_root: CheckpointRoot::from_bytes([2; 32]),
            model_hash: ModelHash::from_bytes([(i % 250) as u8 + 1; 32]),
        };
        chain.submit_block(block, NOW, &AnyProof).expect("valid");
    }
    chain
}

#[test]
fn locators_are_dense_then_sparse_and_end_at_genesis() {
    let hashes: Vec<BlockHash> = (0..1_000u32)
        .map(|i| {
            let mut b = [0u8; 32];
            b[..4].copy_from_slice(&i.to_le_bytes());
            BlockHash::from_bytes(b)
        })
        .collect();
    let loc = locator(&hashes);
    assert_eq!(loc[0], hashes[999]);
    assert_eq!(loc[9], hashes[990]);
    assert_eq!(*loc.last().expect("nonempty"), hashes[0]);
    assert!(loc.len() <= ann_net::wire::MAX_LOCATOR);
    assert!(loc.len() < 30, "{}", loc.len());
    assert_eq!(locator(&hashes[..1]), vec![hashes[0]]);
    assert!(locator(&[]).is_empty());
}

#[test]
fn headers_follow_the_last_common_block() {
    let ours = chain_of(30);
    let theirs = chain_of(12); // the same blocks (same templates): a prefix of ours
    assert_eq!(
        theirs.best_chain().unwrap(),
        ours.best_chain().unwrap()[..13]
    );
    let headers = headers_after(&ours, &locator(&theirs.best_chain().unwrap()), 2_000).unwrap();
    assert_eq!(headers.len(), 18);
    assert_eq!(headers[0].height, 13);
    assert_eq!(headers[0].prev_hash, theirs.tip());
    // A cap on the count, and a locator we know nothing of starts after genesis.
    assert_eq!(
        headers_after(&ours, &chain_locator(&theirs).unwrap(), 5)
            .unwrap()
            .len(),
        5
    );
    let unknown = [BlockHash::from_bytes([0xee; 32])];
    assert_eq!(headers_after(&ours, &unknown, 2_000).unwrap()[0].height, 1);
    // Up to date: nothing.
    assert!(
        headers_after(&ours, &chain_locator(&ours).unwrap(), 2_000)
            .unwrap()
            .is_empty()
    );
}

fn hash(i: u8) -> BlockHash {
    BlockHash::from_bytes([i; 32])
}

#[test]
fn the_window_bounds_requests_and_retries_elsewhere() {
    let t0 = Instant::now();
    let mut window: DownloadWindow<&str> = DownloadWindow::new(8, Duration::from_secs(5));
    window.want((0..20).map(hash));
    window.want([hash(3)]); // already queued: not twice
    assert_eq!(window.pending(), 20);
    let requests = window.plan(&["a", "b"], t0);
    let asked: usize = requests.iter().map(|(_, r)| r.len()).sum();
    assert_eq!(asked, 8, "the window caps blocks in flight");
    // Queued and in-flight blocks are both known to the window.
    assert!(window.contains(&hash(0)) && window.contains(&hash(19)));
    assert!(!window.contains(&hash(20)));
    assert!(requests.iter().all(|(_, r)| r.len() <= MAX_BLOCKS));
    assert_eq!(requests[0], ("a", (0..4).map(hash).collect::<Vec<_>>()));
    assert_eq!(requests[1], ("b", (4..8).map(hash).collect::<Vec<_>>()));
    // Nothing more until something arrives.
    assert!(window.plan(&["a", "b"], t0).is_empty());
    for i in 0..4 {
        window.received(&hash(i));
    }
    assert!(
        !window.contains(&hash(0)),
        "a received block is no longer pending"
    );
    let next = window.plan(&["a", "b"], t0 + Duration::from_secs(1));
    assert_eq!(next, vec![("a", (8..12).map(hash).collect::<Vec<_>>())]);
    // Peer b never answers: after the timeout its blocks go to another peer, first.
    let retry = window.plan(&["a", "b"], t0 + Duration::from_millis(5_500));
    assert_eq!(retry[0].0, "a");
    assert_eq!(retry[0].1, (4..8).map(hash).collect::<Vec<_>>());
    assert_eq!(window.pending(), 20 - 4);
}

fn orphan(parent: u8, salt: u8) -> Block {
    let mut block =
        ChainParams::new(Vec::new(), 1_700_000_000, Difficulty::regtest()).genesis_block();
    block.header.prev_hash = hash(parent);
    block.header.timestamp += u64::from(salt);
    block
}

#[test]
fn the_orphan_pool_is_bounded_in_total_and_per_peer() {
    let mut pool: OrphanPool<&str> = OrphanPool::new(5, 3);
    for salt in 0..4 {
        pool.insert("flooder", orphan(1, salt));
    }
    assert_eq!(pool.len(), 3, "one peer holds at most 3");
    pool.insert("honest", orphan(2, 100));
    pool.insert("honest", orphan(2, 101));
    pool.insert("other", orphan(1, 102));
    assert_eq!(pool.len(), 5, "at most 5 in all");
    let children = pool.take_children(&hash(2));
    assert_eq!(children.len(), 2);
    assert!(children.iter().all(|(p, _)| *p == "honest"));
    assert_eq!(pool.len(), 3);
    assert!(pool.take_children(&hash(9)).is_empty());
}

#[test]
fn the_orphan_pool_is_bounded_in_bytes() {
    let size = orphan(1, 0).encoded_len();
    // Room for two and a half blocks: the third insert drops the oldest.
    let mut pool: OrphanPool<&str> = OrphanPool::new(100, 100).with_max_bytes(size * 5 / 2);
    for salt in 0..3 {
        pool.insert("peer", orphan(1, salt));
    }
    assert_eq!(pool.len(), 2);
    assert_eq!(pool.bytes(), 2 * size);
    assert!(
        !pool.contains(&orphan(1, 0).hash()),
        "the oldest went first"
    );
    // A block larger than the whole bound is not kept, and drops nothing.
    let mut small: OrphanPool<&str> = OrphanPool::new(100, 100).with_max_bytes(size - 1);
    small.insert("peer", orphan(1, 0));
    assert!(small.is_empty());
    assert_eq!(small.bytes(), 0);
    // Taking children gives their bytes back.
    assert_eq!(pool.take_children(&hash(1)).len(), 2);
    assert_eq!(pool.bytes(), 0);
}
