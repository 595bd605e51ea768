//! The pool's policy for a node facing strangers: a minimum relay fee, limits on chains of
//! unconfirmed transactions, a size cap with eviction, and block templates by package fee rate
//! over thousands of transactions.

mod common;

use ann_ledger::{
    Amount, Chain, ChainParams, Mempool, MempoolError, MempoolPolicy, OutPoint, Transaction, TxOut,
    Txid,
};
use common::{GENESIS_TIME, coins, target, wallet};
use ed25519_dalek::SigningKey;

fn units(n: u64) -> Amount {
    Amount::from_base_units(n).expect("small")
}

/// A chain whose genesis pays `outputs` coins of 10, one per output, to key 1.
fn funded(outputs: usize) -> Chain {
    let allocations = (0..outputs)
        .map(|_| TxOut {
            amount: coins(10),
            address: wallet(1).address(),
        })
        .collect();
    Chain::new(ChainParams::new(allocations, GENESIS_TIME, target())).expect("genesis")
}

fn genesis_coin(chain: &Chain, i: u32) -> OutPoint {
    chain
        .block_at(0)
        .expect("chain store")
        .expect("genesis")
        .transactions[0]
        .outpoint(i)
}

fn key() -> SigningKey {
    SigningKey::from_bytes(&[1; 32])
}

/// Spends `from` (worth `value`) into `outputs` equal outputs to key 1, paying `fee`.
fn spend(from: OutPoint, value: Amount, outputs: u64, fee: u64) -> Transaction {
    let each = (value.to_base_units() - fee) / outputs;
    Transaction::new_signed(
        &[(from, &key())],
        (0..outputs)
            .map(|_| TxOut {
                amount: units(each),
                address: wallet(1).address(),
            })
            .collect(),
    )
}

#[test]
fn a_relay_pool_refuses_fees_below_its_rate() {
    let chain = funded(1);
    let mut pool = Mempool::with_policy(MempoolPolicy::relay());
    let free = spend(genesis_coin(&chain, 0), coins(10), 1, 0);
    let size = free.encoded_len();
    assert!(matches!(
        pool.add(free, &chain),
        Err(MempoolError::FeeTooLow { size: s, min_per_kb: 1_000, .. }) if s == size
    ));
    // One base unit a byte, rounded up, is enough.
    let paying = spend(genesis_coin(&chain, 0), coins(10), 1, size as u64);
    pool.add(paying, &chain).expect("pays the relay fee");
    // The local policy takes free transactions (the demo's payments are free).
    assert_eq!(Mempool::new().policy().min_fee_per_kb, 0);
}

#[test]
fn a_chain_of_unconfirmed_transactions_stops_at_25_ancestors() {
    let chain = funded(1);
    let mut pool = Mempool::new();
    let mut from = genesis_coin(&chain, 0);
    let mut value = coins(10);
    for i in 0..26 {
        let tx = spend(from, value, 1, 1_000);
        from = tx.outpoint(0);
        value = tx.outputs[0].amount;
        pool.add(tx, &chain)
            .unwrap_or_else(|e| panic!("transaction {i}: {e}"));
    }
    // The 27th would have 26 unconfirmed ancestors.
    let tx = spend(from, value, 1, 1_000);
    assert_eq!(
        pool.add(tx, &chain),
        Err(MempoolError::TooManyAncestors { max: 25 })
    );
    assert_eq!(pool.len(), 26);
}

#[test]
fn a_transaction_stops_at_25_descendants() {
    let chain = funded(1);
    let mut pool = Mempool::new();
    let parent = spend(genesis_coin(&chain, 0), coins(10), 30, 1_000);
    let parent_id = pool.add(parent.clone(), &chain).expect("valid");
    let each = parent.outputs[0].amount;
    for vout in 0..25 {
        pool.add(spend(parent.outpoint(vout), each, 1, 100), &chain)
            .expect("within the limit");
    }
    assert_eq!(
        pool.add(spend(parent.outpoint(25), each, 1, 100), &chain),
        Err(MempoolError::TooManyDescendants {
            ancestor: parent_id,
            max: 25
        })
    );
}

#[test]
fn a_full_pool_evicts_its_cheapest_leaves_for_better_payers() {
    let chain = funded(6);
    let size = spend(genesis_coin(&chain, 0), coins(10), 1, 0).encoded_len();
    let mut pool = Mempool::with_policy(MempoolPolicy {
        max_bytes: 3 * size,
        ..MempoolPolicy::default()
    });
    let fees = [300u64, 100, 200];
    let ids: Vec<Txid> = fees
        .iter()
        .enumerate()
        .map(|(i, &fee)| {
            pool.add(
                spend(genesis_coin(&chain, i as u32), coins(10), 1, fee),
                &chain,
            )
            .expect("fits")
        })
        .collect();
    assert_eq!(pool.bytes(), 3 * size);
    // Paying less than everything in a full pool: refused, nothing evicted.
    assert_eq!(
        pool.add(spend(genesis_coin(&chain, 3), coins(10), 1, 50), &chain),
        Err(MempoolError::PoolFull {
            max_bytes: 3 * size
        })
    );
    assert_eq!(pool.len(), 3);
    // Paying more evicts the cheapest (fee 100).
    let better = pool
        .add(spend(genesis_coin(&chain, 4), coins(10), 1, 400), &chain)
        .expect("evicts the cheapest");
    assert!(!pool.contains(&ids[1]));
    assert!(pool.contains(&ids[0]) && pool.contains(&ids[2]) && pool.contains(&better));
    assert!(pool.bytes() <= 3 * size);
    // A parent with a child is not a leaf: the cheapest leaf goes instead.
    let child = spend(
        pool.get(&ids[2]).expect("in pool").outpoint(0),
        pool.get(&ids[2]).expect("in pool").outputs[0].amount,
        1,
        10_000,
    );
    pool.add(child, &chain).expect("evicts a leaf");
    assert!(
        pool.contains(&ids[2]),
        "the parent of a pool transaction stays"
    );
    assert!(pool.bytes() <= 3 * size);
}

#[test]
fn a_template_from_4000_chained_transactions_takes_every_package_in_order() {
    // 160 chains of 25 unconfirmed transactions (the most the policy allows), fees rising
    // along each chain, so that packages matter: the template takes all 4,000, each after
    // its parent. (Before package selection and chain limits, a 4,000-transaction chain was
    // accepted and its template took 1.5 s; `cargo bench --bench ledger -- template` times
    // this one.)
    let chains = 160;
    let chain = funded(chains);
    let mut pool = Mempool::new();
    let mut position = std::collections::HashMap::new();
    for c in 0..chains {
        let mut from = genesis_coin(&chain, c as u32);
        let mut value = coins(10);
        for depth in 0..25u64 {
            let tx = spend(from, value, 1, 100 + depth * 10 + c as u64);
            from = tx.outpoint(0);
            value = tx.outputs[0].amount;
            position.insert(tx.txid(), (c, depth));
            pool.add(tx, &chain).expect("within the limits");
        }
    }
    assert_eq!(pool.len(), 4_000);
    let selected = pool.select(&chain.utxo_set().unwrap(), usize::MAX, usize::MAX);
    assert_eq!(selected.len(), 4_000);
    let mut next_depth = vec![0u64; chains];
    for (tx, _) in &selected {
        let (c, depth) = position[&tx.txid()];
        assert_eq!(depth, next_depth[c], "chain {c} out of order");
        next_depth[c] += 1;
    }
    // The best package goes first: the last chain pays the most at every depth.
    assert_eq!(position[&selected[0].0.txid()], (chains - 1, 0));
}
