//! The on-disk layout, schema version 3 (2: the work-target header of proof of training v2;
//! 3: the blocks-by-height index, the best-chain index written from each change-set): file
//! names, the format marker and the redb tables.
//!
//! `docs/store-format.md` specifies every table byte by byte; this module is its source of
//! truth. Changing a table's key or value layout requires a new [`SCHEMA_VERSION`].

use redb::TableDefinition;

/// The redb file inside a store directory.
pub const DATABASE_FILE: &str = "chain.redb";

/// Name under which a new database is built before it is renamed to [`DATABASE_FILE`], so that
/// [`DATABASE_FILE`] exists only once its format marker is durable.
pub const CREATING_FILE: &str = "chain.redb.creating";

/// Directory (inside the store directory) for content-addressed training artifacts.
pub const ARTIFACT_DIR: &str = "artifacts";

/// Value of the `magic` entry of the `format` table: identifies a blockchain-ann store.
pub const MAGIC: &[u8] = b"blockchain-ann/store";

/// The schema this version of `ann-store` reads and writes.
pub const SCHEMA_VERSION: u32 = 3;

/// Key of the magic in [`FORMAT`].
pub(crate) const FORMAT_MAGIC: &str = "magic";
/// Key of the schema version (`u32` little-endian) in [`FORMAT`].
pub(crate) const FORMAT_SCHEMA_VERSION: &str = "schema_version";
/// Key of the best block hash in [`CHAIN_STATE`].
pub(crate) const STATE_TIP: &str = "tip";

/// Format marker: `magic` and `schema_version`.
pub(crate) const FORMAT: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("format");
/// Block hash -> canonical block encoding.
pub(crate) const BLOCKS: TableDefinition<'_, &[u8; 32], &[u8]> = TableDefinition::new("blocks");
/// Block hash -> canonical `BlockMeta` encoding.
pub(crate) const BLOCK_META: TableDefinition<'_, &[u8; 32], &[u8]> =
    TableDefinition::new("block_meta");
/// (Height, block hash) -> nothing: every stored block by height, on every branch.
pub(crate) const BLOCKS_BY_HEIGHT: TableDefinition<'_, (u64, &[u8; 32]), ()> =
    TableDefinition::new("blocks_by_height");
/// Block hash -> canonical `BlockUndo` encoding.
pub(crate) const UNDO: TableDefinition<'_, &[u8; 32], &[u8]> = TableDefinition::new("undo");
/// Outpoint encoding (txid, vout LE) -> canonical `UtxoEntry` encoding.
pub(crate) const UTXOS: TableDefinition<'_, &[u8; 36], &[u8]> = TableDefinition::new("utxos");
/// Singletons of the chain state: `tip`.
pub(crate) const CHAIN_STATE: TableDefinition<'_, &str, &[u8]> =
    TableDefinition::new("chain_state");
/// Height -> block hash of the best chain (rewritten from each change-set's best-chain entries).
pub(crate) const BEST_CHAIN: TableDefinition<'_, u64, &[u8; 32]> =
    TableDefinition::new("best_chain");
/// Block hash -> artifact record (the mining side chain).
pub(crate) const ARTIFACTS: TableDefinition<'_, &[u8; 32], &[u8]> =
    TableDefinition::new("artifacts");
