//! Property tests: encoding round trips and canonicality, a decoder that never panics,
//! signatures that cover every byte, and conservation of value over random histories.

mod common;

use ann_ledger::validation::verify_transaction_signatures;
use ann_ledger::{
    Address, Amount, Block, BlockHash, BlockHeader, BlockMeta, BlockUndo, Chain, CheckpointRoot,
    CompactTarget, Decode, Encode, Mempool, MerkleRoot, ModelHash, OutPoint, TaskId,
    TrainingCommitment, Transaction, TxIn, TxOut, Txid, UtxoEntry, Wallet,
};
use common::{VERIFIER, coins, mine, now, params_funding, wallet};
use ed25519_dalek::{Signature, SigningKey};
use proptest::prelude::*;

fn arb_outpoint() -> impl Strategy<Value = OutPoint> {
    (any::<[u8; 32]>(), any::<u32>()).prop_map(|(t, vout)| OutPoint {
        txid: Txid::from_bytes(t),
        vout,
    })
}

fn arb_txout() -> impl Strategy<Value = TxOut> {
    (0..=ann_ledger::MAX_SUPPLY, any::<[u8; 32]>()).prop_map(|(units, a)| TxOut {
        amount: Amount::from_base_units(units).expect("in range"),
        address: Address::from_bytes(a),
    })
}

fn arb_txin() -> impl Strategy<Value = TxIn> {
    (
        arb_outpoint(),
        any::<[u8; 32]>(),
        prop::collection::vec(any::<u8>(), 64),
    )
        .prop_map(|(previous_output, seed, sig)| {
            let mut bytes = [0u8; 64];
            bytes.copy_from_slice(&sig);
            TxIn::ed25519(
                previous_output,
                SigningKey::from_bytes(&seed).verifying_key(),
                Signature::from_bytes(&bytes),
            )
        })
}

fn arb_transaction() -> impl Strategy<Value = Transaction> {
    (
        prop::collection::vec(arb_txin(), 0..4),
        prop::collection::vec(arb_txout(), 0..4),
        any::<Option<u64>>(),
    )
        .prop_map(|(inputs, outputs, coinbase_height)| Transaction {
            version: 1,
            inputs,
            outputs,
            coinbase_height,
        })
}

fn arb_header() -> impl Strategy<Value = BlockHeader> {
    (
        any::<u64>(),
        any::<[[u8; 32]; 2]>(),
        any::<u64>(),
        (129u32..=232, 0x80_0000u32..0x100_0000),
        any::<[[u8; 32]; 3]>(),
        any::<u64>(),
    )
        .prop_map(
            |(height, [prev, root], timestamp, (exponent, mantissa), [task, cp, model], steps)| {
                BlockHeader {
                    version: 1,
                    height,
                    prev_hash: BlockHash::from_bytes(prev),
                    merkle_root: MerkleRoot::from_bytes(root),
                    timestamp,
                    bits: CompactTarget::from_bits(exponent << 24 | mantissa).expect("canonical"),
                    training: TrainingCommitment {
                        task_id: TaskId::from_bytes(task),
                        steps,
                        checkpoint_root: CheckpointRoot::from_bytes(cp),
                        model_hash: ModelHash::from_bytes(model),
                    },
                }
            },
        )
}

fn arb_block() -> impl Strategy<Value = Block> {
    (arb_header(), prop::collection::vec(arb_transaction(), 0..4)).prop_map(
        |(header, transactions)| Block {
            header,
            transactions,
        },
    )
}

/// A transaction really signed by keys from `seeds`.
fn arb_signed_transaction() -> impl Strategy<Value = Transaction> {
    (
        prop::collection::vec((arb_outpoint(), any::<[u8; 32]>()), 1..4),
        prop::collection::vec(arb_txout(), 1..4),
    )
        .prop_map(|(spends, outputs)| {
            let keys: Vec<(OutPoint, SigningKey)> = spends
                .into_iter()
                .map(|(o, seed)| (o, SigningKey::from_bytes(&seed)))
                .collect();
            let refs: Vec<(OutPoint, &SigningKey)> = keys.iter().map(|(o, k)| (*o, k)).collect();
            Transaction::new_signed(&refs, outputs)
        })
}

proptest! {
    #[test]
    fn transaction_round_trips(tx in arb_transaction()) {
        let bytes = tx.encode();
        prop_assert_eq!(bytes.len(), tx.encoded_len());
        prop_assert_eq!(Transaction::decode(&bytes), Ok(tx));
    }

    #[test]
    fn block_round_trips(block in arb_block()) {
        let bytes = block.encode();
        prop_assert_eq!(bytes.len(), block.encoded_len());
        prop_assert_eq!(Block::decode(&bytes), Ok(block));
    }

    #[test]
    fn trailing_bytes_are_rejected(tx in arb_transaction(), extra in prop::collection::vec(any::<u8>(), 1..8)) {
        let mut bytes = tx.encode();
        bytes.extend_from_slice(&extra);
        prop_assert_eq!(
            Transaction::decode(&bytes),
            Err(ann_ledger::DecodeError::TrailingBytes(extra.len()))
        );
    }

    /// Arbitrary bytes never panic the decoders, and whatever decodes re-encodes to exactly
    /// the same bytes (there is one encoding per value).
    #[test]
    fn decoders_never_panic_and_are_canonical(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(tx) = Transaction::decode(&bytes) { prop_assert_eq!(tx.encode(), bytes.clone()); }
        if let Ok(block) = Block::decode(&bytes) { prop_assert_eq!(block.encode(), bytes.clone()); }
        if let Ok(header) = BlockHeader::decode(&bytes) { prop_assert_eq!(header.encode(), bytes.clone()); }
        if let Ok(undo) = BlockUndo::decode(&bytes) { prop_assert_eq!(undo.encode(), bytes.clone()); }
        if let Ok(meta) = BlockMeta::decode(&bytes) { prop_assert_eq!(meta.encode(), bytes.clone()); }
        if let Ok(entry) = UtxoEntry::decode(&bytes) { prop_assert_eq!(entry.encode(), bytes.clone()); }
    }

    /// Corrupting a valid encoding (one byte changed, or truncated) never panics the decoder,
    /// and anything that still decodes is canonical.
    #[test]
    fn corrupted_blocks_never_panic(block in arb_block(), position in any::<prop::sample::Index>(), value in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let mut bytes = block.encode();
        let at = position.index(bytes.len());
        bytes[at] = value;
        if let Ok(decoded) = Block::decode(&bytes) { prop_assert_eq!(decoded.encode(), bytes.clone()); }
        let truncated = &bytes[..cut.index(bytes.len())];
        prop_assert!(Block::decode(truncated).is_err());
    }

    /// Any change to a signed transaction invalidates it: every byte of its encoding is
    /// covered by the signatures (or is a signature).
    #[test]
    fn any_change_to_a_signed_transaction_invalidates_it(tx in arb_signed_transaction(), position in any::<prop::sample::Index>(), flip in 1u8..=255) {
        prop_assert!(verify_transaction_signatures(&tx).is_ok());
        let mut bytes = tx.encode();
        let at = position.index(bytes.len());
        bytes[at] ^= flip;
        if let Ok(changed) = Transaction::decode(&bytes) {
            prop_assert_ne!(&changed, &tx);
            prop_assert!(verify_transaction_signatures(&changed).is_err(), "byte {} changed and still verifies", at);
        }
    }

    /// Structural changes (not just byte flips) invalidate the signatures too.
    #[test]
    fn structural_changes_invalidate_signatures(tx in arb_signed_transaction(), extra in arb_txout(), which in 0usize..4) {
        let mut changed = tx.clone();
        match which {
            0 => changed.outputs.push(extra),
            1 => { changed.outputs.pop(); }
            2 => changed.inputs.rotate_left(1),
            _ => changed.coinbase_height = Some(0),
        }
        if changed != tx {
            prop_assert!(verify_transaction_signatures(&changed).is_err());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Random valid histories conserve value: after every block the supply is the genesis
    /// allocations plus the subsidies, fees move to the miner, and the incremental UTXO set
    /// equals a replay from genesis.
    #[test]
    fn random_histories_conserve_value(
        blocks in prop::collection::vec(
            prop::collection::vec((0usize..5, 0usize..5, 1u64..=1_500, 0u64..=20), 0..6),
            1..5,
        )
    ) {
        let wallets: Vec<Wallet> = (0..5).map(wallet).collect();
        let refs: Vec<&Wallet> = wallets.iter().collect();
        let miner = wallet(200);
        let mut chain = Chain::new(params_funding(&refs, 10)).expect("genesis");
        let genesis_total = u128::from(coins(50).to_base_units());
        let mut subsidies = 0u128;
        for (round, payments) in blocks.iter().enumerate() {
            let mut mempool = Mempool::new();
            let mut fees = Amount::ZERO;
            for &(from, to, cents, fee_cents) in payments {
                let amount = Amount::from_base_units(cents * 1_000_000).expect("small");
                let fee = Amount::from_base_units(fee_cents * 1_000_000).expect("small");
                match wallets[from].pay(&chain, Some(&mempool), wallets[to].address(), amount, fee) {
                    Ok(tx) => {
                        mempool.add(tx, &chain).expect("a wallet's payment is valid");
                        fees = fees.checked_add(fee).expect("small");
                    }
                    Err(ann_ledger::WalletError::InsufficientFunds { .. }) => {}
                    Err(other) => prop_assert!(false, "unexpected wallet error {}", other),
                }
            }
            let miner_before = miner.balance(&chain).unwrap();
            let block = mine(&chain, &mempool, &miner, u8::try_from(round).expect("small"));
            prop_assert_eq!(block.transactions.len(), mempool.len() + 1);
            chain.submit_block(block, now(), &VERIFIER).expect("valid block");
            let subsidy = chain.params().subsidy(chain.height());
            subsidies += u128::from(subsidy.to_base_units());
            prop_assert_eq!(chain.total_supply().unwrap(), genesis_total + subsidies);
            prop_assert_eq!(
                miner.balance(&chain).unwrap(),
                miner_before.checked_add(subsidy).and_then(|a| a.checked_add(fees)).expect("small")
            );
            prop_assert_eq!(chain.rebuild_utxo_set().expect("replay"), chain.utxo_set().unwrap());
        }
    }
}

/// A block on `parent` paying the subsidy to `miner`, plus payments of each listed wallet's
/// whole genesis coin to the next wallet (which may double-spend along the branch).
fn child_block(
    params: &ann_ledger::ChainParams,
    parent: &BlockHeader,
    payers: &[u8],
    salt: u8,
) -> Block {
    let height = parent.height + 1;
    let genesis = params.genesis_block();
    let mut transactions = vec![Transaction::coinbase(
        height,
        vec![TxOut {
            amount: coins(10),
            address: wallet(200).address(),
        }],
    )];
    for &payer in payers {
        let key = SigningKey::from_bytes(&[payer; 32]);
        transactions.push(Transaction::new_signed(
            &[(genesis.transactions[0].outpoint(u32::from(payer)), &key)],
            vec![TxOut {
                amount: coins(10),
                address: wallet(payer + 1).address(),
            }],
        ));
    }
    let txids: Vec<Txid> = transactions.iter().map(Transaction::txid).collect();
    let mut training = common::commitment(salt);
    training.steps = u64::from(salt) + 1;
    Block {
        header: BlockHeader {
            version: 1,
            height,
            prev_hash: parent.hash(),
            merkle_root: ann_ledger::merkle_root(&txids),
            timestamp: parent.timestamp + 600,
            bits: parent.bits,
            training,
        },
        transactions,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Random block trees (with branches that double-spend, so some turn out invalid): after
    /// every import the tip has the most work among blocks not known invalid, the UTXO set
    /// equals a replay of the best chain, and a chain reopened from its store is identical.
    #[test]
    fn random_block_trees_keep_the_chain_consistent(
        steps in prop::collection::vec((any::<prop::sample::Index>(), prop::collection::vec(0u8..3, 0..2)), 1..12)
    ) {
        let funded: Vec<Wallet> = (0..3).map(wallet).collect();
        let refs: Vec<&Wallet> = funded.iter().collect();
        let params = params_funding(&refs, 10);
        let mut chain = Chain::new(params.clone()).expect("genesis");
        let mut known: Vec<BlockHeader> = vec![params.genesis_block().header];
        for (salt, (parent_index, payers)) in steps.iter().enumerate() {
            let parent = known[parent_index.index(known.len())].clone();
            let block = child_block(&params, &parent, payers, u8::try_from(salt).expect("small"));
            let header = block.header.clone();
            match chain.submit_block(block, now(), &VERIFIER) {
                Ok(_) => known.push(header),
                Err(error) => {
                    // Only UTXO rules (double spends along a branch) or an invalid parent
                    // can reject these blocks.
                    let rule = error.block_error();
                    let expected = matches!(rule, Some(ann_ledger::BlockError::InvalidParent(_)))
                        || matches!(rule.and_then(|e| e.transaction_error()), Some(ann_ledger::TxError::UnknownInput { .. }))
                        || matches!(rule, Some(ann_ledger::BlockError::DoubleSpend { .. }));
                    prop_assert!(expected, "unexpected rejection: {}", error);
                }
            }
            prop_assert_eq!(chain.rebuild_utxo_set().expect("replay"), chain.utxo_set().unwrap());
            let tip_work = chain.tip_work();
            for header in &known {
                if let Some(meta) = chain.block_meta(&header.hash()).unwrap()
                    && meta.status == ann_ledger::BlockStatus::Valid
                {
                    prop_assert!(meta.cumulative_work <= tip_work);
                }
            }
            let reopened = Chain::open(params.clone(), chain.store().clone()).expect("resume");
            prop_assert_eq!(reopened.tip(), chain.tip());
            prop_assert_eq!(reopened.utxo_set().unwrap(), chain.utxo_set().unwrap());
        }
    }
}
