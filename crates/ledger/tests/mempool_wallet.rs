//! The mempool's admission rules and selection, and the wallet's payments.

mod common;

use ann_ledger::{
    Amount, Chain, Mempool, MempoolError, Transaction, TxError, TxOut, Wallet, WalletError,
};
use common::{VERIFIER, coins, mine, now, params_funding, wallet};

fn setup(n: u8) -> (Chain, Vec<Wallet>) {
    let wallets: Vec<Wallet> = (0..n).map(wallet).collect();
    let refs: Vec<&Wallet> = wallets.iter().collect();
    (
        Chain::new(params_funding(&refs, 10)).expect("genesis"),
        wallets,
    )
}

fn base_units(n: u64) -> Amount {
    Amount::from_base_units(n).expect("small")
}

#[test]
fn rejects_conflicts_duplicates_coinbases_and_invalid_transactions() {
    let (chain, w) = setup(3);
    let mut pool = Mempool::new();
    let first = w[0]
        .pay(&chain, None, w[1].address(), coins(3), Amount::ZERO)
        .expect("funded");
    let txid = pool.add(first.clone(), &chain).expect("valid");
    assert_eq!(
        pool.add(first, &chain),
        Err(MempoolError::AlreadyInPool(txid))
    );

    // Built without looking at the pool, the same coin is spent again.
    let conflicting = w[0]
        .pay(&chain, None, w[2].address(), coins(4), Amount::ZERO)
        .expect("funded");
    let coin = conflicting.inputs[0].previous_output;
    assert_eq!(
        pool.add(conflicting, &chain),
        Err(MempoolError::Conflict {
            outpoint: coin,
            existing: txid
        })
    );

    let coinbase = Transaction::coinbase(
        1,
        vec![TxOut {
            amount: coins(1),
            address: w[0].address(),
        }],
    );
    assert_eq!(pool.add(coinbase, &chain), Err(MempoolError::Coinbase));

    let mut forged = w[1]
        .pay(&chain, Some(&pool), w[2].address(), coins(1), Amount::ZERO)
        .expect("funded");
    // Redirect one coin of change to the payee: balanced, but not what was signed.
    forged.outputs[0].amount = coins(2);
    forged.outputs[1].amount = coins(8);
    assert_eq!(
        pool.add(forged, &chain),
        Err(MempoolError::Invalid(TxError::BadSignature {
            input: 0,
            kind: ann_ledger::KeyKind::Ed25519
        }))
    );
    assert_eq!(pool.len(), 1);
}

#[test]
fn accepts_unconfirmed_chains_and_selects_by_package_fee_rate_parents_first() {
    let (chain, w) = setup(3);
    let mut pool = Mempool::new();
    // Low fee parent: wallet 0 pays wallet 1.
    let parent = w[0]
        .pay(
            &chain,
            Some(&pool),
            w[1].address(),
            coins(5),
            base_units(100),
        )
        .expect("funded");
    let parent_id = pool.add(parent.clone(), &chain).expect("valid");
    // High fee child spending the parent's output to wallet 1.
    let key = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
    let child = Transaction::new_signed(
        &[(parent.outpoint(0), &key)],
        vec![TxOut {
            amount: coins(5).checked_sub(base_units(50_000)).expect("small"),
            address: w[2].address(),
        }],
    );
    let child_id = pool
        .add(child, &chain)
        .expect("an unconfirmed parent is fine");
    // Medium fee independent transaction.
    let other = w[2]
        .pay(
            &chain,
            Some(&pool),
            w[0].address(),
            coins(1),
            base_units(10_000),
        )
        .expect("funded");
    let other_id = pool.add(other, &chain).expect("valid");

    let selected: Vec<_> = pool
        .select(&chain.utxo_set().unwrap(), usize::MAX, usize::MAX)
        .into_iter()
        .map(|(tx, fee)| (tx.txid(), fee))
        .collect();
    assert_eq!(
        selected,
        vec![
            (parent_id, base_units(100)),
            (child_id, base_units(50_000)),
            (other_id, base_units(10_000)),
        ],
        "by package fee rate: the child pays for its parent (50,100 for two transactions beats \
         10,000 for one), and the parent comes first"
    );

    // A size budget fitting one transaction cannot take the package: the best single one.
    let one = pool.select(&chain.utxo_set().unwrap(), 300, usize::MAX);
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].0.txid(), other_id);

    // The template collects all fees for the miner, and the block is valid.
    let miner = wallet(100);
    let mut chain = chain;
    let block = mine(&chain, &pool, &miner, 1);
    chain
        .submit_block(block.clone(), now(), &VERIFIER)
        .expect("valid");
    assert_eq!(
        miner.balance(&chain).unwrap(),
        coins(10).checked_add(base_units(60_100)).expect("small")
    );
    pool.remove_for_block(&block);
    assert!(pool.is_empty());
}

#[test]
fn revalidation_drops_what_a_block_spent() {
    let (mut chain, w) = setup(3);
    let mut pool = Mempool::new();
    let in_pool = w[0]
        .pay(&chain, Some(&pool), w[1].address(), coins(3), Amount::ZERO)
        .expect("funded");
    let in_pool_id = pool.add(in_pool, &chain).expect("valid");
    // A block confirms a different spend of the same coin (seen by another node first).
    let mut other_pool = Mempool::new();
    let rival = w[0]
        .pay(&chain, None, w[2].address(), coins(4), Amount::ZERO)
        .expect("funded");
    let coin = rival.inputs[0].previous_output;
    other_pool.add(rival, &chain).expect("valid");
    let block = mine(&chain, &other_pool, &wallet(100), 1);
    chain.submit_block(block, now(), &VERIFIER).expect("valid");
    let dropped = pool.revalidate(&chain);
    assert_eq!(
        dropped,
        vec![(
            in_pool_id,
            MempoolError::Invalid(TxError::UnknownInput {
                input: 0,
                outpoint: coin
            })
        )]
    );
    assert!(pool.is_empty());
}

#[test]
fn wallet_pays_with_change_and_fee() {
    let (mut chain, w) = setup(2);
    let fee = base_units(2_500);
    let tx = w[0]
        .pay(&chain, None, w[1].address(), coins(3), fee)
        .expect("funded");
    assert_eq!(tx.outputs.len(), 2);
    assert_eq!(tx.outputs[0].amount, coins(3));
    assert_eq!(tx.outputs[0].address, w[1].address());
    assert_eq!(tx.outputs[1].address, w[0].address(), "change comes back");
    assert_eq!(
        tx.outputs[1].amount,
        coins(7).checked_sub(fee).expect("small")
    );
    let mut pool = Mempool::new();
    pool.add(tx, &chain).expect("valid");
    assert_eq!(pool.fee(&pool.transactions()[0].txid()), Some(fee));
    let block = mine(&chain, &pool, &wallet(100), 1);
    chain.submit_block(block, now(), &VERIFIER).expect("valid");
    assert_eq!(
        w[0].balance(&chain).unwrap(),
        coins(7).checked_sub(fee).expect("small")
    );
    assert_eq!(w[1].balance(&chain).unwrap(), coins(13));
    assert_eq!(w[0].utxos(&chain).unwrap().len(), 1);
}

#[test]
fn wallet_spends_everything_without_change() {
    let (chain, w) = setup(2);
    let tx = w[0]
        .pay(&chain, None, w[1].address(), coins(10), Amount::ZERO)
        .expect("the whole balance, zero fee");
    assert_eq!(tx.outputs.len(), 1);
}

#[test]
fn wallet_reports_insufficient_funds_with_the_amounts() {
    let (chain, w) = setup(2);
    assert_eq!(
        w[0].pay(&chain, None, w[1].address(), coins(10), base_units(1)),
        Err(WalletError::InsufficientFunds {
            available: coins(10),
            needed: coins(10).checked_add(base_units(1)).expect("small"),
        })
    );
    assert_eq!(
        w[0].pay(&chain, None, w[1].address(), Amount::ZERO, Amount::ZERO),
        Err(WalletError::ZeroAmount)
    );
    // Coins already spent by a pool transaction are not spendable again.
    let mut pool = Mempool::new();
    let tx = w[0]
        .pay(&chain, Some(&pool), w[1].address(), coins(1), Amount::ZERO)
        .expect("funded");
    pool.add(tx, &chain).expect("valid");
    assert!(w[0].spendable(&chain, Some(&pool)).unwrap().is_empty());
    assert_eq!(
        w[0].pay(&chain, Some(&pool), w[1].address(), coins(1), Amount::ZERO),
        Err(WalletError::InsufficientFunds {
            available: Amount::ZERO,
            needed: coins(1)
        })
    );
    let message = WalletError::InsufficientFunds {
        available: coins(2),
        needed: coins(3),
    }
    .to_string();
    assert_eq!(
        message,
        "insufficient funds: 3.00000000 needed (amount plus fee), 2.00000000 spendable"
    );
}

#[test]
fn wallet_debug_does_not_print_the_key() {
    let w = wallet(42);
    let debug = format!("{w:?}");
    assert!(debug.contains("<redacted>"));
    assert!(!debug.contains(&hex::encode([42u8; 32])));
}
