//! Block import into a fresh store: blocks of 100 one-input payments (plus the coinbase) are
//! submitted to a `Chain` on a new `ann_store::Store` in a temporary directory, each import one
//! durable redb transaction (fsync included). The same import into the ledger's
//! `MemoryChainStore` is measured alongside, so the difference is what persistence costs.
//!
//! A second group imports one empty block into chains of 1,000 and 20,000 blocks on both
//! stores: the cost of an import must not grow with the chain's length.
//!
//! Run: `cargo bench --bench store -- --warm-up-time 1 --measurement-time 5`.

use std::hint::black_box;

use ann_ledger::{
    Amount, Block, BlockHeader, Chain, ChainParams, ChainStore, Difficulty, MemoryChainStore,
    Mempool, ProofVerifier, TxOut, Wallet,
};
use ann_store::Store;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::SigningKey;

const PAYMENTS_PER_BLOCK: usize = 100;
const BLOCKS: usize = 20;
const GENESIS_TIME: u64 = 1_700_000_000;
const NOW: u64 = GENESIS_TIME + 1_000_000;

/// The bench measures storage, not training: it accepts every proof (proof verification is
/// measured in the mining bench).
struct NoProof;

impl ProofVerifier for NoProof {
    type Error = std::convert::Infallible;
    fn verify_proof(&self, _: &BlockHeader) -> Result<(), Self::Error> {
        Ok(())
    }
}

fn wallet(i: usize) -> Wallet {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
    Wallet::new(SigningKey::from_bytes(&seed))
}

/// The parameters and `BLOCKS` blocks of `PAYMENTS_PER_BLOCK` payments each: every wallet
/// pays one coin to the next in every block, spending its change from the block before.
fn fixture() -> (ChainParams, Vec<Block>) {
    let wallets: Vec<Wallet> = (0..PAYMENTS_PER_BLOCK).map(wallet).collect();
    let allocations = wallets
        .iter()
        .map(|w| TxOut {
            amount: Amount::from_coins(1_000).expect("small"),
            address: w.address(),
        })
        .collect();
    let target = Difficulty::regtest();
    let params = ChainParams::new(allocations, GENESIS_TIME, target);
    let mut chain = Chain::new(params.clone()).expect("genesis");
    let one = Amount::from_coins(1).expect("small");
    let mut blocks = Vec::with_capacity(BLOCKS);
    for height in 1..=BLOCKS {
        let mut mempool = Mempool::new();
        for (i, from) in wallets.iter().enumerate() {
            let to = wallets[(i + 1) % wallets.len()].address();
            let payment = from
                .pay(&chain, Some(&mempool), to, one, Amount::ZERO)
                .expect("funded");
            mempool.add(payment, &chain).expect("valid payment");
        }
        let timestamp = GENESIS_TIME + 600 * height as u64;
        let block = chain
            .block_template(&mempool, wallets[0].address(), timestamp)
            .expect("chain store");
        assert_eq!(block.transactions.len(), PAYMENTS_PER_BLOCK + 1);
        chain
            .submit_block(block.clone(), NOW, &NoProof)
            .expect("valid block");
        blocks.push(block);
    }
    (params, blocks)
}

fn import<S: ChainStore>(mut chain: Chain<S>, blocks: &[Block]) -> Chain<S> {
    for block in blocks {
        chain
            .submit_block(block.clone(), NOW, &NoProof)
            .expect("valid block");
    }
    chain
}

fn bench_import(c: &mut Criterion) {
    let (params, blocks) = fixture();
    let mut group = c.benchmark_group("import 20 blocks of 100 payments");
    group.throughput(Throughput::Elements(BLOCKS as u64));
    group.sample_size(10);
    group.bench_function("redb store", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().expect("temp dir");
                let store = Store::open(dir.path()).expect("new store");
                let chain = Chain::open(params.clone(), store).expect("genesis");
                (dir, chain)
            },
            |(dir, chain)| {
                let chain = import(chain, &blocks);
                black_box(chain.tip());
                // Removing the directory is setup cost, not import: drop it outside the timing
                // as far as criterion allows (it is returned and dropped after measurement).
                (dir, chain)
            },
            BatchSize::PerIteration,
        );
    });
    group.bench_function("memory store", |b| {
        b.iter_batched(
            || Chain::open(params.clone(), MemoryChainStore::new()).expect("genesis"),
            |chain| black_box(import(chain, &blocks).tip()),
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

/// A coinbase-only block on the tip (ground until its ticket wins, almost always at once).
fn empty_block<S: ChainStore>(chain: &Chain<S>, miner: &Wallet) -> Block {
    let timestamp = chain.tip_block().header.timestamp + 600;
    let mut block = chain
        .block_template(&Mempool::new(), miner.address(), timestamp)
        .expect("template");
    while !block.header.meets_target() {
        block.header.timestamp += 1;
    }
    block
}

/// Importing one empty block at two chain lengths, on both stores: flat means the same time.
/// The block is built outside the timing.
fn bench_import_by_length(c: &mut Criterion) {
    let miner = wallet(0);
    let params = ChainParams::new(
        vec![TxOut {
            amount: Amount::from_coins(10).expect("small"),
            address: miner.address(),
        }],
        GENESIS_TIME,
        Difficulty::regtest(),
    );
    let far = GENESIS_TIME + 600 * 10_000_000;
    let mut group = c.benchmark_group("import an empty block, by chain length");
    for length in [1_000u64, 20_000] {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut store = Store::open(dir.path()).expect("new store");
        // Build fast, then measure with every commit durable, as a node runs.
        store.set_durable_every(std::num::NonZeroU32::new(10_000).expect("nonzero"));
        let mut on_redb = Chain::open(params.clone(), store).expect("genesis");
        let mut in_memory = Chain::open(params.clone(), MemoryChainStore::new()).expect("genesis");
        for _ in 0..length {
            let block = empty_block(&on_redb, &miner);
            on_redb
                .submit_block(block.clone(), far, &NoProof)
                .expect("valid");
            in_memory.submit_block(block, far, &NoProof).expect("valid");
        }
        let mut store = on_redb.into_store();
        store.flush().expect("flush");
        store.set_durable_every(std::num::NonZeroU32::MIN);
        let mut on_redb = Chain::open(params.clone(), store).expect("reopen");
        group.bench_function(
            format!("redb store (every commit durable) at {length}"),
            |b| {
                b.iter_custom(|iters| time_imports(&mut on_redb, &miner, far, iters));
            },
        );
        group.bench_function(format!("memory store at {length}"), |b| {
            b.iter_custom(|iters| time_imports(&mut in_memory, &miner, far, iters));
        });
    }
    group.finish();
}

/// The time `iters` imports of an empty block take, each built outside the timing.
fn time_imports<S: ChainStore>(
    chain: &mut Chain<S>,
    miner: &Wallet,
    now: u64,
    iters: u64,
) -> std::time::Duration {
    let mut total = std::time::Duration::ZERO;
    for _ in 0..iters {
        let block = empty_block(chain, miner);
        let started = std::time::Instant::now();
        black_box(chain.submit_block(block, now, &NoProof).expect("valid"));
        total += started.elapsed();
    }
    total
}

criterion_group!(benches, bench_import, bench_import_by_length);
criterion_main!(benches);
