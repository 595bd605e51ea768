//! The wallet-facing JSON-RPC interface (jsonrpsee over HTTP), bound to 127.0.0.1 by default.
//! Method names follow Bitcoin Core where one fits: `getblockchaininfo`, `getblockhash`,
//! `getblock`, `gettxout`, `getaddressutxos`, `sendrawtransaction`, `getpeerinfo`,
//! `getmempoolinfo`; `generate` mines blocks on a node that has a miner.
//!
//! Hashes, transaction ids and raw transactions travel as lowercase hex; amounts as base
//! units (`u64`); cumulative work as a decimal string (it can pass 2^53).
//!
//! Every call needs credentials (HTTP basic authentication: the node's cookie, or a user from
//! [`RpcConfig::user`]), a `Host` header that names the server, and no `Origin` header but
//! those [`RpcConfig::allowed_origins`] lists: a request that lacks one gets 401 or 403 and
//! nothing runs. [`client`] builds a client that sends the credentials.

use std::net::SocketAddr;

use ann_ledger::{Amount, OutPoint, TxOut, UtxoEntry};
use jsonrpsee::core::{RpcResult, async_trait};
use jsonrpsee::proc_macros::rpc;
use jsonrpsee::server::{Server, ServerConfig, ServerHandle};
use jsonrpsee::types::ErrorObjectOwned;
use serde::{Deserialize, Serialize};

use crate::node::{Input, Query, QueryError};
pub use crate::rpc_auth::{COOKIE_USER, CredentialsError, RpcConfig, RpcCredentials, client};
use crate::rpc_auth::{GuardLayer, Policy};

/// `getblockchaininfo`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainInfo {
    /// The genesis block's hash (names the chain).
    pub genesis: String,
    /// Height of the best block.
    pub blocks: u64,
    /// Hash of the best block.
    pub bestblockhash: String,
    /// Cumulative expected work of the best chain, in tickets (decimal).
    pub chainwork: String,
    /// The compact work target the next block must carry.
    pub next_bits: u32,
    /// Peers connected.
    pub peers: usize,
    /// Blocks still to download from peers.
    pub downloading: usize,
}

/// A transaction output, for `gettxout` and `getaddressutxos`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UtxoInfo {
    /// The transaction that created it.
    pub txid: String,
    /// Its index there.
    pub vout: u32,
    /// Amount in base units.
    pub amount: u64,
    /// The address it pays.
    pub address: String,
    /// Height of the block that created it.
    pub height: u64,
    /// Whether a coinbase created it.
    pub coinbase: bool,
    /// Whether it can be spent in the next block (mature, and not spent in the mempool).
    pub spendable: bool,
}

/// Why an RPC answer does not describe a valid output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the node's answer is not a valid output: {0}")]
pub struct MalformedAnswer(String);

impl UtxoInfo {
    /// The output as a wallet spends it ([`ann_ledger::Wallet::pay_from`]).
    ///
    /// # Errors
    /// [`MalformedAnswer`] if the txid, amount or address does not parse.
    pub fn to_coin(&self) -> Result<(OutPoint, UtxoEntry), MalformedAnswer> {
        let bad = |what: &str, e: &dyn std::fmt::Display| MalformedAnswer(format!("{what}: {e}"));
        Ok((
            OutPoint {
                txid: self.txid.parse().map_err(|e| bad("txid", &e))?,
                vout: self.vout,
            },
            UtxoEntry {
                output: TxOut {
                    amount: Amount::from_base_units(self.amount).map_err(|e| bad("amount", &e))?,
                    address: self.address.parse().map_err(|e| bad("address", &e))?,
                },
                height: self.height,
                is_coinbase: self.coinbase,
            },
        ))
    }
}

/// `getblock`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockInfo {
    /// Its hash.
    pub hash: String,
    /// Height.
    pub height: u64,
    /// Parent's hash.
    pub previousblockhash: String,
    /// Timestamp (seconds since the Unix epoch).
    pub time: u64,
    /// Compact work target.
    pub bits: u32,
    /// Optimizer steps its proof trained.
    pub steps: u64,
    /// Whether it is on the best chain.
    pub in_best_chain: bool,
    /// Transaction ids, coinbase first.
    pub tx: Vec<String>,
    /// The canonical encoding, hex.
    pub hex: String,
}

/// `getpeerinfo`: one connected peer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// The peer's libp2p id.
    pub id: String,
    /// Its best height, from its last status (absent before the first).
    pub height: Option<u64>,
    /// Its best block.
    pub tip: Option<String>,
}

/// `getmempoolinfo`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MempoolInfo {
    /// Transactions held.
    pub size: usize,
    /// Their encoded size.
    pub bytes: usize,
}

/// The interface; jsonrpsee generates `NodeRpcServer` (implemented by the node) and
/// `NodeRpcClient` (implemented by its HTTP and WebSocket clients).
#[rpc(server, client)]
pub trait NodeRpc {
    /// The chain's state.
    #[method(name = "getblockchaininfo")]
    async fn get_blockchain_info(&self) -> RpcResult<ChainInfo>;

    /// The best chain's block hash at `height`.
    #[method(name = "getblockhash")]
    async fn get_block_hash(&self, height: u64) -> RpcResult<String>;

    /// A block by hash.
    #[method(name = "getblock")]
    async fn get_block(&self, hash: String) -> RpcResult<BlockInfo>;

    /// An unspent output, or null if it is spent or never existed.
    #[method(name = "gettxout")]
    async fn get_tx_out(&self, txid: String, vout: u32) -> RpcResult<Option<UtxoInfo>>;

    /// The unspent outputs paying `address` at the tip.
    #[method(name = "getaddressutxos")]
    async fn get_address_utxos(&self, address: String) -> RpcResult<Vec<UtxoInfo>>;

    /// Submits a signed transaction (canonical encoding, hex) to the pool and gossips it;
    /// returns its id.
    #[method(name = "sendrawtransaction")]
    async fn send_raw_transaction(&self, hex: String) -> RpcResult<String>;

    /// Connected peers.
    #[method(name = "getpeerinfo")]
    async fn get_peer_info(&self) -> RpcResult<Vec<PeerInfo>>;

    /// The pool's size.
    #[method(name = "getmempoolinfo")]
    async fn get_mempool_info(&self) -> RpcResult<MempoolInfo>;

    /// Mines `blocks` blocks on this node's tip and returns their hashes (a node without a
    /// miner refuses).
    #[method(name = "generate")]
    async fn generate(&self, blocks: u32) -> RpcResult<Vec<String>>;
}

/// JSON-RPC error codes (Bitcoin Core's where they exist).
pub mod codes {
    /// A parameter is malformed (`RPC_INVALID_PARAMETER`).
    pub const INVALID_PARAMETER: i32 = -8;
    /// Not found (`RPC_INVALID_ADDRESS_OR_KEY`).
    pub const NOT_FOUND: i32 = -5;
    /// The transaction was refused (`RPC_VERIFY_REJECTED`).
    pub const REJECTED: i32 = -26;
    /// The node cannot do it (`RPC_MISC_ERROR`).
    pub const MISC: i32 = -1;
}

fn to_rpc(error: QueryError) -> ErrorObjectOwned {
    let code = match &error {
        QueryError::InvalidParameter(_) => codes::INVALID_PARAMETER,
        QueryError::NotFound(_) => codes::NOT_FOUND,
        QueryError::Rejected(_) => codes::REJECTED,
        QueryError::Unavailable(_) | QueryError::Stopped => codes::MISC,
    };
    ErrorObjectOwned::owned(code, error.to_string(), None::<()>)
}

struct RpcServer {
    inputs: std::sync::mpsc::Sender<Input>,
}

impl RpcServer {
    async fn ask<T>(
        &self,
        query: impl FnOnce(tokio::sync::oneshot::Sender<Result<T, QueryError>>) -> Query,
    ) -> RpcResult<T> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.inputs
            .send(Input::Query(query(reply)))
            .map_err(|_| to_rpc(QueryError::Stopped))?;
        answer
            .await
            .map_err(|_| to_rpc(QueryError::Stopped))?
            .map_err(to_rpc)
    }
}

#[async_trait]
impl NodeRpcServer for RpcServer {
    async fn get_blockchain_info(&self) -> RpcResult<ChainInfo> {
        self.ask(Query::ChainInfo).await
    }

    async fn get_block_hash(&self, height: u64) -> RpcResult<String> {
        self.ask(|reply| Query::BlockHash { height, reply }).await
    }

    async fn get_block(&self, hash: String) -> RpcResult<BlockInfo> {
        self.ask(|reply| Query::Block { hash, reply }).await
    }

    async fn get_tx_out(&self, txid: String, vout: u32) -> RpcResult<Option<UtxoInfo>> {
        self.ask(|reply| Query::TxOut { txid, vout, reply }).await
    }

    async fn get_address_utxos(&self, address: String) -> RpcResult<Vec<UtxoInfo>> {
        self.ask(|reply| Query::AddressUtxos { address, reply })
            .await
    }

    async fn send_raw_transaction(&self, hex: String) -> RpcResult<String> {
        self.ask(|reply| Query::SendRawTransaction { hex, reply })
            .await
    }

    async fn get_peer_info(&self) -> RpcResult<Vec<PeerInfo>> {
        self.ask(Query::Peers).await
    }

    async fn get_mempool_info(&self) -> RpcResult<MempoolInfo> {
        self.ask(Query::MempoolInfo).await
    }

    async fn generate(&self, blocks: u32) -> RpcResult<Vec<String>> {
        self.ask(|reply| Query::Generate { blocks, reply }).await
    }
}

/// Starts the server that `config` describes (on the current tokio runtime), accepting
/// `accepted` credentials and nothing else.
pub(crate) fn serve(
    config: &RpcConfig,
    accepted: &[&RpcCredentials],
    inputs: std::sync::mpsc::Sender<Input>,
) -> std::io::Result<(SocketAddr, ServerHandle)> {
    // Bound first: the allowed `Host` values name the port.
    let listener = std::net::TcpListener::bind(config.address)?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    let guard = GuardLayer(std::sync::Arc::new(Policy::new(config, local, accepted)));
    // A raw transaction is at most a block; hex doubles it.
    let limits = ServerConfig::builder()
        .max_request_body_size(2 * ann_ledger::MAX_BLOCK_SIZE as u32 + 1024)
        .max_connections(64)
        .build();
    let server = Server::builder()
        .set_config(limits)
        .set_http_middleware(tower::ServiceBuilder::new().layer(guard))
        .build_from_tcp(listener)?;
    let handle = server.start(RpcServer { inputs }.into_rpc());
    Ok((local, handle))
}
