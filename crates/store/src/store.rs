//! [`Store`]: a store directory holding one redb database and the artifact files, implementing
//! [`ChainStore`].

use std::fs;
use std::path::{Path, PathBuf};

use ann_ledger::encoding::HEADER_SIZE;
use ann_ledger::{
    Block, BlockHash, BlockHeader, BlockMeta, BlockUndo, ChainStore, ChangeSet, Decode, OutPoint,
    StoredBlock, UtxoEntry, encode,
};
use redb::{
    Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, StorageError, Table,
    TableDefinition, TableError,
};

use crate::artifact::{ArtifactFile, ArtifactRecord, ArtifactRole, SideChainEntry};
use crate::error::{ArtifactRecordError, CommitError, LoadError, OpenError, dbe};
use crate::schema::{
    ARTIFACT_DIR, ARTIFACTS, BEST_CHAIN, BLOCK_META, BLOCKS, BLOCKS_BY_HEIGHT, CHAIN_STATE,
    CREATING_FILE, DATABASE_FILE, FORMAT, FORMAT_MAGIC, FORMAT_SCHEMA_VERSION, MAGIC,
    SCHEMA_VERSION, STATE_TIP, UNDO, UTXOS,
};

/// A persistent chain store: a directory holding `chain.redb` (blocks, side branches, undo
/// data, the UTXO set, the tip and the mining side chain) and `artifacts/` (the training
/// artifact files).
///
/// Every [`ChainStore::commit`] is one redb write transaction with immediate durability: when
/// it returns `Ok`, the import is on disk; after a crash at any point, the store holds the
/// state before or after each import, never in between ([`Store::set_durable_every`] trades
/// the first guarantee for speed during a bulk import, never the second). The chain reads its
/// state back through the [`ChainStore`] queries, one short read transaction each.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    db: Database,
    /// Every this many commits, one is made durable ([`Store::set_durable_every`]).
    durable_every: u32,
    /// Commits since the last durable one.
    since_durable: u32,
}

impl Store {
    /// Opens the store in `dir`, creating it (and `dir`) if `dir` does not exist or is empty.
    ///
    /// The database's checksums and structure are checked on open, so a damaged file is an
    /// error here rather than a surprise later.
    ///
    /// # Errors
    /// [`OpenError`]: `dir` is a file, or a non-empty directory without a store; the database
    /// is not redb, is damaged, is another application's, has a newer or unknown schema, or is
    /// open elsewhere; or I/O failed.
    pub fn open(dir: impl AsRef<Path>) -> Result<Store, OpenError> {
        let dir = dir.as_ref().to_path_buf();
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| OpenError::Io { path, source }
        };
        match fs::metadata(&dir) {
            Ok(meta) if !meta.is_dir() => return Err(OpenError::NotADirectory { path: dir }),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs::create_dir_all(&dir).map_err(io(&dir))?;
            }
            Err(e) => return Err(io(&dir)(e)),
        }
        let db_path = dir.join(DATABASE_FILE);
        if !db_path.try_exists().map_err(io(&db_path))? {
            create_database(&dir)?;
        }
        let db = open_database(&db_path)?;
        let artifacts = dir.join(ARTIFACT_DIR);
        fs::create_dir_all(&artifacts).map_err(io(&artifacts))?;
        Ok(Store {
            dir,
            db,
            durable_every: 1,
            since_durable: 0,
        })
    }

    /// Makes only every `commits`-th commit durable (fsynced before it returns); the others
    /// are written without waiting for the disk (1, the default: every commit is durable).
    ///
    /// Each commit stays atomic: after a crash the store holds the state after some commit,
    /// at most `commits - 1` imports before the last one that returned, never a part of one.
    /// For a bulk import (initial sync, the `chain-scale` example), where an import lost in a
    /// crash is simply fetched again; call [`Store::flush`] when done.
    pub fn set_durable_every(&mut self, commits: std::num::NonZeroU32) {
        self.durable_every = commits.get();
    }

    /// Makes every commit so far durable (a no-op if the last one was).
    ///
    /// # Errors
    /// [`CommitError`] if the database fails.
    pub fn flush(&mut self) -> Result<(), CommitError> {
        if self.since_durable == 0 {
            return Ok(());
        }
        let txn = self.db.begin_write().map_err(dbe)?;
        txn.commit().map_err(dbe)?;
        self.since_durable = 0;
        Ok(())
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The redb database file.
    pub fn database_path(&self) -> PathBuf {
        self.dir.join(DATABASE_FILE)
    }

    /// The directory for artifact files (`<dir>/artifacts`, created by [`Store::open`]): open
    /// `ann-mining`'s `ArtifactStore` on it and write the files before the block is submitted.
    pub fn artifact_dir(&self) -> PathBuf {
        self.dir.join(ARTIFACT_DIR)
    }

    /// Describes an existing artifact file for a record: `path` (absolute, or relative to the
    /// current directory) must lie inside the store directory; its size is read from disk.
    ///
    /// # Errors
    /// [`ArtifactRecordError`]: the file is outside the store, missing, or not a regular file.
    pub fn artifact_file(
        &self,
        role: ArtifactRole,
        path: impl AsRef<Path>,
    ) -> Result<ArtifactFile, ArtifactRecordError> {
        let path = path.as_ref();
        let io = |source| ArtifactRecordError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = fs::canonicalize(path).map_err(io)?;
        let root = fs::canonicalize(&self.dir).map_err(|source| ArtifactRecordError::Io {
            path: self.dir.clone(),
            source,
        })?;
        let relative = file
            .strip_prefix(&root)
            .map_err(|_| ArtifactRecordError::InvalidPath {
                path: path.to_path_buf(),
                reason: "lies outside the store directory",
            })?;
        let parts: Option<Vec<&str>> = relative
            .components()
            .map(|c| c.as_os_str().to_str())
            .collect();
        let relative = parts
            .ok_or(ArtifactRecordError::InvalidPath {
                path: path.to_path_buf(),
                reason: "is not UTF-8",
            })?
            .join("/");
        crate::artifact::validate_relative_path(&relative)?;
        let meta = fs::metadata(&file).map_err(io)?;
        if !meta.is_file() {
            return Err(ArtifactRecordError::NotAFile {
                path: path.to_path_buf(),
            });
        }
        Ok(ArtifactFile {
            role,
            path: relative,
            size: meta.len(),
        })
    }

    /// Where a recorded artifact file lies on disk.
    pub fn artifact_path(&self, file: &ArtifactFile) -> PathBuf {
        file.path
            .split('/')
            .fold(self.dir.clone(), |p, c| p.join(c))
    }

    /// Checks that a recorded artifact file exists with its recorded size (its content is
    /// checked by `ann-mining`, which knows how to hash it).
    ///
    /// # Errors
    /// [`ArtifactRecordError`]: missing, not a file, or a different size.
    pub fn check_artifact_file(&self, file: &ArtifactFile) -> Result<(), ArtifactRecordError> {
        crate::artifact::validate_relative_path(&file.path)?;
        let path = self.artifact_path(file);
        let meta = fs::metadata(&path).map_err(|source| ArtifactRecordError::Io {
            path: path.clone(),
            source,
        })?;
        if !meta.is_file() {
            return Err(ArtifactRecordError::NotAFile { path });
        }
        if meta.len() != file.size {
            return Err(ArtifactRecordError::SizeMismatch {
                path,
                expected: file.size,
                found: meta.len(),
            });
        }
        Ok(())
    }

    /// The artifact record (the mining side-chain entry) of the block with `header`, to be
    /// written in the same transaction as that block: `chain.submit_block_with(block, record,
    /// ..)`. `header` must be final (training commitment and timestamp set): the record is
    /// keyed by its hash, and a commit of another block with it is refused.
    ///
    /// Each file must already be on disk with its size: artifacts are written before the block.
    ///
    /// # Errors
    /// [`ArtifactRecordError`] for an invalid path, a missing file, or a size mismatch.
    pub fn artifact_record(
        &self,
        header: &BlockHeader,
        files: Vec<ArtifactFile>,
    ) -> Result<ArtifactRecord, ArtifactRecordError> {
        let record = ArtifactRecord::new(header, files)?;
        for file in &record.files {
            self.check_artifact_file(file)?;
        }
        Ok(record)
    }

    /// Records (or replaces) the artifacts of a block already in the store, in a transaction of
    /// its own.
    ///
    /// # Errors
    /// [`ArtifactRecordError`] for a bad file or an unknown block (as [`crate::StoreError`]), or a
    /// database failure.
    pub fn record_artifacts(
        &self,
        header: &BlockHeader,
        files: Vec<ArtifactFile>,
    ) -> Result<(), crate::StoreError> {
        let record = self.artifact_record(header, files)?;
        let mut txn = self
            .db
            .begin_write()
            .map_err(|e| CommitError::Database(dbe(e)))?;
        txn.set_two_phase_commit(true);
        {
            let blocks = txn
                .open_table(BLOCKS)
                .map_err(|e| CommitError::Database(dbe(e)))?;
            let known = blocks
                .get(record.block_hash.as_bytes())
                .map_err(|e| CommitError::Database(dbe(e)))?
                .is_some();
            if !known {
                return Err(ArtifactRecordError::UnknownBlock(record.block_hash).into());
            }
            let mut artifacts = txn
                .open_table(ARTIFACTS)
                .map_err(|e| CommitError::Database(dbe(e)))?;
            artifacts
                .insert(
                    record.block_hash.as_bytes(),
                    record.encode_value().as_slice(),
                )
                .map_err(|e| CommitError::Database(dbe(e)))?;
        }
        txn.commit().map_err(|e| CommitError::Database(dbe(e)))?;
        Ok(())
    }

    /// The artifact record of a block, if one was recorded.
    ///
    /// # Errors
    /// [`LoadError`] if the database fails or the record does not decode.
    pub fn artifacts(&self, block: &BlockHash) -> Result<Option<ArtifactRecord>, LoadError> {
        let txn = self.db.begin_read().map_err(dbe)?;
        let table = open_read(&txn, ARTIFACTS)?;
        read_artifacts(&table, block)
    }

    /// The best block, or `None` before the first commit.
    ///
    /// # Errors
    /// [`LoadError`] if the database fails or the tip is malformed.
    pub fn tip(&self) -> Result<Option<BlockHash>, LoadError> {
        let txn = self.db.begin_read().map_err(dbe)?;
        let state = open_read(&txn, CHAIN_STATE)?;
        read_tip(&state)
    }

    /// The hashes of the best chain, genesis first (index = height).
    ///
    /// # Errors
    /// [`LoadError`] if the database fails or the index has a gap.
    pub fn best_chain(&self) -> Result<Vec<BlockHash>, LoadError> {
        let txn = self.db.begin_read().map_err(dbe)?;
        let index = open_read(&txn, BEST_CHAIN)?;
        let mut hashes = Vec::new();
        for item in index.iter().map_err(dbe)? {
            let (height, hash) = item.map_err(dbe)?;
            if height.value() != hashes.len() as u64 {
                return Err(LoadError::Inconsistent(format!(
                    "best-chain index jumps to height {} after {} entries",
                    height.value(),
                    hashes.len()
                )));
            }
            hashes.push(BlockHash::from_bytes(*hash.value()));
        }
        Ok(hashes)
    }

    /// A stored block with its metadata (best chain or side branch).
    ///
    /// # Errors
    /// [`LoadError`] if the database fails or the records do not decode.
    pub fn block(&self, hash: &BlockHash) -> Result<Option<StoredBlock>, LoadError> {
        let txn = self.db.begin_read().map_err(dbe)?;
        let blocks = open_read(&txn, BLOCKS)?;
        let metas = open_read(&txn, BLOCK_META)?;
        let Some(bytes) = blocks.get(hash.as_bytes()).map_err(dbe)? else {
            return Ok(None);
        };
        let block: Block = decode_record("blocks", hash.as_bytes(), bytes.value())?;
        let meta = read_meta(&metas, hash)?;
        Ok(Some(StoredBlock { block, meta }))
    }

    /// The mining side chain: every block of the best chain, genesis first, with its artifact
    /// record where one was written.
    ///
    /// # Errors
    /// [`LoadError`] if the database fails or a record does not decode.
    pub fn side_chain(&self) -> Result<Vec<SideChainEntry>, LoadError> {
        let best = self.best_chain()?;
        let txn = self.db.begin_read().map_err(dbe)?;
        let blocks = open_read(&txn, BLOCKS)?;
        let artifacts = open_read(&txn, ARTIFACTS)?;
        let mut entries = Vec::with_capacity(best.len());
        for (height, hash) in best.into_iter().enumerate() {
            let header = read_header(&blocks, &hash)?;
            entries.push(SideChainEntry {
                height: height as u64,
                block_hash: hash,
                timestamp: header.timestamp,
                artifacts: read_artifacts(&artifacts, &hash)?,
            });
        }
        Ok(entries)
    }

    fn write_changes(
        &mut self,
        changes: &ChangeSet,
        record: Option<&ArtifactRecord>,
    ) -> Result<(), CommitError> {
        let new_hash = changes.new_block.block.hash();
        if let Some(record) = record
            && record.block_hash != new_hash
        {
            return Err(CommitError::RecordOfAnotherBlock {
                record: record.block_hash,
                block: new_hash,
            });
        }
        let mut txn = self.db.begin_write().map_err(dbe)?;
        // Block contents come from other parties: redb's two-phase commit closes the
        // theoretical attack on its default single-fsync commit (a crafted partial write whose
        // non-cryptographic checksums still match; see redb's design.md).
        txn.set_two_phase_commit(true);
        let durable = self.since_durable.saturating_add(1) >= self.durable_every;
        if !durable {
            txn.set_durability(redb::Durability::None).map_err(dbe)?;
        }
        {
            let mut blocks = txn.open_table(BLOCKS).map_err(dbe)?;
            let mut metas = txn.open_table(BLOCK_META).map_err(dbe)?;
            let mut undo = txn.open_table(UNDO).map_err(dbe)?;
            let mut utxos = txn.open_table(UTXOS).map_err(dbe)?;
            let mut state = txn.open_table(CHAIN_STATE).map_err(dbe)?;
            let mut best = txn.open_table(BEST_CHAIN).map_err(dbe)?;
            let mut by_height = txn.open_table(BLOCKS_BY_HEIGHT).map_err(dbe)?;

            blocks
                .insert(
                    new_hash.as_bytes(),
                    encode(&changes.new_block.block).as_slice(),
                )
                .map_err(dbe)?;
            metas
                .insert(
                    new_hash.as_bytes(),
                    encode(&changes.new_block.meta).as_slice(),
                )
                .map_err(dbe)?;
            by_height
                .insert((changes.new_block.meta.height, new_hash.as_bytes()), ())
                .map_err(dbe)?;
            for (hash, meta) in &changes.meta_updates {
                if blocks.get(hash.as_bytes()).map_err(dbe)?.is_none() {
                    return Err(CommitError::UnknownBlock(*hash));
                }
                metas
                    .insert(hash.as_bytes(), encode(meta).as_slice())
                    .map_err(dbe)?;
            }
            for (hash, block_undo) in &changes.undo_put {
                if blocks.get(hash.as_bytes()).map_err(dbe)?.is_none() {
                    return Err(CommitError::UnknownBlock(*hash));
                }
                undo.insert(hash.as_bytes(), encode(block_undo).as_slice())
                    .map_err(dbe)?;
            }
            for outpoint in &changes.utxo_deleted {
                utxos.remove(&outpoint_key(outpoint)).map_err(dbe)?;
            }
            for (outpoint, entry) in &changes.utxo_inserted {
                utxos
                    .insert(&outpoint_key(outpoint), encode(entry).as_slice())
                    .map_err(dbe)?;
            }
            state
                .insert(STATE_TIP, changes.tip.as_bytes().as_slice())
                .map_err(dbe)?;
            update_best_chain(&mut best, &blocks, changes)?;
            if let Some(record) = record {
                let mut artifacts = txn.open_table(ARTIFACTS).map_err(dbe)?;
                artifacts
                    .insert(new_hash.as_bytes(), record.encode_value().as_slice())
                    .map_err(dbe)?;
            }
        }
        txn.commit().map_err(dbe)?;
        self.since_durable = if durable { 0 } else { self.since_durable + 1 };
        Ok(())
    }
}

impl ChainStore for Store {
    type Error = crate::StoreError;
    type Attachment = ArtifactRecord;

    fn commit(
        &mut self,
        changes: &ChangeSet,
        record: Option<&ArtifactRecord>,
    ) -> Result<(), Self::Error> {
        self.write_changes(changes, record)?;
        Ok(())
    }

    fn tip(&self) -> Result<Option<BlockHash>, Self::Error> {
        Ok(Store::tip(self)?)
    }

    fn block(&self, hash: &BlockHash) -> Result<Option<Block>, Self::Error> {
        self.read_by_hash(BLOCKS, hash, |bytes| {
            let block: Block = decode_record("blocks", hash.as_bytes(), bytes)?;
            check_hash(hash, block.hash())?;
            Ok(block)
        })
    }

    fn header(&self, hash: &BlockHash) -> Result<Option<BlockHeader>, Self::Error> {
        self.read_by_hash(BLOCKS, hash, |bytes| {
            let header = decode_header(hash, bytes)?;
            check_hash(hash, header.hash())?;
            Ok(header)
        })
    }

    fn meta(&self, hash: &BlockHash) -> Result<Option<BlockMeta>, Self::Error> {
        self.read_by_hash(BLOCK_META, hash, |bytes| {
            decode_record("block_meta", hash.as_bytes(), bytes)
        })
    }

    fn undo(&self, hash: &BlockHash) -> Result<Option<BlockUndo>, Self::Error> {
        self.read_by_hash(UNDO, hash, |bytes| {
            decode_record("undo", hash.as_bytes(), bytes)
        })
    }

    fn best_hash(&self, height: u64) -> Result<Option<BlockHash>, Self::Error> {
        let txn = self.db.begin_read().map_err(dbe_load)?;
        let best = open_read(&txn, BEST_CHAIN)?;
        Ok(best
            .get(height)
            .map_err(dbe_load)?
            .map(|hash| BlockHash::from_bytes(*hash.value())))
    }

    fn blocks_from_height(&self, height: u64) -> Result<Vec<BlockHash>, Self::Error> {
        let txn = self.db.begin_read().map_err(dbe_load)?;
        let index = open_read(&txn, BLOCKS_BY_HEIGHT)?;
        let mut hashes = Vec::new();
        for item in index.range((height, &[0u8; 32])..).map_err(dbe_load)? {
            let (key, _) = item.map_err(dbe_load)?;
            hashes.push(BlockHash::from_bytes(*key.value().1));
        }
        Ok(hashes)
    }

    fn block_count(&self) -> Result<u64, Self::Error> {
        let txn = self.db.begin_read().map_err(dbe_load)?;
        let blocks = open_read(&txn, BLOCKS)?;
        blocks.len().map_err(dbe_load)
    }

    fn utxo(&self, outpoint: &OutPoint) -> Result<Option<UtxoEntry>, Self::Error> {
        Ok(self.utxos(std::slice::from_ref(outpoint))?.pop().flatten())
    }

    fn utxos(&self, outpoints: &[OutPoint]) -> Result<Vec<Option<UtxoEntry>>, Self::Error> {
        let txn = self.db.begin_read().map_err(dbe_load)?;
        let utxos = open_read(&txn, UTXOS)?;
        let mut entries = Vec::with_capacity(outpoints.len());
        for outpoint in outpoints {
            let key = outpoint_key(outpoint);
            entries.push(match utxos.get(&key).map_err(dbe_load)? {
                Some(bytes) => Some(decode_record("utxos", &key, bytes.value())?),
                None => None,
            });
        }
        Ok(entries)
    }

    fn for_each_utxo(
        &self,
        visit: &mut dyn FnMut(&OutPoint, &UtxoEntry),
    ) -> Result<(), Self::Error> {
        let txn = self.db.begin_read().map_err(dbe_load)?;
        let utxos = open_read(&txn, UTXOS)?;
        for item in utxos.iter().map_err(dbe_load)? {
            let (key, value) = item.map_err(dbe_load)?;
            let outpoint: OutPoint = decode_record("utxos", key.value(), key.value())?;
            let entry: UtxoEntry = decode_record("utxos", key.value(), value.value())?;
            visit(&outpoint, &entry);
        }
        Ok(())
    }
}

impl Store {
    /// The record under `hash` in `table`, decoded by `decode`, in a read transaction of its
    /// own.
    fn read_by_hash<T>(
        &self,
        table: TableDefinition<'_, &'static [u8; 32], &'static [u8]>,
        hash: &BlockHash,
        decode: impl FnOnce(&[u8]) -> Result<T, LoadError>,
    ) -> Result<Option<T>, crate::StoreError> {
        let txn = self.db.begin_read().map_err(dbe_load)?;
        let records = open_read(&txn, table)?;
        let Some(bytes) = records.get(hash.as_bytes()).map_err(dbe_load)? else {
            return Ok(None);
        };
        Ok(Some(decode(bytes.value())?))
    }
}

/// A block or header stored under `key` must hash to it.
fn check_hash(key: &BlockHash, actual: BlockHash) -> Result<(), LoadError> {
    if actual != *key {
        return Err(LoadError::HashMismatch { key: *key, actual });
    }
    Ok(())
}

/// A database failure while reading, as a store error.
fn dbe_load(error: impl Into<redb::Error>) -> crate::StoreError {
    LoadError::Database(dbe(error)).into()
}

/// Builds a fresh database under a temporary name and renames it into place, so that
/// `chain.redb` exists only with a durable format marker and all tables.
fn create_database(dir: &Path) -> Result<(), OpenError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| OpenError::Io { path, source }
    };
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name();
        if name != CREATING_FILE {
            return Err(OpenError::NotAStore {
                path: dir.to_path_buf(),
                entry: name.to_string_lossy().into_owned(),
            });
        }
    }
    let creating = dir.join(CREATING_FILE);
    // A leftover from a creation that crashed: nothing refers to it yet.
    if creating.try_exists().map_err(io(&creating))? {
        fs::remove_file(&creating).map_err(io(&creating))?;
    }
    let database = |source: redb::Error| OpenError::Database {
        path: creating.clone(),
        source,
    };
    let db = Database::create(&creating).map_err(|e| database(dbe(e)))?;
    let txn = db.begin_write().map_err(|e| database(dbe(e)))?;
    {
        let mut format = txn.open_table(FORMAT).map_err(|e| database(dbe(e)))?;
        format
            .insert(FORMAT_MAGIC, MAGIC)
            .map_err(|e| database(dbe(e)))?;
        format
            .insert(
                FORMAT_SCHEMA_VERSION,
                SCHEMA_VERSION.to_le_bytes().as_slice(),
            )
            .map_err(|e| database(dbe(e)))?;
        for table in [BLOCKS, BLOCK_META, UNDO, ARTIFACTS] {
            txn.open_table(table).map_err(|e| database(dbe(e)))?;
        }
        txn.open_table(BLOCKS_BY_HEIGHT)
            .map_err(|e| database(dbe(e)))?;
        txn.open_table(UTXOS).map_err(|e| database(dbe(e)))?;
        txn.open_table(CHAIN_STATE).map_err(|e| database(dbe(e)))?;
        txn.open_table(BEST_CHAIN).map_err(|e| database(dbe(e)))?;
    }
    txn.commit().map_err(|e| database(dbe(e)))?;
    drop(db);
    let target = dir.join(DATABASE_FILE);
    fs::rename(&creating, &target).map_err(io(&target))?;
    // Make the rename itself durable before anything is written to the new store.
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    Ok(())
}

/// redb's page cache: what a store keeps of the file in memory (redb's default is 1 GiB, which
/// a long chain's file would fill).
pub const CACHE_BYTES: usize = 64 * 1024 * 1024;

fn open_database(path: &Path) -> Result<Database, OpenError> {
    let path_buf = path.to_path_buf();
    let mut builder = Database::builder();
    builder.set_check_integrity_on_open(true);
    builder.set_cache_size(CACHE_BYTES);
    let db = builder
        .open(path)
        .map_err(|e| classify_open_error(&path_buf, e))?;
    if check_format(&db, &path_buf)? == 2 {
        migrate_from_v2(&db).map_err(|source| OpenError::Database {
            path: path_buf.clone(),
            source,
        })?;
    }
    Ok(db)
}

/// Schema 2 to 3, in one write transaction (a crash leaves schema 2, migrated again on the
/// next open): builds the blocks-by-height index from the metadata. Schema 2's best-chain
/// index already holds what schema 3 reads.
fn migrate_from_v2(db: &Database) -> Result<(), redb::Error> {
    let mut txn = db.begin_write()?;
    txn.set_two_phase_commit(true);
    {
        let metas = txn.open_table(BLOCK_META)?;
        let mut by_height = txn.open_table(BLOCKS_BY_HEIGHT)?;
        for item in metas.iter()? {
            let (hash, meta) = item?;
            // A height is the record's first 8 bytes; a short record is left for the
            // queries to report as undecodable.
            if let Some(height) = meta.value().get(..8) {
                let mut bytes = [0u8; 8];
                bytes.copy_from_slice(height);
                by_height.insert((u64::from_le_bytes(bytes), hash.value()), ())?;
            }
        }
        let mut format = txn.open_table(FORMAT)?;
        format.insert(
            FORMAT_SCHEMA_VERSION,
            SCHEMA_VERSION.to_le_bytes().as_slice(),
        )?;
    }
    txn.commit()?;
    Ok(())
}

fn classify_open_error(path: &Path, error: redb::DatabaseError) -> OpenError {
    let path = path.to_path_buf();
    match error {
        redb::DatabaseError::DatabaseAlreadyOpen => OpenError::AlreadyOpen { path },
        redb::DatabaseError::UpgradeRequired(found) => {
            OpenError::RedbUpgradeRequired { path, found }
        }
        redb::DatabaseError::Storage(StorageError::Io(ref e))
            if e.kind() == std::io::ErrorKind::InvalidData =>
        {
            OpenError::NotRedb {
                path,
                source: error,
            }
        }
        redb::DatabaseError::Storage(StorageError::Corrupted(_))
        | redb::DatabaseError::RepairAborted => OpenError::Corrupt {
            path,
            source: error,
        },
        other => OpenError::Database {
            path,
            source: dbe(other),
        },
    }
}

/// Checks the format marker; returns the schema version, [`SCHEMA_VERSION`] or 2 (migrated by
/// the caller).
fn check_format(db: &Database, path: &Path) -> Result<u32, OpenError> {
    let foreign = |reason: String| OpenError::Foreign {
        path: path.to_path_buf(),
        reason,
    };
    let database = |source: redb::Error| OpenError::Database {
        path: path.to_path_buf(),
        source,
    };
    let txn = db.begin_read().map_err(|e| database(dbe(e)))?;
    let format = match txn.open_table(FORMAT) {
        Ok(table) => table,
        Err(TableError::TableDoesNotExist(_)) => {
            return Err(foreign("it has no `format` table".into()));
        }
        Err(TableError::TableTypeMismatch { .. }) => {
            return Err(foreign(
                "its `format` table has other key or value types".into(),
            ));
        }
        Err(e) => return Err(database(dbe(e))),
    };
    let magic = format.get(FORMAT_MAGIC).map_err(|e| database(dbe(e)))?;
    match magic {
        Some(m) if m.value() == MAGIC => {}
        Some(m) => {
            return Err(foreign(format!(
                "its magic is {:?}, expected {:?}",
                String::from_utf8_lossy(m.value()),
                String::from_utf8_lossy(MAGIC)
            )));
        }
        None => return Err(foreign("its `format` table has no magic".into())),
    }
    let version = format
        .get(FORMAT_SCHEMA_VERSION)
        .map_err(|e| database(dbe(e)))?
        .ok_or_else(|| foreign("its `format` table has no schema version".into()))?;
    let bytes: [u8; 4] = version.value().try_into().map_err(|_| {
        foreign(format!(
            "its schema version has {} bytes, expected 4",
            version.value().len()
        ))
    })?;
    let found = u32::from_le_bytes(bytes);
    if found > SCHEMA_VERSION {
        return Err(OpenError::NewerSchema {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found != SCHEMA_VERSION && found != 2 {
        return Err(OpenError::UnsupportedSchema {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(found)
}

/// Opens a table for reading; a table of the schema that is missing is an inconsistency.
fn open_read<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &redb::ReadTransaction,
    table: TableDefinition<'_, K, V>,
) -> Result<redb::ReadOnlyTable<K, V>, LoadError> {
    let name = table.to_string();
    txn.open_table(table).map_err(|e| match e {
        TableError::TableDoesNotExist(_) => {
            LoadError::Inconsistent(format!("table {name} of schema version 1 is missing"))
        }
        other => LoadError::Database(dbe(other)),
    })
}

fn outpoint_key(outpoint: &OutPoint) -> [u8; 36] {
    let mut key = [0u8; 36];
    key[..32].copy_from_slice(outpoint.txid.as_bytes());
    key[32..].copy_from_slice(&outpoint.vout.to_le_bytes());
    key
}

fn decode_record<T: Decode>(table: &'static str, key: &[u8], bytes: &[u8]) -> Result<T, LoadError> {
    T::decode(bytes).map_err(|source| LoadError::Decode {
        table,
        key: hex(key),
        source,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn read_tip(
    state: &impl ReadableTable<&'static str, &'static [u8]>,
) -> Result<Option<BlockHash>, LoadError> {
    let Some(tip) = state.get(STATE_TIP).map_err(dbe)? else {
        return Ok(None);
    };
    let bytes: [u8; 32] = tip.value().try_into().map_err(|_| {
        LoadError::Inconsistent(format!(
            "the tip has {} bytes, expected 32",
            tip.value().len()
        ))
    })?;
    Ok(Some(BlockHash::from_bytes(bytes)))
}

fn read_meta(
    metas: &impl ReadableTable<&'static [u8; 32], &'static [u8]>,
    hash: &BlockHash,
) -> Result<BlockMeta, LoadError> {
    let bytes = metas
        .get(hash.as_bytes())
        .map_err(dbe)?
        .ok_or_else(|| LoadError::Inconsistent(format!("block {hash} has no metadata")))?;
    decode_record("block_meta", hash.as_bytes(), bytes.value())
}

/// Decodes only the header, which the block encoding starts with.
fn read_header(
    blocks: &impl ReadableTable<&'static [u8; 32], &'static [u8]>,
    hash: &BlockHash,
) -> Result<BlockHeader, LoadError> {
    let bytes = blocks
        .get(hash.as_bytes())
        .map_err(dbe)?
        .ok_or_else(|| LoadError::Inconsistent(format!("block {hash} is missing")))?;
    decode_header(hash, bytes.value())
}

/// Decodes only the header, which a block's encoding starts with.
fn decode_header(hash: &BlockHash, block_bytes: &[u8]) -> Result<BlockHeader, LoadError> {
    let prefix = block_bytes.get(..HEADER_SIZE).unwrap_or(block_bytes);
    decode_record("blocks", hash.as_bytes(), prefix)
}

fn read_artifacts(
    table: &impl ReadableTable<&'static [u8; 32], &'static [u8]>,
    block: &BlockHash,
) -> Result<Option<ArtifactRecord>, LoadError> {
    let Some(bytes) = table.get(block.as_bytes()).map_err(dbe)? else {
        return Ok(None);
    };
    ArtifactRecord::decode_value(*block, bytes.value())
        .map(Some)
        .map_err(|source| LoadError::ArtifactDecode {
            block: *block,
            source,
        })
}

/// Replaces the best-chain entries from `changes.best_from` up with `changes.best_added`,
/// refusing an entry for a block the store does not hold or a chain that does not end at the
/// tip.
fn update_best_chain(
    best: &mut Table<'_, u64, &'static [u8; 32]>,
    blocks: &Table<'_, &'static [u8; 32], &'static [u8]>,
    changes: &ChangeSet,
) -> Result<(), CommitError> {
    let ends_at_tip = match changes.best_added.last() {
        Some(last) => *last == changes.tip,
        None => {
            changes.best_from > 0
                && best
                    .get(changes.best_from - 1)
                    .map_err(dbe)?
                    .is_some_and(|h| *h.value() == *changes.tip.as_bytes())
        }
    };
    if !ends_at_tip {
        return Err(CommitError::BestChainMismatch(changes.tip));
    }
    best.retain_in(changes.best_from.., |_, _| false)
        .map_err(dbe)?;
    for (height, hash) in (changes.best_from..).zip(&changes.best_added) {
        if blocks.get(hash.as_bytes()).map_err(dbe)?.is_none() {
            return Err(CommitError::UnknownBlock(*hash));
        }
        best.insert(height, hash.as_bytes()).map_err(dbe)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ann_ledger::Txid;

    #[test]
    fn outpoint_key_is_the_canonical_encoding() {
        let outpoint = OutPoint {
            txid: Txid::from_bytes([0xab; 32]),
            vout: 0x0102_0304,
        };
        assert_eq!(
            outpoint_key(&outpoint).as_slice(),
            encode(&outpoint).as_slice()
        );
    }
}
