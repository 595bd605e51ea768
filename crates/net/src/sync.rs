//! Catching up with peers: block locators, serving headers after a locator, a download
//! window with bounded requests in flight and retries on other peers, and a bounded pool of
//! orphan blocks (blocks whose parent has not arrived yet).
//!
//! This is the logic only (no I/O): the node feeds it headers, blocks and the clock, and
//! sends the requests it plans.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

use ann_ledger::{Block, BlockHash, BlockHeader, Chain, ChainError, ChainStore};

use crate::wire::{MAX_BLOCKS, MAX_HEADERS, MAX_LOCATOR};

/// The heights of a block locator for a best chain ending at `tip_height`: the last ten
/// heights one by one from the tip, then every 2nd, 4th, 8th... back, and always genesis; at
/// most [`MAX_LOCATOR`] heights.
pub fn locator_heights(tip_height: u64) -> Vec<u64> {
    let mut out = Vec::new();
    let mut height = tip_height;
    let mut step = 1u64;
    loop {
        out.push(height);
        if height == 0 || out.len() + 1 >= MAX_LOCATOR {
            break;
        }
        if out.len() >= 10 {
            step = step.saturating_mul(2);
        }
        height = height.saturating_sub(step);
    }
    if out.last() != Some(&0) {
        out.push(0);
    }
    out
}

/// A block locator for a best chain (`best[h]` is the hash at height `h`), at the heights of
/// [`locator_heights`].
pub fn locator(best: &[BlockHash]) -> Vec<BlockHash> {
    let Some(tip) = best.len().checked_sub(1) else {
        return Vec::new();
    };
    locator_heights(tip as u64)
        .into_iter()
        .filter_map(|height| best.get(usize::try_from(height).ok()?).copied())
        .collect()
}

/// The block locator of `chain`'s best chain (reads at most [`MAX_LOCATOR`] hashes).
///
/// # Errors
/// [`ChainError`] if the chain's store cannot be read.
pub fn chain_locator<S: ChainStore>(chain: &Chain<S>) -> Result<Vec<BlockHash>, ChainError> {
    locator_heights(chain.height())
        .into_iter()
        .map(|height| {
            chain.best_hash(height)?.ok_or_else(|| {
                ChainError::CorruptStore(format!("the best chain has no block at {height}"))
            })
        })
        .collect()
}

/// The headers of `chain`'s best chain after the first locator hash it has on its best
/// chain (genesis if none), at most `max` (and [`MAX_HEADERS`]).
///
/// # Errors
/// [`ChainError`] if the chain's store cannot be read.
pub fn headers_after<S: ChainStore>(
    chain: &Chain<S>,
    locator: &[BlockHash],
    max: usize,
) -> Result<Vec<BlockHeader>, ChainError> {
    let mut start = 0;
    for hash in locator {
        if chain.is_on_best_chain(hash)? {
            start = chain.block_meta(hash)?.map_or(0, |meta| meta.height);
            break;
        }
    }
    let max = max.min(MAX_HEADERS) as u64;
    let mut headers = Vec::new();
    for height in start + 1..=chain.height().min(start.saturating_add(max)) {
        if let Some(hash) = chain.best_hash(height)?
            && let Some(header) = chain.header(&hash)?
        {
            headers.push(header);
        }
    }
    Ok(headers)
}

/// Blocks whose parent is unknown, kept until it arrives: bounded in count, in bytes and per
/// peer, the oldest dropped first.
#[derive(Debug)]
pub struct OrphanPool<P> {
    blocks: HashMap<BlockHash, (P, Block, usize)>,
    order: VecDeque<BlockHash>,
    bytes: usize,
    max_total: usize,
    max_per_peer: usize,
    max_bytes: usize,
}

/// The default byte bound of an [`OrphanPool`]: eight full blocks. Orphans are unsolicited, so
/// 256 of them at 8 MB would be 2 GB of a stranger's choosing.
pub const DEFAULT_MAX_ORPHAN_BYTES: usize = 8 * ann_ledger::MAX_BLOCK_SIZE;

impl<P: Eq + Hash + Clone> OrphanPool<P> {
    /// A pool of at most `max_total` blocks, `max_per_peer` from any one peer, and
    /// [`DEFAULT_MAX_ORPHAN_BYTES`] of encoded blocks.
    pub fn new(max_total: usize, max_per_peer: usize) -> Self {
        OrphanPool {
            blocks: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
            max_total,
            max_per_peer,
            max_bytes: DEFAULT_MAX_ORPHAN_BYTES,
        }
    }

    /// The same pool holding at most `max_bytes` of encoded blocks.
    #[must_use]
    pub fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Encoded bytes of the blocks held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Blocks held.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Keeps `block` from `peer`; drops that peer's oldest orphan past its share, and the
    /// oldest orphans overall past the count or the bytes. A block larger than the byte bound
    /// is not kept.
    pub fn insert(&mut self, peer: P, block: Block) {
        let hash = block.hash();
        let size = block.encoded_len();
        if self.blocks.contains_key(&hash) || size > self.max_bytes {
            return;
        }
        let from_peer: Vec<BlockHash> = self
            .order
            .iter()
            .filter(|h| self.blocks.get(h).is_some_and(|(p, _, _)| *p == peer))
            .copied()
            .collect();
        if from_peer.len() >= self.max_per_peer
            && let Some(oldest) = from_peer.first()
        {
            self.take(oldest);
        }
        while self.blocks.len() >= self.max_total || self.bytes + size > self.max_bytes {
            let Some(oldest) = self.order.front().copied() else {
                break;
            };
            self.take(&oldest);
        }
        self.bytes += size;
        self.blocks.insert(hash, (peer, block, size));
        self.order.push_back(hash);
    }

    /// Removes the orphan `hash`, giving its bytes back to the bound.
    fn take(&mut self, hash: &BlockHash) -> Option<(P, Block)> {
        let (peer, block, size) = self.blocks.remove(hash)?;
        self.bytes -= size;
        self.order.retain(|h| h != hash);
        Some((peer, block))
    }

    /// Whether it holds the block `hash`.
    pub fn contains(&self, hash: &BlockHash) -> bool {
        self.blocks.contains_key(hash)
    }

    /// Takes the orphans whose parent is `parent` (to submit now that it arrived).
    pub fn take_children(&mut self, parent: &BlockHash) -> Vec<(P, Block)> {
        let children: Vec<BlockHash> = self
            .order
            .iter()
            .filter(|h| {
                self.blocks
                    .get(h)
                    .is_some_and(|(_, b, _)| b.header.prev_hash == *parent)
            })
            .copied()
            .collect();
        children.iter().filter_map(|h| self.take(h)).collect()
    }
}

/// Blocks to download, requested from peers [`MAX_BLOCKS`] at a time with at most `window`
/// blocks in flight; a request not answered by its deadline is given to another peer.
#[derive(Debug)]
pub struct DownloadWindow<P> {
    wanted: VecDeque<BlockHash>,
    /// Each block in flight: the peer asked, the deadline, its position in the order wanted.
    in_flight: HashMap<BlockHash, (P, Instant, u64)>,
    /// Position of each block in the order it was first wanted.
    order: HashMap<BlockHash, u64>,
    next: u64,
    window: usize,
    timeout: Duration,
}

impl<P: Eq + Hash + Clone> DownloadWindow<P> {
    /// At most `window` blocks in flight, each given `timeout` to arrive.
    pub fn new(window: usize, timeout: Duration) -> Self {
        DownloadWindow {
            wanted: VecDeque::new(),
            in_flight: HashMap::new(),
            order: HashMap::new(),
            next: 0,
            window,
            timeout,
        }
    }

    /// Queues blocks (in height order) that are neither queued nor in flight.
    pub fn want(&mut self, hashes: impl IntoIterator<Item = BlockHash>) {
        let known: HashSet<BlockHash> = self
            .wanted
            .iter()
            .chain(self.in_flight.keys())
            .copied()
            .collect();
        for hash in hashes {
            if !known.contains(&hash) && !self.wanted.contains(&hash) {
                self.wanted.push_back(hash);
                self.order.insert(hash, self.next);
                self.next += 1;
            }
        }
    }

    /// Whether the block `hash` is queued or in flight.
    pub fn contains(&self, hash: &BlockHash) -> bool {
        self.order.contains_key(hash) || self.in_flight.contains_key(hash)
    }

    /// Blocks queued or in flight.
    pub fn pending(&self) -> usize {
        self.wanted.len() + self.in_flight.len()
    }

    /// A block arrived (from anyone): it is no longer wanted.
    pub fn received(&mut self, hash: &BlockHash) {
        self.in_flight.remove(hash);
        self.wanted.retain(|h| h != hash);
        self.order.remove(hash);
    }

    /// The requests to send now: up to [`MAX_BLOCKS`] hashes each, round-robin over `peers`,
    /// while the window has room. Requests past their deadline go back to the front of the
    /// queue first, for a peer other than the one that failed when there is one.
    pub fn plan(&mut self, peers: &[P], now: Instant) -> Vec<(P, Vec<BlockHash>)> {
        let mut expired: Vec<(u64, BlockHash, P)> = self
            .in_flight
            .iter()
            .filter(|(_, (_, deadline, _))| now >= *deadline)
            .map(|(hash, (peer, _, seq))| (*seq, *hash, peer.clone()))
            .collect();
        // Back to the front of the queue in the order they were wanted.
        expired.sort_unstable_by_key(|(seq, _, _)| *seq);
        let mut avoid: HashMap<BlockHash, P> = HashMap::new();
        for (_, hash, peer) in expired.into_iter().rev() {
            self.in_flight.remove(&hash);
            self.wanted.push_front(hash);
            avoid.insert(hash, peer);
        }
        let mut requests: Vec<(P, Vec<BlockHash>)> = Vec::new();
        if peers.is_empty() {
            return requests;
        }
        let mut turn = 0usize;
        while self.in_flight.len() < self.window && !self.wanted.is_empty() {
            let mut peer = peers[turn % peers.len()].clone();
            turn += 1;
            let room = (self.window - self.in_flight.len()).min(MAX_BLOCKS);
            let mut batch = Vec::new();
            while batch.len() < room {
                let Some(hash) = self.wanted.front().copied() else {
                    break;
                };
                if let Some(failed) = avoid.get(&hash)
                    && *failed == peer
                    && peers.len() > 1
                {
                    if batch.is_empty() {
                        // Hand it to the next peer instead.
                        peer = peers[turn % peers.len()].clone();
                        turn += 1;
                    } else {
                        break;
                    }
                }
                self.wanted.pop_front();
                let seq = self.order.get(&hash).copied().unwrap_or(u64::MAX);
                self.in_flight
                    .insert(hash, (peer.clone(), now + self.timeout, seq));
                batch.push(hash);
            }
            if batch.is_empty() {
                break;
            }
            requests.push((peer, batch));
        }
        requests
    }
}
