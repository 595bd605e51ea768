//! A wallet for one signing key (ed25519 or ML-DSA-65): its coins, its balance, and signed
//! payments.

use ed25519_dalek::SigningKey;

use crate::address::Address;
use crate::amount::Amount;
use crate::chain::{Chain, ChainError};
use crate::mempool::Mempool;
use crate::store::ChainStore;
use crate::transaction::{InputSigner, KeyKind, OutPoint, SpendingKey, Transaction, TxOut};
use crate::utxo::UtxoEntry;

/// Why a payment could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WalletError {
    /// Paying nothing.
    #[error("a payment must be of a positive amount")]
    ZeroAmount,
    /// Not enough spendable coin.
    #[error("insufficient funds: {needed} needed (amount plus fee), {available} spendable")]
    InsufficientFunds {
        /// Spendable balance.
        available: Amount,
        /// Amount plus fee.
        needed: Amount,
    },
    /// Amount plus fee exceeds the maximum supply.
    #[error("amount plus fee exceeds the maximum supply")]
    AmountOverflow,
    /// The chain's state could not be read (its store failed).
    #[error("the chain's state could not be read: {0}")]
    ChainUnavailable(String),
}

impl From<ChainError> for WalletError {
    fn from(error: ChainError) -> Self {
        WalletError::ChainUnavailable(error.to_string())
    }
}

/// The coins of one key. The key is zeroized on drop and never printed.
pub struct Wallet {
    key: SpendingKey,
    address: Address,
}

impl std::fmt::Debug for Wallet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wallet")
            .field("address", &self.address)
            .field("kind", &self.key.kind())
            .field("key", &"<redacted>")
            .finish()
    }
}

impl Wallet {
    /// A wallet for an ed25519 `signing_key`.
    pub fn new(signing_key: SigningKey) -> Self {
        Wallet::with_key(SpendingKey::Ed25519(signing_key))
    }

    /// A wallet for a key of either kind.
    pub fn with_key(key: impl Into<SpendingKey>) -> Self {
        let key = key.into();
        Wallet {
            address: key.address(),
            key,
        }
    }

    /// The kind of the wallet's key.
    pub fn kind(&self) -> KeyKind {
        self.key.kind()
    }

    /// The wallet's key.
    pub fn key(&self) -> &SpendingKey {
        &self.key
    }

    /// The encoded size of a payment from this wallet spending `inputs` outputs into
    /// `outputs` outputs: what a fee per byte is charged on.
    pub fn payment_size(&self, inputs: usize, outputs: usize) -> usize {
        let version = crate::transaction::version_for(std::iter::once(self.kind()));
        crate::encoding::TX_FIXED_SIZE
            + inputs * crate::encoding::input_size(version, self.kind())
            + outputs * crate::encoding::TXOUT_SIZE
    }

    /// Where to send coins to this wallet.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The wallet's confirmed unspent outputs at the chain's tip, by outpoint (a scan of the
    /// chain's UTXO set).
    ///
    /// # Errors
    /// [`ChainError`] if the chain's store cannot be read.
    pub fn utxos<S: ChainStore>(
        &self,
        chain: &Chain<S>,
    ) -> Result<Vec<(OutPoint, UtxoEntry)>, ChainError> {
        chain.outputs_of(&self.address)
    }

    /// The confirmed balance at the chain's tip.
    ///
    /// # Errors
    /// [`ChainError`] if the chain's store cannot be read.
    pub fn balance<S: ChainStore>(&self, chain: &Chain<S>) -> Result<Amount, ChainError> {
        Ok(
            Amount::checked_sum(self.utxos(chain)?.iter().map(|(_, e)| e.output.amount))
                .unwrap_or(Amount::MAX),
        )
    }

    /// Outputs that can be spent in the next block: confirmed, mature, and not already spent
    /// by a transaction in `mempool`.
    ///
    /// # Errors
    /// [`ChainError`] if the chain's store cannot be read.
    pub fn spendable<S: ChainStore>(
        &self,
        chain: &Chain<S>,
        mempool: Option<&Mempool>,
    ) -> Result<Vec<(OutPoint, UtxoEntry)>, ChainError> {
        let next_height = chain.height().saturating_add(1);
        let maturity = chain.params().coinbase_maturity;
        Ok(self
            .utxos(chain)?
            .into_iter()
            .filter(|(_, e)| e.is_mature_at(next_height, maturity))
            .filter(|(o, _)| mempool.is_none_or(|m| m.spender_of(o).is_none()))
            .collect())
    }

    /// Builds and signs a payment of `amount` to `to` with `fee` (zero allowed), spending the
    /// largest spendable outputs first and returning any change to this wallet.
    pub fn pay<S: ChainStore>(
        &self,
        chain: &Chain<S>,
        mempool: Option<&Mempool>,
        to: Address,
        amount: Amount,
        fee: Amount,
    ) -> Result<Transaction, WalletError> {
        let coins = self.spendable(chain, mempool)?;
        self.pay_from(coins, to, amount, fee)
    }

    /// Builds and signs a payment as [`Wallet::pay`] does, from `coins` that the caller knows
    /// to be spendable (for a wallet that learns its outputs from a node's RPC instead of
    /// holding a chain).
    ///
    /// # Errors
    /// [`WalletError`] for a zero amount, an overflow, or too little in `coins`.
    pub fn pay_from(
        &self,
        coins: Vec<(OutPoint, UtxoEntry)>,
        to: Address,
        amount: Amount,
        fee: Amount,
    ) -> Result<Transaction, WalletError> {
        self.build_payment(coins, to, amount, |_| Some(fee))
    }

    /// Builds and signs a payment of `amount` to `to` whose fee is `fee_per_kb` base units per
    /// 1000 encoded bytes (rounded up, as [`crate::MempoolPolicy::min_fee`] charges it): an
    /// ML-DSA-65 input is 5,298 bytes against 132 for ed25519, so a fixed fee fits one kind
    /// only.
    ///
    /// # Errors
    /// [`WalletError`] for a zero amount, an overflow, or too little spendable.
    pub fn pay_at_rate<S: ChainStore>(
        &self,
        chain: &Chain<S>,
        mempool: Option<&Mempool>,
        to: Address,
        amount: Amount,
        fee_per_kb: u64,
    ) -> Result<Transaction, WalletError> {
        let coins = self.spendable(chain, mempool)?;
        self.build_payment(coins, to, amount, |size| {
            let fee = crate::mempool::fee_at_rate(fee_per_kb, size);
            Amount::from_base_units(u64::try_from(fee).ok()?).ok()
        })
    }

    /// Chooses coins largest first until they cover `amount` plus the fee that `fee_for`
    /// asks for the payment's size (with a change output), and signs.
    fn build_payment(
        &self,
        mut coins: Vec<(OutPoint, UtxoEntry)>,
        to: Address,
        amount: Amount,
        fee_for: impl Fn(usize) -> Option<Amount>,
    ) -> Result<Transaction, WalletError> {
        if amount.is_zero() {
            return Err(WalletError::ZeroAmount);
        }
        // Largest first keeps the input count (and so the size and fee) small; ties by
        // outpoint keep the choice deterministic.
        coins.sort_by(|a, b| {
            b.1.output
                .amount
                .cmp(&a.1.output.amount)
                .then(a.0.cmp(&b.0))
        });
        let mut chosen = Vec::new();
        let mut gathered = Amount::ZERO;
        let mut coins = coins.into_iter();
        let needed = loop {
            // The fee of the payment as chosen so far, with a change output: a payment that
            // turns out to need no change is one output smaller and pays a little more.
            let fee = fee_for(self.payment_size(chosen.len().max(1), 2))
                .ok_or(WalletError::AmountOverflow)?;
            let needed = amount.checked_add(fee).ok_or(WalletError::AmountOverflow)?;
            if gathered >= needed {
                break needed;
            }
            let Some((outpoint, entry)) = coins.next() else {
                return Err(WalletError::InsufficientFunds {
                    available: gathered,
                    needed,
                });
            };
            gathered = gathered
                .checked_add(entry.output.amount)
                .ok_or(WalletError::AmountOverflow)?;
            chosen.push(outpoint);
        };
        let change = gathered
            .checked_sub(needed)
            .ok_or(WalletError::AmountOverflow)?;
        let mut outputs = vec![TxOut {
            amount,
            address: to,
        }];
        if !change.is_zero() {
            outputs.push(TxOut {
                amount: change,
                address: self.address,
            });
        }
        let spends: Vec<(OutPoint, &SpendingKey)> =
            chosen.into_iter().map(|o| (o, &self.key)).collect();
        Ok(Transaction::new_signed(&spends, outputs))
    }
}
