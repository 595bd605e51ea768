//! A long chain: import cost and memory do not grow with its length, reopening reads a bounded
//! amount, and reorganisations near the tip still work after reopening; a branch that leaves
//! the best chain below the finalized height is refused.
//!
//! Cost is counted, not timed: the store queries each import makes (a [`CountingStore`]) and
//! the blocks the chain holds in memory. The time per block is printed for the record; the
//! `chain-scale` example and the `store` bench measure it.

mod common;

use std::time::Instant;

use ann_ledger::{
    Block, BlockError, BlockHash, Chain, ChainError, ChainParams, ChainStore, CountingStore,
    ImportOutcome, MemoryChainStore, Wallet,
};
use common::{VERIFIER, child_of, grind, params_funding, wallet};

/// Far enough after every test block (blocks are 600 s apart).
const NOW: u64 = common::GENESIS_TIME + 1_000_000_000;

/// A coinbase-only block on `parent` (ground to beat the target).
fn empty_on<S: ChainStore>(
    chain: &Chain<S>,
    parent: &BlockHash,
    miner: &Wallet,
    salt: u8,
) -> Block {
    let header = chain
        .header(parent)
        .expect("chain store")
        .expect("known parent");
    let mut block = child_of(&header, Vec::new(), miner, salt);
    grind(&mut block);
    block
}

fn extend<S: ChainStore>(chain: &mut Chain<S>, miner: &Wallet, salt: u8) -> BlockHash {
    let block = empty_on(chain, &chain.tip(), miner, salt);
    let hash = block.hash();
    assert_eq!(
        chain
            .submit_block(block, NOW, &VERIFIER)
            .expect("chain store"),
        ImportOutcome::Extended
    );
    hash
}

fn opened(params: &ChainParams, store: MemoryChainStore) -> Chain<CountingStore<MemoryChainStore>> {
    Chain::open(params.clone(), CountingStore::new(store)).expect("chain store")
}

#[test]
fn a_chain_of_100_000_blocks_imports_at_a_flat_cost_and_reopens_reading_a_bounded_amount() {
    const BLOCKS: usize = 100_000;
    let miner = wallet(1);
    let params = params_funding(&[&miner], 10);
    let depth = params.max_reorg_depth;
    let mut chain = opened(&params, MemoryChainStore::new());
    let mut reads = Vec::with_capacity(BLOCKS);
    let mut nanos = Vec::with_capacity(BLOCKS);
    let mut short_chain_open_reads = None;
    for i in 1..=BLOCKS {
        let block = empty_on(&chain, &chain.tip(), &miner, (i % 251) as u8);
        let before = chain.store().reads();
        let started = Instant::now();
        let outcome = chain.submit_block(block, NOW, &VERIFIER).unwrap();
        nanos.push(started.elapsed().as_nanos());
        reads.push(chain.store().reads() - before);
        assert_eq!(outcome, ImportOutcome::Extended);
        assert!(chain.non_finalized_count() <= depth as usize + 1);
        if i == 1_000 {
            let copy = chain.store().inner().clone();
            short_chain_open_reads = Some(opened(&params, copy).store().reads());
        }
    }
    assert_eq!(chain.height(), BLOCKS as u64);
    assert_eq!(chain.finalized_height(), BLOCKS as u64 - depth);
    assert_eq!(chain.non_finalized_count(), depth as usize + 1);

    // Flat: no import of the last 10,000 reads more of the store than the imports between
    // 1,000 and 10,000 did (the window is full from height `depth` on).
    let early = reads[1_000..10_000].iter().max().copied().unwrap();
    let late = reads[BLOCKS - 10_000..].iter().max().copied().unwrap();
    assert!(
        late <= early,
        "imports read {late} records late, {early} early"
    );
    let mean = |range: &[u128]| range.iter().sum::<u128>() as f64 / range.len() as f64 / 1e3;
    let (first, last) = (mean(&nanos[..10_000]), mean(&nanos[BLOCKS - 10_000..]));
    eprintln!(
        "per block: {first:.1} µs in the first 10,000, {last:.1} µs in the last 10,000 \
         (ratio {:.2}); {early} store reads each",
        last / first
    );

    // Reopening reads the window, however long the chain: the same as at 1,000 blocks.
    let reopened = opened(&params, chain.into_store().into_inner());
    let open_reads = reopened.store().reads();
    assert_eq!(Some(open_reads), short_chain_open_reads);
    assert!(
        open_reads <= 4 * (depth + 1) + 8,
        "{open_reads} reads to open"
    );
    let mut chain = reopened;
    assert_eq!(chain.height(), BLOCKS as u64);
    assert_eq!(chain.finalized_height(), BLOCKS as u64 - depth);

    // A reorganisation near the tip after reopening: two blocks on the tip's parent.
    let old_tip = chain.tip();
    let fork = chain.best_hash(chain.height() - 1).unwrap().unwrap();
    let side1 = empty_on(&chain, &fork, &wallet(2), 1);
    let side1_hash = side1.hash();
    assert_eq!(
        chain.submit_block(side1, NOW, &VERIFIER).unwrap(),
        ImportOutcome::SideBranch
    );
    let side2 = empty_on(&chain, &side1_hash, &wallet(2), 2);
    let side2_hash = side2.hash();
    assert_eq!(
        chain.submit_block(side2, NOW, &VERIFIER).unwrap(),
        ImportOutcome::Reorganized {
            disconnected: vec![old_tip],
            connected: vec![side1_hash, side2_hash],
        }
    );
    assert_eq!(chain.height(), BLOCKS as u64 + 1);
    assert!(!chain.is_on_best_chain(&old_tip).unwrap());
    // The coinbase of the disconnected tip left the UTXO set, the new ones are in it.
    assert_eq!(chain.outputs_of(&wallet(2).address()).unwrap().len(), 2);
    let supply = 10 * 100_000_000u128 * (BLOCKS as u128 + 2);
    assert_eq!(chain.total_supply().unwrap(), supply);
}

#[test]
fn a_branch_leaving_the_best_chain_below_the_finalized_height_is_refused() {
    let miner = wallet(1);
    let mut params = params_funding(&[&miner], 10);
    params.max_reorg_depth = 5;
    let mut chain = Chain::new(params).unwrap();
    for salt in 0..10 {
        extend(&mut chain, &miner, salt);
    }
    assert_eq!(chain.finalized_height(), 5);
    // A side block on height 6: its branch forks at 6, above the finalized height.
    let at6 = chain.best_hash(6).unwrap().unwrap();
    let side = empty_on(&chain, &at6, &wallet(2), 1);
    let side_hash = side.hash();
    assert_eq!(
        chain.submit_block(side, NOW, &VERIFIER).unwrap(),
        ImportOutcome::SideBranch
    );
    // Two more blocks finalize height 7: the side branch now forks below it.
    extend(&mut chain, &miner, 20);
    extend(&mut chain, &miner, 21);
    assert_eq!(chain.finalized_height(), 7);
    let child = empty_on(&chain, &side_hash, &wallet(2), 2);
    let count = chain.block_count().unwrap();
    let refused = chain.submit_block(child, NOW, &VERIFIER).unwrap_err();
    assert!(
        matches!(
            refused.block_error(),
            Some(BlockError::ForksBelowFinality {
                finalized: 7,
                depth: 5
            })
        ),
        "{refused}"
    );
    // A block on a finalized best block: its parent is no longer in memory.
    let at4 = chain.best_hash(4).unwrap().unwrap();
    let deep = empty_on(&chain, &at4, &wallet(2), 3);
    assert!(matches!(
        chain.submit_block(deep, NOW, &VERIFIER),
        Err(ChainError::InvalidBlock { source, .. })
            if matches!(*source, BlockError::TooLittleWork { .. } | BlockError::ForksBelowFinality { .. })
    ));
    assert_eq!(
        chain.block_count().unwrap(),
        count,
        "refused blocks are not stored"
    );
}
