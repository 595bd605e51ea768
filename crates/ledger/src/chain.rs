//! The chain: a tree of blocks, fork choice by most cumulative work, reorganisation through
//! undo data, persisted through a [`ChainStore`].
//!
//! # Fork choice
//!
//! Every block is credited the [`CompactTarget::work`] of its work target (the expected
//! number of tickets it took); the best chain ends at the valid block with the greatest
//! cumulative work (genesis included). On a tie, the block seen
//! first wins (arrival order is persisted, so a restarted node keeps the same tip). A side
//! branch is switched to only when it has strictly more work.
//!
//! # What is checked when
//!
//! A submitted block must extend a known, valid block. Its header (ticket included), the work
//! floor, the proof's pre-checks, its transactions alone, its signatures and then its full
//! proof of training are checked before it enters the tree, cheapest first. A block whose
//! branch has no more work than the best chain had [`ChainParams::max_reorg_depth`] blocks
//! below its tip is not stored at all ([`BlockError::TooLittleWork`]), nor is a block whose
//! branch leaves the best chain below the finalized height, `max_reorg_depth` below the tip
//! ([`BlockError::ForksBelowFinality`]). Checks
//! against the UTXO set run when it is connected to the best chain (immediately if it extends
//! the tip). If a block of a heavier side branch fails those checks during a reorganisation,
//! it and its descendants are marked invalid and the chain returns to the best valid branch.
//! Blocks whose parent is unknown are rejected ([`BlockError::UnknownParent`]); the caller
//! may submit them again once the parent arrived.
//!
//! # Where the state lives
//!
//! In the [`ChainStore`]: the chain reads blocks, metadata, undo data and UTXOs through its
//! queries and writes each import as one [`ChangeSet`]. Memory holds the headers of the blocks
//! at or above the finalized height and the tip block, so neither memory nor the cost of an
//! import grows with the chain.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use crate::address::Address;
use crate::amount::Amount;
use crate::block::{BLOCK_VERSION, Block, BlockHeader, TrainingCommitment};
use crate::encoding::{HEADER_SIZE, MAX_BLOCK_SIZE};
use crate::hash::{BlockHash, Txid};
use crate::mempool::Mempool;
use crate::merkle::merkle_root;
use crate::proof::ProofVerifier;
use crate::store::{BlockMeta, BlockStatus, ChainStore, ChangeSet, MemoryChainStore, StoredBlock};
use crate::target::{CompactTarget, Difficulty};
use crate::transaction::{OutPoint, Transaction, TxOut};
use crate::utxo::{BlockUndo, UtxoEntry, UtxoError, UtxoSet};
use crate::validation::{
    self, BlockError, HeaderContext, MEDIAN_TIME_SPAN, TxError, check_block_body,
    check_block_inputs, check_header, median_timestamp, verify_block_signatures,
};

/// The original project's block reward, 10 coins.
pub const DEFAULT_SUBSIDY: Amount = match Amount::from_coins(10) {
    Ok(amount) => amount,
    Err(_) => Amount::ZERO,
};

/// 2026-12-01T00:00:00Z, the main network's genesis time.
pub const MAIN_GENESIS_TIME: u64 = 1_796_083_200;
/// 2026-01-01T00:00:00Z, the devnet's genesis time.
pub const DEVNET_GENESIS_TIME: u64 = 1_767_225_600;
/// 2023-11-14T22:13:20Z, the regtest preset's genesis time.
pub const REGTEST_GENESIS_TIME: u64 = 1_700_000_000;

/// Consensus parameters of a chain.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ChainParams {
    /// Outputs of the genesis coinbase (spendable at once).
    pub genesis_allocations: Vec<TxOut>,
    /// Timestamp of the genesis block.
    pub genesis_timestamp: u64,
    /// The work target and how it retargets.
    pub difficulty: Difficulty,
    /// How deep below the tip a side branch may fork and still be stored: a block whose
    /// cumulative work does not exceed that of the best-chain block this far below the tip is
    /// rejected before its body is looked at.
    pub max_reorg_depth: u64,
    /// Block subsidy at height 1.
    pub initial_subsidy: Amount,
    /// The subsidy halves every this many blocks (0: never).
    pub halving_interval: u64,
    /// Blocks before a coinbase output (other than genesis's) may be spent.
    pub coinbase_maturity: u64,
}

impl ChainParams {
    /// Parameters with the original project's reward of 10 coins per block, halving every
    /// 210,000 blocks, no coinbase maturity (a real network should set one, e.g. 100) and a
    /// reorganisation window of 100 blocks.
    pub fn new(
        genesis_allocations: Vec<TxOut>,
        genesis_timestamp: u64,
        difficulty: Difficulty,
    ) -> Self {
        ChainParams {
            genesis_allocations,
            genesis_timestamp,
            difficulty,
            max_reorg_depth: 100,
            initial_subsidy: DEFAULT_SUBSIDY,
            halving_interval: 210_000,
            coinbase_maturity: 0,
        }
    }

    /// The main network: no genesis allocations (coins come from mining), the main
    /// difficulty, a coinbase maturity of 100 blocks and reorganisations up to 100 blocks
    /// deep, genesis at [`MAIN_GENESIS_TIME`].
    pub fn main() -> Self {
        let mut params = ChainParams::new(Vec::new(), MAIN_GENESIS_TIME, Difficulty::main());
        params.coinbase_maturity = 100;
        params
    }

    /// The local development network: no genesis allocations, the devnet difficulty preset,
    /// reorganisations up to 20 blocks deep, genesis at [`DEVNET_GENESIS_TIME`]. Fixed, so
    /// that a store made by one run resumes in the next and nodes started apart share one
    /// genesis. Its genesis lies in the past, so ASERT holds the target at the devnet's limit
    /// until the chain catches up with its schedule.
    pub fn devnet() -> Self {
        let mut params = ChainParams::new(Vec::new(), DEVNET_GENESIS_TIME, Difficulty::devnet());
        params.max_reorg_depth = 20;
        params
    }

    /// For tests: no genesis allocations, the regtest difficulty (almost every ticket wins,
    /// no retargeting), genesis at [`REGTEST_GENESIS_TIME`].
    pub fn regtest() -> Self {
        ChainParams::new(Vec::new(), REGTEST_GENESIS_TIME, Difficulty::regtest())
    }

    /// The subsidy a block at `height` may claim (0 for genesis).
    pub fn subsidy(&self, height: u64) -> Amount {
        if height == 0 {
            return Amount::ZERO;
        }
        let halvings = height
            .saturating_sub(1)
            .checked_div(self.halving_interval)
            .unwrap_or(0);
        if halvings >= 64 {
            return Amount::ZERO;
        }
        Amount::from_base_units(self.initial_subsidy.to_base_units() >> halvings)
            .unwrap_or(Amount::ZERO)
    }

    /// The work target a block whose parent is `parent` must carry (see
    /// [`Difficulty::next_target`]).
    pub fn required_target(&self, parent: &BlockHeader) -> CompactTarget {
        self.difficulty
            .next_target(parent.height, parent.timestamp, self.genesis_timestamp)
    }

    /// The genesis block: height 0, zero parent, a coinbase paying the allocations, and an
    /// all-zero training commitment (genesis is not mined).
    pub fn genesis_block(&self) -> Block {
        let coinbase = Transaction::coinbase(0, self.genesis_allocations.clone());
        Block {
            header: BlockHeader {
                version: BLOCK_VERSION,
                height: 0,
                prev_hash: BlockHash::ZERO,
                merkle_root: merkle_root(&[coinbase.txid()]),
                timestamp: self.genesis_timestamp,
                bits: self.difficulty.initial,
                training: TrainingCommitment::default(),
            },
            transactions: vec![coinbase],
        }
    }
}

/// Why the chain refused or failed an operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The block broke a consensus rule.
    #[error("block {hash} rejected: {source}")]
    InvalidBlock {
        /// The rejected block.
        hash: BlockHash,
        /// The rule it broke (boxed: rule errors carry hashes and are large).
        #[source]
        source: Box<BlockError>,
    },
    /// The genesis allocations are not a valid coinbase.
    #[error("invalid genesis allocations: {0}")]
    InvalidGenesis(#[source] TxError),
    /// The store holds another chain.
    #[error("the store holds a chain with genesis {found}, these parameters give {expected}")]
    GenesisMismatch {
        /// Genesis of the parameters.
        expected: BlockHash,
        /// Genesis in the store.
        found: BlockHash,
    },
    /// The store's contents are inconsistent.
    #[error("the stored chain is inconsistent: {0}")]
    CorruptStore(String),
    /// The store failed.
    #[error("chain store failed: {0}")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The UTXO set disagreed with a block the chain had accepted (a bug or a corrupt store).
    #[error("UTXO set inconsistent with the chain: {0}")]
    Utxo(#[from] UtxoError),
    /// The in-memory chain is inconsistent (a bug or a corrupt store).
    #[error("chain state inconsistent: {0}")]
    Inconsistent(String),
}

impl ChainError {
    /// The consensus rule a rejected block broke, if that is why the operation failed.
    pub fn block_error(&self) -> Option<&BlockError> {
        match self {
            ChainError::InvalidBlock { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[derive(Debug)]
enum SwitchError {
    /// A block failed its UTXO checks.
    Invalid(BlockHash, Box<BlockError>),
    /// The store failed, or something that cannot fail on a consistent chain did.
    Chain(ChainError),
}

/// What [`Chain::submit_block`] did with a valid block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImportOutcome {
    /// The block extended the best chain and is the new tip.
    Extended,
    /// The block made a side branch the heaviest: these blocks were disconnected (tip first)
    /// and connected (oldest first).
    Reorganized {
        /// Blocks removed from the best chain, tip first.
        disconnected: Vec<BlockHash>,
        /// Blocks added to the best chain, oldest first.
        connected: Vec<BlockHash>,
    },
    /// The block was stored on a side branch with no more work than the best chain.
    SideBranch,
    /// The block was already known; nothing changed.
    AlreadyKnown,
}

/// A block that can still be reorganised away: its header and metadata (its body stays in the
/// store).
#[derive(Clone, Debug)]
struct Node {
    header: BlockHeader,
    meta: BlockMeta,
}

/// The block being imported, which the store does not hold until the import commits.
struct Incoming {
    hash: BlockHash,
    block: Block,
    txids: Vec<Txid>,
    /// The outputs it spends, read from the UTXO set of its parent on arrival if it extended
    /// the tip (it was checked against them then).
    spent: Option<UtxoSet>,
}

/// A block's body and txids while it is connected or disconnected.
enum Body<'a> {
    /// The block being imported.
    Incoming(&'a Incoming),
    /// A committed block with its txids, read from the store.
    Stored(Box<(Block, Vec<Txid>)>),
}

impl Body<'_> {
    fn parts(&self) -> (&Block, &[Txid]) {
        match self {
            Body::Incoming(incoming) => (&incoming.block, &incoming.txids),
            Body::Stored(stored) => (&stored.0, &stored.1),
        }
    }
}

/// What [`Chain::check_block`] passed.
struct Checked {
    txids: Vec<Txid>,
    /// The outputs the block spends, if it extends the tip (read for the UTXO checks).
    spent: Option<UtxoSet>,
}

/// Changes accumulated during one import, turned into a [`ChangeSet`] at the end.
struct Pending {
    incoming: Incoming,
    /// UTXO changes over the committed set: `Some` = unspent now, `None` = spent or gone.
    utxos: HashMap<OutPoint, Option<UtxoEntry>>,
    undo_put: Vec<(BlockHash, BlockUndo)>,
    meta_updates: HashMap<BlockHash, BlockMeta>,
    disconnected: Vec<BlockHash>,
    connected: Vec<BlockHash>,
    /// The lowest height whose best-chain entry was popped or pushed.
    best_low: u64,
}

/// The in-memory part of a chain, saved before an import and put back if it fails.
#[derive(Clone, Debug)]
struct Window {
    /// Every known block at or above the finalized height `base`, on every branch.
    nodes: HashMap<BlockHash, Node>,
    /// The best chain from height `base` to the tip.
    best: VecDeque<BlockHash>,
    /// The finalized height: the best block there can no longer be reorganised away.
    base: u64,
    /// The best block (shared: the window is saved before every import), and its hash (the
    /// tip once an import has committed).
    tip_block: Arc<Block>,
    tip_block_hash: BlockHash,
    next_seen: u64,
}

/// A block tree with its best chain and UTXO set, kept in the store `S`.
///
/// The store holds the state (every block, its metadata, the best-chain index, undo data and
/// the UTXO set) and the chain reads it through [`ChainStore`]'s queries. Memory holds only
/// the blocks that can still be reorganised away: the headers and metadata of every block at
/// or above the finalized height ([`Chain::finalized_height`], at most
/// [`ChainParams::max_reorg_depth`] below the tip), and the tip block. A block whose branch
/// leaves the best chain below the finalized height is refused
/// ([`BlockError::ForksBelowFinality`]), so a reorganisation never reaches below it. Import
/// cost and memory do not grow with the chain's length.
#[derive(Debug, Clone)]
pub struct Chain<S: ChainStore = MemoryChainStore> {
    params: ChainParams,
    store: S,
    window: Window,
}

impl Chain<MemoryChainStore> {
    /// A new chain in memory.
    pub fn new(params: ChainParams) -> Result<Self, ChainError> {
        Chain::open(params, MemoryChainStore::new())
    }
}

fn store_error<E: std::error::Error + Send + Sync + 'static>(error: E) -> ChainError {
    ChainError::Store(Box::new(error))
}

impl<S: ChainStore> Chain<S> {
    /// Opens a chain on `store`: resumes what it holds, or writes genesis if it is empty.
    ///
    /// Resuming reads a bounded amount: the tip, genesis's entry in the best-chain index, and
    /// the headers, metadata and undo data of the blocks at or above the finalized height
    /// (checked against each other and the parameters). The stored UTXO set is trusted (the
    /// store wrote it in the same atomic change-sets as the blocks);
    /// [`Chain::rebuild_utxo_set`] can audit it.
    pub fn open(params: ChainParams, mut store: S) -> Result<Self, ChainError> {
        let genesis = params.genesis_block();
        if let Some(coinbase) = genesis.transactions.first()
            && !coinbase.outputs.is_empty()
        {
            validation::check_transaction(coinbase).map_err(ChainError::InvalidGenesis)?;
        }
        let genesis_hash = genesis.hash();
        if let Some(tip) = store.tip().map_err(store_error)? {
            return Self::resume(params, store, genesis_hash, tip);
        }
        let mut utxos = UtxoSet::new();
        let undo = utxos.apply_block(&genesis)?;
        let meta = BlockMeta {
            height: 0,
            cumulative_work: genesis.header.bits.work(),
            seen_order: 0,
            status: BlockStatus::Valid,
        };
        let changes = ChangeSet {
            new_block: StoredBlock {
                block: genesis.clone(),
                meta,
            },
            meta_updates: Vec::new(),
            undo_put: vec![(genesis_hash, undo)],
            utxo_deleted: Vec::new(),
            utxo_inserted: utxos.iter().map(|(o, e)| (*o, *e)).collect(),
            best_from: 0,
            best_added: vec![genesis_hash],
            tip: genesis_hash,
        };
        store.commit(&changes, None).map_err(store_error)?;
        let mut nodes = HashMap::new();
        nodes.insert(
            genesis_hash,
            Node {
                header: genesis.header.clone(),
                meta,
            },
        );
        Ok(Chain {
            params,
            store,
            window: Window {
                nodes,
                best: VecDeque::from([genesis_hash]),
                base: 0,
                tip_block: Arc::new(genesis),
                tip_block_hash: genesis_hash,
                next_seen: 1,
            },
        })
    }

    fn resume(
        params: ChainParams,
        store: S,
        genesis_hash: BlockHash,
        tip: BlockHash,
    ) -> Result<Self, ChainError> {
        let corrupt = |reason: String| ChainError::CorruptStore(reason);
        let stored_genesis = store.best_hash(0).map_err(store_error)?;
        if stored_genesis != Some(genesis_hash) {
            return Err(ChainError::GenesisMismatch {
                expected: genesis_hash,
                found: stored_genesis.unwrap_or_default(),
            });
        }
        let tip_block = store
            .block(&tip)
            .map_err(store_error)?
            .ok_or_else(|| corrupt(format!("the tip {tip} is missing")))?;
        let tip_height = tip_block.header.height;
        if store.best_hash(tip_height).map_err(store_error)? != Some(tip)
            || store
                .best_hash(tip_height.saturating_add(1))
                .map_err(store_error)?
                .is_some()
        {
            return Err(corrupt(format!(
                "the best-chain index does not end at the tip {tip} (height {tip_height})"
            )));
        }
        let base = tip_height.saturating_sub(params.max_reorg_depth);
        let mut nodes = HashMap::new();
        let mut next_seen = 0u64;
        for hash in store.blocks_from_height(base).map_err(store_error)? {
            let missing = || corrupt(format!("block {hash} is indexed but missing"));
            let header = store
                .header(&hash)
                .map_err(store_error)?
                .ok_or_else(missing)?;
            let meta = store
                .meta(&hash)
                .map_err(store_error)?
                .ok_or_else(missing)?;
            if meta.height != header.height || meta.height < base {
                return Err(corrupt(format!(
                    "block {hash} has height {} in its header, {} in its metadata",
                    header.height, meta.height
                )));
            }
            next_seen = next_seen.max(meta.seen_order.saturating_add(1));
            nodes.insert(hash, Node { header, meta });
        }
        let mut best = VecDeque::new();
        for height in base..=tip_height {
            let hash = store
                .best_hash(height)
                .map_err(store_error)?
                .ok_or_else(|| corrupt(format!("the best chain has no block at {height}")))?;
            let node = nodes.get(&hash).ok_or_else(|| {
                corrupt(format!(
                    "best block {hash} at height {height} is not indexed"
                ))
            })?;
            let linked = best
                .back()
                .is_none_or(|prev| node.header.prev_hash == *prev);
            let has_undo = height == 0 || store.undo(&hash).map_err(store_error)?.is_some();
            if node.meta.height != height
                || node.meta.status != BlockStatus::Valid
                || !linked
                || !has_undo
            {
                return Err(corrupt(format!(
                    "block {hash} at height {height} of the best chain has a wrong height, \
                     status or parent, or no undo data"
                )));
            }
            best.push_back(hash);
        }
        Ok(Chain {
            params,
            store,
            window: Window {
                nodes,
                best,
                base,
                tip_block: Arc::new(tip_block),
                tip_block_hash: tip,
                next_seen,
            },
        })
    }

    /// The consensus parameters.
    pub fn params(&self) -> &ChainParams {
        &self.params
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Gives the store back.
    pub fn into_store(self) -> S {
        self.store
    }

    /// Hash of the best block.
    pub fn tip(&self) -> BlockHash {
        self.window.best.back().copied().unwrap_or_default()
    }

    /// Height of the best block.
    pub fn height(&self) -> u64 {
        self.window
            .base
            .saturating_add((self.window.best.len() as u64).saturating_sub(1))
    }

    /// The best block.
    pub fn tip_block(&self) -> &Block {
        &self.window.tip_block
    }

    /// Cumulative work of the best chain.
    pub fn tip_work(&self) -> u128 {
        self.window
            .nodes
            .get(&self.tip())
            .map_or(0, |n| n.meta.cumulative_work)
    }

    /// The finalized height: the best block at this height and its ancestors can no longer be
    /// reorganised away. At most [`ChainParams::max_reorg_depth`] below the tip; it never
    /// decreases while the chain is open.
    pub fn finalized_height(&self) -> u64 {
        self.window.base
    }

    /// How many blocks the chain holds in memory (the headers at or above the finalized
    /// height, on every branch): bounded by the reorganisation window, not the chain's length.
    pub fn non_finalized_count(&self) -> usize {
        self.window.nodes.len()
    }

    /// The hash of the best-chain block at `height`.
    pub fn best_hash(&self, height: u64) -> Result<Option<BlockHash>, ChainError> {
        if let Some(offset) = height.checked_sub(self.window.base) {
            return Ok(usize::try_from(offset)
                .ok()
                .and_then(|i| self.window.best.get(i))
                .copied());
        }
        self.store.best_hash(height).map_err(store_error)
    }

    /// The hashes of the whole best chain, genesis first (index = height): reads the store's
    /// index, so it costs as much as the chain is long (for tools and tests).
    pub fn best_chain(&self) -> Result<Vec<BlockHash>, ChainError> {
        (0..=self.height())
            .map(|height| {
                self.best_hash(height)?.ok_or_else(|| {
                    ChainError::CorruptStore(format!("the best chain has no block at {height}"))
                })
            })
            .collect()
    }

    /// The blocks of the best chain from genesis to the tip, read from the store one by one.
    pub fn best_blocks(&self) -> impl Iterator<Item = Result<Block, ChainError>> + '_ {
        (0..=self.height()).map(|height| {
            self.block_at(height)?.ok_or_else(|| {
                ChainError::CorruptStore(format!("the best chain has no block at {height}"))
            })
        })
    }

    /// The unspent output at `outpoint`, at the tip.
    pub fn utxo(&self, outpoint: &OutPoint) -> Result<Option<UtxoEntry>, ChainError> {
        self.store.utxo(outpoint).map_err(store_error)
    }

    /// The entries of `outpoints` that are unspent at the tip, as a set (what a mempool or a
    /// block template needs to look at).
    pub fn utxo_subset<'a>(
        &self,
        outpoints: impl IntoIterator<Item = &'a OutPoint>,
    ) -> Result<UtxoSet, ChainError> {
        let outpoints: Vec<OutPoint> = outpoints.into_iter().copied().collect();
        let entries = self.store.utxos(&outpoints).map_err(store_error)?;
        let mut set = UtxoSet::new();
        for (outpoint, entry) in outpoints.into_iter().zip(entries) {
            if let Some(entry) = entry {
                set.insert(outpoint, entry);
            }
        }
        Ok(set)
    }

    /// The whole UTXO set at the tip, read from the store (for audits and tools: it costs as
    /// much memory as the set is large).
    pub fn utxo_set(&self) -> Result<UtxoSet, ChainError> {
        let mut set = UtxoSet::new();
        self.store
            .for_each_utxo(&mut |outpoint, entry| {
                set.insert(*outpoint, *entry);
            })
            .map_err(store_error)?;
        Ok(set)
    }

    /// The unspent outputs paying `address`, by outpoint (a scan of the UTXO set).
    pub fn outputs_of(&self, address: &Address) -> Result<Vec<(OutPoint, UtxoEntry)>, ChainError> {
        let mut outputs = Vec::new();
        self.store
            .for_each_utxo(&mut |outpoint, entry| {
                if entry.output.address == *address {
                    outputs.push((*outpoint, *entry));
                }
            })
            .map_err(store_error)?;
        outputs.sort_unstable_by_key(|(outpoint, _)| *outpoint);
        Ok(outputs)
    }

    /// Sum of all unspent outputs, in base units (a scan of the UTXO set).
    pub fn total_supply(&self) -> Result<u128, ChainError> {
        let mut total = 0u128;
        self.store
            .for_each_utxo(&mut |_, entry| {
                total = total.saturating_add(u128::from(entry.output.amount.to_base_units()));
            })
            .map_err(store_error)?;
        Ok(total)
    }

    /// A known block by hash (best chain or side branch).
    pub fn block(&self, hash: &BlockHash) -> Result<Option<Block>, ChainError> {
        if *hash == self.window.tip_block_hash {
            return Ok(Some(Block::clone(&self.window.tip_block)));
        }
        self.store.block(hash).map_err(store_error)
    }

    /// The header of a known block.
    pub fn header(&self, hash: &BlockHash) -> Result<Option<BlockHeader>, ChainError> {
        if let Some(node) = self.window.nodes.get(hash) {
            return Ok(Some(node.header.clone()));
        }
        self.store.header(hash).map_err(store_error)
    }

    /// Metadata of a known block.
    pub fn block_meta(&self, hash: &BlockHash) -> Result<Option<BlockMeta>, ChainError> {
        if let Some(node) = self.window.nodes.get(hash) {
            return Ok(Some(node.meta));
        }
        self.store.meta(hash).map_err(store_error)
    }

    /// The block of the best chain at `height`.
    pub fn block_at(&self, height: u64) -> Result<Option<Block>, ChainError> {
        match self.best_hash(height)? {
            Some(hash) => self.block(&hash),
            None => Ok(None),
        }
    }

    /// Number of known blocks, side branches included.
    pub fn block_count(&self) -> Result<u64, ChainError> {
        self.store.block_count().map_err(store_error)
    }

    /// Median timestamp of the [`MEDIAN_TIME_SPAN`] blocks ending at `hash` (fewer near
    /// genesis).
    pub fn median_time_past(&self, hash: &BlockHash) -> Result<u64, ChainError> {
        let mut timestamps = Vec::with_capacity(MEDIAN_TIME_SPAN);
        let mut cursor = *hash;
        while let Some(header) = self.header(&cursor)? {
            timestamps.push(header.timestamp);
            if timestamps.len() == MEDIAN_TIME_SPAN || header.height == 0 {
                break;
            }
            cursor = header.prev_hash;
        }
        Ok(median_timestamp(&timestamps))
    }

    /// Whether `hash` is on the best chain.
    pub fn is_on_best_chain(&self, hash: &BlockHash) -> Result<bool, ChainError> {
        if let Some(node) = self.window.nodes.get(hash) {
            return Ok(self.is_best_in_window(hash, node.meta.height));
        }
        let Some(meta) = self.store.meta(hash).map_err(store_error)? else {
            return Ok(false);
        };
        Ok(self.best_hash(meta.height)? == Some(*hash))
    }

    fn is_best_in_window(&self, hash: &BlockHash, height: u64) -> bool {
        height
            .checked_sub(self.window.base)
            .and_then(|offset| usize::try_from(offset).ok())
            .and_then(|i| self.window.best.get(i))
            == Some(hash)
    }

    /// The checks of a block that its header alone allows, without changing the chain: the
    /// parent is known and valid, the header rules against it and the clock (version, height,
    /// target, timestamps, the ticket), the work floor and the fork point. Microseconds: what a
    /// node runs before it fetches anything a block's proof reads. [`Chain::submit_block`]
    /// runs them first.
    ///
    /// # Errors
    /// [`ChainError::InvalidBlock`] with the rule broken, or a store error.
    pub fn check_header(&self, header: &BlockHeader, now: u64) -> Result<(), ChainError> {
        self.check_header_returning_height(header, now).map(|_| ())
    }

    /// [`Chain::check_header`], returning the block's height.
    fn check_header_returning_height(
        &self,
        header: &BlockHeader,
        now: u64,
    ) -> Result<u64, ChainError> {
        let invalid = |source: BlockError| ChainError::InvalidBlock {
            hash: header.hash(),
            source: Box::new(source),
        };
        let parent_hash = header.prev_hash;
        let Some(parent) = self.window.nodes.get(&parent_hash) else {
            // Not in memory: unknown, or below the finalized height.
            let meta = self
                .store
                .meta(&parent_hash)
                .map_err(store_error)?
                .ok_or_else(|| invalid(BlockError::UnknownParent(parent_hash)))?;
            if meta.status == BlockStatus::Invalid {
                return Err(invalid(BlockError::InvalidParent(parent_hash)));
            }
            self.check_work_floor(meta.cumulative_work, header)?
                .map_err(invalid)?;
            return Err(invalid(self.below_finality()));
        };
        if parent.meta.status == BlockStatus::Invalid {
            return Err(invalid(BlockError::InvalidParent(parent_hash)));
        }
        let height = parent.meta.height.saturating_add(1);
        check_header(
            header,
            &HeaderContext {
                parent: &parent.header,
                median_time_past: self.median_time_past(&parent_hash)?,
                required_target: self.params.required_target(&parent.header),
                now,
                max_future_drift_secs: self.params.difficulty.max_future_drift_secs,
            },
        )
        .map_err(invalid)?;
        self.check_work_floor(parent.meta.cumulative_work, header)?
            .map_err(invalid)?;
        self.check_fork_point(parent_hash).map_err(invalid)?;
        Ok(height)
    }

    /// Every check of a block except the full proof of training, without changing the chain,
    /// cheapest first: the header ([`Chain::check_header`]), the proof's pre-checks, the
    /// transactions alone, (if it extends the tip) the UTXO set, then the signatures. Returns
    /// its txids and the outputs it spends.
    fn check_block<V: ProofVerifier + ?Sized>(
        &self,
        block: &Block,
        now: u64,
        verifier: &V,
    ) -> Result<Checked, ChainError> {
        let invalid = |source: BlockError| ChainError::InvalidBlock {
            hash: block.hash(),
            source: Box::new(source),
        };
        let height = self.check_header_returning_height(&block.header, now)?;
        let parent_hash = block.header.prev_hash;
        verifier
            .precheck(&block.header)
            .map_err(|e| invalid(BlockError::ProofPrecheck(Box::new(e))))?;
        let txids = check_block_body(block).map_err(invalid)?;
        let mut spent = None;
        if parent_hash == self.tip() {
            let outpoints = block
                .transactions
                .iter()
                .flat_map(|tx| tx.inputs.iter().map(|input| &input.previous_output));
            let utxos = self.utxo_subset(outpoints)?;
            check_block_inputs(
                block,
                &txids,
                &utxos,
                self.params.subsidy(height),
                self.params.coinbase_maturity,
            )
            .map_err(invalid)?;
            spent = Some(utxos);
        }
        verify_block_signatures(block, &txids).map_err(invalid)?;
        Ok(Checked { txids, spent })
    }

    /// The work floor (see [`ChainParams::max_reorg_depth`]): a block whose branch would have no
    /// more cumulative work than the best chain had that many blocks below its tip.
    fn check_work_floor(
        &self,
        parent_work: u128,
        header: &BlockHeader,
    ) -> Result<Result<(), BlockError>, ChainError> {
        let depth = self.params.max_reorg_depth;
        let Some(floor_height) = self.height().checked_sub(depth) else {
            return Ok(Ok(()));
        };
        let floor = match self.best_hash(floor_height)? {
            Some(hash) => self.block_meta(&hash)?.map_or(0, |m| m.cumulative_work),
            None => 0,
        };
        let work = parent_work.saturating_add(header.bits.work());
        if work <= floor {
            return Ok(Err(BlockError::TooLittleWork { work, floor, depth }));
        }
        Ok(Ok(()))
    }

    fn below_finality(&self) -> BlockError {
        BlockError::ForksBelowFinality {
            finalized: self.window.base,
            depth: self.params.max_reorg_depth,
        }
    }

    /// A block on `parent` must leave the best chain at or above the finalized height.
    fn check_fork_point(&self, parent: BlockHash) -> Result<(), BlockError> {
        let mut cursor = parent;
        loop {
            let Some(node) = self.window.nodes.get(&cursor) else {
                return Err(self.below_finality());
            };
            if self.is_best_in_window(&cursor, node.meta.height) {
                return Ok(());
            }
            if node.meta.height <= self.window.base {
                return Err(self.below_finality());
            }
            cursor = node.header.prev_hash;
        }
    }

    /// Fully validates a block that extends the tip, proof of training last, without changing
    /// the chain (for miners checking their own block, and for benchmarks).
    pub fn validate_block<V: ProofVerifier + ?Sized>(
        &self,
        block: &Block,
        now: u64,
        verifier: &V,
    ) -> Result<(), ChainError> {
        let invalid = |source: BlockError| ChainError::InvalidBlock {
            hash: block.hash(),
            source: Box::new(source),
        };
        if block.header.prev_hash != self.tip() {
            return Err(invalid(BlockError::WrongPrevHash {
                expected: self.tip(),
                found: block.header.prev_hash,
            }));
        }
        self.check_block(block, now, verifier)?;
        verifier
            .verify_proof(&block.header)
            .map_err(|e| invalid(BlockError::Proof(Box::new(e))))
    }

    /// Validates `block` and adds it to the tree, switching the best chain if it now ends on
    /// a heavier branch; persists the result as one atomic change-set. `now` is the caller's
    /// clock (seconds since the Unix epoch), for the timestamp rule.
    pub fn submit_block<V: ProofVerifier + ?Sized>(
        &mut self,
        block: Block,
        now: u64,
        verifier: &V,
    ) -> Result<ImportOutcome, ChainError> {
        self.submit(block, None, now, verifier)
    }

    /// [`Chain::submit_block`], with `attachment` written in the same commit as the block (for
    /// `ann-store`, the block's artifact record). Nothing is written for a block that is
    /// refused or already known.
    pub fn submit_block_with<V: ProofVerifier + ?Sized>(
        &mut self,
        block: Block,
        attachment: S::Attachment,
        now: u64,
        verifier: &V,
    ) -> Result<ImportOutcome, ChainError> {
        self.submit(block, Some(attachment), now, verifier)
    }

    fn submit<V: ProofVerifier + ?Sized>(
        &mut self,
        block: Block,
        attachment: Option<S::Attachment>,
        now: u64,
        verifier: &V,
    ) -> Result<ImportOutcome, ChainError> {
        let hash = block.hash();
        if let Some(known) = self.block_meta(&hash)? {
            if known.status == BlockStatus::Invalid {
                return Err(ChainError::InvalidBlock {
                    hash,
                    source: Box::new(BlockError::KnownInvalid(hash)),
                });
            }
            return Ok(ImportOutcome::AlreadyKnown);
        }
        let checked = self.check_block(&block, now, verifier)?;
        verifier
            .verify_proof(&block.header)
            .map_err(|e| ChainError::InvalidBlock {
                hash,
                source: Box::new(BlockError::Proof(Box::new(e))),
            })?;
        let saved = self.window.clone();
        match self.import(block, hash, checked, attachment) {
            Ok(committed) => committed,
            Err(error) => {
                // Keep memory equal to what is persisted: nothing of this import happened.
                self.window = saved;
                Err(error)
            }
        }
    }

    /// Adds a fully checked block, moves the best chain and commits (see
    /// [`Chain::submit_block`]). The outer error is a failure before the commit (the caller
    /// restores the window); the inner result is the import's, once committed.
    #[allow(clippy::type_complexity)]
    fn import(
        &mut self,
        block: Block,
        hash: BlockHash,
        checked: Checked,
        attachment: Option<S::Attachment>,
    ) -> Result<Result<ImportOutcome, ChainError>, ChainError> {
        let parent = self
            .window
            .nodes
            .get(&block.header.prev_hash)
            .map(|n| n.meta)
            .ok_or_else(|| ChainError::Inconsistent("checked block lost its parent".into()))?;
        let meta = BlockMeta {
            height: parent.height.saturating_add(1),
            cumulative_work: parent
                .cumulative_work
                .saturating_add(block.header.bits.work()),
            seen_order: self.window.next_seen,
            status: BlockStatus::Valid,
        };
        let old_tip = self.tip();
        let old_height = self.height();
        self.window.next_seen = self.window.next_seen.saturating_add(1);
        self.window.nodes.insert(
            hash,
            Node {
                header: block.header.clone(),
                meta,
            },
        );
        let mut pending = Pending {
            incoming: Incoming {
                hash,
                spent: checked.spent.filter(|_| block.header.prev_hash == old_tip),
                block,
                txids: checked.txids,
            },
            utxos: HashMap::new(),
            undo_put: Vec::new(),
            meta_updates: HashMap::new(),
            disconnected: Vec::new(),
            connected: Vec::new(),
            best_low: old_height.saturating_add(1),
        };
        let mut own_failure = None;
        self.activate_best_chain(&mut pending, hash, &mut own_failure)?;

        let new_tip = self.tip();
        // The new tip block, unless it is the incoming one (moved out of the change-set after
        // the commit) or the tip did not change.
        let tip_block = if new_tip == old_tip || new_tip == hash {
            None
        } else {
            // Any other block is committed already.
            Some(
                self.store
                    .block(&new_tip)
                    .map_err(store_error)?
                    .ok_or_else(|| {
                        ChainError::CorruptStore(format!("the new tip {new_tip} is missing"))
                    })?,
            )
        };
        let best_from = pending.best_low;
        let best_added = usize::try_from(best_from.saturating_sub(self.window.base))
            .map(|skip| self.window.best.iter().skip(skip).copied().collect())
            .unwrap_or_default();
        pending.meta_updates.remove(&hash);
        let mut meta_updates: Vec<_> = pending.meta_updates.into_iter().collect();
        meta_updates.sort_unstable_by_key(|(h, _)| *h);
        let mut changed: Vec<_> = pending.utxos.into_iter().collect();
        changed.sort_unstable_by_key(|(outpoint, _)| *outpoint);
        let mut utxo_deleted = Vec::new();
        let mut utxo_inserted = Vec::new();
        for (outpoint, entry) in changed {
            match entry {
                Some(entry) => utxo_inserted.push((outpoint, entry)),
                None => utxo_deleted.push(outpoint),
            }
        }
        let changes = ChangeSet {
            new_block: StoredBlock {
                block: pending.incoming.block,
                meta: self.window.nodes.get(&hash).map_or(meta, |n| n.meta),
            },
            meta_updates,
            undo_put: pending.undo_put,
            utxo_deleted,
            utxo_inserted,
            best_from,
            best_added,
            tip: new_tip,
        };
        self.store
            .commit(&changes, attachment.as_ref())
            .map_err(store_error)?;
        if new_tip == hash {
            self.window.tip_block = Arc::new(changes.new_block.block);
            self.window.tip_block_hash = new_tip;
        } else if let Some(tip_block) = tip_block {
            self.window.tip_block = Arc::new(tip_block);
            self.window.tip_block_hash = new_tip;
        }
        self.advance_finality();
        if let Some((failed, source)) = own_failure {
            // The new block descends from `failed` (possibly is it), which broke `source`.
            return Ok(Err(ChainError::InvalidBlock {
                hash: failed,
                source,
            }));
        }
        Ok(Ok(if new_tip == old_tip {
            ImportOutcome::SideBranch
        } else if pending.disconnected.is_empty() && pending.connected == [hash] {
            ImportOutcome::Extended
        } else {
            ImportOutcome::Reorganized {
                disconnected: pending.disconnected,
                connected: pending.connected,
            }
        }))
    }

    /// Raises the finalized height to `max_reorg_depth` below the tip and forgets the blocks
    /// below it (they stay in the store).
    fn advance_finality(&mut self) {
        let target = self.height().saturating_sub(self.params.max_reorg_depth);
        let window = &mut self.window;
        if target <= window.base {
            return;
        }
        while window.base < target && window.best.len() > 1 {
            window.best.pop_front();
            window.base += 1;
        }
        let base = window.base;
        window.nodes.retain(|_, node| node.meta.height >= base);
    }

    /// The valid block with the most work (earliest seen on a tie).
    fn best_candidate(&self) -> BlockHash {
        self.window
            .nodes
            .iter()
            .filter(|(_, n)| n.meta.status == BlockStatus::Valid)
            .max_by(|(_, a), (_, b)| {
                a.meta
                    .cumulative_work
                    .cmp(&b.meta.cumulative_work)
                    .then(b.meta.seen_order.cmp(&a.meta.seen_order))
            })
            .map_or_else(|| self.tip(), |(h, _)| *h)
    }

    /// Moves the best chain to the best valid candidate, marking blocks that fail their UTXO
    /// checks (and their descendants) invalid until a candidate connects.
    fn activate_best_chain(
        &mut self,
        pending: &mut Pending,
        new_hash: BlockHash,
        own_failure: &mut Option<(BlockHash, Box<BlockError>)>,
    ) -> Result<(), ChainError> {
        loop {
            let candidate = self.best_candidate();
            let candidate_work = self
                .window
                .nodes
                .get(&candidate)
                .map_or(0, |n| n.meta.cumulative_work);
            if candidate == self.tip() || candidate_work <= self.tip_work() {
                return Ok(());
            }
            let old_tip = self.tip();
            match self.switch_to(candidate, true, pending) {
                Ok(()) => return Ok(()),
                Err(SwitchError::Chain(error)) => return Err(error),
                Err(SwitchError::Invalid(failed, error)) => {
                    let marked = self.mark_invalid(failed, pending);
                    if marked.contains(&new_hash) {
                        *own_failure = Some((failed, error));
                    }
                    // Back to where we were; those blocks were valid there.
                    self.switch_to(old_tip, false, pending)
                        .map_err(|e| match e {
                            SwitchError::Chain(error) => error,
                            SwitchError::Invalid(hash, error) => ChainError::Inconsistent(format!(
                                "cannot return to the previous tip: {hash} failed {error}"
                            )),
                        })?;
                }
            }
        }
    }

    /// Marks `hash` and all its descendants invalid; returns them.
    fn mark_invalid(&mut self, hash: BlockHash, pending: &mut Pending) -> Vec<BlockHash> {
        let Some(root_height) = self.window.nodes.get(&hash).map(|n| n.meta.height) else {
            return Vec::new();
        };
        let descendants: Vec<BlockHash> = self
            .window
            .nodes
            .iter()
            .filter(|(_, n)| n.meta.height >= root_height)
            .filter(|(h, _)| self.descends_from(**h, hash, root_height))
            .map(|(h, _)| *h)
            .collect();
        for h in &descendants {
            if let Some(node) = self.window.nodes.get_mut(h) {
                node.meta.status = BlockStatus::Invalid;
                pending.meta_updates.insert(*h, node.meta);
            }
        }
        descendants
    }

    fn descends_from(
        &self,
        mut hash: BlockHash,
        ancestor: BlockHash,
        ancestor_height: u64,
    ) -> bool {
        while let Some(node) = self.window.nodes.get(&hash) {
            if hash == ancestor {
                return true;
            }
            if node.meta.height <= ancestor_height {
                return false;
            }
            hash = node.header.prev_hash;
        }
        false
    }

    /// Makes `target` the tip: disconnects down to the fork point, then connects `target`'s
    /// branch, checking each connected block against the UTXO set if `check`. On a failed
    /// check, stops with the chain at the failing block's parent and names that block.
    fn switch_to(
        &mut self,
        target: BlockHash,
        check: bool,
        pending: &mut Pending,
    ) -> Result<(), SwitchError> {
        let mut branch = Vec::new();
        let mut cursor = target;
        loop {
            let node = self.window.nodes.get(&cursor).ok_or_else(|| {
                SwitchError::Chain(ChainError::Inconsistent(format!(
                    "block {cursor} of a branch is not above the finalized height"
                )))
            })?;
            if self.is_best_in_window(&cursor, node.meta.height) {
                break;
            }
            branch.push(cursor);
            cursor = node.header.prev_hash;
        }
        let fork = cursor;
        while self.tip() != fork {
            self.disconnect_tip(pending).map_err(SwitchError::Chain)?;
        }
        for hash in branch.into_iter().rev() {
            self.connect(hash, check, pending)?;
        }
        Ok(())
    }

    fn disconnect_tip(&mut self, pending: &mut Pending) -> Result<(), ChainError> {
        let tip = self.tip();
        let height = self.height_in_window(&tip)?;
        if height <= self.window.base {
            return Err(ChainError::Inconsistent(format!(
                "cannot disconnect {tip} at the finalized height {height}"
            )));
        }
        let undo = match pending.undo_put.iter().find(|(h, _)| *h == tip) {
            Some((_, undo)) => undo.clone(),
            None => self.store.undo(&tip).map_err(store_error)?.ok_or_else(|| {
                ChainError::CorruptStore(format!("best block {tip} has no undo data"))
            })?,
        };
        let body = self.body(&tip, &pending.incoming)?;
        let (block, txids) = body.parts();
        let mut set = load_touched(&self.store, &pending.utxos, block, txids, None)?;
        set.revert_block(block, &undo)?;
        store_touched(&mut pending.utxos, &set, block, txids);
        self.window.best.pop_back();
        pending.best_low = pending.best_low.min(height);
        if let Some(position) = pending.connected.iter().position(|h| *h == tip) {
            pending.connected.remove(position);
        } else {
            pending.disconnected.push(tip);
        }
        Ok(())
    }

    fn connect(
        &mut self,
        hash: BlockHash,
        check: bool,
        pending: &mut Pending,
    ) -> Result<(), SwitchError> {
        let height = self.height_in_window(&hash).map_err(SwitchError::Chain)?;
        let incoming = &pending.incoming;
        let body = self.body(&hash, incoming).map_err(SwitchError::Chain)?;
        let (block, txids) = body.parts();
        // A block that extended the tip was checked against this very UTXO set on arrival,
        // and the outputs it spends were read then.
        let spent = incoming
            .spent
            .as_ref()
            .filter(|_| hash == incoming.hash && block.header.prev_hash == self.tip());
        let prechecked = spent.is_some();
        let mut set = load_touched(&self.store, &pending.utxos, block, txids, spent)
            .map_err(SwitchError::Chain)?;
        if check && !prechecked {
            check_block_inputs(
                block,
                txids,
                &set,
                self.params.subsidy(height),
                self.params.coinbase_maturity,
            )
            .map_err(|e| SwitchError::Invalid(hash, Box::new(e)))?;
        }
        // After the checks above (or for a block that was connected before), applying cannot
        // fail unless the UTXO set is corrupt.
        let undo = set
            .apply_block_with_txids(block, txids)
            .map_err(|e| SwitchError::Chain(ChainError::Utxo(e)))?;
        store_touched(&mut pending.utxos, &set, block, txids);
        pending.undo_put.retain(|(h, _)| *h != hash);
        pending.undo_put.push((hash, undo));
        self.window.best.push_back(hash);
        pending.best_low = pending.best_low.min(height);
        if let Some(position) = pending.disconnected.iter().position(|h| *h == hash) {
            pending.disconnected.remove(position);
        } else {
            pending.connected.push(hash);
        }
        Ok(())
    }

    fn height_in_window(&self, hash: &BlockHash) -> Result<u64, ChainError> {
        self.window
            .nodes
            .get(hash)
            .map(|n| n.meta.height)
            .ok_or_else(|| {
                ChainError::Inconsistent(format!("block {hash} is not above the finalized height"))
            })
    }

    /// The body and txids of block `hash`: the incoming block's, or a committed block's read
    /// from the store.
    fn body<'a>(&self, hash: &BlockHash, incoming: &'a Incoming) -> Result<Body<'a>, ChainError> {
        if *hash == incoming.hash {
            return Ok(Body::Incoming(incoming));
        }
        let block = self
            .store
            .block(hash)
            .map_err(store_error)?
            .ok_or_else(|| ChainError::CorruptStore(format!("block {hash} is missing")))?;
        let txids = block.transactions.iter().map(Transaction::txid).collect();
        Ok(Body::Stored(Box::new((block, txids))))
    }

    /// Rebuilds the UTXO set from genesis along the best chain (to audit the incremental one):
    /// reads every block of the best chain from the store.
    pub fn rebuild_utxo_set(&self) -> Result<UtxoSet, ChainError> {
        let mut utxos = UtxoSet::new();
        for block in self.best_blocks() {
            utxos.apply_block(&block?)?;
        }
        Ok(utxos)
    }

    /// A block template on the tip: a coinbase paying the subsidy and fees to
    /// `coinbase_address`, then the mempool's transactions by fee rate, with the Merkle root
    /// set and the training commitment zeroed for the miner to fill. The timestamp is
    /// `timestamp`, raised to one second past the median time past if needed so the template
    /// is always valid.
    ///
    /// # Errors
    /// [`ChainError::Store`] if the store cannot be read.
    pub fn block_template(
        &self,
        mempool: &Mempool,
        coinbase_address: Address,
        timestamp: u64,
    ) -> Result<Block, ChainError> {
        let height = self.height().saturating_add(1);
        let tip = self.tip();
        // Room left for mempool transactions: header, count, and the coinbase with one output.
        let coinbase_room = crate::encoding::TX_FIXED_SIZE + 8 + crate::encoding::TXOUT_SIZE;
        let budget = MAX_BLOCK_SIZE.saturating_sub(HEADER_SIZE + 4 + coinbase_room);
        let pool_inputs: Vec<OutPoint> = mempool
            .transactions()
            .into_iter()
            .flat_map(|tx| tx.inputs.iter().map(|input| input.previous_output))
            .collect();
        let utxos = self.utxo_subset(&pool_inputs)?;
        let selected = mempool.select(&utxos, budget, crate::validation::MAX_BLOCK_SIGNATURES);
        let fees =
            Amount::checked_sum(selected.iter().map(|(_, fee)| *fee)).unwrap_or(Amount::ZERO);
        let reward = self
            .params
            .subsidy(height)
            .checked_add(fees)
            .unwrap_or(Amount::MAX);
        let outputs = if reward.is_zero() {
            Vec::new()
        } else {
            vec![TxOut {
                amount: reward,
                address: coinbase_address,
            }]
        };
        let mut transactions = vec![Transaction::coinbase(height, outputs)];
        transactions.extend(selected.into_iter().map(|(tx, _)| tx));
        let txids: Vec<Txid> = transactions.iter().map(Transaction::txid).collect();
        Ok(Block {
            header: BlockHeader {
                version: BLOCK_VERSION,
                height,
                prev_hash: tip,
                merkle_root: merkle_root(&txids),
                timestamp: timestamp.max(self.median_time_past(&tip)?.saturating_add(1)),
                bits: self.params.required_target(&self.tip_block().header),
                training: TrainingCommitment::default(),
            },
            transactions,
        })
    }
}

/// Every outpoint a block touches: the outputs it spends and the outputs it creates.
fn touched<'a>(block: &'a Block, txids: &'a [Txid]) -> impl Iterator<Item = OutPoint> + 'a {
    block.transactions.iter().zip(txids).flat_map(|(tx, txid)| {
        let spent = tx.inputs.iter().map(|input| input.previous_output);
        let created = (0u32..)
            .take(tx.outputs.len())
            .map(|vout| OutPoint { txid: *txid, vout });
        spent.chain(created)
    })
}

/// The UTXO entries a block touches, as they are now: the import's changes over the store.
/// `spent`, if given, holds what the block's inputs are in the committed set (read on
/// arrival; an input absent from it is absent there), so only its outputs are read.
fn load_touched<S: ChainStore>(
    store: &S,
    changes: &HashMap<OutPoint, Option<UtxoEntry>>,
    block: &Block,
    txids: &[Txid],
    spent: Option<&UtxoSet>,
) -> Result<UtxoSet, ChainError> {
    let mut set = UtxoSet::new();
    let mut unchanged = Vec::new();
    let inputs: HashSet<OutPoint> = spent
        .map(|_| {
            block
                .transactions
                .iter()
                .flat_map(|tx| tx.inputs.iter().map(|input| input.previous_output))
                .collect()
        })
        .unwrap_or_default();
    for outpoint in touched(block, txids) {
        match changes.get(&outpoint) {
            Some(Some(entry)) => {
                set.insert(outpoint, *entry);
            }
            Some(None) => {}
            None => match spent {
                Some(spent) if inputs.contains(&outpoint) => {
                    if let Some(entry) = spent.get(&outpoint) {
                        set.insert(outpoint, *entry);
                    }
                }
                _ => unchanged.push(outpoint),
            },
        }
    }
    let entries = store.utxos(&unchanged).map_err(store_error)?;
    for (outpoint, entry) in unchanged.into_iter().zip(entries) {
        if let Some(entry) = entry {
            set.insert(outpoint, entry);
        }
    }
    Ok(set)
}

/// Records the touched entries of `set` (after a block was applied or reverted on it) as the
/// import's changes.
fn store_touched(
    changes: &mut HashMap<OutPoint, Option<UtxoEntry>>,
    set: &UtxoSet,
    block: &Block,
    txids: &[Txid],
) {
    for outpoint in touched(block, txids) {
        changes.insert(outpoint, set.get(&outpoint).copied());
    }
}
