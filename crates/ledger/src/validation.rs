//! Consensus rules, one typed error per rule; each message quotes the rule it enforces.
//!
//! Checks are split by cost and by what they need, so that callers run the cheap ones first:
//!
//! 1. [`check_header`]: the header against its parent, the clock and its work target (one
//!    hash for the ticket), then the chain's work floor and the [`crate::ProofVerifier`]'s
//!    pre-checks (no tensor work), by [`crate::chain::Chain`];
//! 2. [`check_transaction`] and [`check_block_body`]: the transactions alone;
//! 3. [`check_transaction_inputs`] and [`check_block_inputs`]: against the UTXO set;
//! 4. [`verify_transaction_signatures`] and [`verify_block_signatures`]: ed25519 and
//!    ML-DSA-65, in parallel;
//! 5. the [`crate::ProofVerifier`]'s full check, last, by [`crate::chain::Chain`].

use std::collections::{HashMap, HashSet};

#[cfg(feature = "parallel")]
use rayon::prelude::*;

use crate::address::Address;
use crate::amount::Amount;
use crate::block::{BLOCK_VERSION, Block, BlockHeader};
use crate::encoding::MAX_BLOCK_SIZE;
use crate::hash::{BlockHash, MerkleRoot, Ticket, Txid};
use crate::merkle::merkle_root;
use crate::target::CompactTarget;
use crate::transaction::{KeyKind, OutPoint, TX_VERSION, TX_VERSION_TYPED_INPUTS, Transaction};
use crate::utxo::{UtxoEntry, UtxoSet};

/// Number of previous blocks whose median timestamp a new block must exceed.
pub const MEDIAN_TIME_SPAN: usize = 11;
/// Most signatures a block may carry (one per input). A block of ed25519 spends reaches it
/// near 1.1 MB, so the 8 MB size limit, raised for ML-DSA-65 spends (about 1,500 fit), does
/// not raise the worst-case verification work of an ed25519 block (7,575 signatures fitted the
/// old 1 MB limit).
pub const MAX_BLOCK_SIGNATURES: usize = 8_000;

/// A transaction broke a consensus rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TxError {
    /// Unknown version.
    #[error(
        "rule \"a transaction has version {TX_VERSION} or {TX_VERSION_TYPED_INPUTS}\" broken: found version {0}"
    )]
    UnsupportedVersion(u32),
    /// A version-1 transaction with an input of another kind than ed25519.
    #[error(
        "rule \"a version-{TX_VERSION} transaction has only ed25519 inputs\" broken: input {input} is {kind}"
    )]
    UntaggedInputKind {
        /// Index of the input.
        input: usize,
        /// Its kind.
        kind: KeyKind,
    },
    /// No outputs.
    #[error("rule \"a transaction other than a coinbase creates at least one output\" broken")]
    NoOutputs,
    /// A zero output.
    #[error("rule \"every output amount is above zero\" broken: output {vout} is zero")]
    ZeroOutput {
        /// Index of the output.
        vout: u32,
    },
    /// Outputs overflow.
    #[error("rule \"the outputs of a transaction sum to at most the maximum supply\" broken")]
    OutputSumOverflow,
    /// More inputs than a block may carry signatures: it could never be mined.
    #[error(
        "rule \"a transaction carries at most {MAX_BLOCK_SIGNATURES} signatures\" broken: it has {0} inputs"
    )]
    TooManySignatures(usize),
    /// A non-coinbase carries a height.
    #[error(
        "rule \"only a coinbase carries a height\" broken: a transaction with inputs carries height {0}"
    )]
    HeightOutsideCoinbase(u64),
    /// Too large.
    #[error(
        "rule \"a transaction encodes to at most {MAX_BLOCK_SIZE} bytes\" broken: it has {0} bytes"
    )]
    TooLarge(usize),
    /// An outpoint spent twice by one transaction.
    #[error("rule \"a transaction spends each output at most once\" broken: {0} is spent twice")]
    DuplicateInput(OutPoint),
    /// Unknown or already spent input.
    #[error(
        "rule \"inputs spend existing unspent outputs\" broken: input {input} spends {outpoint}, which is unknown or already spent"
    )]
    UnknownInput {
        /// Index of the input.
        input: usize,
        /// The missing outpoint.
        outpoint: OutPoint,
    },
    /// Spending an immature coinbase.
    #[error(
        "rule \"a coinbase output is spendable {maturity} blocks after its block\" broken: input {input} spends an output of height {created} at height {spend_height}"
    )]
    ImmatureCoinbase {
        /// Index of the input.
        input: usize,
        /// Height of the coinbase.
        created: u64,
        /// Height of the spend.
        spend_height: u64,
        /// Required maturity.
        maturity: u64,
    },
    /// The key does not own the output.
    #[error(
        "rule \"an input's key hashes to the address of the output it spends\" broken: input {input} has the key of {key_address}, the output belongs to {owner}"
    )]
    KeyMismatch {
        /// Index of the input.
        input: usize,
        /// Address of the key in the input.
        key_address: Address,
        /// Address of the spent output.
        owner: Address,
    },
    /// Inputs overflow.
    #[error("rule \"the inputs of a transaction sum to at most the maximum supply\" broken")]
    InputSumOverflow,
    /// More out than in.
    #[error("rule \"outputs do not exceed inputs\" broken: outputs {outputs} > inputs {inputs}")]
    OutputsExceedInputs {
        /// Sum of the inputs.
        inputs: Amount,
        /// Sum of the outputs.
        outputs: Amount,
    },
    /// Bad signature.
    #[error(
        "rule \"every input carries a strictly valid signature of the signing digest by its key\" broken at input {input} ({kind})"
    )]
    BadSignature {
        /// Index of the input.
        input: usize,
        /// The kind of its key.
        kind: KeyKind,
    },
}

/// A block broke a consensus rule.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlockError {
    /// Unknown version.
    #[error("rule \"a block has version {BLOCK_VERSION}\" broken: found version {0}")]
    UnsupportedVersion(u32),
    /// Too large.
    #[error("rule \"a block encodes to at most {MAX_BLOCK_SIZE} bytes\" broken: it has {0} bytes")]
    TooLarge(usize),
    /// Too many signatures to check.
    #[error(
        "rule \"a block carries at most {MAX_BLOCK_SIGNATURES} signatures\" broken: it has {0}"
    )]
    TooManySignatures(usize),
    /// Parent not known.
    #[error("rule \"a block extends a known block\" broken: parent {0} is unknown")]
    UnknownParent(BlockHash),
    /// The block itself was already found invalid.
    #[error("rule \"a block found invalid stays invalid\" broken: {0} was rejected before")]
    KnownInvalid(BlockHash),
    /// Parent invalid.
    #[error("rule \"a block does not extend an invalid block\" broken: parent {0} is invalid")]
    InvalidParent(BlockHash),
    /// `prev_hash` is not the parent's hash.
    #[error(
        "rule \"prev_hash is the hash of the parent block\" broken: expected {expected}, found {found}"
    )]
    WrongPrevHash {
        /// The parent's hash.
        expected: BlockHash,
        /// The header's `prev_hash`.
        found: BlockHash,
    },
    /// Height is not parent + 1.
    #[error(
        "rule \"a block's height is its parent's height plus one\" broken: expected {expected}, found {found}"
    )]
    WrongHeight {
        /// Parent height + 1.
        expected: u64,
        /// The header's height.
        found: u64,
    },
    /// Target differs from the chain's.
    #[error(
        "rule \"a block's work target is the one the retarget rule requires\" broken: expected {expected}, found {found}"
    )]
    WrongTarget {
        /// Required target.
        expected: CompactTarget,
        /// The header's target.
        found: CompactTarget,
    },
    /// The block's ticket does not beat its work target.
    #[error(
        "rule \"a block's ticket is below its work target\" broken: ticket {ticket}, target {target}"
    )]
    TicketAboveTarget {
        /// The header's ticket.
        ticket: Ticket,
        /// The header's target.
        target: CompactTarget,
    },
    /// The block would end a branch with too little work to ever be stored.
    #[error(
        "rule \"a side block has more cumulative work than the best chain had {depth} blocks below its tip\" broken: {work} <= {floor}"
    )]
    TooLittleWork {
        /// The block's cumulative work.
        work: u128,
        /// The cumulative work of the best-chain block `depth` below the tip.
        floor: u128,
        /// The chain's reorganisation window.
        depth: u64,
    },
    /// The block's branch leaves the best chain below the finalized height.
    #[error(
        "rule \"a block's branch forks from the best chain at most {depth} blocks below its tip\" broken: it forks below the finalized height {finalized}"
    )]
    ForksBelowFinality {
        /// The chain's finalized height.
        finalized: u64,
        /// The chain's reorganisation window.
        depth: u64,
    },
    /// The proof of training failed a pre-check (no tensor work done).
    #[error("rule \"the header carries a well-formed proof of training\" broken: {0}")]
    ProofPrecheck(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Timestamp at or before the median of the previous blocks.
    #[error(
        "rule \"a block's timestamp is greater than the median of the previous {MEDIAN_TIME_SPAN} blocks\" broken: {timestamp} <= median {median}"
    )]
    TimestampTooOld {
        /// The header's timestamp.
        timestamp: u64,
        /// The median time past.
        median: u64,
    },
    /// Timestamp too far ahead of the clock.
    #[error(
        "rule \"a block's timestamp is at most the chain's future drift past the validator's clock\" broken: {timestamp} > {max}"
    )]
    TimestampTooFarAhead {
        /// The header's timestamp.
        timestamp: u64,
        /// The clock plus [`Difficulty::max_future_drift_secs`](crate::Difficulty::max_future_drift_secs).
        max: u64,
    },
    /// No transactions or first not a coinbase.
    #[error("rule \"the first transaction of a block is a coinbase\" broken")]
    MissingCoinbase,
    /// A coinbase elsewhere than first.
    #[error(
        "rule \"only the first transaction of a block is a coinbase\" broken: transaction {0} has no inputs"
    )]
    CoinbaseMisplaced(usize),
    /// Coinbase height mismatch.
    #[error(
        "rule \"the coinbase carries its block's height\" broken: expected {expected}, found {found:?}"
    )]
    CoinbaseWrongHeight {
        /// The block height.
        expected: u64,
        /// What the coinbase carries.
        found: Option<u64>,
    },
    /// Coinbase pays too much.
    #[error(
        "rule \"the coinbase pays at most the subsidy plus the fees\" broken: pays {paid}, allowed {allowed}"
    )]
    CoinbaseOverpays {
        /// Sum of the coinbase outputs.
        paid: Amount,
        /// Subsidy + fees.
        allowed: Amount,
    },
    /// Merkle root mismatch.
    #[error(
        "rule \"merkle_root is the Merkle root of the transaction ids\" broken: computed {computed}, header has {found}"
    )]
    WrongMerkleRoot {
        /// Root of the block's transactions.
        computed: MerkleRoot,
        /// The header's root.
        found: MerkleRoot,
    },
    /// Same txid twice.
    #[error("rule \"a block lists each transaction once\" broken: {0} appears twice")]
    DuplicateTransaction(Txid),
    /// Two transactions of the block spend the same output.
    #[error(
        "rule \"a block spends each output at most once\" broken: {outpoint} is spent by transactions {first} and {second}"
    )]
    DoubleSpend {
        /// The outpoint.
        outpoint: OutPoint,
        /// First spender's index.
        first: usize,
        /// Second spender's index.
        second: usize,
    },
    /// Fees overflow.
    #[error("rule \"subsidy plus fees is at most the maximum supply\" broken")]
    FeesOverflow,
    /// A transaction is invalid.
    #[error("transaction {index} ({txid}) is invalid: {source}")]
    Transaction {
        /// Index in the block.
        index: usize,
        /// Its id.
        txid: Txid,
        /// The rule it broke.
        #[source]
        source: TxError,
    },
    /// The proof of training was rejected.
    #[error("rule \"the header carries a valid proof of training\" broken: {0}")]
    Proof(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl BlockError {
    /// The transaction-level rule, if that is what failed.
    pub fn transaction_error(&self) -> Option<&TxError> {
        match self {
            BlockError::Transaction { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Where inputs are looked up: the UTXO set, possibly with pending changes on top.
pub trait UtxoView {
    /// The unspent entry at `outpoint`, if any.
    fn utxo(&self, outpoint: &OutPoint) -> Option<UtxoEntry>;
}

impl UtxoView for UtxoSet {
    fn utxo(&self, outpoint: &OutPoint) -> Option<UtxoEntry> {
        self.get(outpoint).copied()
    }
}

/// A view with changes layered over a base: `Some` = created, `None` = spent.
#[derive(Debug)]
pub struct OverlayView<'a, V: UtxoView + ?Sized> {
    base: &'a V,
    changes: HashMap<OutPoint, Option<UtxoEntry>>,
}

impl<'a, V: UtxoView + ?Sized> OverlayView<'a, V> {
    /// No changes yet.
    pub fn new(base: &'a V) -> Self {
        OverlayView {
            base,
            changes: HashMap::new(),
        }
    }

    /// Records that `tx` (at `height`) spent its inputs and created its outputs.
    pub fn apply(&mut self, tx: &Transaction, txid: Txid, height: u64) {
        for input in &tx.inputs {
            self.changes.insert(input.previous_output, None);
        }
        for (vout, output) in (0u32..).zip(&tx.outputs) {
            self.changes.insert(
                OutPoint { txid, vout },
                Some(UtxoEntry {
                    output: *output,
                    height,
                    is_coinbase: tx.is_coinbase(),
                }),
            );
        }
    }
}

impl<V: UtxoView + ?Sized> UtxoView for OverlayView<'_, V> {
    fn utxo(&self, outpoint: &OutPoint) -> Option<UtxoEntry> {
        match self.changes.get(outpoint) {
            Some(change) => *change,
            None => self.base.utxo(outpoint),
        }
    }
}

/// Rules a transaction must meet on its own (no UTXO set, no signatures).
pub fn check_transaction(tx: &Transaction) -> Result<(), TxError> {
    if tx.version != TX_VERSION && tx.version != TX_VERSION_TYPED_INPUTS {
        return Err(TxError::UnsupportedVersion(tx.version));
    }
    if tx.version == TX_VERSION
        && let Some((input, txin)) = tx
            .inputs
            .iter()
            .enumerate()
            .find(|(_, i)| i.witness.kind() != KeyKind::Ed25519)
    {
        return Err(TxError::UntaggedInputKind {
            input,
            kind: txin.witness.kind(),
        });
    }
    let size = tx.encoded_len();
    if size > MAX_BLOCK_SIZE {
        return Err(TxError::TooLarge(size));
    }
    if tx.inputs.len() > MAX_BLOCK_SIGNATURES {
        return Err(TxError::TooManySignatures(tx.inputs.len()));
    }
    // A coinbase may pay nothing (no subsidy left and no fees); anything else must pay someone.
    if tx.outputs.is_empty() && !tx.is_coinbase() {
        return Err(TxError::NoOutputs);
    }
    if let Some(vout) = tx.outputs.iter().position(|o| o.amount.is_zero()) {
        return Err(TxError::ZeroOutput {
            vout: u32::try_from(vout).unwrap_or(u32::MAX),
        });
    }
    tx.total_output().ok_or(TxError::OutputSumOverflow)?;
    if !tx.is_coinbase() {
        if let Some(height) = tx.coinbase_height {
            return Err(TxError::HeightOutsideCoinbase(height));
        }
        if tx.inputs.len() > 1 {
            let mut seen = HashSet::with_capacity(tx.inputs.len());
            for input in &tx.inputs {
                if !seen.insert(input.previous_output) {
                    return Err(TxError::DuplicateInput(input.previous_output));
                }
            }
        }
    }
    Ok(())
}

/// Rules a non-coinbase transaction must meet against the outputs it spends, for inclusion at
/// `spend_height`; returns its fee. Signatures are checked separately.
pub fn check_transaction_inputs<V: UtxoView + ?Sized>(
    tx: &Transaction,
    view: &V,
    spend_height: u64,
    coinbase_maturity: u64,
) -> Result<Amount, TxError> {
    let mut total_in = Amount::ZERO;
    for (index, input) in tx.inputs.iter().enumerate() {
        let entry = view
            .utxo(&input.previous_output)
            .ok_or(TxError::UnknownInput {
                input: index,
                outpoint: input.previous_output,
            })?;
        // Genesis allocations are spendable at once; later coinbases must mature.
        if !entry.is_mature_at(spend_height, coinbase_maturity) {
            return Err(TxError::ImmatureCoinbase {
                input: index,
                created: entry.height,
                spend_height,
                maturity: coinbase_maturity,
            });
        }
        let key_address = input.witness.address();
        if key_address != entry.output.address {
            return Err(TxError::KeyMismatch {
                input: index,
                key_address,
                owner: entry.output.address,
            });
        }
        total_in = total_in
            .checked_add(entry.output.amount)
            .ok_or(TxError::InputSumOverflow)?;
    }
    let total_out = tx.total_output().ok_or(TxError::OutputSumOverflow)?;
    total_in
        .checked_sub(total_out)
        .ok_or(TxError::OutputsExceedInputs {
            inputs: total_in,
            outputs: total_out,
        })
}

/// Checks every input's signature over the transaction's signing digest, strictly.
///
/// Ed25519 uses `verify_strict`, which rejects non-canonical `s`, small-order or
/// non-canonical `R`, and small-order keys, so a valid signature cannot be altered by anyone
/// but the signer. ML-DSA-65 signatures were checked canonical when decoded or built, and are
/// verified with FIPS 204's `ML-DSA.Verify` under the chain's context string.
pub fn verify_transaction_signatures(tx: &Transaction) -> Result<(), TxError> {
    let digest = tx.signing_digest();
    for (input, txin) in tx.inputs.iter().enumerate() {
        if !txin.witness.verify(&digest) {
            return Err(TxError::BadSignature {
                input,
                kind: txin.witness.kind(),
            });
        }
    }
    Ok(())
}

/// The block's transactions, spread over all cores (feature `parallel`).
#[cfg(feature = "parallel")]
fn each_transaction(block: &Block) -> rayon::slice::Iter<'_, Transaction> {
    block.transactions.par_iter()
}

/// The block's transactions, in order on this thread (without the feature `parallel`).
#[cfg(not(feature = "parallel"))]
fn each_transaction(block: &Block) -> std::slice::Iter<'_, Transaction> {
    block.transactions.iter()
}

/// Verifies the signatures of every transaction of a block, spread over all cores (feature
/// `parallel`; on the calling thread without it).
///
/// Each signature is checked individually with `verify_strict` rather than with ed25519 batch
/// verification: the batch equation is cofactorless with verifier-chosen coefficients, so a
/// signature whose single check fails by a small-torsion term can pass a batch with
/// probability up to 1/2, and the coefficients are derived from the block's own data, which
/// lets a block author grind for that. Consensus must accept exactly what `verify_strict`
/// accepts, so parallelism across cores is the safe speed-up. On failure the error names the
/// first bad transaction in block order.
pub fn verify_block_signatures(block: &Block, txids: &[Txid]) -> Result<(), BlockError> {
    let first_bad = each_transaction(block)
        .enumerate()
        .filter_map(|(index, tx)| verify_transaction_signatures(tx).err().map(|e| (index, e)))
        .min_by_key(|(index, _)| *index);
    match first_bad {
        None => Ok(()),
        Some((index, source)) => Err(BlockError::Transaction {
            index,
            txid: txids.get(index).copied().unwrap_or_default(),
            source,
        }),
    }
}

/// Rules a block's body must meet on its own (size, coinbase placement and height, each
/// transaction alone, Merkle root, no repeated txid, no output spent twice); returns the
/// txids (computed once here and reused by later checks).
pub fn check_block_body(block: &Block) -> Result<Vec<Txid>, BlockError> {
    let header = &block.header;
    let size = block.encoded_len();
    if size > MAX_BLOCK_SIZE {
        return Err(BlockError::TooLarge(size));
    }
    let signatures: usize = block.transactions.iter().map(|tx| tx.inputs.len()).sum();
    if signatures > MAX_BLOCK_SIGNATURES {
        return Err(BlockError::TooManySignatures(signatures));
    }
    let Some(coinbase) = block.transactions.first().filter(|tx| tx.is_coinbase()) else {
        return Err(BlockError::MissingCoinbase);
    };
    if coinbase.coinbase_height != Some(header.height) {
        return Err(BlockError::CoinbaseWrongHeight {
            expected: header.height,
            found: coinbase.coinbase_height,
        });
    }
    if let Some(index) = block
        .transactions
        .iter()
        .skip(1)
        .position(Transaction::is_coinbase)
    {
        return Err(BlockError::CoinbaseMisplaced(index + 1));
    }
    // Hashing every transaction is the largest cost here after signatures: spread it too.
    let txids: Vec<Txid> = each_transaction(block).map(Transaction::txid).collect();
    for (index, tx) in block.transactions.iter().enumerate() {
        check_transaction(tx).map_err(|source| BlockError::Transaction {
            index,
            txid: txids[index],
            source,
        })?;
    }
    let computed = merkle_root(&txids);
    if computed != header.merkle_root {
        return Err(BlockError::WrongMerkleRoot {
            computed,
            found: header.merkle_root,
        });
    }
    let mut seen = HashSet::with_capacity(txids.len());
    for txid in &txids {
        if !seen.insert(*txid) {
            return Err(BlockError::DuplicateTransaction(*txid));
        }
    }
    let mut spenders: HashMap<OutPoint, usize> = HashMap::new();
    for (index, tx) in block.transactions.iter().enumerate() {
        for input in &tx.inputs {
            if let Some(first) = spenders.insert(input.previous_output, index) {
                return Err(BlockError::DoubleSpend {
                    outpoint: input.previous_output,
                    first,
                    second: index,
                });
            }
        }
    }
    Ok(txids)
}

/// What a header is checked against.
#[derive(Clone, Copy, Debug)]
pub struct HeaderContext<'a> {
    /// The parent's header.
    pub parent: &'a BlockHeader,
    /// Median timestamp of the last [`MEDIAN_TIME_SPAN`] blocks up to the parent.
    pub median_time_past: u64,
    /// The work target the chain requires of this block.
    pub required_target: CompactTarget,
    /// The validator's clock, seconds since the Unix epoch.
    pub now: u64,
    /// How far past `now` the timestamp may be
    /// ([`Difficulty::max_future_drift_secs`](crate::Difficulty::max_future_drift_secs)).
    pub max_future_drift_secs: u64,
}

/// Rules a header must meet against its parent and the clock.
pub fn check_header(header: &BlockHeader, context: &HeaderContext<'_>) -> Result<(), BlockError> {
    if header.version != BLOCK_VERSION {
        return Err(BlockError::UnsupportedVersion(header.version));
    }
    let parent_hash = context.parent.hash();
    if header.prev_hash != parent_hash {
        return Err(BlockError::WrongPrevHash {
            expected: parent_hash,
            found: header.prev_hash,
        });
    }
    let expected = context.parent.height.saturating_add(1);
    if header.height != expected {
        return Err(BlockError::WrongHeight {
            expected,
            found: header.height,
        });
    }
    if header.bits != context.required_target {
        return Err(BlockError::WrongTarget {
            expected: context.required_target,
            found: header.bits,
        });
    }
    if header.timestamp <= context.median_time_past {
        return Err(BlockError::TimestampTooOld {
            timestamp: header.timestamp,
            median: context.median_time_past,
        });
    }
    let max = context.now.saturating_add(context.max_future_drift_secs);
    if header.timestamp > max {
        return Err(BlockError::TimestampTooFarAhead {
            timestamp: header.timestamp,
            max,
        });
    }
    let ticket = header.ticket();
    if !header.bits.is_beaten_by(ticket.as_bytes()) {
        return Err(BlockError::TicketAboveTarget {
            ticket,
            target: header.bits,
        });
    }
    Ok(())
}

/// Rules a block's transactions must meet against the UTXO set at its parent: inputs exist,
/// are mature and owned by the signing keys, amounts balance, and the coinbase pays at most
/// `subsidy` plus the fees. Returns the total fees. Expects [`check_block_body`] to have passed.
pub fn check_block_inputs<V: UtxoView + ?Sized>(
    block: &Block,
    txids: &[Txid],
    view: &V,
    subsidy: Amount,
    coinbase_maturity: u64,
) -> Result<Amount, BlockError> {
    let height = block.header.height;
    let mut overlay = OverlayView::new(view);
    let mut fees = Amount::ZERO;
    for (index, tx) in block.transactions.iter().enumerate() {
        let txid = txids.get(index).copied().unwrap_or_else(|| tx.txid());
        if !tx.is_coinbase() {
            let fee = check_transaction_inputs(tx, &overlay, height, coinbase_maturity).map_err(
                |source| BlockError::Transaction {
                    index,
                    txid,
                    source,
                },
            )?;
            fees = fees.checked_add(fee).ok_or(BlockError::FeesOverflow)?;
        }
        overlay.apply(tx, txid, height);
    }
    let allowed = subsidy.checked_add(fees).ok_or(BlockError::FeesOverflow)?;
    let paid = block
        .transactions
        .first()
        .and_then(Transaction::total_output)
        .unwrap_or(Amount::ZERO);
    if paid > allowed {
        return Err(BlockError::CoinbaseOverpays { paid, allowed });
    }
    Ok(fees)
}

/// The median of `timestamps` (the upper median for an even count); 0 for none.
pub fn median_timestamp(timestamps: &[u64]) -> u64 {
    let mut sorted = timestamps.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied().unwrap_or(0)
}
