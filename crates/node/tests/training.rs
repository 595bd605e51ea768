//! The real proof of training between nodes: a block mined by training on one node reaches
//! another, which fetches the audit proof and the audited checkpoints from its peer by hash,
//! replays the audit on flex and accepts it; a peer that serves a tampered checkpoint is
//! banned, and the node then gets the block from an honest peer. Devnet difficulty.

#![cfg(feature = "training")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::sync::Arc;

use std::ops::ControlFlow;

use ann_ledger::{Block, BlockHash, Chain, ChainParams, Decode, Difficulty, Mempool};
use ann_mining::{ArtifactStore, AuditProof, Backend, Miner, Mnist, Task, TrainingVerifier};
use ann_net::wire::Status;
use ann_net::{ArtifactKind, Request, Response};
use ann_node::training::{
    MineIntoStoreError, MinedIntoStore, OpenError, RecordError, mine_into_store,
};
use ann_node::{
    ArtifactId, ArtifactRefused, Artifacts, BlockMiner, Node, NodeConfig, TrainingArtifacts,
    TrainingMiner, TrainingNode,
};
use ann_store::ArtifactRole;
use common::{RawPeer, answer_requests, fast_sync, wait_converged, wait_for, wallet};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn params() -> ChainParams {
    // A genesis in the past: ASERT holds the target at the devnet's limit.
    ChainParams::new(Vec::new(), 1_767_225_600, Difficulty::devnet())
}

struct Setup {
    data: Arc<Mnist>,
    task: Task,
}

fn node(setup: &Setup, dir: &Path, mine: bool, seed: u8) -> Node {
    let store = ArtifactStore::open(dir).unwrap();
    let verifier =
        TrainingVerifier::new(setup.task.clone(), Arc::clone(&setup.data), store.clone()).unwrap();
    let artifacts = TrainingArtifacts::new(store.clone(), setup.task.clone());
    let miner: Option<Box<dyn BlockMiner>> = mine.then(|| {
        let miner = Miner::new(setup.task.clone(), Arc::clone(&setup.data), store).unwrap();
        Box::new(TrainingMiner::new(miner)) as Box<dyn BlockMiner>
    });
    let chain = Chain::new(params()).unwrap();
    let mut config = NodeConfig::local(chain.tip(), wallet(seed).address());
    config.sync = fast_sync();
    Node::start(config, chain, verifier, artifacts, miner).unwrap()
}

fn setup() -> Setup {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist");
    let data = Arc::new(Mnist::load(&dir).unwrap());
    Setup {
        task: Task::mnist(data.hash()),
        data,
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn a_block_mined_into_a_store_keeps_its_side_chain_record_across_a_restart() {
    let setup = setup();
    let dir = tempfile::tempdir().unwrap();
    let open = |params: ChainParams| {
        TrainingNode::open(
            dir.path(),
            params,
            Arc::clone(&setup.data),
            setup.task.clone(),
            Backend::DEFAULT,
        )
    };
    let TrainingNode {
        mut chain,
        verifier,
        ..
    } = open(params()).unwrap();
    let artifacts = ArtifactStore::open(chain.store().artifact_dir()).unwrap();
    let miner = Miner::new(setup.task.clone(), Arc::clone(&setup.data), artifacts).unwrap();
    let template = chain
        .block_template(&Mempool::new(), wallet(1).address(), now())
        .unwrap();
    let MinedIntoStore {
        block,
        mined,
        record,
    } = mine_into_store(&chain, &miner, template, |_| ControlFlow::Continue(())).unwrap();
    assert_eq!(block.header, mined.header);
    chain
        .submit_block_with(block.clone(), record, now(), &verifier)
        .unwrap();
    assert_eq!(chain.tip(), block.hash());

    let check = |chain: &Chain<ann_store::Store>| {
        let record = chain
            .store()
            .artifacts(&block.hash())
            .unwrap()
            .expect("the record was committed with the block");
        assert_eq!(record.model_hash, block.header.training.model_hash);
        assert_eq!(
            record.checkpoint_root,
            block.header.training.checkpoint_root
        );
        for role in [
            ArtifactRole::Model,
            ArtifactRole::Proof,
            ArtifactRole::Trace,
        ] {
            assert!(record.file(role).is_some(), "no {role} file recorded");
        }
        for file in &record.files {
            chain.store().check_artifact_file(file).unwrap();
        }
        // Everything the audit reads is on disk, and every checkpoint the proof opens that the
        // miner wrote (besides W0 and the model) is recorded, and nothing else.
        let artifacts = ArtifactStore::open(chain.store().artifact_dir()).unwrap();
        let source = TrainingArtifacts::new(artifacts.clone(), setup.task.clone());
        assert!(source.missing(&block.header).is_empty());
        let proof = artifacts
            .get_proof(&block.header.training.checkpoint_root)
            .unwrap();
        let model = block.header.training.model_hash;
        let mut opened: Vec<_> = proof
            .openings()
            .iter()
            .filter(|o| o.index != 0 && o.checkpoint != model)
            .filter(|o| artifacts.checkpoint_path(&o.checkpoint).exists())
            .map(|o| ArtifactStore::checkpoint_name(&o.checkpoint))
            .collect();
        opened.sort();
        opened.dedup();
        let mut recorded: Vec<_> = record
            .files
            .iter()
            .filter(|f| f.role == ArtifactRole::Checkpoint)
            .map(|f| f.path.rsplit('/').next().unwrap().to_owned())
            .collect();
        recorded.sort();
        assert_eq!(recorded, opened);
    };
    check(&chain);
    drop((chain, verifier));

    // Reopened: the block and its record are there; another chain's parameters are refused.
    let TrainingNode { chain, .. } = open(params()).unwrap();
    assert_eq!(chain.tip(), block.hash());
    check(&chain);
    drop(chain);
    let other = ChainParams::new(Vec::new(), 1_767_225_601, Difficulty::devnet());
    assert!(matches!(open(other), Err(OpenError::Chain(_))));

    // A miner writing outside the store: the block's record cannot be made, and says why.
    let TrainingNode { chain, .. } = open(params()).unwrap();
    let outside = tempfile::tempdir().unwrap();
    let stray = Miner::new(
        setup.task.clone(),
        Arc::clone(&setup.data),
        ArtifactStore::open(outside.path()).unwrap(),
    )
    .unwrap();
    let template = chain
        .block_template(&Mempool::new(), wallet(1).address(), now())
        .unwrap();
    assert!(matches!(
        mine_into_store(&chain, &stray, template, |_| ControlFlow::Continue(())),
        Err(MineIntoStoreError::Record(RecordError::Record(_)))
    ));
}

#[test]
fn a_trained_block_crosses_the_network_with_its_artifacts_and_a_tampering_peer_is_banned() {
    let setup = setup();
    let (dir_a, dir_b, dir_c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let a = node(&setup, dir_a.path(), true, 1);
    let b = node(&setup, dir_b.path(), false, 2);
    b.handle().dial(a.handle().listen_address()).unwrap();
    common::wait_peers(&b.handle(), 1);

    let mined = a.handle().generate(1).unwrap();
    let tip = wait_converged(&[a.handle(), b.handle()], 1);
    assert_eq!(tip.to_string(), mined[0]);
    let block = block_of(&a, &tip);
    // B fetched what the audit reads: the proof and the final model at least.
    let root = block.header.training.checkpoint_root;
    assert!(dir_b.path().join(ArtifactStore::proof_name(&root)).exists());
    let model = block.header.training.model_hash;
    assert!(
        dir_b
            .path()
            .join(ArtifactStore::checkpoint_name(&model))
            .exists()
    );
    assert!(b.handle().snapshot().unwrap().banned.is_empty());

    // C hears the block first from a peer that serves the real proof but a tampered
    // checkpoint.
    let c = node(&setup, dir_c.path(), false, 3);
    let mut tamperer = RawPeer::start(c.handle().snapshot().unwrap().tip);
    tamperer.connect(&c.handle());
    tamperer.net.publish_block(&block).unwrap();
    let genesis = Chain::new(params()).unwrap().tip();
    let genesis_status = Status {
        genesis,
        tip: genesis,
        height: 0,
        work: 1,
    };
    let mut served_tampered = false;
    answer_requests(&mut tamperer, |request| match request {
        Request::Status(_) => Some(Response::Status(genesis_status)),
        Request::Artifact {
            kind: ArtifactKind::AuditProof,
            ..
        } => Some(Response::Artifact(
            std::fs::read(dir_a.path().join(ArtifactStore::proof_name(&root))).ok(),
        )),
        Request::Artifact {
            kind: ArtifactKind::Checkpoint,
            hash,
        } => {
            let path = dir_a.path().join(ArtifactStore::checkpoint_name(
                &ann_mining::ModelHash::from_bytes(*hash),
            ));
            let mut bytes = std::fs::read(path).unwrap();
            bytes[100] ^= 1;
            served_tampered = true;
            Some(Response::Artifact(Some(bytes)))
        }
        _ => None,
    });
    assert!(served_tampered, "the node never asked for a checkpoint");
    wait_for("the tampering peer to be banned", || {
        c.handle()
            .snapshot()
            .unwrap()
            .banned
            .contains(&tamperer.net.peer_id())
    });
    assert_eq!(c.handle().snapshot().unwrap().height, 0);

    // What a node keeps of a peer's artifacts is checked against the header first.
    let fresh = tempfile::tempdir().unwrap();
    let keeper = TrainingArtifacts::new(
        ArtifactStore::open(fresh.path()).unwrap(),
        setup.task.clone(),
    );
    let proof_id = ArtifactId {
        kind: ArtifactKind::AuditProof,
        hash: *root.as_bytes(),
    };
    assert_eq!(keeper.missing(&block.header), vec![proof_id]);
    let proof = std::fs::read(dir_a.path().join(ArtifactStore::proof_name(&root))).unwrap();
    let mut other = block.header.clone();
    other.training.checkpoint_root = ann_ledger::CheckpointRoot::from_bytes([3; 32]);
    assert!(matches!(
        keeper.put(&other, &proof_id, &proof),
        Err(ArtifactRefused::Wrong(_))
    ));
    assert!(matches!(
        keeper.put(&block.header, &proof_id, &[1, 2, 3]),
        Err(ArtifactRefused::Wrong(_))
    ));
    keeper.put(&block.header, &proof_id, &proof).unwrap();
    let wanted = keeper.missing(&block.header);
    assert!(!wanted.is_empty() && wanted.iter().all(|id| id.kind == ArtifactKind::Checkpoint));
    assert!(wanted.contains(&ArtifactId {
        kind: ArtifactKind::Checkpoint,
        hash: model.to_bytes()
    }));
    let model_bytes =
        std::fs::read(dir_a.path().join(ArtifactStore::checkpoint_name(&model))).unwrap();
    let elsewhere = ArtifactId {
        kind: ArtifactKind::Checkpoint,
        hash: [7; 32],
    };
    assert!(matches!(
        keeper.put(&block.header, &elsewhere, &model_bytes),
        Err(ArtifactRefused::Wrong(_))
    ));
    for id in &wanted {
        let bytes = keeper_source(dir_a.path(), id);
        keeper.put(&block.header, id, &bytes).unwrap();
    }
    assert_eq!(keeper.missing(&block.header), Vec::new());
    assert_eq!(keeper.get(&proof_id), Some(proof));

    // An honest peer then gives it the block.
    c.handle().dial(b.handle().listen_address()).unwrap();
    let tip_c = wait_converged(&[a.handle(), b.handle(), c.handle()], 1);
    assert_eq!(tip_c, tip);

    // D hears the block first from a peer that serves a truncated audit proof: the openings of
    // W0 and of the final model only, each a valid path to the root. Kept (proofs are stored by
    // root), it would make every later copy of this valid block look invalid, and its honest
    // senders look like liars. It is refused before it is stored, its sender is banned, and D
    // asks another peer it is connected to (a helper that never announced the block, but holds
    // its artifacts), and accepts the block.
    let dir_d = tempfile::tempdir().unwrap();
    let d = node(&setup, dir_d.path(), false, 4);
    let trace = ArtifactStore::open(dir_a.path())
        .unwrap()
        .get_trace(
            &root,
            setup.task.checkpoints_for(block.header.training.steps),
        )
        .unwrap();
    let truncated = AuditProof::from_trace(&trace, &[0, trace.segments()]).unwrap();
    assert!(
        TrainingVerifier::new(
            setup.task.clone(),
            Arc::clone(&setup.data),
            ArtifactStore::open(dir_a.path()).unwrap()
        )
        .unwrap()
        .precheck(&block.header)
        .unwrap()
        .audited_segments
        .iter()
        .any(|&s| truncated.checkpoint(s + 1).is_none()),
        "the truncated proof lacks an opening the audit reads"
    );
    let mut helper = RawPeer::start(d.handle().snapshot().unwrap().tip);
    helper.connect(&d.handle());
    let helper_id = helper.net.peer_id();
    let honest_dir = dir_a.path().to_path_buf();
    let helper_asked = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let asked = Arc::clone(&helper_asked);
    let helper_thread = std::thread::spawn(move || {
        answer_requests(&mut helper, |request| match request {
            Request::Status(_) => Some(Response::Status(genesis_status)),
            Request::Artifact {
                kind: ArtifactKind::AuditProof,
                ..
            } => {
                asked.store(true, std::sync::atomic::Ordering::SeqCst);
                Some(Response::Artifact(
                    std::fs::read(honest_dir.join(ArtifactStore::proof_name(&root))).ok(),
                ))
            }
            Request::Artifact { hash, .. } => Some(Response::Artifact(Some(keeper_source(
                &honest_dir,
                &ArtifactId {
                    kind: ArtifactKind::Checkpoint,
                    hash: *hash,
                },
            )))),
            _ => None,
        });
    });
    let mut truncator = RawPeer::start(d.handle().snapshot().unwrap().tip);
    truncator.connect(&d.handle());
    truncator.net.publish_block(&block).unwrap();
    let mut served_truncated = false;
    answer_requests(&mut truncator, |request| match request {
        Request::Status(_) => Some(Response::Status(genesis_status)),
        Request::Artifact {
            kind: ArtifactKind::AuditProof,
            ..
        } => {
            served_truncated = true;
            Some(Response::Artifact(Some(truncated.to_bytes())))
        }
        Request::Artifact { hash, .. } => Some(Response::Artifact(Some(keeper_source(
            dir_a.path(),
            &ArtifactId {
                kind: ArtifactKind::Checkpoint,
                hash: *hash,
            },
        )))),
        _ => None,
    });
    assert!(served_truncated, "the node never asked for the proof");
    wait_for("the peer serving a truncated proof to be banned", || {
        d.handle()
            .snapshot()
            .unwrap()
            .banned
            .contains(&truncator.net.peer_id())
    });
    wait_for("D to accept the block with the helper's artifacts", || {
        d.handle().snapshot().unwrap().height == 1
    });
    assert_eq!(d.handle().snapshot().unwrap().tip, tip);
    assert!(helper_asked.load(std::sync::atomic::Ordering::SeqCst));
    assert!(!d.handle().snapshot().unwrap().banned.contains(&helper_id));
    d.shutdown();
    helper_thread.join().unwrap();

    // E hears a copy of the block whose header claims a target the chain does not require: the
    // header's own checks refuse it, and nothing its proof reads is asked for first.
    let dir_e = tempfile::tempdir().unwrap();
    let e = node(&setup, dir_e.path(), false, 5);
    let mut forged = block.clone();
    forged.header.bits = ann_ledger::CompactTarget::from_expected_tickets(2);
    assert_ne!(forged.header.bits, block.header.bits);
    let mut forger = RawPeer::start(e.handle().snapshot().unwrap().tip);
    forger.connect(&e.handle());
    forger.net.publish_block(&forged).unwrap();
    let mut asked_for_artifacts = false;
    answer_requests(&mut forger, |request| match request {
        Request::Status(_) => Some(Response::Status(genesis_status)),
        Request::Artifact { .. } => {
            asked_for_artifacts = true;
            Some(Response::Artifact(None))
        }
        _ => None,
    });
    assert!(
        e.handle()
            .snapshot()
            .unwrap()
            .banned
            .contains(&forger.net.peer_id())
    );
    assert!(
        !asked_for_artifacts,
        "artifacts were fetched for a header that breaks a header rule"
    );
}

fn keeper_source(dir: &Path, id: &ArtifactId) -> Vec<u8> {
    std::fs::read(dir.join(ArtifactStore::checkpoint_name(
        &ann_mining::ModelHash::from_bytes(id.hash),
    )))
    .unwrap()
}

fn block_of(node: &Node, hash: &BlockHash) -> Block {
    let info = node.handle().block(hash).unwrap();
    Block::decode(&hex::decode(info.hex).unwrap()).unwrap()
}
