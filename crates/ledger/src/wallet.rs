//! A wallet for one signing key: its coins, its balance, and signed payments.

use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::address::Address;
use crate::amount::Amount;
use crate::chain::Chain;
use crate::mempool::Mempool;
use crate::store::ChainStore;
use crate::transaction::{OutPoint, Transaction, TxOut};
use crate::utxo::UtxoEntry;

/// Why a payment could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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
}

/// The coins of one ed25519 key. The key is zeroized on drop and never printed.
pub struct Wallet {
    signing_key: SigningKey,
    address: Address,
}

impl std::fmt::Debug for Wallet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wallet")
            .field("address", &self.address)
            .field("signing_key", &"<redacted>")
            .finish()
    }
}

impl Wallet {
    /// A wallet for `signing_key`.
    pub fn new(signing_key: SigningKey) -> Self {
        let address = Address::from_verifying_key(&signing_key.verifying_key());
        Wallet {
            signing_key,
            address,
        }
    }

    /// Where to send coins to this wallet.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The wallet's public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing_key.verifying_key()
    }

    /// The wallet's confirmed unspent outputs at the chain's tip, by outpoint.
    pub fn utxos<S: ChainStore>(&self, chain: &Chain<S>) -> Vec<(OutPoint, UtxoEntry)> {
        chain.utxos().outputs_of(&self.address)
    }

    /// The confirmed balance at the chain's tip.
    pub fn balance<S: ChainStore>(&self, chain: &Chain<S>) -> Amount {
        Amount::checked_sum(self.utxos(chain).iter().map(|(_, e)| e.output.amount))
            .unwrap_or(Amount::MAX)
    }

    /// Outputs that can be spent in the next block: confirmed, mature, and not already spent
    /// by a transaction in `mempool`.
    pub fn spendable<S: ChainStore>(
        &self,
        chain: &Chain<S>,
        mempool: Option<&Mempool>,
    ) -> Vec<(OutPoint, UtxoEntry)> {
        let next_height = chain.height().saturating_add(1);
        let maturity = chain.params().coinbase_maturity;
        self.utxos(chain)
            .into_iter()
            .filter(|(_, e)| e.is_mature_at(next_height, maturity))
            .filter(|(o, _)| mempool.is_none_or(|m| m.spender_of(o).is_none()))
            .collect()
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
        self.pay_from(self.spendable(chain, mempool), to, amount, fee)
    }

    /// Builds and signs a payment as [`Wallet::pay`] does, from `coins` that the caller knows
    /// to be spendable (for a wallet that learns its outputs from a node's RPC instead of
    /// holding a chain).
    ///
    /// # Errors
    /// [`WalletError`] for a zero amount, an overflow, or too little in `coins`.
    pub fn pay_from(
        &self,
        mut coins: Vec<(OutPoint, UtxoEntry)>,
        to: Address,
        amount: Amount,
        fee: Amount,
    ) -> Result<Transaction, WalletError> {
        if amount.is_zero() {
            return Err(WalletError::ZeroAmount);
        }
        let needed = amount.checked_add(fee).ok_or(WalletError::AmountOverflow)?;
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
        for (outpoint, entry) in coins {
            if gathered >= needed {
                break;
            }
            gathered = gathered
                .checked_add(entry.output.amount)
                .ok_or(WalletError::AmountOverflow)?;
            chosen.push(outpoint);
        }
        let Some(change) = gathered.checked_sub(needed) else {
            return Err(WalletError::InsufficientFunds {
                available: gathered,
                needed,
            });
        };
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
        let spends: Vec<(OutPoint, &SigningKey)> =
            chosen.into_iter().map(|o| (o, &self.signing_key)).collect();
        Ok(Transaction::new_signed(&spends, outputs))
    }
}
