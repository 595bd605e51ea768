//! Transactions waiting for a block.
//!
//! The pool accepts a transaction only if it is valid against the UTXO set at the tip plus
//! the outputs of transactions already in the pool (so unconfirmed chains are allowed), and
//! spends nothing another pool transaction spends. Block templates take transactions by fee
//! rate (fee per encoded byte), a parent always before its children.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use crate::amount::Amount;
use crate::block::Block;
use crate::chain::Chain;
use crate::hash::Txid;
use crate::store::ChainStore;
use crate::transaction::{OutPoint, Transaction};
use crate::utxo::{UtxoEntry, UtxoSet};
use crate::validation::{
    TxError, UtxoView, check_transaction, check_transaction_inputs, verify_transaction_signatures,
};

/// Why the pool refused a transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MempoolError {
    /// Already in the pool.
    #[error("transaction {0} is already in the pool")]
    AlreadyInPool(Txid),
    /// A coinbase outside a block.
    #[error("a coinbase is only valid as the first transaction of a block")]
    Coinbase,
    /// Spends an output another pool transaction spends.
    #[error("spends {outpoint}, already spent by pool transaction {existing} (conflicting spend)")]
    Conflict {
        /// The contested output.
        outpoint: OutPoint,
        /// The pool transaction spending it.
        existing: Txid,
    },
    /// Breaks a consensus rule.
    #[error(transparent)]
    Invalid(#[from] TxError),
}

#[derive(Clone, Debug)]
struct PoolEntry {
    tx: Transaction,
    fee: Amount,
    size: usize,
    arrival: u64,
}

impl PoolEntry {
    /// Higher fee per byte first, then earlier arrival.
    fn priority_cmp(&self, other: &PoolEntry) -> Ordering {
        let mine = u128::from(self.fee.to_base_units()) * other.size as u128;
        let theirs = u128::from(other.fee.to_base_units()) * self.size as u128;
        theirs.cmp(&mine).then(self.arrival.cmp(&other.arrival))
    }
}

/// The pool of unconfirmed transactions.
#[derive(Clone, Debug, Default)]
pub struct Mempool {
    entries: HashMap<Txid, PoolEntry>,
    spent: HashMap<OutPoint, Txid>,
    next_arrival: u64,
}

struct PoolView<'a> {
    utxos: &'a UtxoSet,
    entries: &'a HashMap<Txid, PoolEntry>,
    height: u64,
}

impl UtxoView for PoolView<'_> {
    fn utxo(&self, outpoint: &OutPoint) -> Option<UtxoEntry> {
        if let Some(entry) = self.utxos.get(outpoint) {
            return Some(*entry);
        }
        let parent = self.entries.get(&outpoint.txid)?;
        let output = parent
            .tx
            .outputs
            .get(usize::try_from(outpoint.vout).ok()?)?;
        Some(UtxoEntry {
            output: *output,
            height: self.height,
            is_coinbase: false,
        })
    }
}

impl Mempool {
    /// An empty pool.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of transactions.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether the pool holds `txid`.
    pub fn contains(&self, txid: &Txid) -> bool {
        self.entries.contains_key(txid)
    }

    /// A pool transaction by id.
    pub fn get(&self, txid: &Txid) -> Option<&Transaction> {
        self.entries.get(txid).map(|e| &e.tx)
    }

    /// The fee of a pool transaction.
    pub fn fee(&self, txid: &Txid) -> Option<Amount> {
        self.entries.get(txid).map(|e| e.fee)
    }

    /// The pool transaction spending `outpoint`, if any.
    pub fn spender_of(&self, outpoint: &OutPoint) -> Option<Txid> {
        self.spent.get(outpoint).copied()
    }

    /// Pool transactions in arrival order.
    pub fn transactions(&self) -> Vec<&Transaction> {
        let mut entries: Vec<&PoolEntry> = self.entries.values().collect();
        entries.sort_by_key(|e| e.arrival);
        entries.into_iter().map(|e| &e.tx).collect()
    }

    /// Validates `tx` against the chain's tip and the pool, and adds it; returns its id.
    pub fn add<S: ChainStore>(
        &mut self,
        tx: Transaction,
        chain: &Chain<S>,
    ) -> Result<Txid, MempoolError> {
        self.add_with(
            tx,
            chain.utxos(),
            chain.height().saturating_add(1),
            chain.params().coinbase_maturity,
        )
    }

    /// Like [`Mempool::add`], against an explicit UTXO set, for inclusion at `spend_height`.
    pub fn add_with(
        &mut self,
        tx: Transaction,
        utxos: &UtxoSet,
        spend_height: u64,
        coinbase_maturity: u64,
    ) -> Result<Txid, MempoolError> {
        if tx.is_coinbase() {
            return Err(MempoolError::Coinbase);
        }
        check_transaction(&tx)?;
        let txid = tx.txid();
        if self.entries.contains_key(&txid) {
            return Err(MempoolError::AlreadyInPool(txid));
        }
        for input in &tx.inputs {
            if let Some(existing) = self.spent.get(&input.previous_output) {
                return Err(MempoolError::Conflict {
                    outpoint: input.previous_output,
                    existing: *existing,
                });
            }
        }
        let view = PoolView {
            utxos,
            entries: &self.entries,
            height: spend_height,
        };
        let fee = check_transaction_inputs(&tx, &view, spend_height, coinbase_maturity)?;
        verify_transaction_signatures(&tx)?;
        for input in &tx.inputs {
            self.spent.insert(input.previous_output, txid);
        }
        let size = tx.encoded_len();
        self.entries.insert(
            txid,
            PoolEntry {
                tx,
                fee,
                size,
                arrival: self.next_arrival,
            },
        );
        self.next_arrival = self.next_arrival.saturating_add(1);
        Ok(txid)
    }

    /// Removes `txid` (and nothing else).
    pub fn remove(&mut self, txid: &Txid) -> Option<Transaction> {
        let entry = self.entries.remove(txid)?;
        for input in &entry.tx.inputs {
            self.spent.remove(&input.previous_output);
        }
        Some(entry.tx)
    }

    /// Drops the transactions `block` confirmed and those conflicting with it. Descendants of
    /// a dropped conflict stay until [`Mempool::revalidate`], which a node calls after every
    /// change of tip (it also handles reorganisations).
    pub fn remove_for_block(&mut self, block: &Block) {
        for tx in &block.transactions {
            self.remove(&tx.txid());
            for input in &tx.inputs {
                if let Some(conflict) = self.spent.get(&input.previous_output).copied() {
                    self.remove(&conflict);
                }
            }
        }
    }

    /// Re-validates every transaction against the chain's new tip (after blocks or a
    /// reorganisation), in arrival order; returns the ids of those dropped, with the reason.
    pub fn revalidate<S: ChainStore>(&mut self, chain: &Chain<S>) -> Vec<(Txid, MempoolError)> {
        let mut old: Vec<PoolEntry> = self.entries.drain().map(|(_, e)| e).collect();
        old.sort_by_key(|e| e.arrival);
        self.spent.clear();
        let mut dropped = Vec::new();
        for entry in old {
            let txid = entry.tx.txid();
            if let Err(reason) = self.add(entry.tx, chain) {
                dropped.push((txid, reason));
            }
        }
        dropped
    }

    /// Transactions for a block template, with their fees, highest fee rate first, parents
    /// before children, at most `max_bytes` of encoded transactions.
    pub fn select(&self, utxos: &UtxoSet, max_bytes: usize) -> Vec<(Transaction, Amount)> {
        let mut candidates: Vec<(&Txid, &PoolEntry)> = self.entries.iter().collect();
        candidates.sort_by(|a, b| a.1.priority_cmp(b.1));
        let mut chosen: HashSet<Txid> = HashSet::new();
        let mut selected = Vec::new();
        let mut used = 0usize;
        loop {
            let mut progress = false;
            for (txid, entry) in &candidates {
                if chosen.contains(*txid) || used.saturating_add(entry.size) > max_bytes {
                    continue;
                }
                let ready = entry.tx.inputs.iter().all(|input| {
                    utxos.get(&input.previous_output).is_some()
                        || chosen.contains(&input.previous_output.txid)
                });
                if ready {
                    chosen.insert(**txid);
                    used += entry.size;
                    selected.push((entry.tx.clone(), entry.fee));
                    progress = true;
                }
            }
            if !progress {
                return selected;
            }
        }
    }
}
