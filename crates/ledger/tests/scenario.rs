//! The original project's scenario, which its README reports broken: ten wallets with 10 coins
//! each, four payments (one of a wallet's entire balance, at zero fee), one block.

mod common;

use ann_ledger::{Amount, Chain, ImportOutcome, Mempool, Wallet};
use common::{VERIFIER, coins, mine, now, params_funding, wallet};

#[test]
fn ten_wallets_four_payments_one_block() {
    let wallets: Vec<Wallet> = (0..10).map(wallet).collect();
    let miner = wallet(100);
    let refs: Vec<&Wallet> = wallets.iter().collect();
    let mut chain = Chain::new(params_funding(&refs, 10)).expect("genesis");
    assert_eq!(
        chain.total_supply().unwrap(),
        u128::from(coins(100).to_base_units())
    );

    let mut mempool = Mempool::new();
    let payments = [(0, 2, 3), (2, 3, 2), (4, 3, 1), (5, 4, 10)];
    for (from, to, amount) in payments {
        let tx = wallets[from]
            .pay(
                &chain,
                Some(&mempool),
                wallets[to].address(),
                coins(amount),
                Amount::ZERO,
            )
            .expect("funds are sufficient");
        mempool
            .add(tx, &chain)
            .unwrap_or_else(|e| panic!("payment {from}->{to} ({amount}) must be valid: {e}"));
    }
    assert_eq!(mempool.len(), 4, "all four payments are valid");

    let block = mine(&chain, &mempool, &miner, 1);
    assert_eq!(
        block.transactions.len(),
        5,
        "coinbase and the four payments"
    );
    let outcome = chain
        .submit_block(block.clone(), now(), &VERIFIER)
        .expect("valid block");
    assert_eq!(outcome, ImportOutcome::Extended);
    mempool.remove_for_block(&block);
    assert!(mempool.is_empty());

    let expected = [7, 10, 11, 13, 19, 0, 10, 10, 10, 10];
    for (index, (w, want)) in wallets.iter().zip(expected).enumerate() {
        assert_eq!(
            w.balance(&chain).unwrap(),
            coins(want),
            "balance of wallet {index}"
        );
    }
    let reward = chain.params().subsidy(1);
    assert_eq!(reward, coins(10));
    assert_eq!(miner.balance(&chain).unwrap(), reward);
    assert_eq!(
        chain.total_supply().unwrap(),
        u128::from(coins(100).to_base_units() + reward.to_base_units()),
        "total supply = genesis allocations + block reward"
    );
    assert_eq!(
        chain.rebuild_utxo_set().expect("replay"),
        chain.utxo_set().unwrap()
    );
}
