//! Where a [`crate::chain::Chain`] keeps its state: blocks, metadata, the best-chain index,
//! undo data and the UTXO set live in a [`ChainStore`] and are read through queries; the chain
//! holds in memory only the blocks that can still be reorganised away.
//!
//! The chain computes every change itself and hands the store one [`ChangeSet`] per block
//! import; the store writes it atomically (for `ann-store`, one redb write transaction) and
//! answers the queries from what it holds. All records have a canonical encoding
//! ([`Encode`]/[`Decode`]), so a store can keep them as bytes:
//!
//! | record | key | value |
//! | --- | --- | --- |
//! | block | [`BlockHash`] | [`Block`] encoding |
//! | block metadata | [`BlockHash`] | [`BlockMeta`] encoding |
//! | blocks by height | height, [`BlockHash`] | nothing |
//! | best chain | height | [`BlockHash`] |
//! | undo data | [`BlockHash`] | [`BlockUndo`] encoding |
//! | UTXO | [`OutPoint`] encoding | [`UtxoEntry`] encoding |
//! | tip | singleton | [`BlockHash`] |

use std::collections::{BTreeSet, HashMap};
use std::convert::Infallible;

use crate::block::{Block, BlockHeader};
use crate::encoding::{Decode, DecodeError, Encode, Reader};
use crate::hash::BlockHash;
use crate::transaction::OutPoint;
use crate::utxo::{BlockUndo, UtxoEntry};

/// Whether a block may be part of the best chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum BlockStatus {
    /// Passed every check made so far (all checks if it is or was on the best chain;
    /// header, transaction, signature and proof checks if it only sits on a side branch).
    Valid,
    /// Failed validation when the chain tried to connect it, or descends from such a block.
    Invalid,
}

/// What the chain knows about a block beyond its contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct BlockMeta {
    /// The block's height.
    pub height: u64,
    /// Sum of [`crate::CompactTarget::work`] from genesis to this block, inclusive.
    pub cumulative_work: u128,
    /// Arrival order (0 for genesis); breaks fork-choice ties: the first seen wins.
    pub seen_order: u64,
    /// Whether it may be on the best chain.
    pub status: BlockStatus,
}

/// A block and its metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredBlock {
    /// The block (its hash is `block.hash()`).
    pub block: Block,
    /// Its metadata.
    pub meta: BlockMeta,
}

/// Everything one block import changed. Applying it must be atomic: all or nothing.
///
/// Apply in this order, inside one transaction: insert `new_block` (and its entry in the
/// blocks-by-height index), overwrite the metadata in `meta_updates`, put each entry of
/// `undo_put` (replacing an existing one), delete each outpoint of `utxo_deleted`, insert each
/// entry of `utxo_inserted`, remove the best-chain entries at heights `best_from` and above and
/// put `best_added[i]` at height `best_from + i`, set the tip. `utxo_deleted` and
/// `utxo_inserted` are disjoint, so their order does not matter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeSet {
    /// The imported block with its metadata (the genesis block in a chain's first commit).
    pub new_block: StoredBlock,
    /// Metadata of existing blocks that changed (blocks marked invalid during a reorg).
    pub meta_updates: Vec<(BlockHash, BlockMeta)>,
    /// Undo data of each block connected by this import.
    pub undo_put: Vec<(BlockHash, BlockUndo)>,
    /// Outpoints that left the UTXO set.
    pub utxo_deleted: Vec<OutPoint>,
    /// Outputs that entered the UTXO set.
    pub utxo_inserted: Vec<(OutPoint, UtxoEntry)>,
    /// The lowest height whose best-chain entry changed (one above the old tip's height when
    /// the best chain only grew or did not change).
    pub best_from: u64,
    /// The best chain from `best_from` up to the new tip (empty if the tip did not change).
    pub best_added: Vec<BlockHash>,
    /// The best block after the import.
    pub tip: BlockHash,
}

/// Where a chain keeps its state, and how it reads it back.
///
/// Queries answer from what was committed: the chain never reads a change it has not
/// committed. A store may answer `None` only for what it never held; a record it holds but
/// cannot read is an error, never a silent `None`.
pub trait ChainStore {
    /// Why the store failed.
    type Error: std::error::Error + Send + Sync + 'static;

    /// What a caller may attach to a block it imports
    /// ([`crate::Chain::submit_block_with`]), for the store to write in that block's commit:
    /// `ann-store`'s artifact record (the block's entry in the mining side chain); `()` for a
    /// store that keeps only the chain.
    type Attachment;

    /// Writes one import's changes, and `attachment` if the caller gave one for
    /// `changes.new_block`, atomically: after a crash, either all of them or none are visible
    /// to the queries.
    fn commit(
        &mut self,
        changes: &ChangeSet,
        attachment: Option<&Self::Attachment>,
    ) -> Result<(), Self::Error>;

    /// The best block, or `None` for a store that never saw a commit.
    fn tip(&self) -> Result<Option<BlockHash>, Self::Error>;

    /// A stored block (best chain or side branch).
    fn block(&self, hash: &BlockHash) -> Result<Option<Block>, Self::Error>;

    /// The header of a stored block (a store may read less than the whole block).
    fn header(&self, hash: &BlockHash) -> Result<Option<BlockHeader>, Self::Error> {
        Ok(self.block(hash)?.map(|b| b.header))
    }

    /// The metadata of a stored block.
    fn meta(&self, hash: &BlockHash) -> Result<Option<BlockMeta>, Self::Error>;

    /// The undo data of a block that is or was on the best chain.
    fn undo(&self, hash: &BlockHash) -> Result<Option<BlockUndo>, Self::Error>;

    /// The block of the best chain at `height`.
    fn best_hash(&self, height: u64) -> Result<Option<BlockHash>, Self::Error>;

    /// Every stored block at `height` or above, on any branch, lowest first.
    fn blocks_from_height(&self, height: u64) -> Result<Vec<BlockHash>, Self::Error>;

    /// The number of stored blocks, side branches included.
    fn block_count(&self) -> Result<u64, Self::Error>;

    /// The unspent output at `outpoint`, at the tip.
    fn utxo(&self, outpoint: &OutPoint) -> Result<Option<UtxoEntry>, Self::Error>;

    /// The unspent outputs at `outpoints`, in order (a store answers them from one snapshot
    /// and at less cost than one [`ChainStore::utxo`] each).
    fn utxos(&self, outpoints: &[OutPoint]) -> Result<Vec<Option<UtxoEntry>>, Self::Error> {
        outpoints
            .iter()
            .map(|outpoint| self.utxo(outpoint))
            .collect()
    }

    /// Calls `visit` with every unspent output at the tip, in an order the store chooses.
    fn for_each_utxo(
        &self,
        visit: &mut dyn FnMut(&OutPoint, &UtxoEntry),
    ) -> Result<(), Self::Error>;
}

/// A [`ChainStore`] in memory, for tests, tools and short-lived chains.
#[derive(Clone, Debug, Default)]
pub struct MemoryChainStore {
    blocks: HashMap<BlockHash, StoredBlock>,
    by_height: BTreeSet<(u64, BlockHash)>,
    best: Vec<BlockHash>,
    undo: HashMap<BlockHash, BlockUndo>,
    utxos: HashMap<OutPoint, UtxoEntry>,
    tip: Option<BlockHash>,
    commits: u64,
}

impl MemoryChainStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many change-sets were committed.
    pub fn commit_count(&self) -> u64 {
        self.commits
    }
}

impl ChainStore for MemoryChainStore {
    type Error = Infallible;
    type Attachment = ();

    fn commit(&mut self, changes: &ChangeSet, _: Option<&()>) -> Result<(), Infallible> {
        let stored = &changes.new_block;
        let hash = stored.block.hash();
        self.by_height.insert((stored.meta.height, hash));
        self.blocks.insert(hash, stored.clone());
        for (hash, meta) in &changes.meta_updates {
            if let Some(stored) = self.blocks.get_mut(hash) {
                stored.meta = *meta;
            }
        }
        for (hash, undo) in &changes.undo_put {
            self.undo.insert(*hash, undo.clone());
        }
        for outpoint in &changes.utxo_deleted {
            self.utxos.remove(outpoint);
        }
        for (outpoint, entry) in &changes.utxo_inserted {
            self.utxos.insert(*outpoint, *entry);
        }
        self.best
            .truncate(usize::try_from(changes.best_from).unwrap_or(usize::MAX));
        self.best.extend_from_slice(&changes.best_added);
        self.tip = Some(changes.tip);
        self.commits += 1;
        Ok(())
    }

    fn tip(&self) -> Result<Option<BlockHash>, Infallible> {
        Ok(self.tip)
    }

    fn block(&self, hash: &BlockHash) -> Result<Option<Block>, Infallible> {
        Ok(self.blocks.get(hash).map(|s| s.block.clone()))
    }

    fn header(&self, hash: &BlockHash) -> Result<Option<BlockHeader>, Infallible> {
        Ok(self.blocks.get(hash).map(|s| s.block.header.clone()))
    }

    fn meta(&self, hash: &BlockHash) -> Result<Option<BlockMeta>, Infallible> {
        Ok(self.blocks.get(hash).map(|s| s.meta))
    }

    fn undo(&self, hash: &BlockHash) -> Result<Option<BlockUndo>, Infallible> {
        Ok(self.undo.get(hash).cloned())
    }

    fn best_hash(&self, height: u64) -> Result<Option<BlockHash>, Infallible> {
        Ok(usize::try_from(height)
            .ok()
            .and_then(|h| self.best.get(h))
            .copied())
    }

    fn blocks_from_height(&self, height: u64) -> Result<Vec<BlockHash>, Infallible> {
        Ok(self
            .by_height
            .range((height, BlockHash::ZERO)..)
            .map(|(_, hash)| *hash)
            .collect())
    }

    fn block_count(&self) -> Result<u64, Infallible> {
        Ok(self.blocks.len() as u64)
    }

    fn utxo(&self, outpoint: &OutPoint) -> Result<Option<UtxoEntry>, Infallible> {
        Ok(self.utxos.get(outpoint).copied())
    }

    fn for_each_utxo(
        &self,
        visit: &mut dyn FnMut(&OutPoint, &UtxoEntry),
    ) -> Result<(), Infallible> {
        for (outpoint, entry) in &self.utxos {
            visit(outpoint, entry);
        }
        Ok(())
    }
}

impl<S: ChainStore + ?Sized> ChainStore for &mut S {
    type Error = S::Error;
    type Attachment = S::Attachment;
    fn commit(
        &mut self,
        changes: &ChangeSet,
        attachment: Option<&Self::Attachment>,
    ) -> Result<(), Self::Error> {
        (**self).commit(changes, attachment)
    }
    fn tip(&self) -> Result<Option<BlockHash>, Self::Error> {
        (**self).tip()
    }
    fn block(&self, hash: &BlockHash) -> Result<Option<Block>, Self::Error> {
        (**self).block(hash)
    }
    fn header(&self, hash: &BlockHash) -> Result<Option<BlockHeader>, Self::Error> {
        (**self).header(hash)
    }
    fn meta(&self, hash: &BlockHash) -> Result<Option<BlockMeta>, Self::Error> {
        (**self).meta(hash)
    }
    fn undo(&self, hash: &BlockHash) -> Result<Option<BlockUndo>, Self::Error> {
        (**self).undo(hash)
    }
    fn best_hash(&self, height: u64) -> Result<Option<BlockHash>, Self::Error> {
        (**self).best_hash(height)
    }
    fn blocks_from_height(&self, height: u64) -> Result<Vec<BlockHash>, Self::Error> {
        (**self).blocks_from_height(height)
    }
    fn block_count(&self) -> Result<u64, Self::Error> {
        (**self).block_count()
    }
    fn utxo(&self, outpoint: &OutPoint) -> Result<Option<UtxoEntry>, Self::Error> {
        (**self).utxo(outpoint)
    }
    fn utxos(&self, outpoints: &[OutPoint]) -> Result<Vec<Option<UtxoEntry>>, Self::Error> {
        (**self).utxos(outpoints)
    }
    fn for_each_utxo(
        &self,
        visit: &mut dyn FnMut(&OutPoint, &UtxoEntry),
    ) -> Result<(), Self::Error> {
        (**self).for_each_utxo(visit)
    }
}

impl Encode for BlockMeta {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.height.to_le_bytes());
        out.extend_from_slice(&self.cumulative_work.to_le_bytes());
        out.extend_from_slice(&self.seen_order.to_le_bytes());
        out.push(match self.status {
            BlockStatus::Valid => 0,
            BlockStatus::Invalid => 1,
        });
    }
}

impl Decode for BlockMeta {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(BlockMeta {
            height: reader.u64("meta height")?,
            cumulative_work: reader.u128("meta cumulative work")?,
            seen_order: reader.u64("meta seen order")?,
            status: if reader.flag("meta status")? {
                BlockStatus::Invalid
            } else {
                BlockStatus::Valid
            },
        })
    }
}

/// A [`ChainStore`] that counts the queries and commits it passes on to `S`: for tests and
/// tools that check how much an operation reads (opening a chain, importing a block).
#[derive(Clone, Debug, Default)]
pub struct CountingStore<S> {
    inner: S,
    reads: std::cell::Cell<u64>,
    commits: u64,
}

impl<S> CountingStore<S> {
    /// Wraps `inner`, counting from zero.
    pub fn new(inner: S) -> Self {
        CountingStore {
            inner,
            reads: std::cell::Cell::new(0),
            commits: 0,
        }
    }

    /// Queries answered so far (every method but `commit`; a UTXO scan counts once).
    pub fn reads(&self) -> u64 {
        self.reads.get()
    }

    /// Commits passed on so far.
    pub fn commits(&self) -> u64 {
        self.commits
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Gives the wrapped store back.
    pub fn into_inner(self) -> S {
        self.inner
    }

    fn count(&self) {
        self.reads.set(self.reads.get().saturating_add(1));
    }
}

impl<S: ChainStore> ChainStore for CountingStore<S> {
    type Error = S::Error;
    type Attachment = S::Attachment;
    fn commit(
        &mut self,
        changes: &ChangeSet,
        attachment: Option<&Self::Attachment>,
    ) -> Result<(), Self::Error> {
        self.commits = self.commits.saturating_add(1);
        self.inner.commit(changes, attachment)
    }
    fn tip(&self) -> Result<Option<BlockHash>, Self::Error> {
        self.count();
        self.inner.tip()
    }
    fn block(&self, hash: &BlockHash) -> Result<Option<Block>, Self::Error> {
        self.count();
        self.inner.block(hash)
    }
    fn header(&self, hash: &BlockHash) -> Result<Option<BlockHeader>, Self::Error> {
        self.count();
        self.inner.header(hash)
    }
    fn meta(&self, hash: &BlockHash) -> Result<Option<BlockMeta>, Self::Error> {
        self.count();
        self.inner.meta(hash)
    }
    fn undo(&self, hash: &BlockHash) -> Result<Option<BlockUndo>, Self::Error> {
        self.count();
        self.inner.undo(hash)
    }
    fn best_hash(&self, height: u64) -> Result<Option<BlockHash>, Self::Error> {
        self.count();
        self.inner.best_hash(height)
    }
    fn blocks_from_height(&self, height: u64) -> Result<Vec<BlockHash>, Self::Error> {
        self.count();
        self.inner.blocks_from_height(height)
    }
    fn block_count(&self) -> Result<u64, Self::Error> {
        self.count();
        self.inner.block_count()
    }
    fn utxo(&self, outpoint: &OutPoint) -> Result<Option<UtxoEntry>, Self::Error> {
        self.count();
        self.inner.utxo(outpoint)
    }
    fn utxos(&self, outpoints: &[OutPoint]) -> Result<Vec<Option<UtxoEntry>>, Self::Error> {
        self.count();
        self.inner.utxos(outpoints)
    }
    fn for_each_utxo(
        &self,
        visit: &mut dyn FnMut(&OutPoint, &UtxoEntry),
    ) -> Result<(), Self::Error> {
        self.count();
        self.inner.for_each_utxo(visit)
    }
}
