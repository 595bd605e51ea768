//! Fork choice, reorganisation, invalid branches and persistence through `ChainStore`.

mod common;

use std::convert::Infallible;

use ann_ledger::{
    Amount, Block, BlockError, BlockHash, BlockHeader, BlockMeta, BlockUndo, Chain, ChainError,
    ChainParams, ChainStore, ChangeSet, ImportOutcome, MemoryChainStore, OutPoint, Transaction,
    TxOut, UtxoEntry, Wallet,
};
use common::{VERIFIER, child_of, coins, now, params_funding, wallet};

struct Setup {
    params: ChainParams,
    genesis: BlockHeader,
    miner_a: Wallet,
    miner_b: Wallet,
}

fn setup() -> Setup {
    let funded: Vec<Wallet> = (0..3).map(wallet).collect();
    let refs: Vec<&Wallet> = funded.iter().collect();
    let params = params_funding(&refs, 10);
    let genesis = params.genesis_block().header;
    Setup {
        params,
        genesis,
        miner_a: wallet(100),
        miner_b: wallet(101),
    }
}

fn pay_from_genesis(params: &ChainParams, from: u8, to: &Wallet, amount: u64) -> Transaction {
    let coin = params.genesis_block().transactions[0].outpoint(u32::from(from));
    let key = ed25519_dalek::SigningKey::from_bytes(&[from; 32]);
    Transaction::new_signed(
        &[(coin, &key)],
        vec![
            TxOut {
                amount: coins(amount),
                address: to.address(),
            },
            TxOut {
                amount: coins(10 - amount),
                address: wallet(from).address(),
            },
        ],
    )
}

#[test]
fn heavier_branch_wins_and_utxo_set_matches_a_fresh_replay() {
    let s = setup();
    let mut chain = Chain::new(s.params.clone()).expect("genesis");

    // Branch A: wallet 0 pays wallet 1; branch B: wallet 0 pays wallet 2 (conflicting).
    let a1 = child_of(
        &s.genesis,
        vec![pay_from_genesis(&s.params, 0, &wallet(1), 3)],
        &s.miner_a,
        1,
    );
    let a2 = child_of(&a1.header, vec![], &s.miner_a, 2);
    let b1 = child_of(
        &s.genesis,
        vec![pay_from_genesis(&s.params, 0, &wallet(2), 4)],
        &s.miner_b,
        3,
    );
    let b2 = child_of(&b1.header, vec![], &s.miner_b, 4);
    let b3 = child_of(
        &b2.header,
        vec![pay_from_genesis(&s.params, 1, &wallet(2), 5)],
        &s.miner_b,
        5,
    );

    assert_eq!(
        chain
            .submit_block(a1.clone(), now(), &VERIFIER)
            .expect("a1"),
        ImportOutcome::Extended
    );
    assert_eq!(
        chain
            .submit_block(a2.clone(), now(), &VERIFIER)
            .expect("a2"),
        ImportOutcome::Extended
    );
    assert_eq!(
        chain
            .submit_block(b1.clone(), now(), &VERIFIER)
            .expect("b1"),
        ImportOutcome::SideBranch
    );
    // Equal work: the branch seen first keeps the tip.
    assert_eq!(
        chain
            .submit_block(b2.clone(), now(), &VERIFIER)
            .expect("b2"),
        ImportOutcome::SideBranch
    );
    assert_eq!(chain.tip(), a2.hash());
    assert_eq!(
        chain
            .submit_block(a2.clone(), now(), &VERIFIER)
            .expect("known"),
        ImportOutcome::AlreadyKnown
    );

    let outcome = chain
        .submit_block(b3.clone(), now(), &VERIFIER)
        .expect("b3");
    assert_eq!(
        outcome,
        ImportOutcome::Reorganized {
            disconnected: vec![a2.hash(), a1.hash()],
            connected: vec![b1.hash(), b2.hash(), b3.hash()],
        }
    );
    assert_eq!(chain.tip(), b3.hash());
    assert_eq!(chain.height(), 3);
    assert!(
        chain.tip_work()
            > chain
                .block_meta(&a2.hash())
                .unwrap()
                .expect("known")
                .cumulative_work
    );

    // The UTXO set equals the one built from scratch on the winning branch.
    let mut fresh = Chain::new(s.params.clone()).expect("genesis");
    for block in [&b1, &b2, &b3] {
        fresh
            .submit_block(block.clone(), now(), &VERIFIER)
            .expect("winning branch is valid");
    }
    assert_eq!(chain.utxo_set().unwrap(), fresh.utxo_set().unwrap());
    assert_eq!(
        chain.rebuild_utxo_set().expect("replay"),
        chain.utxo_set().unwrap()
    );
    assert_eq!(wallet(1).balance(&chain).unwrap(), coins(5));
    assert_eq!(wallet(2).balance(&chain).unwrap(), coins(19));
    assert_eq!(s.miner_a.balance(&chain).unwrap(), Amount::ZERO);
    assert_eq!(s.miner_b.balance(&chain).unwrap(), coins(30));
    assert_eq!(
        chain.total_supply().unwrap(),
        u128::from(coins(60).to_base_units())
    );

    // And back: branch A grows heavier again.
    let a3 = child_of(&a2.header, vec![], &s.miner_a, 6);
    let a4 = child_of(&a3.header, vec![], &s.miner_a, 7);
    chain.submit_block(a3, now(), &VERIFIER).expect("a3");
    let outcome = chain
        .submit_block(a4.clone(), now(), &VERIFIER)
        .expect("a4");
    assert!(
        matches!(outcome, ImportOutcome::Reorganized { ref disconnected, .. } if disconnected.len() == 3)
    );
    assert_eq!(chain.tip(), a4.hash());
    assert_eq!(
        chain.rebuild_utxo_set().expect("replay"),
        chain.utxo_set().unwrap()
    );
    assert_eq!(wallet(1).balance(&chain).unwrap(), coins(13));
}

#[test]
fn heavier_branch_with_an_invalid_block_is_marked_invalid() {
    let s = setup();
    let mut chain = Chain::new(s.params.clone()).expect("genesis");
    let a1 = child_of(
        &s.genesis,
        vec![pay_from_genesis(&s.params, 0, &wallet(1), 3)],
        &s.miner_a,
        1,
    );
    chain
        .submit_block(a1.clone(), now(), &VERIFIER)
        .expect("a1");
    let before = chain.utxo_set().unwrap().clone();

    // b1 spends an output that exists only on branch A: fine on its own, invalid once connected.
    let a1_payment = a1.transactions[1].outpoint(0);
    let spend = Transaction::new_signed(
        &[(a1_payment, &ed25519_dalek::SigningKey::from_bytes(&[1; 32]))],
        vec![TxOut {
            amount: coins(3),
            address: wallet(2).address(),
        }],
    );
    let b1 = child_of(&s.genesis, vec![spend], &s.miner_b, 2);
    let b2 = child_of(&b1.header, vec![], &s.miner_b, 3);
    let b3 = child_of(&b2.header, vec![], &s.miner_b, 4);
    assert_eq!(
        chain
            .submit_block(b1.clone(), now(), &VERIFIER)
            .expect("b1"),
        ImportOutcome::SideBranch
    );
    match chain.submit_block(b2.clone(), now(), &VERIFIER) {
        Err(ChainError::InvalidBlock { hash, source }) => {
            assert_eq!(
                hash,
                b1.hash(),
                "the error names the block that broke the rule"
            );
            assert_eq!(
                source.transaction_error(),
                Some(&ann_ledger::TxError::UnknownInput {
                    input: 0,
                    outpoint: a1_payment
                })
            );
        }
        other => panic!("expected the branch to be rejected, got {other:?}"),
    }
    assert_eq!(chain.tip(), a1.hash());
    assert_eq!(chain.utxo_set().unwrap(), before);
    for hash in [b1.hash(), b2.hash()] {
        assert_eq!(
            chain.block_meta(&hash).unwrap().expect("kept").status,
            ann_ledger::BlockStatus::Invalid
        );
    }
    let again = chain
        .submit_block(b2.clone(), now(), &VERIFIER)
        .expect_err("known invalid");
    assert!(
        matches!(again.block_error(), Some(BlockError::KnownInvalid(h)) if *h == b2.hash()),
        "{again}"
    );
    let error = chain
        .submit_block(b3, now(), &VERIFIER)
        .expect_err("invalid parent");
    assert!(
        matches!(error.block_error(), Some(BlockError::InvalidParent(parent)) if *parent == b2.hash()),
        "{error}"
    );
}

#[test]
fn reopened_store_resumes_exactly() {
    let s = setup();
    let mut chain = Chain::open(s.params.clone(), MemoryChainStore::new()).expect("genesis");
    let a1 = child_of(
        &s.genesis,
        vec![pay_from_genesis(&s.params, 0, &wallet(1), 3)],
        &s.miner_a,
        1,
    );
    let b1 = child_of(&s.genesis, vec![], &s.miner_b, 2);
    let b2 = child_of(
        &b1.header,
        vec![pay_from_genesis(&s.params, 2, &wallet(0), 1)],
        &s.miner_b,
        3,
    );
    let c2 = child_of(&b1.header, vec![], &s.miner_a, 4);
    for block in [&a1, &b1, &b2, &c2] {
        chain
            .submit_block(block.clone(), now(), &VERIFIER)
            .expect("valid");
    }
    assert_eq!(chain.tip(), b2.hash());
    assert_eq!(
        chain.store().commit_count(),
        5,
        "genesis + one change-set per import"
    );

    let reopened = Chain::open(s.params.clone(), chain.store().clone()).expect("resume");
    assert_eq!(reopened.tip(), chain.tip());
    assert_eq!(reopened.best_chain().unwrap(), chain.best_chain().unwrap());
    assert_eq!(reopened.utxo_set().unwrap(), chain.utxo_set().unwrap());
    assert_eq!(reopened.block_count().unwrap(), 5);
    for hash in [a1.hash(), b1.hash(), b2.hash(), c2.hash()] {
        assert_eq!(
            reopened.block_meta(&hash).unwrap(),
            chain.block_meta(&hash).unwrap()
        );
    }

    // The resumed chain keeps working: a heavier branch on c2 reorganises it.
    let mut reopened = reopened;
    let c3 = child_of(&c2.header, vec![], &s.miner_a, 5);
    let outcome = reopened
        .submit_block(c3.clone(), now(), &VERIFIER)
        .expect("c3");
    assert_eq!(
        outcome,
        ImportOutcome::Reorganized {
            disconnected: vec![b2.hash()],
            connected: vec![c2.hash(), c3.hash()]
        }
    );
    assert_eq!(
        reopened.rebuild_utxo_set().expect("replay"),
        reopened.utxo_set().unwrap()
    );
    let again = Chain::open(s.params.clone(), reopened.store().clone()).expect("resume");
    assert_eq!(again.utxo_set().unwrap(), reopened.utxo_set().unwrap());

    // Another chain's parameters do not open this store.
    let other = params_funding(&[&wallet(9)], 1);
    assert!(matches!(
        Chain::open(other, reopened.into_store()),
        Err(ChainError::GenesisMismatch { .. })
    ));
}

/// A store that fails its next commit on request.
#[derive(Default)]
struct FlakyStore {
    inner: MemoryChainStore,
    fail_next: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("disk full")]
struct DiskFull;

impl ChainStore for FlakyStore {
    type Error = DiskFull;
    type Attachment = ();
    fn commit(&mut self, changes: &ChangeSet, _: Option<&()>) -> Result<(), DiskFull> {
        if std::mem::take(&mut self.fail_next) {
            return Err(DiskFull);
        }
        let Ok(()) = self.inner.commit(changes, None);
        Ok(())
    }
    fn tip(&self) -> Result<Option<BlockHash>, DiskFull> {
        Ok(ok(self.inner.tip()))
    }
    fn block(&self, hash: &BlockHash) -> Result<Option<Block>, DiskFull> {
        Ok(ok(self.inner.block(hash)))
    }
    fn meta(&self, hash: &BlockHash) -> Result<Option<BlockMeta>, DiskFull> {
        Ok(ok(self.inner.meta(hash)))
    }
    fn undo(&self, hash: &BlockHash) -> Result<Option<BlockUndo>, DiskFull> {
        Ok(ok(self.inner.undo(hash)))
    }
    fn best_hash(&self, height: u64) -> Result<Option<BlockHash>, DiskFull> {
        Ok(ok(self.inner.best_hash(height)))
    }
    fn blocks_from_height(&self, height: u64) -> Result<Vec<BlockHash>, DiskFull> {
        Ok(ok(self.inner.blocks_from_height(height)))
    }
    fn block_count(&self) -> Result<u64, DiskFull> {
        Ok(ok(self.inner.block_count()))
    }
    fn utxo(&self, outpoint: &OutPoint) -> Result<Option<UtxoEntry>, DiskFull> {
        Ok(ok(self.inner.utxo(outpoint)))
    }
    fn for_each_utxo(&self, visit: &mut dyn FnMut(&OutPoint, &UtxoEntry)) -> Result<(), DiskFull> {
        ok(self.inner.for_each_utxo(visit));
        Ok(())
    }
}

fn ok<T>(result: Result<T, Infallible>) -> T {
    let Ok(value) = result;
    value
}

#[test]
fn failed_commit_leaves_the_chain_unchanged() {
    let s = setup();
    let mut chain = Chain::open(s.params.clone(), FlakyStore::default()).expect("genesis");
    let a1 = child_of(&s.genesis, vec![], &s.miner_a, 1);
    let b1 = child_of(
        &s.genesis,
        vec![pay_from_genesis(&s.params, 0, &wallet(1), 3)],
        &s.miner_b,
        2,
    );
    let b2 = child_of(&b1.header, vec![], &s.miner_b, 3);
    chain
        .submit_block(a1.clone(), now(), &VERIFIER)
        .expect("a1");
    chain
        .submit_block(b1.clone(), now(), &VERIFIER)
        .expect("b1");
    let utxos = chain.utxo_set().unwrap().clone();

    // The reorganising import fails to persist: memory stays as it was.
    let mut flaky = chain;
    set_fail(&mut flaky);
    assert!(matches!(
        flaky.submit_block(b2.clone(), now(), &VERIFIER),
        Err(ChainError::Store(_))
    ));
    assert_eq!(flaky.tip(), a1.hash());
    assert_eq!(flaky.utxo_set().unwrap(), utxos);
    assert!(flaky.block(&b2.hash()).unwrap().is_none());

    // Retried, it succeeds, and what was persisted matches memory.
    flaky
        .submit_block(b2.clone(), now(), &VERIFIER)
        .expect("retry");
    assert_eq!(flaky.tip(), b2.hash());
    let store = flaky.into_store();
    let reopened = Chain::open(s.params.clone(), store).expect("resume");
    assert_eq!(reopened.tip(), b2.hash());
    assert_eq!(
        reopened.rebuild_utxo_set().expect("replay"),
        reopened.utxo_set().unwrap()
    );
    let spent: OutPoint = s.params.genesis_block().transactions[0].outpoint(0);
    assert!(reopened.utxo_set().unwrap().get(&spent).is_none());
}

fn set_fail(chain: &mut Chain<FlakyStore>) {
    // The chain owns its store; rebuild it around a store told to fail once.
    let params = chain.params().clone();
    let mut store = std::mem::replace(
        chain,
        Chain::open(params.clone(), FlakyStore::default()).expect("scratch"),
    )
    .into_store();
    store.fail_next = true;
    *chain = Chain::open(params, store).expect("resume");
}

#[test]
fn block_with_a_chain_of_spends_is_reverted_exactly() {
    let s = setup();
    let mut chain = Chain::new(s.params.clone()).expect("genesis");
    let parent = pay_from_genesis(&s.params, 0, &wallet(1), 3);
    let child = Transaction::new_signed(
        &[(
            parent.outpoint(0),
            &ed25519_dalek::SigningKey::from_bytes(&[1; 32]),
        )],
        vec![TxOut {
            amount: coins(3),
            address: wallet(2).address(),
        }],
    );
    let a1 = child_of(&s.genesis, vec![parent, child], &s.miner_a, 1);
    chain
        .submit_block(a1.clone(), now(), &VERIFIER)
        .expect("a chain inside one block is valid");
    assert_eq!(wallet(2).balance(&chain).unwrap(), coins(13));

    let b1 = child_of(&s.genesis, vec![], &s.miner_b, 2);
    let b2 = child_of(&b1.header, vec![], &s.miner_b, 3);
    chain
        .submit_block(b1.clone(), now(), &VERIFIER)
        .expect("b1");
    let outcome = chain
        .submit_block(b2.clone(), now(), &VERIFIER)
        .expect("b2");
    assert_eq!(
        outcome,
        ImportOutcome::Reorganized {
            disconnected: vec![a1.hash()],
            connected: vec![b1.hash(), b2.hash()]
        }
    );
    let mut fresh = Chain::new(s.params.clone()).expect("genesis");
    for block in [b1, b2] {
        fresh.submit_block(block, now(), &VERIFIER).expect("valid");
    }
    assert_eq!(chain.utxo_set().unwrap(), fresh.utxo_set().unwrap());
    let reopened = Chain::open(s.params.clone(), chain.store().clone()).expect("resume");
    assert_eq!(reopened.utxo_set().unwrap(), fresh.utxo_set().unwrap());
}
