//! One test per consensus rule, each showing the rule's specific error.

mod common;

use std::cell::Cell;

use ann_ledger::validation::{check_block_inputs, check_transaction_inputs};
use ann_ledger::{
    Amount, Block, BlockError, BlockHeader, Chain, ChainError, ChainParams, CompactTarget,
    ImportOutcome, MAX_SUPPLY, Mempool, MempoolError, OutPoint, ProofVerifier, Transaction,
    TxError, TxOut, Txid, UtxoEntry, UtxoSet, Wallet, Witness, merkle_root,
};
use common::{
    BLOCK_INTERVAL, TEST_TASK, TestProofError, TestProofVerifier, VERIFIER, coins, commitment,
    mine, now, params_funding, wallet,
};

struct Fixture {
    chain: Chain,
    wallets: Vec<Wallet>,
    miner: Wallet,
}

fn fixture() -> Fixture {
    let wallets: Vec<Wallet> = (0..4).map(wallet).collect();
    let refs: Vec<&Wallet> = wallets.iter().collect();
    let chain = Chain::new(params_funding(&refs, 10)).expect("genesis");
    Fixture {
        chain,
        wallets,
        miner: wallet(100),
    }
}

impl Fixture {
    /// The genesis output of wallet `i`.
    fn genesis_coin(&self, i: usize) -> OutPoint {
        let genesis = self
            .chain
            .block_at(0)
            .expect("chain store")
            .expect("genesis");
        genesis.transactions[0].outpoint(u32::try_from(i).expect("small"))
    }

    /// A signed payment of `amount` from wallet `from`'s genesis coin to wallet `to`, with
    /// change back.
    fn payment(&self, from: usize, to: usize, amount: u64) -> Transaction {
        let key = ed25519_dalek::SigningKey::from_bytes(&[u8::try_from(from).expect("small"); 32]);
        let mut outputs = vec![TxOut {
            amount: coins(amount),
            address: self.wallets[to].address(),
        }];
        if amount < 10 {
            outputs.push(TxOut {
                amount: coins(10 - amount),
                address: self.wallets[from].address(),
            });
        }
        Transaction::new_signed(&[(self.genesis_coin(from), &key)], outputs)
    }

    /// A valid block on the tip holding `txs` (zero fees), ready to be tampered with.
    fn block(&self, txs: Vec<Transaction>) -> Block {
        let mut block = mine(&self.chain, &Mempool::new(), &self.miner, 1);
        block.transactions.extend(txs);
        reroot(&mut block);
        block
    }

    fn reject(&mut self, block: Block) -> BlockError {
        match self.chain.submit_block(block, now(), &VERIFIER) {
            Err(ChainError::InvalidBlock { source, .. }) => *source,
            other => panic!("expected a rejected block, got {other:?}"),
        }
    }

    fn reject_tx(&mut self, tx: Transaction) -> TxError {
        let block = self.block(vec![tx]);
        match self.reject(block) {
            BlockError::Transaction { index, source, .. } => {
                assert_eq!(index, 1);
                source
            }
            other => panic!("expected a transaction error, got {other:?}"),
        }
    }
}

fn reroot(block: &mut Block) {
    let txids: Vec<Txid> = block.transactions.iter().map(Transaction::txid).collect();
    block.header.merkle_root = merkle_root(&txids);
}

fn resign(tx: &mut Transaction, seed: u8) {
    use ed25519_dalek::Signer;
    let key = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
    let digest = tx.signing_digest();
    for input in &mut tx.inputs {
        input.witness = Witness::Ed25519 {
            key: key.verifying_key(),
            signature: key.sign(&digest),
        };
    }
}

#[test]
fn valid_block_is_accepted() {
    let mut f = fixture();
    let block = f.block(vec![f.payment(0, 1, 3)]);
    assert_eq!(
        f.chain
            .submit_block(block, now(), &VERIFIER)
            .expect("valid"),
        ImportOutcome::Extended
    );
}

#[test]
fn transaction_version() {
    let mut f = fixture();
    let mut tx = f.payment(0, 1, 3);
    tx.version = 3;
    resign(&mut tx, 0);
    assert_eq!(f.reject_tx(tx), TxError::UnsupportedVersion(3));
}

#[test]
fn transaction_without_outputs() {
    let mut f = fixture();
    let mut tx = f.payment(0, 1, 3);
    tx.outputs.clear();
    resign(&mut tx, 0);
    assert_eq!(f.reject_tx(tx), TxError::NoOutputs);
}

#[test]
fn zero_output() {
    let mut f = fixture();
    let mut tx = f.payment(0, 1, 3);
    tx.outputs[1].amount = Amount::ZERO;
    resign(&mut tx, 0);
    assert_eq!(f.reject_tx(tx), TxError::ZeroOutput { vout: 1 });
}

#[test]
fn overflowing_outputs() {
    let mut f = fixture();
    let mut tx = f.payment(0, 1, 3);
    tx.outputs[0].amount = Amount::MAX;
    tx.outputs[1].amount = Amount::MAX;
    resign(&mut tx, 0);
    assert_eq!(f.reject_tx(tx), TxError::OutputSumOverflow);
}

#[test]
fn height_outside_coinbase() {
    let mut f = fixture();
    let mut tx = f.payment(0, 1, 3);
    tx.coinbase_height = Some(1);
    resign(&mut tx, 0);
    assert_eq!(f.reject_tx(tx), TxError::HeightOutsideCoinbase(1));
}

#[test]
fn oversize_transaction() {
    let f = fixture();
    let key = ed25519_dalek::SigningKey::from_bytes(&[0; 32]);
    let dust = TxOut {
        amount: Amount::from_base_units(1).expect("1"),
        address: f.wallets[1].address(),
    };
    let tx = Transaction::new_signed(&[(f.genesis_coin(0), &key)], vec![dust; 200_100]);
    let size = tx.encoded_len();
    assert!(size > ann_ledger::MAX_BLOCK_SIZE);
    let mut mempool = Mempool::new();
    assert_eq!(
        mempool.add(tx, &f.chain),
        Err(MempoolError::Invalid(TxError::TooLarge(size)))
    );
}

#[test]
fn oversize_block() {
    let mut f = fixture();
    let key = ed25519_dalek::SigningKey::from_bytes(&[0; 32]);
    let dust = TxOut {
        amount: Amount::from_base_units(1).expect("1"),
        address: f.wallets[1].address(),
    };
    let big = Transaction::new_signed(&[(f.genesis_coin(0), &key)], vec![dust; 100_100]);
    let also_big = Transaction::new_signed(&[(f.genesis_coin(1), &key)], vec![dust; 100_100]);
    let block = f.block(vec![big, also_big]);
    let size = block.encoded_len();
    assert!(matches!(f.reject(block), BlockError::TooLarge(s) if s == size));
}

#[test]
fn duplicate_input_in_one_transaction() {
    let mut f = fixture();
    let mut tx = f.payment(0, 1, 3);
    tx.inputs.push(tx.inputs[0].clone());
    resign(&mut tx, 0);
    assert_eq!(f.reject_tx(tx), TxError::DuplicateInput(f.genesis_coin(0)));
}

#[test]
fn unknown_input() {
    let mut f = fixture();
    let key = ed25519_dalek::SigningKey::from_bytes(&[0; 32]);
    let missing = OutPoint {
        txid: Txid::from_bytes([9; 32]),
        vout: 0,
    };
    let tx = Transaction::new_signed(
        &[(missing, &key)],
        vec![TxOut {
            amount: coins(1),
            address: f.wallets[1].address(),
        }],
    );
    assert_eq!(
        f.reject_tx(tx),
        TxError::UnknownInput {
            input: 0,
            outpoint: missing
        }
    );
}

#[test]
fn already_spent_input() {
    let mut f = fixture();
    let first = f.block(vec![f.payment(0, 1, 3)]);
    f.chain
        .submit_block(first, now(), &VERIFIER)
        .expect("valid");
    let again = f.payment(0, 2, 4);
    assert_eq!(
        f.reject_tx(again),
        TxError::UnknownInput {
            input: 0,
            outpoint: f.genesis_coin(0)
        }
    );
}

#[test]
fn immature_coinbase() {
    let miner = wallet(100);
    let mut params = params_funding(&[&wallet(0)], 10);
    params.coinbase_maturity = 3;
    let mut chain = Chain::new(params).expect("genesis");
    let block = mine(&chain, &Mempool::new(), &miner, 1);
    let reward = block.transactions[0].outpoint(0);
    chain.submit_block(block, now(), &VERIFIER).expect("valid");
    let spend = Transaction::new_signed(
        &[(reward, &ed25519_dalek::SigningKey::from_bytes(&[100; 32]))],
        vec![TxOut {
            amount: coins(10),
            address: wallet(0).address(),
        }],
    );
    let mut mempool = Mempool::new();
    assert_eq!(
        mempool.add(spend.clone(), &chain),
        Err(MempoolError::Invalid(TxError::ImmatureCoinbase {
            input: 0,
            created: 1,
            spend_height: 2,
            maturity: 3
        }))
    );
    // Two blocks later (height 4 = 1 + 3) it is spendable.
    for salt in 2..4 {
        let block = mine(&chain, &Mempool::new(), &miner, salt);
        chain.submit_block(block, now(), &VERIFIER).expect("valid");
    }
    mempool.add(spend, &chain).expect("mature now");
}

#[test]
fn key_not_matching_address() {
    let mut f = fixture();
    // Wallet 1's key tries to spend wallet 0's coin.
    let thief = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
    let tx = Transaction::new_signed(
        &[(f.genesis_coin(0), &thief)],
        vec![TxOut {
            amount: coins(10),
            address: f.wallets[1].address(),
        }],
    );
    assert_eq!(
        f.reject_tx(tx),
        TxError::KeyMismatch {
            input: 0,
            key_address: f.wallets[1].address(),
            owner: f.wallets[0].address(),
        }
    );
}

#[test]
fn overflowing_inputs() {
    // No valid chain holds more than the maximum supply, so build the UTXO set by hand.
    let owner = wallet(0);
    let key = ed25519_dalek::SigningKey::from_bytes(&[0; 32]);
    let mut utxos = UtxoSet::new();
    let a = OutPoint {
        txid: Txid::from_bytes([1; 32]),
        vout: 0,
    };
    let b = OutPoint { vout: 1, ..a };
    for outpoint in [a, b] {
        utxos.insert(
            outpoint,
            UtxoEntry {
                output: TxOut {
                    amount: Amount::MAX,
                    address: owner.address(),
                },
                height: 0,
                is_coinbase: false,
            },
        );
    }
    let tx = Transaction::new_signed(
        &[(a, &key), (b, &key)],
        vec![TxOut {
            amount: coins(1),
            address: owner.address(),
        }],
    );
    assert_eq!(
        check_transaction_inputs(&tx, &utxos, 1, 0),
        Err(TxError::InputSumOverflow)
    );
}

#[test]
fn outputs_above_inputs() {
    let mut f = fixture();
    let mut tx = f.payment(0, 1, 3);
    tx.outputs[0].amount = coins(4);
    resign(&mut tx, 0);
    assert_eq!(
        f.reject_tx(tx),
        TxError::OutputsExceedInputs {
            inputs: coins(10),
            outputs: coins(11)
        }
    );
}

#[test]
fn bad_signature() {
    let mut f = fixture();
    let mut tx = f.payment(0, 1, 3);
    let Witness::Ed25519 { signature, .. } = &mut tx.inputs[0].witness else {
        panic!("an ed25519 payment")
    };
    let mut bytes = signature.to_bytes();
    bytes[0] ^= 1;
    *signature = ed25519_dalek::Signature::from_bytes(&bytes);
    assert_eq!(
        f.reject_tx(tx),
        TxError::BadSignature {
            input: 0,
            kind: ann_ledger::KeyKind::Ed25519
        }
    );
}

#[test]
fn signature_of_another_transaction() {
    let mut f = fixture();
    let mut tx = f.payment(0, 1, 3);
    let other = f.payment(0, 1, 4);
    tx.inputs[0].witness = other.inputs[0].witness.clone();
    assert_eq!(
        f.reject_tx(tx),
        TxError::BadSignature {
            input: 0,
            kind: ann_ledger::KeyKind::Ed25519
        }
    );
}

#[test]
fn block_version() {
    let mut f = fixture();
    let mut block = f.block(vec![]);
    block.header.version = 2;
    assert!(matches!(f.reject(block), BlockError::UnsupportedVersion(2)));
}

#[test]
fn unknown_parent() {
    let mut f = fixture();
    let mut block = f.block(vec![]);
    block.header.prev_hash = ann_ledger::BlockHash::from_bytes([3; 32]);
    assert!(matches!(f.reject(block), BlockError::UnknownParent(h) if h.as_bytes() == &[3; 32]));
}

#[test]
fn wrong_previous_hash_for_validation_on_tip() {
    let mut f = fixture();
    let genesis = f.chain.tip();
    let first = f.block(vec![]);
    f.chain
        .submit_block(first, now(), &VERIFIER)
        .expect("valid");
    let mut stale = f.block(vec![]);
    stale.header.prev_hash = genesis;
    let tip = f.chain.tip();
    assert!(matches!(
        f.chain.validate_block(&stale, now(), &VERIFIER).as_ref().map_err(ChainError::block_error),
        Err(Some(BlockError::WrongPrevHash { expected, found })) if *expected == tip && *found == genesis
    ));
}

#[test]
fn wrong_height() {
    let mut f = fixture();
    let mut block = f.block(vec![]);
    block.header.height = 5;
    assert!(matches!(
        f.reject(block),
        BlockError::WrongHeight {
            expected: 1,
            found: 5
        }
    ));
}

#[test]
fn wrong_target() {
    let mut f = fixture();
    let mut block = f.block(vec![]);
    let easy = CompactTarget::from_bits(CompactTarget::MAX.to_bits() - 1).expect("canonical");
    block.header.bits = easy;
    assert!(matches!(
        f.reject(block),
        BlockError::WrongTarget { found, .. } if found == easy
    ));
}

#[test]
fn timestamp_not_after_median() {
    let mut f = fixture();
    let mut block = f.block(vec![]);
    block.header.timestamp = common::GENESIS_TIME;
    assert!(matches!(
        f.reject(block),
        BlockError::TimestampTooOld { timestamp, median } if timestamp == median
    ));
}

#[test]
fn timestamp_too_far_ahead() {
    let mut f = fixture();
    let mut block = f.block(vec![]);
    let clock = common::GENESIS_TIME + BLOCK_INTERVAL;
    let drift = f.chain.params().difficulty.max_future_drift_secs;
    assert_eq!(drift, 7_200, "regtest keeps Bitcoin's two hours");
    block.header.timestamp = clock + drift + 1;
    let error = f
        .chain
        .submit_block(block.clone(), clock, &VERIFIER)
        .expect_err("too far ahead");
    assert!(
        matches!(error.block_error(), Some(BlockError::TimestampTooFarAhead { max, .. }) if *max == clock + drift),
        "{error}"
    );
    // Exactly at the limit is allowed.
    block.header.timestamp = clock + drift;
    f.chain
        .submit_block(block, clock, &VERIFIER)
        .expect("valid");
}

#[test]
fn missing_coinbase() {
    let mut f = fixture();
    let mut block = f.block(vec![f.payment(0, 1, 3)]);
    block.transactions.remove(0);
    reroot(&mut block);
    assert!(matches!(f.reject(block), BlockError::MissingCoinbase));
}

#[test]
fn coinbase_misplaced() {
    let mut f = fixture();
    let mut block = f.block(vec![]);
    let extra = Transaction::coinbase(
        1,
        vec![TxOut {
            amount: coins(1),
            address: f.miner.address(),
        }],
    );
    block.transactions.push(extra);
    reroot(&mut block);
    assert!(matches!(f.reject(block), BlockError::CoinbaseMisplaced(1)));
}

#[test]
fn coinbase_wrong_height() {
    let mut f = fixture();
    let mut block = f.block(vec![]);
    block.transactions[0].coinbase_height = Some(0);
    reroot(&mut block);
    assert!(matches!(
        f.reject(block),
        BlockError::CoinbaseWrongHeight {
            expected: 1,
            found: Some(0)
        }
    ));
}

#[test]
fn coinbase_overpays() {
    let mut f = fixture();
    // A fee of 1 coin is available to the coinbase; it claims 2.
    let mut tx = f.payment(0, 1, 3);
    tx.outputs[1].amount = coins(6);
    resign(&mut tx, 0);
    let mut block = f.block(vec![tx]);
    block.transactions[0].outputs[0].amount = coins(12);
    reroot(&mut block);
    let error = f.reject(block);
    assert!(
        matches!(error, BlockError::CoinbaseOverpays { paid, allowed } if paid == coins(12) && allowed == coins(11)),
        "{error}"
    );
}

#[test]
fn coinbase_collects_exactly_subsidy_plus_fees() {
    let mut f = fixture();
    let mut tx = f.payment(0, 1, 3);
    tx.outputs[1].amount = coins(6);
    resign(&mut tx, 0);
    let mut block = f.block(vec![tx]);
    block.transactions[0].outputs[0].amount = coins(11);
    reroot(&mut block);
    f.chain
        .submit_block(block, now(), &VERIFIER)
        .expect("valid");
    assert_eq!(f.miner.balance(&f.chain).unwrap(), coins(11));
}

#[test]
fn wrong_merkle_root() {
    let mut f = fixture();
    let mut block = f.block(vec![]);
    let tampered = ann_ledger::MerkleRoot::from_bytes([1; 32]);
    block.header.merkle_root = tampered;
    assert!(matches!(
        f.reject(block),
        BlockError::WrongMerkleRoot { found, .. } if found == tampered
    ));
}

#[test]
fn duplicate_transaction() {
    let mut f = fixture();
    let tx = f.payment(0, 1, 3);
    let txid = tx.txid();
    let block = f.block(vec![tx.clone(), tx]);
    assert!(matches!(f.reject(block), BlockError::DuplicateTransaction(t) if t == txid));
}

#[test]
fn double_spend_inside_one_block() {
    let mut f = fixture();
    let block = f.block(vec![f.payment(0, 1, 3), f.payment(0, 2, 4)]);
    assert!(matches!(
        f.reject(block),
        BlockError::DoubleSpend { outpoint, first: 1, second: 2 } if outpoint == f.genesis_coin(0)
    ));
}

#[test]
fn fees_overflow() {
    let f = fixture();
    let mut tx = f.payment(0, 1, 3);
    tx.outputs[1].amount = coins(6);
    resign(&mut tx, 0);
    let block = f.block(vec![tx]);
    let txids: Vec<Txid> = block.transactions.iter().map(Transaction::txid).collect();
    assert!(matches!(
        check_block_inputs(&block, &txids, &f.chain.utxo_set().unwrap(), Amount::MAX, 0),
        Err(BlockError::FeesOverflow)
    ));
}

#[test]
fn proof_of_training_rejected() {
    let mut f = fixture();
    let mut block = f.block(vec![]);
    block.header.training.task_id = ann_ledger::TaskId::from_bytes([1; 32]);
    let error = f.reject(block);
    let BlockError::Proof(inner) = &error else {
        panic!("expected a proof error, got {error}");
    };
    assert_eq!(
        inner.downcast_ref::<TestProofError>(),
        Some(&TestProofError::WrongTask {
            expected: TEST_TASK,
            found: ann_ledger::TaskId::from_bytes([1; 32])
        })
    );
}

/// Counts how often it is asked, and accepts everything.
struct CountingVerifier(Cell<u32>);

impl ProofVerifier for CountingVerifier {
    type Error = std::convert::Infallible;
    fn verify_proof(&self, _: &BlockHeader) -> Result<(), Self::Error> {
        self.0.set(self.0.get() + 1);
        Ok(())
    }
}

#[test]
fn proof_is_checked_only_after_every_cheap_check() {
    let mut f = fixture();
    let counter = CountingVerifier(Cell::new(0));
    let mut bad_signature = f.payment(0, 1, 3);
    if let Witness::Ed25519 { signature, .. } = &mut bad_signature.inputs[0].witness {
        *signature = ed25519_dalek::Signature::from_bytes(&[0; 64]);
    }
    let mut bad_merkle = f.block(vec![]);
    bad_merkle.header.merkle_root = ann_ledger::MerkleRoot::ZERO;
    for block in [f.block(vec![bad_signature]), bad_merkle] {
        assert!(f.chain.submit_block(block, now(), &counter).is_err());
    }
    assert_eq!(
        counter.0.get(),
        0,
        "no proof checked for cheaply invalid blocks"
    );
    let good = f.block(vec![]);
    f.chain.submit_block(good, now(), &counter).expect("valid");
    assert_eq!(counter.0.get(), 1);
}

#[test]
fn genesis_allocations_above_max_supply_are_rejected() {
    let owner = wallet(0);
    let too_much = vec![
        TxOut {
            amount: Amount::MAX,
            address: owner.address(),
        };
        2
    ];
    let params = ChainParams::new(too_much, 0, common::target());
    assert!(matches!(
        Chain::new(params),
        Err(ChainError::InvalidGenesis(TxError::OutputSumOverflow))
    ));
    assert_eq!(MAX_SUPPLY, 21_000_000 * ann_ledger::COIN);
}

#[test]
fn verifier_checks_the_task() {
    let header = mine(&fixture().chain, &Mempool::new(), &wallet(100), 1).header;
    let other = TestProofVerifier {
        task: ann_ledger::TaskId::from_bytes([2; 32]),
    };
    assert!(other.verify_proof(&header).is_err());
    assert!(VERIFIER.verify_proof(&header).is_ok());
    let mut no_steps = header;
    no_steps.training = commitment(1);
    no_steps.training.steps = 0;
    assert_eq!(
        VERIFIER.verify_proof(&no_steps),
        Err(TestProofError::NoSteps)
    );
}
