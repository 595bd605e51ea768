//! Networks of real nodes on 127.0.0.1 (libp2p, the actor, the RPC server), on regtest chains
//! whose proof is the lottery ticket alone (`ann_node::regtest`), so that hundreds of blocks
//! cost milliseconds; `training.rs` runs the real proof of training. Every wait is bounded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use ann_ledger::{Amount, Chain, Encode, MlDsa65SigningKey, Wallet};
use ann_net::wire::Status;
use ann_net::{Request, Response};
use ann_node::NodeRpcClient;
use common::*;

#[test]
fn a_block_propagates_along_a_line() {
    let a = start(&[], 1);
    let b = start(&[a.handle().listen_address()], 2);
    let c = start(&[b.handle().listen_address()], 3);
    let (a, b, c) = (a.handle(), b.handle(), c.handle());
    wait_peers(&b, 2);
    let mined = a.generate(1).unwrap();
    assert_eq!(mined.len(), 1);
    let tip = wait_converged(&[a.clone(), b, c.clone()], 1);
    assert_eq!(tip.to_string(), mined[0]);
    // C is not connected to A: the block came through B, which relayed it after validating.
    assert_eq!(snapshot(&c).peers, 1);
    assert_eq!(snapshot(&c).blocks_received, 1);
}

#[test]
fn a_post_quantum_payment_crosses_the_network() {
    let a = start(&[], 70);
    let b = start(&[a.handle().listen_address()], 71);
    let (a, b) = (a.handle(), b.handle());
    wait_peers(&b, 1);
    // Coins to Carol's ML-DSA-65 address, mined on A.
    let carol = Wallet::with_key(MlDsa65SigningKey::from_seed(&[0xca; 32]));
    a.send_transaction(&payment(0, &carol, 5_000_000)).unwrap();
    a.generate(1).unwrap();
    wait_converged(&[a.clone(), b.clone()], 1);
    // Carol spends them through B, from what B tells her: a 5.4 KB transaction, gossiped to A.
    let coins = b
        .address_utxos(&carol.address())
        .unwrap()
        .iter()
        .map(|u| u.to_coin().unwrap())
        .collect();
    let payee = wallet(9);
    let spend = carol
        .pay_from(
            coins,
            payee.address(),
            Amount::from_base_units(4_000_000).unwrap(),
            Amount::from_base_units(6_000).unwrap(),
        )
        .unwrap();
    assert!(spend.encoded_len() > 5_000);
    b.send_transaction(&spend).unwrap();
    wait_for("A to hold the post-quantum spend", || {
        snapshot(&a).mempool == 1
    });
    a.generate(1).unwrap();
    wait_converged(&[a.clone(), b.clone()], 2);
    for node in [&a, &b] {
        let paid: u64 = node
            .address_utxos(&payee.address())
            .unwrap()
            .iter()
            .map(|u| u.amount)
            .sum();
        assert_eq!(paid, 4_000_000);
        let s = snapshot(node);
        assert!(s.utxos_match_rebuild);
        assert_eq!(s.mempool, 0);
        assert!(s.banned.is_empty());
    }
}

#[test]
fn a_graph_converges_after_20_blocks_and_50_transactions() {
    let n0 = start(&[], 10);
    let n1 = start(&[n0.handle().listen_address()], 11);
    let n2 = start(&[n1.handle().listen_address()], 12);
    let n3 = start(
        &[n0.handle().listen_address(), n2.handle().listen_address()],
        13,
    );
    let nodes = [n0.handle(), n1.handle(), n2.handle(), n3.handle()];
    for node in &nodes {
        wait_peers(node, 2);
    }
    let payee = wallet(2);
    let mut sent = 0;
    for round in 0..20 {
        // Two or three payments a round, each sent to a different node.
        let count = if round % 2 == 0 { 3 } else { 2 };
        for _ in 0..count {
            let node = &nodes[sent % nodes.len()];
            node.send_transaction(&payment(sent, &payee, 1_000_000))
                .unwrap();
            sent += 1;
        }
        let miner = &nodes[round % nodes.len()];
        miner.generate(1).unwrap();
        wait_converged(&nodes, round as u64 + 1);
    }
    assert_eq!(sent, 50);
    // Payments still in flight get into the next blocks.
    wait_for("every payment confirmed on every node", || {
        let all = nodes.iter().all(|n| {
            let paid: u64 = n
                .address_utxos(&payee.address())
                .unwrap()
                .iter()
                .map(|u| u.amount)
                .sum();
            paid == 50 * 1_000_000
        });
        if !all {
            nodes[0].generate(1).unwrap();
        }
        all
    });
    let tip = wait_converged(&nodes, 20);
    for node in &nodes {
        let s = snapshot(node);
        assert_eq!(s.tip, tip);
        assert!(s.utxos_match_rebuild);
        assert_eq!(s.mempool, 0);
        assert!(s.banned.is_empty(), "an honest node was banned");
    }
}

#[test]
fn a_late_node_syncs_200_blocks_while_a_peer_is_killed() {
    let a = start(&[], 20);
    let b = start(&[a.handle().listen_address()], 21);
    wait_peers(&b.handle(), 1);
    a.handle().generate(200).unwrap();
    let tip = wait_converged(&[a.handle(), b.handle()], 200);

    let mut config = config(&[a.handle().listen_address()], 22);
    config.sync.window = 8;
    let late = start_with(config, Chain::new(params()).unwrap(), 22);
    let late_handle = late.handle();
    wait_for("the late node to start syncing", || {
        snapshot(&late_handle).height > 0
    });
    late_handle.dial(b.handle().listen_address()).unwrap();
    a.shutdown();
    wait_for(
        "the late node to reach the tip through the other peer",
        || snapshot(&late_handle).tip == tip,
    );
    let s = snapshot(&late_handle);
    assert_eq!(s.height, 200);
    assert!(s.utxos_match_rebuild, "the UTXO set differs from a rebuild");
    assert_eq!(s.utxo_value, snapshot(&b.handle()).utxo_value);
}

/// Found by the network figures: the follow-up request after a full headers answer got an
/// answer that starts after a block still downloading, which was taken for unconnected
/// headers and got the honest peer banned; a node more than one answer behind never synced.
#[test]
fn a_late_node_syncs_a_chain_longer_than_one_headers_answer() {
    let blocks = ann_net::wire::MAX_HEADERS as u32 + 150;
    let a = start(&[], 25);
    a.handle().generate(blocks).unwrap();
    let late = start(&[a.handle().listen_address()], 26);
    let tip = wait_converged(&[a.handle(), late.handle()], u64::from(blocks));
    let s = snapshot(&late.handle());
    assert_eq!(s.tip, tip);
    assert!(
        s.banned.is_empty(),
        "an honest peer was banned: {:?}",
        s.banned
    );
    assert!(s.utxos_match_rebuild);
}

#[test]
fn a_partition_heals_into_the_heavier_chain() {
    let a = start(&[], 30);
    let c = start(&[a.handle().listen_address()], 31);
    let b = start(&[], 32);
    wait_peers(&c.handle(), 1);
    // Two sides mine apart: A's side 3 blocks, B's 6 (each regtest block has the same work).
    a.handle().generate(3).unwrap();
    wait_converged(&[a.handle(), c.handle()], 3);
    b.handle().generate(6).unwrap();
    let heavier = snapshot(&b.handle()).tip;
    c.handle().dial(b.handle().listen_address()).unwrap();
    let tip = wait_converged(&[a.handle(), b.handle(), c.handle()], 6);
    assert_eq!(tip, heavier);
    for node in [a.handle(), b.handle(), c.handle()] {
        assert!(snapshot(&node).utxos_match_rebuild);
    }
}

#[test]
fn a_node_restarted_on_its_store_resumes_and_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let open = || Chain::open(params(), ann_store::Store::open(dir.path()).unwrap()).unwrap();
    let node = start_with(config(&[], 40), open(), 40);
    node.handle().generate(5).unwrap();
    let before = snapshot(&node.handle());
    node.shutdown();

    let peer = start(&[], 41);
    peer.handle().generate(8).unwrap();
    let restarted = start_with(config(&[], 40), open(), 40);
    let s = snapshot(&restarted.handle());
    assert_eq!((s.height, s.tip), (before.height, before.tip));
    restarted
        .handle()
        .dial(peer.handle().listen_address())
        .unwrap();
    // The peer's 8 blocks outweigh our 5: a reorganisation onto its chain.
    let tip = wait_converged(&[restarted.handle(), peer.handle()], 8);
    assert_eq!(tip, snapshot(&peer.handle()).tip);
    restarted.shutdown();
    let reopened = open();
    assert_eq!(reopened.tip(), tip);
}

#[test]
fn adversaries_are_banned_while_honest_nodes_carry_on() {
    let mut config = config(&[], 50);
    config.sync.max_requests = 25;
    let honest = start_with(config, Chain::new(params()).unwrap(), 50);
    let other = start(&[honest.handle().listen_address()], 51);
    let h = honest.handle();
    wait_peers(&h, 1);
    let genesis_block = Chain::new(params()).unwrap().tip_block().clone();

    // An invalid proof (another task's commitment).
    let mut invalid = RawPeer::start(genesis());
    invalid.connect(&h);
    invalid
        .net
        .publish_block(&block_with_wrong_task(&genesis_block))
        .unwrap();
    wait_for("the sender of an invalid proof to be banned", || {
        snapshot(&h).banned.contains(&invalid.net.peer_id())
    });

    // Junk bytes on the block topic.
    let mut junk = RawPeer::start(genesis());
    junk.connect(&h);
    junk.net
        .publish_raw(
            ann_net::NetConfig::local(genesis()).block_topic(),
            vec![0xff; 300],
        )
        .unwrap();
    wait_for("the sender of junk to be banned", || {
        snapshot(&h).banned.contains(&junk.net.peer_id())
    });

    // Another genesis: the node asks its status on connect and hears of another chain.
    let other_genesis = {
        let mut p = params();
        p.genesis_timestamp += 1;
        Chain::new(p).unwrap().tip()
    };
    let mut stranger = RawPeer::start(other_genesis);
    stranger.net.dial(h.listen_address()).unwrap();
    answer_requests(&mut stranger, |request| match request {
        Request::Status(_) => Some(Response::Status(Status {
            genesis: other_genesis,
            tip: other_genesis,
            height: 0,
            work: 1,
        })),
        _ => None,
    });
    wait_for("a peer of another chain to be banned", || {
        snapshot(&h).banned.contains(&stranger.net.peer_id())
    });

    // A fake heavier chain: a status claiming huge work, and no headers to show for it.
    let mut liar = RawPeer::start(genesis());
    liar.net.dial(h.listen_address()).unwrap();
    let fake_tip = genesis_block.hash();
    answer_requests(&mut liar, |request| match request {
        Request::Status(_) => Some(Response::Status(Status {
            genesis: genesis(),
            tip: fake_tip,
            height: 1_000,
            work: u128::MAX / 2,
        })),
        Request::Headers { .. } => Some(Response::Headers(Vec::new())),
        _ => None,
    });
    wait_for(
        "a peer claiming a heavier chain it cannot show to be banned",
        || snapshot(&h).banned.contains(&liar.net.peer_id()),
    );

    // A request flood: 60 status requests against a limit of 25 in the window.
    let mut flooder = RawPeer::start(genesis());
    flooder.connect(&h);
    let status = Status {
        genesis: genesis(),
        tip: genesis(),
        height: 0,
        work: 1,
    };
    for _ in 0..60 {
        let net = flooder.net.clone();
        flooder
            .runtime
            .block_on(net.request(h.peer_id(), Request::Status(status)))
            .unwrap();
    }
    wait_for("a flooding peer to be banned", || {
        snapshot(&h).banned.contains(&flooder.net.peer_id())
    });

    // The honest pair carries on.
    other.handle().generate(2).unwrap();
    wait_converged(&[h.clone(), other.handle()], 2);
    assert_eq!(snapshot(&other.handle()).banned, Vec::new());
    assert_eq!(snapshot(&h).banned.len(), 5);
}

#[test]
fn a_branch_with_no_more_work_than_the_tip_is_neither_stored_nor_downloaded() {
    let node = start(&[], 70);
    let h = node.handle();
    h.generate(5).unwrap();
    // A side branch of two valid blocks from genesis (mined apart, on another node).
    let miner = start(&[], 71);
    let mined = miner.handle().generate(2).unwrap();
    let branch: Vec<ann_ledger::Block> = mined
        .iter()
        .map(|hash| {
            let info = miner.handle().block(&hash.parse().unwrap()).unwrap();
            <ann_ledger::Block as ann_ledger::Decode>::decode(&hex::decode(info.hex).unwrap())
                .unwrap()
        })
        .collect();
    miner.shutdown();
    let stored = |block: &ann_ledger::Block| h.block(&block.hash()).is_ok();

    // Gossiped, unrequested: its branch (1 block) is lighter than the tip (5): not stored.
    let mut gossiper = RawPeer::start(genesis());
    gossiper.connect(&h);
    gossiper.net.publish_block(&branch[0]).unwrap();
    // A block of the best chain gossiped after it is processed after it.
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        !stored(&branch[0]),
        "a lighter side block from gossip was stored"
    );

    // A peer claiming a heavier chain whose headers show the 2-block branch: nothing of it is
    // downloaded, and the claim is a lie.
    let mut liar = RawPeer::start(genesis());
    liar.net.dial(h.listen_address()).unwrap();
    let asked_for_blocks = std::sync::atomic::AtomicBool::new(false);
    let headers: Vec<_> = branch.iter().map(|b| b.header.clone()).collect();
    answer_requests(&mut liar, |request| match request {
        Request::Status(_) => Some(Response::Status(Status {
            genesis: genesis(),
            tip: branch[1].hash(),
            height: 1_000,
            work: u128::MAX / 2,
        })),
        Request::Headers { .. } => Some(Response::Headers(headers.clone())),
        Request::Blocks(_) => {
            asked_for_blocks.store(true, std::sync::atomic::Ordering::SeqCst);
            Some(Response::Blocks(branch.clone()))
        }
        _ => None,
    });
    assert!(snapshot(&h).banned.contains(&liar.net.peer_id()));
    assert!(
        !asked_for_blocks.load(std::sync::atomic::Ordering::SeqCst),
        "the blocks of a lighter branch were downloaded"
    );
    assert!(!stored(&branch[0]) && !stored(&branch[1]));
    assert_eq!(snapshot(&h).height, 5);
}

#[test]
fn the_rpc_answers_a_wallet() {
    let node = start(&[], 60);
    let address = node.handle().rpc_address().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let credentials = node.handle().rpc_credentials().unwrap().clone();
    let client = ann_node::rpc::client(&format!("http://{address}"), &credentials).unwrap();
    runtime.block_on(async {
        let info = client.get_blockchain_info().await.unwrap();
        assert_eq!(info.blocks, 0);
        assert_eq!(info.genesis, genesis().to_string());

        let payee = wallet(3);
        let tx = payment(0, &payee, 5_000);
        let txid = client
            .send_raw_transaction(hex::encode(tx.encode()))
            .await
            .unwrap();
        assert_eq!(txid, tx.txid().to_string());
        assert_eq!(client.get_mempool_info().await.unwrap().size, 1);
        // The same coin again, to someone else: a double spend.
        let conflict = payment(0, &wallet(4), 6_000);
        let error = client
            .send_raw_transaction(hex::encode(conflict.encode()))
            .await
            .unwrap_err();
        assert!(error.to_string().contains("-26"), "{error}");
        let error = client.send_raw_transaction("zz".into()).await.unwrap_err();
        assert!(error.to_string().contains("-8"), "{error}");

        let mined = client.generate(1).await.unwrap();
        assert_eq!(client.get_block_hash(1).await.unwrap(), mined[0]);
        let block = client.get_block(mined[0].clone()).await.unwrap();
        assert_eq!(block.height, 1);
        assert!(block.in_best_chain);
        assert_eq!(block.tx[1], txid);
        let utxos = client
            .get_address_utxos(payee.address().to_string())
            .await
            .unwrap();
        assert_eq!(utxos.len(), 1);
        assert_eq!(utxos[0].amount, 5_000);
        assert!(utxos[0].spendable);
        // The payee spends it from what the RPC told it, as the wallet example does.
        let coins = utxos.iter().map(|u| u.to_coin().unwrap()).collect();
        let back = payee
            .pay_from(
                coins,
                wallet(1).address(),
                Amount::from_base_units(1_000).unwrap(),
                Amount::from_base_units(1_000).unwrap(),
            )
            .unwrap();
        let back_id = client
            .send_raw_transaction(hex::encode(back.encode()))
            .await
            .unwrap();
        assert_eq!(back_id, back.txid().to_string());
        let utxos = client
            .get_address_utxos(payee.address().to_string())
            .await
            .unwrap();
        assert!(
            !utxos[0].spendable,
            "an output spent in the pool is not spendable"
        );
        let out = client.get_tx_out(txid.clone(), 0).await.unwrap().unwrap();
        assert_eq!(out.address, payee.address().to_string());
        assert_eq!(client.get_tx_out(txid, 9).await.unwrap(), None);
        let error = client.get_block("00".into()).await.unwrap_err();
        assert!(error.to_string().contains("-8"), "{error}");
        assert!(client.get_peer_info().await.unwrap().is_empty());
        assert_eq!(client.get_blockchain_info().await.unwrap().blocks, 1);
    });
}

/// One HTTP/1.1 POST of `body` to the node's RPC server, written by hand so that the test
/// chooses every header (a browser's `Origin`, a rebinding attacker's `Host`); the status and
/// the whole answer.
fn raw_rpc(address: std::net::SocketAddr, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut request = format!(
        "POST / HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
    (status, answer)
}

#[test]
fn the_rpc_runs_nothing_without_credentials_or_for_a_web_page() {
    let dir = tempfile::tempdir().unwrap();
    let cookie_path = dir.path().join(".cookie");
    let mut config = config(&[], 61);
    let mut rpc = ann_node::RpcConfig::local().with_cookie_file(&cookie_path);
    rpc.user = Some(ann_node::RpcCredentials::new("alice", "correct horse").unwrap());
    config.rpc = Some(rpc);
    let node = start_with(config, Chain::new(params()).unwrap(), 61);
    let handle = node.handle();
    let address = handle.rpc_address().unwrap();

    // The cookie on disk is the node's, and only its user can read it.
    let cookie = ann_node::RpcCredentials::from_cookie_file(&cookie_path).unwrap();
    assert_eq!(cookie.user(), ann_node::rpc::COOKIE_USER);
    assert_eq!(
        cookie.authorization(),
        handle.rpc_credentials().unwrap().authorization()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&cookie_path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }

    let generate = r#"{"jsonrpc":"2.0","id":1,"method":"generate","params":[1]}"#;
    let host = address.to_string();
    let good = cookie.authorization();
    let good = good.to_str().unwrap();
    let wrong = ann_node::RpcCredentials::new(ann_node::rpc::COOKIE_USER, "0".repeat(64))
        .unwrap()
        .authorization();
    let alice = ann_node::RpcCredentials::new("alice", "correct horse")
        .unwrap()
        .authorization();
    /// What a request is, its headers, and the status it must get.
    type Attempt<'a> = (&'a str, &'a [(&'a str, &'a str)], u16);
    let refused: [Attempt<'_>; 6] = [
        ("no credentials", &[("Host", &host)], 401),
        (
            "a wrong cookie",
            &[("Host", &host), ("Authorization", wrong.to_str().unwrap())],
            401,
        ),
        (
            "a user and no password",
            &[("Host", &host), ("Authorization", "Basic YWxpY2U6")],
            401,
        ),
        // DNS rebinding: a page of attacker.example whose name now resolves to 127.0.0.1.
        (
            "another host",
            &[("Host", "attacker.example:80"), ("Authorization", good)],
            403,
        ),
        (
            "a page elsewhere",
            &[
                ("Host", &host),
                ("Origin", "https://attacker.example"),
                ("Authorization", good),
            ],
            403,
        ),
        (
            "a page elsewhere, no credentials",
            &[("Host", &host), ("Origin", "null")],
            403,
        ),
    ];
    for (what, headers, status) in refused {
        let (got, answer) = raw_rpc(address, headers, generate);
        assert_eq!(got, status, "{what}: {answer}");
        assert!(!answer.contains("\"result\""), "{what}: {answer}");
        if status == 401 {
            assert!(
                answer.contains("WWW-Authenticate") || answer.contains("www-authenticate"),
                "{answer}"
            );
        }
    }
    assert_eq!(handle.chain_info().unwrap().blocks, 0, "a refused call ran");

    // With the cookie, or the configured user, the same call runs.
    let (status, answer) = raw_rpc(
        address,
        &[("Host", &host), ("Authorization", good)],
        generate,
    );
    assert_eq!(status, 200, "{answer}");
    let localhost = format!("localhost:{}", address.port());
    let (status, answer) = raw_rpc(
        address,
        &[
            ("Host", &localhost),
            ("Authorization", alice.to_str().unwrap()),
        ],
        generate,
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(handle.chain_info().unwrap().blocks, 2);

    // The cookie lives as long as the node.
    node.shutdown();
    assert!(!cookie_path.exists(), "the cookie outlived its node");
}
