//! The set of unspent transaction outputs, with exact undo.

use std::collections::HashMap;

use crate::address::Address;
use crate::block::Block;
use crate::encoding::{Decode, DecodeError, Encode, Reader};
use crate::hash::Txid;
use crate::transaction::{OutPoint, TxOut};

/// An unspent output and where it was created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct UtxoEntry {
    /// The output.
    pub output: TxOut,
    /// Height of the block that created it.
    pub height: u64,
    /// Whether a coinbase created it (coinbase maturity applies).
    pub is_coinbase: bool,
}

impl UtxoEntry {
    /// Whether a transaction in a block at `spend_height` may spend this output: genesis
    /// allocations and non-coinbase outputs at once, later coinbases after `maturity` blocks
    /// (the consensus rule behind [`TxError::ImmatureCoinbase`](crate::TxError::ImmatureCoinbase)).
    pub fn is_mature_at(&self, spend_height: u64, maturity: u64) -> bool {
        !self.is_coinbase
            || self.height == 0
            || spend_height >= self.height.saturating_add(maturity)
    }
}

/// What applying a block removed from the UTXO set, in spending order, so that reverting it
/// restores the set exactly.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockUndo {
    /// Every spent output with its entry, in the order the block spent them.
    pub spent: Vec<(OutPoint, UtxoEntry)>,
}

/// The UTXO set disagrees with a block it is asked to apply or revert (the caller skipped
/// validation or passed the wrong undo data); the set is left unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UtxoError {
    /// An input of the block is not in the set.
    #[error("cannot apply block: input {0} is not in the UTXO set")]
    MissingInput(OutPoint),
    /// An output of the block already exists.
    #[error("cannot apply block: output {0} already exists in the UTXO set")]
    OutputExists(OutPoint),
    /// An output to remove on revert is missing.
    #[error("cannot revert block: its output {0} is not in the UTXO set")]
    MissingOutput(OutPoint),
    /// The undo data names another output than the block spends.
    #[error("cannot revert block: undo data restores {found} where the block spent {expected}")]
    UndoForOtherOutput {
        /// The outpoint the block spent.
        expected: OutPoint,
        /// The outpoint in the undo data.
        found: OutPoint,
    },
    /// The undo data does not match the block.
    #[error(
        "cannot revert block: undo data lists {found} spent outputs, the block spends {expected}"
    )]
    UndoMismatch {
        /// Inputs the block spends.
        expected: usize,
        /// Entries in the undo data.
        found: usize,
    },
}

/// Unspent outputs by outpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UtxoSet {
    entries: HashMap<OutPoint, UtxoEntry>,
}

impl UtxoSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// The entry for `outpoint`, if unspent.
    pub fn get(&self, outpoint: &OutPoint) -> Option<&UtxoEntry> {
        self.entries.get(outpoint)
    }

    /// Number of unspent outputs.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// All unspent outputs, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&OutPoint, &UtxoEntry)> {
        self.entries.iter()
    }

    /// Inserts an entry directly (used when loading a stored set).
    pub fn insert(&mut self, outpoint: OutPoint, entry: UtxoEntry) -> Option<UtxoEntry> {
        self.entries.insert(outpoint, entry)
    }

    /// Sum of all unspent outputs, in base units (a `u128` so that it cannot overflow even on
    /// a corrupt set).
    pub fn total_value(&self) -> u128 {
        self.entries
            .values()
            .map(|e| u128::from(e.output.amount.to_base_units()))
            .sum()
    }

    /// Unspent outputs paying `address`.
    pub fn outputs_of(&self, address: &Address) -> Vec<(OutPoint, UtxoEntry)> {
        let mut found: Vec<_> = self
            .entries
            .iter()
            .filter(|(_, e)| e.output.address == *address)
            .map(|(o, e)| (*o, *e))
            .collect();
        found.sort_by_key(|(o, _)| *o);
        found
    }

    /// Sum of the unspent outputs paying `address`, in base units.
    pub fn balance_of(&self, address: &Address) -> u128 {
        self.entries
            .values()
            .filter(|e| e.output.address == *address)
            .map(|e| u128::from(e.output.amount.to_base_units()))
            .sum()
    }

    /// Applies a (validated) block at its header's height: spends its inputs, adds its outputs
    /// and returns what is needed to revert it. On error the set is unchanged.
    pub fn apply_block(&mut self, block: &Block) -> Result<BlockUndo, UtxoError> {
        let txids: Vec<Txid> = block.transactions.iter().map(|tx| tx.txid()).collect();
        self.apply_block_with_txids(block, &txids)
    }

    /// [`UtxoSet::apply_block`] with the block's txids already computed (in block order).
    pub fn apply_block_with_txids(
        &mut self,
        block: &Block,
        txids: &[Txid],
    ) -> Result<BlockUndo, UtxoError> {
        let height = block.header.height;
        let mut undo = BlockUndo::default();
        let mut created: Vec<OutPoint> = Vec::new();
        for (index, tx) in block.transactions.iter().enumerate() {
            let txid = txids.get(index).copied().unwrap_or_else(|| tx.txid());
            for input in &tx.inputs {
                match self.entries.remove(&input.previous_output) {
                    Some(entry) => undo.spent.push((input.previous_output, entry)),
                    None => {
                        self.rollback(&created, &undo);
                        return Err(UtxoError::MissingInput(input.previous_output));
                    }
                }
            }
            for (vout, output) in (0u32..).zip(&tx.outputs) {
                let outpoint = OutPoint { txid, vout };
                let entry = UtxoEntry {
                    output: *output,
                    height,
                    is_coinbase: tx.is_coinbase(),
                };
                if self.entries.contains_key(&outpoint) {
                    self.rollback(&created, &undo);
                    return Err(UtxoError::OutputExists(outpoint));
                }
                self.entries.insert(outpoint, entry);
                created.push(outpoint);
            }
        }
        Ok(undo)
    }

    fn rollback(&mut self, created: &[OutPoint], undo: &BlockUndo) {
        for outpoint in created {
            self.entries.remove(outpoint);
        }
        for (outpoint, entry) in &undo.spent {
            self.entries.insert(*outpoint, *entry);
        }
    }

    /// Reverts `block`, which must be the last block applied, using its undo data. On error
    /// the set is unchanged.
    ///
    /// Transactions are undone last to first: each one's outputs are removed (outputs that a
    /// later transaction of the block spent have been restored by then), then the outputs it
    /// spent are put back. This is exact even for chains of spends inside the block.
    pub fn revert_block(&mut self, block: &Block, undo: &BlockUndo) -> Result<(), UtxoError> {
        let inputs: usize = block.transactions.iter().map(|t| t.inputs.len()).sum();
        if inputs != undo.spent.len() {
            return Err(UtxoError::UndoMismatch {
                expected: inputs,
                found: undo.spent.len(),
            });
        }
        let mut removed: Vec<(OutPoint, UtxoEntry)> = Vec::new();
        let mut restored: Vec<OutPoint> = Vec::new();
        let result = self.revert_transactions(block, undo, &mut removed, &mut restored);
        if result.is_err() {
            for outpoint in restored.iter().rev() {
                self.entries.remove(outpoint);
            }
            for (outpoint, entry) in removed.into_iter().rev() {
                self.entries.insert(outpoint, entry);
            }
        }
        result
    }

    fn revert_transactions(
        &mut self,
        block: &Block,
        undo: &BlockUndo,
        removed: &mut Vec<(OutPoint, UtxoEntry)>,
        restored: &mut Vec<OutPoint>,
    ) -> Result<(), UtxoError> {
        let mut spent_end = undo.spent.len();
        for tx in block.transactions.iter().rev() {
            let txid = tx.txid();
            for vout in (0u32..).take(tx.outputs.len()) {
                let outpoint = OutPoint { txid, vout };
                let entry = self
                    .entries
                    .remove(&outpoint)
                    .ok_or(UtxoError::MissingOutput(outpoint))?;
                removed.push((outpoint, entry));
            }
            // The counts were checked to match, so this cannot underflow.
            let spent_start = spent_end.saturating_sub(tx.inputs.len());
            let spent = undo.spent.get(spent_start..spent_end).unwrap_or_default();
            for (input, (outpoint, entry)) in tx.inputs.iter().zip(spent) {
                if input.previous_output != *outpoint {
                    return Err(UtxoError::UndoForOtherOutput {
                        expected: input.previous_output,
                        found: *outpoint,
                    });
                }
                self.entries.insert(*outpoint, *entry);
                restored.push(*outpoint);
            }
            spent_end = spent_start;
        }
        Ok(())
    }
}

impl Encode for UtxoEntry {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.output.encode_to(out);
        out.extend_from_slice(&self.height.to_le_bytes());
        out.push(u8::from(self.is_coinbase));
    }
}

impl Decode for UtxoEntry {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(UtxoEntry {
            output: TxOut::decode_from(reader)?,
            height: reader.u64("utxo height")?,
            is_coinbase: reader.flag("utxo coinbase flag")?,
        })
    }
}

/// Encoded size of an undo record: outpoint and entry.
const UNDO_ITEM_SIZE: usize = crate::encoding::OUTPOINT_SIZE + crate::encoding::TXOUT_SIZE + 8 + 1;

impl Encode for BlockUndo {
    fn encode_to(&self, out: &mut Vec<u8>) {
        let count = u32::try_from(self.spent.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&count.to_le_bytes());
        for (outpoint, entry) in &self.spent {
            outpoint.encode_to(out);
            entry.encode_to(out);
        }
    }
}

impl Decode for BlockUndo {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let count = reader.count("undo entry", crate::encoding::MAX_TX_INPUTS, UNDO_ITEM_SIZE)?;
        let mut spent = Vec::with_capacity(count);
        for _ in 0..count {
            spent.push((
                OutPoint::decode_from(reader)?,
                UtxoEntry::decode_from(reader)?,
            ));
        }
        Ok(BlockUndo { spent })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amount::Amount;

    use crate::block::{Block, BlockHeader, TrainingCommitment};
    use crate::hash::{BlockHash, MerkleRoot};
    use crate::target::CompactTarget;
    use crate::transaction::{Transaction, TxIn};
    use ed25519_dalek::{Signature, SigningKey};

    fn out(units: u64, seed: u8) -> TxOut {
        TxOut {
            amount: Amount::from_base_units(units).expect("small"),
            address: Address::from_bytes([seed; 32]),
        }
    }

    fn spend(outpoint: OutPoint, outputs: Vec<TxOut>) -> Transaction {
        Transaction {
            version: 1,
            inputs: vec![TxIn::ed25519(
                outpoint,
                SigningKey::from_bytes(&[1; 32]).verifying_key(),
                Signature::from_bytes(&[0; 64]),
            )],
            outputs,
            coinbase_height: None,
        }
    }

    fn block(transactions: Vec<Transaction>) -> Block {
        Block {
            header: BlockHeader {
                version: 1,
                height: 5,
                prev_hash: BlockHash::ZERO,
                merkle_root: MerkleRoot::ZERO,
                timestamp: 0,
                bits: CompactTarget::MAX,
                training: TrainingCommitment::default(),
            },
            transactions,
        }
    }

    #[test]
    fn revert_restores_the_exact_set_even_with_chained_spends() {
        let funding = OutPoint {
            txid: Txid::from_bytes([9; 32]),
            vout: 0,
        };
        let mut set = UtxoSet::new();
        set.insert(
            funding,
            UtxoEntry {
                output: out(1_000, 1),
                height: 0,
                is_coinbase: true,
            },
        );
        let before = set.clone();
        let first = spend(funding, vec![out(600, 2), out(400, 3)]);
        let second = spend(first.outpoint(0), vec![out(600, 4)]);
        let coinbase = Transaction::coinbase(5, vec![out(50, 5)]);
        let block = block(vec![coinbase.clone(), first.clone(), second.clone()]);

        let undo = set.apply_block(&block).expect("applies");
        assert_eq!(undo.spent.len(), 2);
        assert!(set.get(&funding).is_none());
        assert!(
            set.get(&first.outpoint(0)).is_none(),
            "spent inside the block"
        );
        assert_eq!(set.get(&first.outpoint(1)).map(|e| e.height), Some(5));
        assert!(set.get(&second.outpoint(0)).is_some());
        assert!(
            set.get(&coinbase.outpoint(0))
                .is_some_and(|e| e.is_coinbase)
        );
        assert_eq!(set.total_value(), 1_050);

        set.revert_block(&block, &undo).expect("reverts");
        assert_eq!(set, before);
    }

    #[test]
    fn failed_apply_and_bad_undo_leave_the_set_unchanged() {
        let mut set = UtxoSet::new();
        let missing = OutPoint {
            txid: Txid::from_bytes([8; 32]),
            vout: 1,
        };
        let coinbase = Transaction::coinbase(5, vec![out(50, 5)]);
        let bad = block(vec![coinbase.clone(), spend(missing, vec![out(1, 1)])]);
        assert_eq!(set.apply_block(&bad), Err(UtxoError::MissingInput(missing)));
        assert!(
            set.is_empty(),
            "the coinbase applied before the failure was rolled back"
        );

        let good = block(vec![coinbase]);
        let undo = set.apply_block(&good).expect("applies");
        let after = set.clone();
        let wrong = BlockUndo {
            spent: vec![(missing, *set.iter().next().expect("one entry").1)],
        };
        assert_eq!(
            set.revert_block(&good, &wrong),
            Err(UtxoError::UndoMismatch {
                expected: 0,
                found: 1
            })
        );
        assert_eq!(set, after);
        set.revert_block(&good, &undo).expect("reverts");
        assert!(set.is_empty());
    }

    #[test]
    fn undo_round_trips_through_encoding() {
        let entry = UtxoEntry {
            output: TxOut {
                amount: Amount::ONE_COIN,
                address: Address::from_bytes([3; 32]),
            },
            height: 7,
            is_coinbase: true,
        };
        let undo = BlockUndo {
            spent: vec![(
                OutPoint {
                    txid: crate::hash::Txid::from_bytes([1; 32]),
                    vout: 2,
                },
                entry,
            )],
        };
        assert_eq!(BlockUndo::decode(&undo.encode()), Ok(undo));
    }
}
