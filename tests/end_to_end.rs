//! The original project's scenario end to end, with every real component: keys from the
//! simulated qubit through health tests, conditioning and the chaotic network; a redb store;
//! a block mined by training on MNIST at 90 %; the full training audit; a restart; and the
//! chain re-validated from genesis. It also runs the examples' shared code.

#[path = "../examples/common/mod.rs"]
mod common;

use blockchain_ann::keys::KeySource;
use blockchain_ann::keys::{KeyDerivation, PrivateKey};
use blockchain_ann::ledger::{
    Amount, Chain, ChainParams, CompactTarget, Difficulty, Mempool, TxOut, Wallet,
};
use blockchain_ann::mining::Backend;
use blockchain_ann::store::{ArtifactRole, Store};

/// The devnet rule at four expected tickets a block, so the test mines in a few segments.
fn difficulty() -> Difficulty {
    Difficulty {
        initial: CompactTarget::from_expected_tickets(4),
        ..Difficulty::devnet()
    }
}

fn coins(n: u64) -> Amount {
    Amount::from_coins(n).expect("a small whole number of coins is a valid amount")
}

#[test]
fn original_scenario_with_real_keys_mining_store_and_audit() {
    run_scenario(Backend::DEFAULT, Backend::DEFAULT);
}

/// What `mine --backend wgpu` then `verify` do: the block is trained on the GPU backend
/// (lavapipe in CI) and audited on the CPU, at import and again after a restart.
#[cfg(feature = "wgpu")]
#[test]
fn a_block_mined_on_wgpu_is_stored_and_re_verified_on_flex() {
    run_scenario(Backend::Wgpu, Backend::Flex);
}

#[allow(clippy::unwrap_used)] // a test body, shared by two tests
fn run_scenario(mining: Backend, auditing: Backend) {
    let (data, task) = common::load_task(&common::default_data_dir()).unwrap();
    let derivation = KeyDerivation::default();
    let wallets: Vec<Wallet> = (0..11u8)
        .map(|i| {
            let mut source = KeySource::Simulated.open([i; 32]).unwrap();
            let key = PrivateKey::generate(source.as_mut()).unwrap();
            Wallet::new(derivation.derive(&key).into_signing_key())
        })
        .collect();
    let (miner, wallets) = wallets.split_last().unwrap();

    let now = common::now().unwrap();
    let genesis = wallets
        .iter()
        .map(|w| TxOut {
            amount: coins(10),
            address: w.address(),
        })
        .collect();
    let params = ChainParams::new(genesis, now - 600, difficulty());
    let dir = tempfile::tempdir().unwrap();
    let mut chain = Chain::open(params.clone(), Store::open(dir.path()).unwrap()).unwrap();

    let mut mempool = Mempool::new();
    for (from, to, amount) in [(0, 2, 3), (2, 3, 2), (4, 3, 1), (5, 4, 10)] {
        let tx = wallets[from]
            .pay(
                &chain,
                Some(&mempool),
                wallets[to].address(),
                coins(amount),
                Amount::ZERO,
            )
            .unwrap();
        mempool.add(tx, &chain).unwrap();
    }
    assert_eq!(mempool.len(), 4, "all four payments are valid");

    let template = chain
        .block_template(&mempool, miner.address(), now)
        .unwrap();
    assert_eq!(
        template.transactions.len(),
        5,
        "coinbase and the four payments"
    );
    let common::MinedIntoStore {
        block,
        mined,
        record,
    } = common::mine_block(&chain, &data, &task, mining, template).unwrap();
    assert!(
        mined.accuracy_bp >= task.accuracy_gate.basis_points(),
        "mined to {} bp",
        mined.accuracy_bp
    );
    assert!(mined.header.meets_target());
    let verifier =
        common::recording_verifier(&data, &task, &chain.store().artifact_dir(), auditing).unwrap();
    chain
        .submit_block_with(block, record, now, &verifier)
        .unwrap();
    let audit = verifier.take(&chain.tip()).expect("the proof was audited");
    assert_eq!(
        audit.accuracy_bp, mined.accuracy_bp,
        "the verifier measures what the miner did"
    );
    assert!(!audit.audited_segments.is_empty());

    let expected = [7, 10, 11, 13, 19, 0, 10, 10, 10, 10];
    for (wallet, coins_expected) in wallets.iter().zip(expected) {
        assert_eq!(wallet.balance(&chain).unwrap(), coins(coins_expected));
    }
    assert_eq!(miner.balance(&chain).unwrap(), params.subsidy(1));
    let supply = u128::from(
        coins(100)
            .checked_add(params.subsidy(1))
            .unwrap()
            .to_base_units(),
    );
    assert_eq!(chain.total_supply().unwrap(), supply);

    // The side chain recorded the block's artifacts, and they are on disk with their sizes.
    let side_chain = chain.store().side_chain().unwrap();
    let record = side_chain[1]
        .artifacts
        .clone()
        .expect("block 1's artifacts");
    assert_eq!(record.model_hash, mined.header.training.model_hash);
    assert!(
        record.file(ArtifactRole::Model).is_some()
            && record.file(ArtifactRole::Trace).is_some()
            && record.file(ArtifactRole::Proof).is_some()
    );
    for file in &record.files {
        chain.store().check_artifact_file(file).unwrap();
    }

    // A restart resumes exactly, and the whole chain re-validates from genesis.
    let tip = chain.tip();
    drop(chain);
    let chain = Chain::open(params.clone(), Store::open(dir.path()).unwrap()).unwrap();
    assert_eq!(chain.tip(), tip);
    assert_eq!(wallets[4].balance(&chain).unwrap(), coins(19));
    let blocks = common::best_chain_blocks(&chain).expect("store");
    let fresh =
        common::recording_verifier(&data, &task, &chain.store().artifact_dir(), auditing).unwrap();
    let report =
        common::verify_from_genesis(&params, &blocks, &fresh, common::now().unwrap()).unwrap();
    assert_eq!(report.len(), 2);
    assert_eq!(
        report[1].audit.as_ref().map(|a| a.accuracy_bp),
        Some(mined.accuracy_bp)
    );

    // Re-validation under other parameters (another genesis) is refused.
    let other = ChainParams::new(Vec::new(), now - 600, difficulty());
    assert!(common::verify_from_genesis(&other, &blocks, &fresh, now).is_err());
}

/// The examples' error line names each cause once, however the errors print their sources.
#[test]
fn an_error_chain_names_each_cause_once() {
    let params = blockchain_ann::ledger::ChainParams::regtest();
    let mut chain = blockchain_ann::ledger::Chain::new(params).unwrap();
    let mut block = chain
        .block_template(
            &blockchain_ann::ledger::Mempool::new(),
            wallet_address(),
            1_700_000_600,
        )
        .unwrap();
    block.header.height += 1;
    struct AnyProof;
    impl blockchain_ann::ledger::ProofVerifier for AnyProof {
        type Error = std::convert::Infallible;
        fn verify_proof(&self, _: &blockchain_ann::ledger::BlockHeader) -> Result<(), Self::Error> {
            Ok(())
        }
    }
    let error = chain
        .submit_block(block, 1_700_000_600, &AnyProof)
        .unwrap_err();
    let error = anyhow::Error::new(error).context("importing block 1");
    let chained = format!("{error:#}");
    let rule = "height is its parent's height plus one";
    let line = common::describe(&error);
    assert!(line.starts_with("importing block 1: block "), "{line}");
    assert_eq!(line.matches(rule).count(), 1, "{line}");
    // anyhow's own chain repeats the rule: the reason for `describe`.
    assert!(chained.matches(rule).count() > 1, "{chained}");
}

fn wallet_address() -> blockchain_ann::ledger::Address {
    blockchain_ann::ledger::Address::from_bytes([5; 32])
}
