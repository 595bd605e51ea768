//! Persistence seam for [`crate::chain::Chain`]: one atomic change-set per block import, and
//! loading everything back to resume exactly where the chain stopped.
//!
//! The chain computes every change itself and hands the store a [`ChangeSet`]; the store only
//! has to write it atomically (for `ann-store`, one redb write transaction) and give it back
//! through [`ChainStore::load`]. All records have a canonical encoding ([`Encode`]/[`Decode`]),
//! so a store can keep them as bytes:
//!
//! | record | key | value |
//! | --- | --- | --- |
//! | block | [`BlockHash`] | [`Block`] encoding |
//! | block metadata | [`BlockHash`] | [`BlockMeta`] encoding |
//! | undo data | [`BlockHash`] | [`BlockUndo`] encoding |
//! | UTXO | [`OutPoint`] encoding | [`UtxoEntry`] encoding |
//! | tip | singleton | [`BlockHash`] |

use std::collections::HashMap;
use std::convert::Infallible;

use crate::block::Block;
use crate::encoding::{Decode, DecodeError, Encode, Reader};
use crate::hash::BlockHash;
use crate::transaction::OutPoint;
use crate::utxo::{BlockUndo, UtxoEntry};

/// Whether a block may be part of the best chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum BlockStatus {
    /// Passed every check made so far (all checks if it is or was on the best chain;
    /// header, transaction, signature and proof checks if it only sits on a side branch).
    Valid,
    /// Failed validation when the chain tried to connect it, or descends from such a block.
    Invalid,
}

/// What the chain knows about a block beyond its contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
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
/// Apply in this order, inside one transaction: insert `new_block`, overwrite the
/// metadata in `meta_updates`, put each entry of `undo_put` (replacing an existing one),
/// delete each outpoint of `utxo_deleted`, insert each entry of `utxo_inserted`, set the tip.
/// `utxo_deleted` and `utxo_inserted` are disjoint, so their order does not matter.
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
    /// The best block after the import.
    pub tip: BlockHash,
}

/// Everything a store holds, as [`ChainStore::load`] returns it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoredChain {
    /// Every block ever imported (genesis included), in any order.
    pub blocks: Vec<StoredBlock>,
    /// Undo data by block: required for every block of the best chain above genesis.
    pub undo: Vec<(BlockHash, BlockUndo)>,
    /// The UTXO set at the tip.
    pub utxos: Vec<(OutPoint, UtxoEntry)>,
    /// The best block.
    pub tip: BlockHash,
}

/// Where a chain persists itself.
pub trait ChainStore {
    /// Why the store failed.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Writes one import's changes atomically: after a crash, either all of them or none are
    /// visible to [`ChainStore::load`].
    fn commit(&mut self, changes: &ChangeSet) -> Result<(), Self::Error>;

    /// Everything committed so far, or `None` for a store that never saw a commit.
    fn load(&self) -> Result<Option<StoredChain>, Self::Error>;
}

/// A [`ChainStore`] in memory, for tests and short-lived chains.
#[derive(Clone, Debug, Default)]
pub struct MemoryChainStore {
    blocks: HashMap<BlockHash, StoredBlock>,
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

    fn commit(&mut self, changes: &ChangeSet) -> Result<(), Infallible> {
        let stored = &changes.new_block;
        self.blocks.insert(stored.block.hash(), stored.clone());
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
        self.tip = Some(changes.tip);
        self.commits += 1;
        Ok(())
    }

    fn load(&self) -> Result<Option<StoredChain>, Infallible> {
        let Some(tip) = self.tip else {
            return Ok(None);
        };
        Ok(Some(StoredChain {
            blocks: self.blocks.values().cloned().collect(),
            undo: self.undo.iter().map(|(h, u)| (*h, u.clone())).collect(),
            utxos: self.utxos.iter().map(|(o, e)| (*o, *e)).collect(),
            tip,
        }))
    }
}

impl<S: ChainStore + ?Sized> ChainStore for &mut S {
    type Error = S::Error;
    fn commit(&mut self, changes: &ChangeSet) -> Result<(), Self::Error> {
        (**self).commit(changes)
    }
    fn load(&self) -> Result<Option<StoredChain>, Self::Error> {
        (**self).load()
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
