//! The post-quantum input kind (ML-DSA-65) in the chain: spends of both kinds in one chain,
//! every way of moving, cutting or reusing a post-quantum signature refused with its own
//! error, and the size, signature-count and fee rules for blocks of large signatures.

mod common;

use ann_ledger::encoding::MAX_TX_INPUTS;
use ann_ledger::validation::{check_block_body, verify_transaction_signatures};
use ann_ledger::{
    Amount, Block, BlockError, Chain, ChainError, Decode, DecodeError, Encode, ImportOutcome,
    InputSigner, KeyKind, MAX_BLOCK_SIGNATURES, MAX_BLOCK_SIZE, Mempool, MempoolError,
    MempoolPolicy, MlDsa65SigningKey, OutPoint, TX_VERSION, TX_VERSION_TYPED_INPUTS, Transaction,
    TxError, TxIn, TxOut, Wallet, Witness, merkle_root,
};
use common::{VERIFIER, coins, mine, now, params_funding, wallet};

fn pq_wallet(seed: u8) -> Wallet {
    Wallet::with_key(MlDsa65SigningKey::from_seed(&[seed; 32]))
}

fn pq_key(seed: u8) -> MlDsa65SigningKey {
    MlDsa65SigningKey::from_seed(&[seed; 32])
}

/// A chain funding Alice (ed25519), Carol and Dave (ML-DSA-65) with 10 coins each.
fn fixture() -> (Chain, Wallet, Wallet, Wallet) {
    let (alice, carol, dave) = (wallet(1), pq_wallet(0xca), pq_wallet(0xda));
    let chain = Chain::new(params_funding(&[&alice, &carol, &dave], 10)).expect("genesis");
    (chain, alice, carol, dave)
}

fn genesis_coin(chain: &Chain, vout: u32) -> OutPoint {
    chain
        .block_at(0)
        .expect("chain store")
        .expect("genesis")
        .transactions[0]
        .outpoint(vout)
}

/// The first error of a block holding `tx` after the coinbase.
fn reject_in_block(chain: &mut Chain, tx: Transaction) -> TxError {
    let mut block = mine(chain, &Mempool::new(), &wallet(100), 1);
    block.transactions.push(tx);
    reroot(&mut block);
    match chain.submit_block(block, now(), &VERIFIER) {
        Err(ChainError::InvalidBlock { source, .. }) => match *source {
            BlockError::Transaction { source, .. } => source,
            other => panic!("expected a transaction error, got {other:?}"),
        },
        other => panic!("expected a rejected block, got {other:?}"),
    }
}

fn reroot(block: &mut Block) {
    let txids: Vec<_> = block.transactions.iter().map(Transaction::txid).collect();
    block.header.merkle_root = merkle_root(&txids);
}

fn ml_dsa_signature(input: &mut TxIn) -> &mut ann_ledger::MlDsa65Signature {
    match &mut input.witness {
        Witness::MlDsa65 { signature, .. } => signature,
        Witness::Ed25519 { .. } => panic!("an ML-DSA-65 input"),
    }
}

#[test]
fn a_chain_with_both_kinds_of_spend_validates() {
    let (mut chain, alice, carol, dave) = fixture();
    let mut pool = Mempool::new();
    // ed25519 -> ML-DSA-65, ML-DSA-65 -> ed25519, and one transaction with both kinds.
    let a_to_c = alice
        .pay(&chain, Some(&pool), carol.address(), coins(2), Amount::ZERO)
        .expect("alice pays");
    assert_eq!(a_to_c.version, TX_VERSION);
    pool.add(a_to_c, &chain).expect("valid ed25519 spend");
    let c_to_a = carol
        .pay(&chain, Some(&pool), alice.address(), coins(3), Amount::ZERO)
        .expect("carol pays");
    assert_eq!(c_to_a.version, TX_VERSION_TYPED_INPUTS);
    assert_eq!(c_to_a.inputs[0].witness.kind(), KeyKind::MlDsa65);
    pool.add(c_to_a, &chain).expect("valid ML-DSA-65 spend");
    let ed = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
    let dave_key = pq_key(0xda);
    let spends: [(OutPoint, &dyn InputSigner); 2] = [
        (genesis_coin(&chain, 2), &dave_key),
        (alice_change(&chain, &pool, &alice), &ed),
    ];
    let mixed = Transaction::new_signed(
        &spends,
        vec![TxOut {
            amount: coins(11),
            address: dave.address(),
        }],
    );
    assert_eq!(verify_transaction_signatures(&mixed), Ok(()));
    pool.add(mixed, &chain).expect("valid mixed spend");

    let block = mine(&chain, &pool, &wallet(100), 1);
    assert_eq!(block.transactions.len(), 4);
    assert_eq!(
        chain.submit_block(block, now(), &VERIFIER).expect("valid"),
        ImportOutcome::Extended
    );
    assert_eq!(carol.balance(&chain).unwrap(), coins(10 - 3 + 2));
    assert_eq!(dave.balance(&chain).unwrap(), coins(11));
    assert_eq!(alice.balance(&chain).unwrap(), coins(3));
}

/// Alice's change output from the pool transaction that paid Carol.
fn alice_change(chain: &Chain, pool: &Mempool, alice: &Wallet) -> OutPoint {
    let genesis = genesis_coin(chain, 0);
    let payment = pool
        .spender_of(&genesis)
        .expect("alice's payment is in the pool");
    let tx = pool.get(&payment).expect("in the pool");
    let vout = tx
        .outputs
        .iter()
        .position(|o| o.address == alice.address())
        .expect("change");
    OutPoint {
        txid: payment,
        vout: vout as u32,
    }
}

#[test]
fn a_signature_moved_to_another_input_is_refused() {
    let (mut chain, _, _, _) = fixture();
    let (carol, dave) = (pq_key(0xca), pq_key(0xda));
    let mut tx = Transaction::new_signed(
        &[
            (genesis_coin(&chain, 1), &carol),
            (genesis_coin(&chain, 2), &dave),
        ],
        vec![TxOut {
            amount: coins(20),
            address: wallet(9).address(),
        }],
    );
    assert_eq!(verify_transaction_signatures(&tx), Ok(()));
    let first = ml_dsa_signature(&mut tx.inputs[0]).clone();
    let second = std::mem::replace(ml_dsa_signature(&mut tx.inputs[1]), first);
    *ml_dsa_signature(&mut tx.inputs[0]) = second;
    assert_eq!(
        reject_in_block(&mut chain, tx),
        TxError::BadSignature {
            input: 0,
            kind: KeyKind::MlDsa65
        }
    );
}

#[test]
fn a_signature_made_for_another_transaction_is_refused() {
    let (mut chain, _, carol, _) = fixture();
    let pay = |n| {
        carol
            .pay(&chain, None, wallet(9).address(), coins(n), Amount::ZERO)
            .expect("carol pays")
    };
    let (mut tx, mut other) = (pay(3), pay(4));
    *ml_dsa_signature(&mut tx.inputs[0]) = ml_dsa_signature(&mut other.inputs[0]).clone();
    assert_eq!(
        reject_in_block(&mut chain, tx),
        TxError::BadSignature {
            input: 0,
            kind: KeyKind::MlDsa65
        }
    );
}

#[test]
fn a_truncated_or_malformed_signature_does_not_decode() {
    let (chain, _, carol, _) = fixture();
    let tx = carol
        .pay(&chain, None, wallet(9).address(), coins(3), Amount::ZERO)
        .expect("carol pays");
    let bytes = tx.encode();
    assert_eq!(bytes.len(), tx.encoded_len());
    assert_eq!(Transaction::decode(&bytes), Ok(tx.clone()));
    // Version, input count, outpoint, kind tag, key: then the signature.
    let signature_at = 4 + 4 + 36 + 1 + 1952;
    assert_eq!(
        Transaction::decode(&bytes[..signature_at + 100]),
        Err(DecodeError::UnexpectedEnd {
            what: "ML-DSA-65 signature",
            needed: 3309,
            remaining: 100
        })
    );
    // One byte cut from the middle of the signature: what follows slides into it.
    let mut cut = bytes.clone();
    cut.remove(signature_at + 1000);
    assert!(Transaction::decode(&cut).is_err());
    // Hint padding made non-zero: the same signature written a second way.
    let hint_at = signature_at + 3309 - 61;
    let used = usize::from(bytes[hint_at + 60]);
    let mut padded = bytes.clone();
    padded[hint_at + used] = 1;
    assert_eq!(
        Transaction::decode(&padded),
        Err(DecodeError::MalformedMlDsaSignature)
    );
    // An unknown kind tag.
    let mut unknown = bytes;
    unknown[4 + 4 + 36] = 7;
    assert_eq!(
        Transaction::decode(&unknown),
        Err(DecodeError::UnknownKeyKind(7))
    );
}

#[test]
fn kinds_do_not_cross_and_version_1_has_no_post_quantum_inputs() {
    let (mut chain, alice, carol, _) = fixture();
    // Carol's key spending Dave's coin.
    let theft = Transaction::new_signed(
        &[(genesis_coin(&chain, 2), &pq_key(0xca))],
        vec![TxOut {
            amount: coins(10),
            address: carol.address(),
        }],
    );
    assert!(matches!(
        reject_in_block(&mut chain, theft),
        TxError::KeyMismatch { input: 0, .. }
    ));
    // Alice's ed25519 key spending Carol's post-quantum coin.
    let ed = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
    let crossed = Transaction::new_signed(
        &[(genesis_coin(&chain, 1), &ed)],
        vec![TxOut {
            amount: coins(10),
            address: alice.address(),
        }],
    );
    assert!(matches!(
        reject_in_block(&mut chain, crossed),
        TxError::KeyMismatch { input: 0, .. }
    ));
    // A post-quantum input in a version-1 transaction has no encoding: refused.
    let mut untagged = carol
        .pay(&chain, None, alice.address(), coins(1), Amount::ZERO)
        .expect("carol pays");
    untagged.version = TX_VERSION;
    assert_eq!(
        reject_in_block(&mut chain, untagged),
        TxError::UntaggedInputKind {
            input: 0,
            kind: KeyKind::MlDsa65
        }
    );
}

#[test]
fn fees_are_per_byte_so_a_post_quantum_spend_pays_for_its_size() {
    let (chain, _, carol, _) = fixture();
    let mut pool = Mempool::with_policy(MempoolPolicy::relay());
    // The fee an ed25519 payment of one input and two outputs needs at 1 base unit per byte.
    let ed25519_fee = Amount::from_base_units(
        MempoolPolicy::relay().min_fee(wallet(1).payment_size(1, 2)) as u64,
    )
    .expect("small");
    let cheap = carol
        .pay(
            &chain,
            Some(&pool),
            wallet(9).address(),
            coins(1),
            ed25519_fee,
        )
        .expect("carol pays");
    let size = cheap.encoded_len();
    assert!(size > 5_000, "an ML-DSA-65 spend is {size} bytes");
    assert!(matches!(
        pool.add(cheap, &chain),
        Err(MempoolError::FeeTooLow { .. })
    ));
    let paid = carol
        .pay_at_rate(&chain, Some(&pool), wallet(9).address(), coins(1), 1_000)
        .expect("carol pays by the byte");
    assert_eq!(paid.encoded_len(), carol.payment_size(1, 2));
    pool.add(paid, &chain).expect("pays its size");
}

#[test]
fn a_block_of_post_quantum_spends_past_the_old_1_mb_limit_is_valid() {
    const SPENDS: usize = 400;
    let carol = pq_wallet(0xca);
    let alice = wallet(1);
    // Genesis gives Carol 400 coins of 1 coin each.
    let mut params = params_funding(&[&carol], 1);
    params.genesis_allocations = vec![
        TxOut {
            amount: coins(1),
            address: carol.address(),
        };
        SPENDS
    ];
    let mut chain = Chain::new(params).expect("genesis");
    let mut pool = Mempool::with_policy(MempoolPolicy::relay());
    let mut fees = 0;
    for _ in 0..SPENDS {
        let tx = carol
            .pay_at_rate(
                &chain,
                Some(&pool),
                alice.address(),
                Amount::from_base_units(50_000_000).expect("half a coin"),
                1_000,
            )
            .expect("a coin left");
        assert_eq!(tx.inputs.len(), 1);
        fees += MempoolPolicy::relay().min_fee(tx.encoded_len());
        pool.add(tx, &chain).expect("valid");
    }
    let block = mine(&chain, &pool, &wallet(100), 1);
    assert_eq!(block.transactions.len(), SPENDS + 1);
    let size = block.encoded_len();
    assert!(size > 2_000_000 && size <= MAX_BLOCK_SIZE, "{size} bytes");
    // The coinbase collects the per-byte fees.
    let reward = chain.params().subsidy(1).to_base_units() as u128;
    assert_eq!(
        u128::from(block.transactions[0].outputs[0].amount.to_base_units()),
        reward + fees
    );
    assert_eq!(
        chain.submit_block(block, now(), &VERIFIER).expect("valid"),
        ImportOutcome::Extended
    );
    assert_eq!(
        alice.balance(&chain).unwrap(),
        Amount::from_base_units(50_000_000 * SPENDS as u64).expect("small")
    );
}

#[test]
fn a_block_checks_at_most_max_block_signatures() {
    let (chain, alice, _, _) = fixture();
    // Any witness will do: the count is checked before a single signature.
    let key = ed25519_dalek::SigningKey::from_bytes(&[1; 32]).verifying_key();
    let input = |vout| {
        TxIn::ed25519(
            OutPoint {
                txid: ann_ledger::Txid::from_bytes([0xee; 32]),
                vout,
            },
            key,
            ed25519_dalek::Signature::from_bytes(&[0; 64]),
        )
    };
    let mut block = mine(&chain, &Mempool::new(), &wallet(100), 1);
    for half in 0..2_u32 {
        block.transactions.push(Transaction {
            version: TX_VERSION,
            inputs: (0..4_001).map(|i| input(half * 10_000 + i)).collect(),
            outputs: vec![TxOut {
                amount: coins(1),
                address: alice.address(),
            }],
            coinbase_height: None,
        });
    }
    reroot(&mut block);
    assert!(block.encoded_len() < MAX_BLOCK_SIZE);
    const { assert!(MAX_BLOCK_SIGNATURES < MAX_TX_INPUTS) };
    assert!(matches!(
        check_block_body(&block),
        Err(BlockError::TooManySignatures(8_002))
    ));
    // One transaction past the cap could never be mined: the pool refuses it.
    let mut too_many = block.transactions[1].clone();
    too_many
        .inputs
        .extend((0..4_000).map(|i| input(20_000 + i)));
    assert_eq!(too_many.inputs.len(), MAX_BLOCK_SIGNATURES + 1);
    assert_eq!(
        Mempool::new().add(too_many, &chain),
        Err(MempoolError::Invalid(TxError::TooManySignatures(8_001)))
    );
}

#[test]
fn templates_stop_at_max_block_signatures() {
    const PAYMENTS: usize = MAX_BLOCK_SIGNATURES + 50;
    let payer = wallet(1);
    let mut params = params_funding(&[&payer], 1);
    params.genesis_allocations = vec![
        TxOut {
            amount: coins(1),
            address: payer.address(),
        };
        PAYMENTS
    ];
    let chain = Chain::new(params).expect("genesis");
    let mut pool = Mempool::new();
    for _ in 0..PAYMENTS {
        let tx = payer
            .pay(
                &chain,
                Some(&pool),
                wallet(2).address(),
                coins(1),
                Amount::ZERO,
            )
            .expect("a coin left");
        pool.add(tx, &chain).expect("valid");
    }
    let block = mine(&chain, &pool, &wallet(100), 1);
    let inputs: usize = block.transactions.iter().map(|t| t.inputs.len()).sum();
    assert_eq!(inputs, MAX_BLOCK_SIGNATURES);
    assert!(check_block_body(&block).is_ok());
}
