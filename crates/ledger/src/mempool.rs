//! Transactions waiting for a block.
//!
//! The pool accepts a transaction only if it is valid against the UTXO set at the tip plus
//! the outputs of transactions already in the pool (so unconfirmed chains are allowed), spends
//! nothing another pool transaction spends, and fits the pool's [`MempoolPolicy`]: a minimum
//! fee rate, limits on chains of unconfirmed transactions (ancestors and descendants, as
//! Bitcoin Core's 25/25), and a size cap enforced by evicting the lowest fee-rate leaves.
//!
//! Block templates are chosen by **ancestor-package fee rate** (Bitcoin Core's algorithm): the
//! transaction whose unconfirmed ancestors and itself pay the most per byte goes in first, with
//! those ancestors; the scores of its descendants are then updated. With ancestor and
//! descendant counts bounded, that is `O(n log n)` in the pool size.

use std::cmp::Ordering;
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet};

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
#[non_exhaustive]
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
    /// Pays less than the pool's minimum fee rate.
    #[error(
        "fee {fee} for {size} bytes is below the minimum relay fee of {min_per_kb} base units per 1000 bytes"
    )]
    FeeTooLow {
        /// The transaction's fee.
        fee: Amount,
        /// Its encoded size.
        size: usize,
        /// The policy's rate.
        min_per_kb: u64,
    },
    /// Would have too many unconfirmed ancestors in the pool.
    #[error(
        "too many unconfirmed ancestors: more than {max} (a chain of unconfirmed transactions)"
    )]
    TooManyAncestors {
        /// The policy's limit.
        max: usize,
    },
    /// Would give a pool transaction too many unconfirmed descendants.
    #[error("pool transaction {ancestor} would have more than {max} unconfirmed descendants")]
    TooManyDescendants {
        /// The ancestor whose limit it breaks.
        ancestor: Txid,
        /// The policy's limit.
        max: usize,
    },
    /// The pool is full and the transaction pays too little to evict anything.
    #[error(
        "the pool is full ({max_bytes} bytes) and this transaction's fee rate is among the lowest"
    )]
    PoolFull {
        /// The policy's size cap.
        max_bytes: usize,
    },
    /// Breaks a consensus rule.
    #[error(transparent)]
    Invalid(#[from] TxError),
    /// The chain's state could not be read (its store failed): nothing was decided about the
    /// transaction.
    #[error("the chain's state could not be read: {0}")]
    ChainUnavailable(String),
}

/// What a pool accepts beyond validity, to face strangers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MempoolPolicy {
    /// Minimum fee in base units per 1000 encoded bytes (rounded up per transaction).
    pub min_fee_per_kb: u64,
    /// Most bytes of transactions the pool holds; past it, the lowest fee-rate transactions
    /// without descendants are evicted.
    pub max_bytes: usize,
    /// Most unconfirmed ancestors a pool transaction may have.
    pub max_ancestors: usize,
    /// Most unconfirmed descendants a pool transaction may have.
    pub max_descendants: usize,
}

impl Default for MempoolPolicy {
    /// The local policy (wallets, tests, the demo): no minimum fee, 64 MB, 25 ancestors and
    /// 25 descendants.
    fn default() -> Self {
        MempoolPolicy {
            min_fee_per_kb: 0,
            max_bytes: 64_000_000,
            max_ancestors: 25,
            max_descendants: 25,
        }
    }
}

impl MempoolPolicy {
    /// A node that relays for strangers: the local limits plus a minimum fee of 1,000 base
    /// units per 1000 bytes (1 per byte, Bitcoin Core's default relay fee).
    pub fn relay() -> Self {
        MempoolPolicy {
            min_fee_per_kb: 1_000,
            ..MempoolPolicy::default()
        }
    }

    /// The minimum fee for a transaction of `size` bytes.
    pub fn min_fee(&self, size: usize) -> u128 {
        fee_at_rate(self.min_fee_per_kb, size)
    }
}

/// The fee of `size` bytes at `fee_per_kb` base units per 1000 bytes, rounded up: how the
/// pool charges its minimum and how a wallet pays by the byte.
pub fn fee_at_rate(fee_per_kb: u64, size: usize) -> u128 {
    (u128::from(fee_per_kb) * size as u128).div_ceil(1000)
}

#[derive(Clone, Debug)]
struct PoolEntry {
    tx: Transaction,
    fee: Amount,
    size: usize,
    arrival: u64,
    /// In-pool transactions whose outputs it spends.
    parents: Vec<Txid>,
    /// In-pool transactions spending its outputs.
    children: HashSet<Txid>,
}

/// A fee rate `fee / size`, compared by value (cross-multiplied, no division).
#[derive(Clone, Copy, Debug)]
struct Rate {
    fee: u128,
    size: u128,
}

impl Ord for Rate {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.fee * other.size.max(1)).cmp(&(other.fee * self.size.max(1)))
    }
}

impl PartialEq for Rate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Rate {}

impl PartialOrd for Rate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The pool of unconfirmed transactions.
#[derive(Clone, Debug, Default)]
pub struct Mempool {
    policy: MempoolPolicy,
    entries: HashMap<Txid, PoolEntry>,
    spent: HashMap<OutPoint, Txid>,
    /// Every entry by (fee rate, arrival): the eviction order, lowest first.
    by_rate: BTreeSet<(Rate, u64, Txid)>,
    bytes: usize,
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
    /// An empty pool with the local policy ([`MempoolPolicy::default`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty pool with `policy`.
    pub fn with_policy(policy: MempoolPolicy) -> Self {
        Mempool {
            policy,
            ..Self::default()
        }
    }

    /// The pool's policy.
    pub fn policy(&self) -> &MempoolPolicy {
        &self.policy
    }

    /// Bytes of transactions held.
    pub fn bytes(&self) -> usize {
        self.bytes
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
        let utxos = chain
            .utxo_subset(tx.inputs.iter().map(|input| &input.previous_output))
            .map_err(|e| MempoolError::ChainUnavailable(e.to_string()))?;
        self.add_with(
            tx,
            &utxos,
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
        let size = tx.encoded_len();
        let min_per_kb = self.policy.min_fee_per_kb;
        if u128::from(fee.to_base_units()) < self.policy.min_fee(size) {
            return Err(MempoolError::FeeTooLow {
                fee,
                size,
                min_per_kb,
            });
        }
        let mut parents: Vec<Txid> = tx
            .inputs
            .iter()
            .map(|i| i.previous_output.txid)
            .filter(|p| self.entries.contains_key(p))
            .collect();
        parents.sort_unstable();
        parents.dedup();
        let ancestors = self
            .ancestors_bounded(&parents, self.policy.max_ancestors)
            .ok_or(MempoolError::TooManyAncestors {
                max: self.policy.max_ancestors,
            })?;
        for ancestor in &ancestors {
            let descendants = self.descendants_bounded(ancestor, self.policy.max_descendants);
            if descendants.is_none_or(|d| d.len() + 1 > self.policy.max_descendants) {
                return Err(MempoolError::TooManyDescendants {
                    ancestor: *ancestor,
                    max: self.policy.max_descendants,
                });
            }
        }
        let rate = Rate {
            fee: u128::from(fee.to_base_units()),
            size: size as u128,
        };
        // Room: evict the lowest fee-rate leaves while they pay less per byte than this one.
        let mut evict = Vec::new();
        let mut freed = 0usize;
        let need = (self.bytes + size).saturating_sub(self.policy.max_bytes);
        if need > 0 {
            for (victim_rate, _, victim) in &self.by_rate {
                if freed >= need {
                    break;
                }
                if *victim_rate >= rate {
                    break;
                }
                let Some(entry) = self.entries.get(victim) else {
                    continue;
                };
                if entry.children.is_empty() && !parents.contains(victim) {
                    evict.push(*victim);
                    freed += entry.size;
                }
            }
            if freed < need {
                return Err(MempoolError::PoolFull {
                    max_bytes: self.policy.max_bytes,
                });
            }
        }
        verify_transaction_signatures(&tx)?;
        for victim in evict {
            self.remove(&victim);
        }
        for input in &tx.inputs {
            self.spent.insert(input.previous_output, txid);
        }
        for parent in &parents {
            if let Some(entry) = self.entries.get_mut(parent) {
                entry.children.insert(txid);
            }
        }
        let arrival = self.next_arrival;
        self.by_rate.insert((rate, arrival, txid));
        self.bytes += size;
        self.entries.insert(
            txid,
            PoolEntry {
                tx,
                fee,
                size,
                arrival,
                parents,
                children: HashSet::new(),
            },
        );
        self.next_arrival = self.next_arrival.saturating_add(1);
        Ok(txid)
    }

    /// The in-pool ancestors of a transaction with these in-pool `parents`, or `None` if there
    /// are more than `max`.
    fn ancestors_bounded(&self, parents: &[Txid], max: usize) -> Option<HashSet<Txid>> {
        self.closure_bounded(parents.to_vec(), max, |e| e.parents.to_vec())
    }

    /// The in-pool descendants of `txid`, or `None` if there are more than `max`.
    fn descendants_bounded(&self, txid: &Txid, max: usize) -> Option<HashSet<Txid>> {
        let children = self
            .entries
            .get(txid)
            .map(|e| e.children.iter().copied().collect())
            .unwrap_or_default();
        self.closure_bounded(children, max, |e| e.children.iter().copied().collect())
    }

    /// Every pool transaction reachable from `start` along `edges`, or `None` past `max`.
    fn closure_bounded(
        &self,
        start: Vec<Txid>,
        max: usize,
        edges: impl Fn(&PoolEntry) -> Vec<Txid>,
    ) -> Option<HashSet<Txid>> {
        let mut seen: HashSet<Txid> = HashSet::new();
        let mut stack = start;
        while let Some(txid) = stack.pop() {
            if !seen.insert(txid) {
                continue;
            }
            if seen.len() > max {
                return None;
            }
            if let Some(entry) = self.entries.get(&txid) {
                stack.extend(edges(entry));
            }
        }
        Some(seen)
    }

    /// Removes `txid` (and nothing else).
    pub fn remove(&mut self, txid: &Txid) -> Option<Transaction> {
        let entry = self.entries.remove(txid)?;
        for input in &entry.tx.inputs {
            self.spent.remove(&input.previous_output);
        }
        for parent in &entry.parents {
            if let Some(p) = self.entries.get_mut(parent) {
                p.children.remove(txid);
            }
        }
        for child in &entry.children {
            if let Some(c) = self.entries.get_mut(child) {
                c.parents.retain(|p| p != txid);
            }
        }
        self.by_rate.remove(&(
            Rate {
                fee: u128::from(entry.fee.to_base_units()),
                size: entry.size as u128,
            },
            entry.arrival,
            *txid,
        ));
        self.bytes = self.bytes.saturating_sub(entry.size);
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
        self.by_rate.clear();
        self.bytes = 0;
        let mut dropped = Vec::new();
        for entry in old {
            let txid = entry.tx.txid();
            if let Err(reason) = self.add(entry.tx, chain) {
                dropped.push((txid, reason));
            }
        }
        dropped
    }

    /// Transactions for a block template, with their fees, at most `max_bytes` of encoded
    /// transactions and `max_signatures` inputs, parents before children, chosen by
    /// ancestor-package fee rate: repeatedly the transaction whose not-yet-selected in-pool
    /// ancestors and itself pay the most per byte, together with those ancestors. Transactions that spend an output neither in
    /// `utxos` nor in the pool (stale after a reorganisation not yet revalidated) are left out
    /// with their descendants.
    pub fn select(
        &self,
        utxos: &UtxoSet,
        max_bytes: usize,
        max_signatures: usize,
    ) -> Vec<(Transaction, Amount)> {
        // Usable: every input in the UTXO set or made by a usable pool parent (arrival order
        // is a topological order: a child enters after its parents).
        let mut order: Vec<(&Txid, &PoolEntry)> = self.entries.iter().collect();
        order.sort_by_key(|(_, e)| e.arrival);
        let mut usable: HashSet<Txid> = HashSet::with_capacity(order.len());
        for (txid, entry) in &order {
            let ok = entry.tx.inputs.iter().all(|input| {
                utxos.get(&input.previous_output).is_some()
                    || usable.contains(&input.previous_output.txid)
            });
            if ok {
                usable.insert(**txid);
            }
        }
        // Each usable transaction's package: its unselected in-pool ancestors and itself.
        let package = |txid: &Txid, chosen: &HashSet<Txid>| -> (Vec<Txid>, Rate) {
            let mut members = vec![*txid];
            let mut stack: Vec<Txid> = self.entries[txid].parents.clone();
            let mut seen: HashSet<Txid> = HashSet::new();
            while let Some(p) = stack.pop() {
                if chosen.contains(&p) || !seen.insert(p) {
                    continue;
                }
                members.push(p);
                stack.extend(self.entries[&p].parents.iter().copied());
            }
            let (fee, size) = members.iter().fold((0u128, 0u128), |(f, s), m| {
                let e = &self.entries[m];
                (f + u128::from(e.fee.to_base_units()), s + e.size as u128)
            });
            (members, Rate { fee, size })
        };
        let mut chosen: HashSet<Txid> = HashSet::new();
        let mut failed: HashSet<Txid> = HashSet::new();
        let mut version: HashMap<Txid, u64> = HashMap::new();
        let mut heap: BinaryHeap<(Rate, std::cmp::Reverse<u64>, Txid, u64)> = BinaryHeap::new();
        for (txid, entry) in &order {
            if usable.contains(*txid) {
                let (_, rate) = package(txid, &chosen);
                heap.push((rate, std::cmp::Reverse(entry.arrival), **txid, 0));
            }
        }
        let mut selected = Vec::new();
        let mut used = 0usize;
        let mut signatures = 0usize;
        while let Some((_, _, txid, v)) = heap.pop() {
            if chosen.contains(&txid)
                || failed.contains(&txid)
                || version.get(&txid).copied().unwrap_or(0) != v
            {
                continue;
            }
            let (mut members, rate) = package(&txid, &chosen);
            let size = rate.size as usize;
            let inputs: usize = members
                .iter()
                .map(|m| self.entries[m].tx.inputs.len())
                .sum();
            if used.saturating_add(size) > max_bytes
                || signatures.saturating_add(inputs) > max_signatures
            {
                failed.insert(txid);
                continue;
            }
            members.sort_by_key(|m| self.entries[m].arrival);
            used += size;
            signatures += inputs;
            for member in &members {
                chosen.insert(*member);
                let e = &self.entries[member];
                selected.push((e.tx.clone(), e.fee));
            }
            // The descendants of what was just selected pay for smaller packages now.
            let mut touched: HashSet<Txid> = HashSet::new();
            for member in &members {
                if let Some(descendants) = self.descendants_bounded(member, usize::MAX) {
                    touched.extend(descendants);
                }
            }
            for d in touched {
                if chosen.contains(&d) || failed.contains(&d) || !usable.contains(&d) {
                    continue;
                }
                let next = version.get(&d).copied().unwrap_or(0) + 1;
                version.insert(d, next);
                let (_, rate) = package(&d, &chosen);
                heap.push((rate, std::cmp::Reverse(self.entries[&d].arrival), d, next));
            }
        }
        selected
    }
}
