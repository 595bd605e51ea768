//! `replay`: a chain re-validated from genesis, and each way a list of blocks can fail to be
//! one valid chain.

mod common;

use ann_ledger::replay::replay;
use ann_ledger::{Block, BlockError, Chain, ChainParams, Mempool, ReplayError};
use common::{VERIFIER, mine, now, params_funding, wallet};

fn chain_of(len: u8) -> (ChainParams, Vec<Block>) {
    let funded = wallet(1);
    let params = params_funding(&[&funded], 10);
    let mut chain = Chain::new(params.clone()).expect("valid parameters");
    for salt in 0..len {
        let block = mine(&chain, &Mempool::new(), &wallet(2), salt);
        chain
            .submit_block(block, now(), &VERIFIER)
            .expect("valid block");
    }
    let blocks = chain
        .best_blocks()
        .collect::<Result<_, _>>()
        .expect("store");
    (params, blocks)
}

#[test]
fn a_valid_chain_replays_to_the_same_tip_and_utxo_set() {
    let (params, blocks) = chain_of(5);
    let mut seen = Vec::new();
    let fresh = replay(&params, &blocks, &VERIFIER, now(), |b| seen.push(b.hash()))
        .expect("a valid chain replays");
    assert_eq!(fresh.tip(), blocks[5].hash());
    let expected: Vec<_> = blocks[1..].iter().map(Block::hash).collect();
    assert_eq!(
        seen, expected,
        "on_block sees every block past genesis, in order"
    );
    assert_eq!(
        fresh.rebuild_utxo_set().expect("consistent"),
        fresh.utxo_set().unwrap()
    );
}

#[test]
fn each_broken_list_gets_its_own_error() {
    let (params, blocks) = chain_of(3);

    let empty: [Block; 0] = [];
    assert!(matches!(
        replay(&params, &empty, &VERIFIER, now(), |_| {}),
        Err(ReplayError::Empty)
    ));

    let other = params_funding(&[&wallet(9)], 10);
    assert!(matches!(
        replay(&other, &blocks, &VERIFIER, now(), |_| {}),
        Err(ReplayError::WrongGenesis { found, .. }) if found == blocks[0].hash()
    ));

    let twice = [&blocks[0], &blocks[1], &blocks[1]];
    assert!(matches!(
        replay(&params, twice, &VERIFIER, now(), |_| {}),
        Err(ReplayError::Duplicate { height: 1, .. })
    ));

    // A gap: block 2 is missing, so block 3's parent is unknown.
    let gap = [&blocks[0], &blocks[1], &blocks[3]];
    match replay(&params, gap, &VERIFIER, now(), |_| {}) {
        Err(ReplayError::Rejected {
            height: 3, source, ..
        }) => {
            assert!(matches!(
                source.block_error(),
                Some(BlockError::UnknownParent(_))
            ));
        }
        other => panic!("expected block 3 rejected, got {other:?}"),
    }

    // A sibling of block 1 with no more work: valid, but not the tip.
    let chain = Chain::new(params.clone()).expect("valid parameters");
    let sibling = mine(&chain, &Mempool::new(), &wallet(3), 200);
    let forked = [&blocks[0], &blocks[1], &sibling];
    assert!(matches!(
        replay(&params, forked, &VERIFIER, now(), |_| {}),
        Err(ReplayError::NotExtending { height: 1, hash, .. }) if hash == sibling.hash()
    ));

    // A block whose proof the verifier refuses.
    let mut bad = blocks.clone();
    bad[2].header.training.steps = 0;
    let bad_hash = bad[2].hash();
    match replay(&params, &bad[..3], &VERIFIER, now(), |_| {}) {
        Err(ReplayError::Rejected {
            height: 2,
            hash,
            source,
        }) => {
            assert_eq!(hash, bad_hash);
            assert!(matches!(source.block_error(), Some(BlockError::Proof(_))));
        }
        other => panic!("expected block 2 rejected for its proof, got {other:?}"),
    }
}
