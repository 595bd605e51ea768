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
//! below its tip is not stored at all ([`BlockError::TooLittleWork`]). Checks
//! against the UTXO set run when it is connected to the best chain (immediately if it extends
//! the tip). If a block of a heavier side branch fails those checks during a reorganisation,
//! it and its descendants are marked invalid and the chain returns to the best valid branch.
//! Blocks whose parent is unknown are rejected ([`BlockError::UnknownParent`]); the caller
//! may submit them again once the parent arrived.

use std::collections::{HashMap, HashSet};

use crate::address::Address;
use crate::amount::Amount;
use crate::block::{BLOCK_VERSION, Block, BlockHeader, TrainingCommitment};
use crate::encoding::{HEADER_SIZE, MAX_BLOCK_SIZE};
use crate::hash::{BlockHash, Txid};
use crate::mempool::Mempool;
use crate::merkle::merkle_root;
use crate::proof::ProofVerifier;
use crate::store::{
    BlockMeta, BlockStatus, ChainStore, ChangeSet, MemoryChainStore, StoredBlock, StoredChain,
};
use crate::target::{CompactTarget, Difficulty};
use crate::transaction::{OutPoint, Transaction, TxOut};
use crate::utxo::{BlockUndo, UtxoError, UtxoSet};
use crate::validation::{
    self, BlockError, HeaderContext, MEDIAN_TIME_SPAN, TxError, check_block_body,
    check_block_inputs, check_header, median_timestamp, verify_block_signatures,
};

/// The original project's block reward, 10 coins.
pub const DEFAULT_SUBSIDY: Amount = match Amount::from_coins(10) {
    Ok(amount) => amount,
    Err(_) => Amount::ZERO,
};

/// Consensus parameters of a chain.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
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
    /// Something that cannot fail on a consistent chain did.
    Inconsistent(String),
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

#[derive(Clone, Debug)]
struct Node {
    block: Block,
    txids: Vec<Txid>,
    meta: BlockMeta,
    undo: Option<BlockUndo>,
}

/// Changes accumulated during one import, turned into a [`ChangeSet`] at the end.
#[derive(Default)]
struct Pending {
    touched: HashSet<OutPoint>,
    undo_put: Vec<(BlockHash, BlockUndo)>,
    meta_updates: HashMap<BlockHash, BlockMeta>,
    disconnected: Vec<BlockHash>,
    connected: Vec<BlockHash>,
    /// The imported block, if it was checked against the UTXO set at the tip on arrival.
    prechecked: Option<BlockHash>,
}

/// A block tree with its best chain and UTXO set, persisted through `S`.
#[derive(Debug, Clone)]
pub struct Chain<S: ChainStore = MemoryChainStore> {
    params: ChainParams,
    store: S,
    nodes: HashMap<BlockHash, Node>,
    best: Vec<BlockHash>,
    utxos: UtxoSet,
    next_seen: u64,
}

impl Chain<MemoryChainStore> {
    /// A new chain in memory.
    pub fn new(params: ChainParams) -> Result<Self, ChainError> {
        Chain::open(params, MemoryChainStore::new())
    }
}

impl<S: ChainStore> Chain<S> {
    /// Opens a chain on `store`: resumes what it holds, or writes genesis if it is empty.
    ///
    /// A resumed chain trusts the stored UTXO set (the store wrote it in the same atomic
    /// change-sets as the blocks); [`Chain::rebuild_utxo_set`] can audit it. The best chain,
    /// heights, undo data and genesis are checked against the parameters.
    pub fn open(params: ChainParams, mut store: S) -> Result<Self, ChainError> {
        let genesis = params.genesis_block();
        if let Some(coinbase) = genesis.transactions.first()
            && !coinbase.outputs.is_empty()
        {
            validation::check_transaction(coinbase).map_err(ChainError::InvalidGenesis)?;
        }
        let genesis_hash = genesis.hash();
        let stored = store.load().map_err(|e| ChainError::Store(Box::new(e)))?;
        match stored {
            Some(stored) => Self::resume(params, store, genesis_hash, stored),
            None => {
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
                    undo_put: vec![(genesis_hash, undo.clone())],
                    utxo_deleted: Vec::new(),
                    utxo_inserted: utxos.iter().map(|(o, e)| (*o, *e)).collect(),
                    tip: genesis_hash,
                };
                store
                    .commit(&changes)
                    .map_err(|e| ChainError::Store(Box::new(e)))?;
                let txids = genesis.transactions.iter().map(Transaction::txid).collect();
                let mut nodes = HashMap::new();
                nodes.insert(
                    genesis_hash,
                    Node {
                        block: genesis,
                        txids,
                        meta,
                        undo: Some(undo),
                    },
                );
                Ok(Chain {
                    params,
                    store,
                    nodes,
                    best: vec![genesis_hash],
                    utxos,
                    next_seen: 1,
                })
            }
        }
    }

    fn resume(
        params: ChainParams,
        store: S,
        genesis_hash: BlockHash,
        stored: StoredChain,
    ) -> Result<Self, ChainError> {
        let mut nodes = HashMap::with_capacity(stored.blocks.len());
        let mut next_seen = 0;
        for StoredBlock { block, meta } in stored.blocks {
            next_seen = next_seen.max(meta.seen_order.saturating_add(1));
            let txids = block.transactions.iter().map(Transaction::txid).collect();
            nodes.insert(
                block.hash(),
                Node {
                    block,
                    txids,
                    meta,
                    undo: None,
                },
            );
        }
        for (hash, undo) in stored.undo {
            if let Some(node) = nodes.get_mut(&hash) {
                node.undo = Some(undo);
            }
        }
        // Walk from the tip back to genesis to rebuild the best chain.
        let mut best = Vec::new();
        let mut cursor = stored.tip;
        loop {
            let node = nodes.get(&cursor).ok_or_else(|| {
                ChainError::CorruptStore(format!("block {cursor} of the best chain is missing"))
            })?;
            best.push(cursor);
            if node.meta.height == 0 {
                break;
            }
            cursor = node.block.header.prev_hash;
            if best.len() > nodes.len() {
                return Err(ChainError::CorruptStore(
                    "the best chain has a cycle".into(),
                ));
            }
        }
        best.reverse();
        if best.first() != Some(&genesis_hash) {
            return Err(ChainError::GenesisMismatch {
                expected: genesis_hash,
                found: best.first().copied().unwrap_or_default(),
            });
        }
        for (height, hash) in best.iter().enumerate() {
            let ok = nodes.get(hash).is_some_and(|n| {
                n.meta.height == height as u64 && (height == 0 || n.undo.is_some())
            });
            if !ok {
                return Err(ChainError::CorruptStore(format!(
                    "block {hash} at height {height} of the best chain has a wrong height or no undo data"
                )));
            }
        }
        let mut utxos = UtxoSet::new();
        for (outpoint, entry) in stored.utxos {
            utxos.insert(outpoint, entry);
        }
        Ok(Chain {
            params,
            store,
            nodes,
            best,
            utxos,
            next_seen,
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
        self.best.last().copied().unwrap_or_default()
    }

    /// Height of the best block.
    pub fn height(&self) -> u64 {
        self.best.len().saturating_sub(1) as u64
    }

    /// The best block.
    pub fn tip_block(&self) -> &Block {
        // The best chain always holds at least genesis, whose node always exists.
        &self.nodes[&self.tip()].block
    }

    /// Cumulative work of the best chain.
    pub fn tip_work(&self) -> u128 {
        self.nodes
            .get(&self.tip())
            .map_or(0, |n| n.meta.cumulative_work)
    }

    /// The hashes of the best chain, genesis first (index = height).
    pub fn best_chain(&self) -> &[BlockHash] {
        &self.best
    }

    /// The blocks of the best chain, genesis first.
    pub fn best_blocks(&self) -> impl DoubleEndedIterator<Item = &Block> + ExactSizeIterator {
        // Every hash of the best chain has its node (as for `tip_block`).
        self.best.iter().map(|hash| &self.nodes[hash].block)
    }

    /// The UTXO set at the tip.
    pub fn utxos(&self) -> &UtxoSet {
        &self.utxos
    }

    /// A known block by hash (best chain or side branch).
    pub fn block(&self, hash: &BlockHash) -> Option<&Block> {
        self.nodes.get(hash).map(|n| &n.block)
    }

    /// Metadata of a known block.
    pub fn block_meta(&self, hash: &BlockHash) -> Option<&BlockMeta> {
        self.nodes.get(hash).map(|n| &n.meta)
    }

    /// The block of the best chain at `height`.
    pub fn block_at(&self, height: u64) -> Option<&Block> {
        let hash = self.best.get(usize::try_from(height).ok()?)?;
        self.block(hash)
    }

    /// Number of known blocks, side branches included.
    pub fn block_count(&self) -> usize {
        self.nodes.len()
    }

    /// Sum of all unspent outputs, in base units.
    pub fn total_supply(&self) -> u128 {
        self.utxos.total_value()
    }

    /// Median timestamp of the [`MEDIAN_TIME_SPAN`] blocks ending at `hash` (fewer near
    /// genesis).
    pub fn median_time_past(&self, hash: &BlockHash) -> u64 {
        let mut timestamps = Vec::with_capacity(MEDIAN_TIME_SPAN);
        let mut cursor = self.nodes.get(hash);
        while let Some(node) = cursor {
            timestamps.push(node.block.header.timestamp);
            if timestamps.len() == MEDIAN_TIME_SPAN || node.meta.height == 0 {
                break;
            }
            cursor = self.nodes.get(&node.block.header.prev_hash);
        }
        median_timestamp(&timestamps)
    }

    /// Every check of a block except the full proof of training, without changing the chain,
    /// cheapest first: the header against its parent (its ticket included), the work floor,
    /// the proof's pre-checks, the transactions alone, (if it extends the tip) the UTXO set,
    /// then the signatures. Returns its txids.
    fn check_block<V: ProofVerifier + ?Sized>(
        &self,
        block: &Block,
        now: u64,
        verifier: &V,
    ) -> Result<Vec<Txid>, BlockError> {
        let parent_hash = block.header.prev_hash;
        let parent = self
            .nodes
            .get(&parent_hash)
            .ok_or(BlockError::UnknownParent(parent_hash))?;
        if parent.meta.status == BlockStatus::Invalid {
            return Err(BlockError::InvalidParent(parent_hash));
        }
        let height = parent.meta.height.saturating_add(1);
        check_header(
            &block.header,
            &HeaderContext {
                parent: &parent.block.header,
                median_time_past: self.median_time_past(&parent_hash),
                required_target: self.params.required_target(&parent.block.header),
                now,
            },
        )?;
        self.check_work_floor(parent.meta.cumulative_work, &block.header)?;
        verifier
            .precheck(&block.header)
            .map_err(|e| BlockError::ProofPrecheck(Box::new(e)))?;
        let txids = check_block_body(block)?;
        if parent_hash == self.tip() {
            check_block_inputs(
                block,
                &txids,
                &self.utxos,
                self.params.subsidy(height),
                self.params.coinbase_maturity,
            )?;
        }
        verify_block_signatures(block, &txids)?;
        Ok(txids)
    }

    /// The work floor (see [`ChainParams::max_reorg_depth`]): a block whose branch would have no
    /// more cumulative work than the best chain had that many blocks below its tip.
    fn check_work_floor(&self, parent_work: u128, header: &BlockHeader) -> Result<(), BlockError> {
        let depth = self.params.max_reorg_depth;
        let Some(floor_height) = self.height().checked_sub(depth) else {
            return Ok(());
        };
        let floor = usize::try_from(floor_height)
            .ok()
            .and_then(|h| self.best.get(h))
            .and_then(|hash| self.nodes.get(hash))
            .map_or(0, |n| n.meta.cumulative_work);
        let work = parent_work.saturating_add(header.bits.work());
        if work <= floor {
            return Err(BlockError::TooLittleWork { work, floor, depth });
        }
        Ok(())
    }

    /// Fully validates a block that extends the tip, proof of training last, without changing
    /// the chain (for miners checking their own block, and for benchmarks).
    pub fn validate_block<V: ProofVerifier + ?Sized>(
        &self,
        block: &Block,
        now: u64,
        verifier: &V,
    ) -> Result<(), BlockError> {
        if block.header.prev_hash != self.tip() {
            return Err(BlockError::WrongPrevHash {
                expected: self.tip(),
                found: block.header.prev_hash,
            });
        }
        self.check_block(block, now, verifier)?;
        verifier
            .verify_proof(&block.header)
            .map_err(|e| BlockError::Proof(Box::new(e)))
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
        let hash = block.hash();
        if let Some(known) = self.nodes.get(&hash) {
            if known.meta.status == BlockStatus::Invalid {
                return Err(ChainError::InvalidBlock {
                    hash,
                    source: Box::new(BlockError::KnownInvalid(hash)),
                });
            }
            return Ok(ImportOutcome::AlreadyKnown);
        }
        let invalid = |source| ChainError::InvalidBlock {
            hash,
            source: Box::new(source),
        };
        let txids = self.check_block(&block, now, verifier).map_err(invalid)?;
        verifier
            .verify_proof(&block.header)
            .map_err(|e| invalid(BlockError::Proof(Box::new(e))))?;

        let parent_meta = self
            .nodes
            .get(&block.header.prev_hash)
            .map(|n| n.meta)
            .ok_or_else(|| invalid(BlockError::UnknownParent(block.header.prev_hash)))?;
        let meta = BlockMeta {
            height: parent_meta.height.saturating_add(1),
            cumulative_work: parent_meta
                .cumulative_work
                .saturating_add(block.header.bits.work()),
            seen_order: self.next_seen,
            status: BlockStatus::Valid,
        };
        let old_tip = self.tip();
        let block_parent = block.header.prev_hash;
        let old_metas: Vec<(BlockHash, BlockMeta)> =
            self.nodes.iter().map(|(h, n)| (*h, n.meta)).collect();
        self.next_seen = self.next_seen.saturating_add(1);
        self.nodes.insert(
            hash,
            Node {
                block,
                txids,
                meta,
                undo: None,
            },
        );

        let mut pending = Pending {
            prechecked: (block_parent == old_tip).then_some(hash),
            ..Pending::default()
        };
        let mut own_failure = None;
        self.activate_best_chain(&mut pending, hash, &mut own_failure)?;

        let new_meta = self.nodes.get(&hash).map_or(meta, |n| n.meta);
        let new_block = StoredBlock {
            block: self
                .nodes
                .get(&hash)
                .map(|n| n.block.clone())
                .ok_or_else(|| ChainError::CorruptStore("imported block vanished".into()))?,
            meta: new_meta,
        };
        pending.meta_updates.remove(&hash);
        let mut utxo_deleted = Vec::new();
        let mut utxo_inserted = Vec::new();
        let mut touched: Vec<OutPoint> = pending.touched.iter().copied().collect();
        touched.sort_unstable();
        for outpoint in touched {
            match self.utxos.get(&outpoint) {
                Some(entry) => utxo_inserted.push((outpoint, *entry)),
                None => utxo_deleted.push(outpoint),
            }
        }
        let mut meta_updates: Vec<_> = pending.meta_updates.into_iter().collect();
        meta_updates.sort_unstable_by_key(|(h, _)| *h);
        let changes = ChangeSet {
            new_block,
            meta_updates,
            undo_put: pending.undo_put,
            utxo_deleted,
            utxo_inserted,
            tip: self.tip(),
        };
        if let Err(store_error) = self.store.commit(&changes) {
            // Keep memory equal to what is persisted: undo the whole import.
            self.restore(old_tip, hash, &old_metas)?;
            self.next_seen = self.next_seen.saturating_sub(1);
            return Err(ChainError::Store(Box::new(store_error)));
        }
        if let Some((failed, source)) = own_failure {
            // The new block descends from `failed` (possibly is it), which broke `source`.
            return Err(ChainError::InvalidBlock {
                hash: failed,
                source,
            });
        }
        Ok(if self.tip() == old_tip {
            ImportOutcome::SideBranch
        } else if pending.disconnected.is_empty() && pending.connected == [hash] {
            ImportOutcome::Extended
        } else {
            ImportOutcome::Reorganized {
                disconnected: pending.disconnected,
                connected: pending.connected,
            }
        })
    }

    /// Undoes an import whose commit failed.
    fn restore(
        &mut self,
        old_tip: BlockHash,
        new_hash: BlockHash,
        old_metas: &[(BlockHash, BlockMeta)],
    ) -> Result<(), ChainError> {
        for (hash, meta) in old_metas {
            if let Some(node) = self.nodes.get_mut(hash) {
                node.meta = *meta;
            }
        }
        let mut scratch = Pending::default();
        self.switch_to(old_tip, false, &mut scratch)
            .map_err(|e| ChainError::Inconsistent(format!("cannot restore the tip: {e:?}")))?;
        self.nodes.remove(&new_hash);
        Ok(())
    }

    /// The valid block with the most work (earliest seen on a tie).
    fn best_candidate(&self) -> BlockHash {
        self.nodes
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
            let tip_work = self.tip_work();
            let candidate_work = self
                .nodes
                .get(&candidate)
                .map_or(0, |n| n.meta.cumulative_work);
            if candidate == self.tip() || candidate_work <= tip_work {
                return Ok(());
            }
            let old_tip = self.tip();
            match self.switch_to(candidate, true, pending) {
                Ok(()) => return Ok(()),
                Err(SwitchError::Inconsistent(reason)) => {
                    return Err(ChainError::Inconsistent(reason));
                }
                Err(SwitchError::Invalid(failed, error)) => {
                    let marked = self.mark_invalid(failed, pending);
                    if marked.contains(&new_hash) {
                        *own_failure = Some((failed, error));
                    }
                    // Back to where we were; those blocks were valid there.
                    self.switch_to(old_tip, false, pending).map_err(|e| {
                        ChainError::Inconsistent(format!(
                            "cannot return to the previous tip: {e:?}"
                        ))
                    })?;
                }
            }
        }
    }

    /// Marks `hash` and all its descendants invalid; returns them.
    fn mark_invalid(&mut self, hash: BlockHash, pending: &mut Pending) -> Vec<BlockHash> {
        let Some(root_height) = self.nodes.get(&hash).map(|n| n.meta.height) else {
            return Vec::new();
        };
        let descendants: Vec<BlockHash> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.meta.height >= root_height)
            .filter(|(h, _)| self.descends_from(**h, hash, root_height))
            .map(|(h, _)| *h)
            .collect();
        for h in &descendants {
            if let Some(node) = self.nodes.get_mut(h) {
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
        while let Some(node) = self.nodes.get(&hash) {
            if hash == ancestor {
                return true;
            }
            if node.meta.height <= ancestor_height {
                return false;
            }
            hash = node.block.header.prev_hash;
        }
        false
    }

    /// Whether `hash` is on the best chain.
    pub fn is_on_best_chain(&self, hash: &BlockHash) -> bool {
        self.nodes.get(hash).is_some_and(|n| {
            usize::try_from(n.meta.height)
                .ok()
                .and_then(|h| self.best.get(h))
                == Some(hash)
        })
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
        while !self.is_on_best_chain(&cursor) {
            branch.push(cursor);
            let node = self.nodes.get(&cursor).ok_or_else(|| {
                SwitchError::Inconsistent(format!("block {cursor} of a branch is missing"))
            })?;
            cursor = node.block.header.prev_hash;
        }
        let fork = cursor;
        while self.tip() != fork {
            self.disconnect_tip(pending)
                .map_err(|e| SwitchError::Inconsistent(e.to_string()))?;
        }
        for hash in branch.into_iter().rev() {
            self.connect(hash, check, pending)?;
        }
        Ok(())
    }

    fn disconnect_tip(&mut self, pending: &mut Pending) -> Result<(), UtxoError> {
        let tip = self.tip();
        let Some(node) = self.nodes.get(&tip) else {
            return Ok(());
        };
        let undo = node.undo.as_ref().ok_or(UtxoError::UndoMismatch {
            expected: node.block.transactions.iter().map(|t| t.inputs.len()).sum(),
            found: 0,
        })?;
        self.utxos.revert_block(&node.block, undo)?;
        touch(&mut pending.touched, &node.block, &node.txids);
        self.best.pop();
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
        let node = self.nodes.get(&hash).ok_or_else(|| {
            SwitchError::Inconsistent(format!("block {hash} to connect is missing"))
        })?;
        // A block that extended the tip was checked against this very UTXO set on arrival.
        let prechecked =
            pending.prechecked == Some(hash) && node.block.header.prev_hash == self.tip();
        if check && !prechecked {
            let height = node.meta.height;
            check_block_inputs(
                &node.block,
                &node.txids,
                &self.utxos,
                self.params.subsidy(height),
                self.params.coinbase_maturity,
            )
            .map_err(|e| SwitchError::Invalid(hash, Box::new(e)))?;
        }
        // After the checks above (or for a block that was connected before), applying cannot
        // fail unless the UTXO set is corrupt.
        let undo = self
            .utxos
            .apply_block_with_txids(&node.block, &node.txids)
            .map_err(|e| SwitchError::Inconsistent(e.to_string()))?;
        touch(&mut pending.touched, &node.block, &node.txids);
        pending.undo_put.retain(|(h, _)| *h != hash);
        pending.undo_put.push((hash, undo.clone()));
        if let Some(node) = self.nodes.get_mut(&hash) {
            node.undo = Some(undo);
        }
        self.best.push(hash);
        if let Some(position) = pending.disconnected.iter().position(|h| *h == hash) {
            pending.disconnected.remove(position);
        } else {
            pending.connected.push(hash);
        }
        Ok(())
    }

    /// Rebuilds the UTXO set from genesis along the best chain (to audit the incremental one).
    pub fn rebuild_utxo_set(&self) -> Result<UtxoSet, UtxoError> {
        let mut utxos = UtxoSet::new();
        for hash in &self.best {
            if let Some(node) = self.nodes.get(hash) {
                utxos.apply_block(&node.block)?;
            }
        }
        Ok(utxos)
    }

    /// A block template on the tip: a coinbase paying the subsidy and fees to
    /// `coinbase_address`, then the mempool's transactions by fee rate, with the Merkle root
    /// set and the training commitment zeroed for the miner to fill. The timestamp is
    /// `timestamp`, raised to one second past the median time past if needed so the template
    /// is always valid.
    pub fn block_template(
        &self,
        mempool: &Mempool,
        coinbase_address: Address,
        timestamp: u64,
    ) -> Block {
        let height = self.height().saturating_add(1);
        let tip = self.tip();
        // Room left for mempool transactions: header, count, and the coinbase with one output.
        let coinbase_room = crate::encoding::TX_FIXED_SIZE + 8 + crate::encoding::TXOUT_SIZE;
        let budget = MAX_BLOCK_SIZE.saturating_sub(HEADER_SIZE + 4 + coinbase_room);
        let selected = mempool.select(&self.utxos, budget, crate::validation::MAX_BLOCK_SIGNATURES);
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
        Block {
            header: BlockHeader {
                version: BLOCK_VERSION,
                height,
                prev_hash: tip,
                merkle_root: merkle_root(&txids),
                timestamp: timestamp.max(self.median_time_past(&tip).saturating_add(1)),
                bits: self.params.required_target(&self.tip_block().header),
                training: TrainingCommitment::default(),
            },
            transactions,
        }
    }
}

fn touch(touched: &mut HashSet<OutPoint>, block: &Block, txids: &[Txid]) {
    for (tx, txid) in block.transactions.iter().zip(txids) {
        for input in &tx.inputs {
            touched.insert(input.previous_output);
        }
        for vout in 0..tx.outputs.len() {
            touched.insert(OutPoint {
                txid: *txid,
                vout: u32::try_from(vout).unwrap_or(u32::MAX),
            });
        }
    }
}
