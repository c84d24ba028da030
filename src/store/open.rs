//! Opening the store: the write-ahead log first (damage anywhere but a torn
//! tail refuses the open, naming the file), then sled's index, which is
//! brought up to the log by replaying every record after its checkpoint,
//! checked against the log (every event the log holds and no later record
//! removed must be in the index), and rebuilt from the log — the old index
//! moved aside, never deleted — when sled cannot be opened or that check
//! fails. Nothing under `storage.path` is ever deleted here.

use super::checkpoint::{self, Checkpointer, Parts};
use super::counts::Counts;
use super::keys::{self, Id};
use super::records::{decode, ChangeKind, LogRecord};
use super::space::Space;
use super::wal::{self, Wal, WalConfig, WalError};
use super::{datadir, Result, Store, StoreError, LOCK_STRIPES};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, OnceLock};

/// How the store is opened (`[storage]`).
#[derive(Debug, Clone)]
pub struct Options {
    /// sled's page cache, bytes.
    pub cache_capacity: u64,
    /// Each new log segment is preallocated to this.
    pub segment_size: u64,
}

impl Options {
    pub fn new(cache_capacity: u64) -> Options {
        Options { cache_capacity, segment_size: WalConfig::default().segment_size }
    }
}

/// What `open` found, for the startup log and `hookd store check`.
#[derive(Debug, Clone, Default)]
pub struct Opened {
    /// Records replayed into the index after its checkpoint.
    pub replayed: u64,
    /// The index was rebuilt from the log; the old one is here.
    pub rebuilt: Option<PathBuf>,
    /// The log's end was a torn write (cut by a crash) and was dropped.
    pub torn_tail: bool,
}

const RECOVERY: &str = "hookd will not start on it. `hookd store check` says what is damaged; \
                        `hookd store export > events.jsonl` saves every event that can still be read; then \
                        restore the data dir from a backup, or move it aside (keep it) and start with an \
                        empty one (docs/reliability.md, \"When the store is damaged\").";

impl Store {
    /// Open (or create) the store under `path` with the default options.
    pub fn open(path: &Path, cache_capacity: u64) -> Result<Store> {
        Self::open_with(path, &Options::new(cache_capacity)).map(|(s, _)| s)
    }

    /// Open (or create) the store under `path`: locked (a second hookd gets
    /// [`StoreError::InUse`]) and made owner-only, what was there before
    /// included. The counts behind `stats` are then rebuilt by
    /// [`Store::recount`], which the caller runs in the background.
    pub fn open_with(path: &Path, opts: &Options) -> Result<(Store, Opened)> {
        create_private_dir(path)?;
        let dir_lock = datadir::lock(path).map_err(|e| match e {
            datadir::LockError::Held => StoreError::InUse(path.to_path_buf()),
            datadir::LockError::Io(e) => StoreError::Io(format!("{}: {e}", path.join("lock").display())),
        })?;
        tighten_modes(path);
        let spool = path.join("spool");
        let sled_dir = path.join("sled");
        // Made here, owner-only, so that sled finds them (it would create
        // them with the process umask).
        for dir in [&spool, &sled_dir, &sled_dir.join("blobs")] {
            create_private_dir(dir)?;
        }
        let mut dir_lock = Some(dir_lock);
        let config = WalConfig { segment_size: opts.segment_size, max_record: (opts.segment_size / 2) as usize };
        let (wal, recovery) = match Wal::open(&path.join("wal"), config) {
            Ok(opened) => opened,
            Err(WalError::Locked { .. }) => return Err(StoreError::InUse(path.to_path_buf())),
            Err(e @ WalError::Corrupt { .. }) => return Err(StoreError::Damaged(format!("{e}. {RECOVERY}"))),
            Err(e) => return Err(e.into()),
        };
        let mut opened = Opened { torn_tail: recovery.torn_tail.is_some(), ..Opened::default() };
        if let Some(torn) = &recovery.torn_tail {
            tracing::warn!(?torn, "the log ended in a torn write (a crash mid-write); it was never acknowledged");
        }
        let wal = Arc::new(wal);
        let fresh_log = recovery.created;
        let index = Index { dir: &sled_dir, opts, wal: wal.clone(), spool: &spool, data: path };
        let (store, checkpoint) = match index.open(&mut dir_lock) {
            Ok(s) => s,
            Err(why) if fresh_log && sled_dir.join("db").exists() => {
                return Err(StoreError::Damaged(format!(
                    "{}: the index cannot be opened ({why}) and this store has no write-ahead log to rebuild it from. {RECOVERY}",
                    sled_dir.display()
                )))
            }
            Err(why) => {
                let aside = move_aside(&sled_dir)?;
                tracing::error!(%why, aside = %aside.display(), "the index cannot be opened: rebuilding it from the log");
                opened.rebuilt = Some(aside);
                index.open(&mut dir_lock).map_err(StoreError::Db)?
            }
        };
        let last_lsn = wal.next_lsn() - 1;
        if checkpoint > last_lsn {
            return Err(StoreError::Damaged(format!(
                "the index has seen the log up to record {checkpoint}, but {} ends at record {last_lsn}: \
                 acknowledged records are missing from the end of the log. {RECOVERY}",
                path.join("wal").display()
            )));
        }
        let mut store = store;
        let replay_from = if opened.rebuilt.is_some() { wal.first_lsn() } else { checkpoint + 1 };
        opened.replayed = store.replay_from(replay_from)?;
        if opened.rebuilt.is_none() {
            if let Some(missing) = store.missing_from_index()? {
                dir_lock = Some(store.release_lock());
                let aside = move_aside(&sled_dir)?;
                tracing::error!(
                    missing = %keys::id_text(&missing),
                    aside = %aside.display(),
                    "the index lacks an event the log holds: rebuilding it from the log"
                );
                opened.rebuilt = Some(aside);
                store = index.open(&mut dir_lock).map_err(StoreError::Db)?.0;
                opened.replayed = store.replay_from(wal.first_lsn())?;
            }
        }
        sync_dirs(path).map_err(|e| StoreError::Io(format!("{}: {e}", path.display())))?;
        store.repair_order_lines()?;
        store.route_controls()?; // a damaged flow.json stops the open, like any damage
        store.set_aside_orphan_bodies()?;
        let newest = store.events.last()?.and_then(|(k, _)| <Id>::try_from(k.as_ref()).ok());
        if let Some(newest) = newest {
            keys::observe(&newest);
        }
        store.counts.start_recount(newest);
        super::COMMITS_OK.store(true, std::sync::atomic::Ordering::Relaxed);
        store.checkpoints.store(true, std::sync::atomic::Ordering::Release);
        Ok((store, opened))
    }

    /// Apply every record from `from` on to the index.
    fn replay_from(&self, from: u64) -> Result<u64> {
        let mut n = 0;
        for record in self.wal.replay(from.max(self.wal.first_lsn()))? {
            let record = record?;
            let LogRecord::V1(change) = decode(&record.payload)?;
            self.apply(record.pos.into(), change)?;
            n += 1;
        }
        Ok(n)
    }

    /// An event the log holds (accepted, not removed by a later record)
    /// that the index lacks, if any: the index lost writes it had
    /// checkpointed, so it cannot be trusted.
    fn missing_from_index(&self) -> Result<Option<Id>> {
        let mut live: Vec<Id> = Vec::new();
        let mut removed: HashSet<Id> = HashSet::new();
        for record in self.wal.replay(self.wal.first_lsn())? {
            let record = record?;
            match LogRecord::peek(&record.payload) {
                Some((ChangeKind::Accepted, id)) => live.push(id),
                Some((ChangeKind::Removed, id)) => {
                    removed.insert(id);
                }
                Some(_) => {}
                None => return Err(StoreError::Corrupt(format!("log record {} has an unknown kind", record.pos.lsn))),
            }
        }
        for id in live.into_iter().filter(|id| !removed.contains(id)) {
            if !self.events.contains_key(id)? {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// At open: spooled bodies (stores from before the log) whose event is
    /// not in the index, and half-written `.tmp` files, are moved to
    /// `spool/orphans/` — kept, never deleted.
    fn set_aside_orphan_bodies(&self) -> Result<()> {
        let io = |e: std::io::Error| StoreError::Io(format!("spool: {e}"));
        let mut moved = 0;
        for entry in std::fs::read_dir(&self.spool).map_err(io)? {
            let entry = entry.map_err(io)?;
            if !entry.file_type().map_err(io)?.is_file() {
                continue;
            }
            let name = entry.file_name();
            let text = name.to_string_lossy();
            let orphan = match keys::parse_id(&text) {
                Some(id) => !self.events.contains_key(id)?,
                None => text.ends_with(".tmp"),
            };
            if orphan {
                let dir = self.spool.join("orphans");
                create_private_dir(&dir)?;
                std::fs::rename(entry.path(), dir.join(&name)).map_err(io)?;
                moved += 1;
            }
        }
        if moved > 0 {
            tracing::warn!(moved, dir = %self.spool.join("orphans").display(), "spooled bodies with no event were set aside");
        }
        Ok(())
    }
}

/// Where the index lives and what it is opened with.
struct Index<'a> {
    dir: &'a Path,
    opts: &'a Options,
    wal: Arc<Wal>,
    spool: &'a Path,
    /// `storage.path`, for the free-space guard.
    data: &'a Path,
}

impl Index<'_> {
    /// Open sled (a panic inside it is an error here), make what it wrote
    /// owner-only, read its checkpoint. Takes the data dir's lock into the
    /// store; on an error the lock stays with the caller.
    fn open(&self, dir_lock: &mut Option<datadir::DirLock>) -> std::result::Result<(Store, u64), String> {
        create_private_dir(self.dir).map_err(|e| e.to_string())?;
        create_private_dir(&self.dir.join("blobs")).map_err(|e| e.to_string())?;
        set_aside_unfinished_snapshots(self.dir).map_err(|e| e.to_string())?;
        let cache = self.opts.cache_capacity;
        let dir_owned = self.dir.to_path_buf();
        let opened = std::panic::catch_unwind(move || {
            sled::Config::new().path(&dir_owned).cache_capacity(cache).flush_every_ms(Some(500)).open()
        });
        let db = match opened {
            Ok(Ok(db)) => db,
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err("sled panicked while opening it".into()),
        };
        // sled's `conf`, `db` and a snapshot it may have written just now.
        if let (_, Some(e)) = datadir::tighten_tree(self.dir) {
            tracing::warn!(error = %e, "could not make {} owner-only", self.dir.display());
        }
        let tree = |name: &str| db.open_tree(name).map_err(|e| format!("{name}: {e}"));
        let meta = tree("meta")?;
        let checkpoint = checkpoint::read(&meta).unwrap_or(0);
        let events = tree("events")?;
        let db_file = self.dir.join("db");
        let data_file = std::fs::File::open(&db_file).map_err(|e| format!("{}: {e}", db_file.display()))?;
        let unapplied = Arc::new(Mutex::new(Default::default()));
        let armed = Arc::new(AtomicBool::new(false));
        // Stores from before lanes kept the due index in "due" (due ms, id,
        // index): moved into "due_lanes" once the store is built.
        let unlaned = match db.tree_names().iter().any(|n| n.as_ref() == b"due") {
            true => Some(tree("due")?),
            false => None,
        };
        let trees = (
            tree("deliveries")?,
            tree("due_lanes")?,
            tree("dedup")?,
            tree("dead")?,
            tree("order")?,
            tree("procs")?,
            tree("tails")?,
        );
        let Some(lock) = dir_lock.take() else { return Err("the data dir's lock is gone".into()) };
        let checkpointer = Checkpointer::start(Parts {
            db: db.clone(),
            events: events.clone(),
            meta,
            wal: self.wal.clone(),
            unapplied: unapplied.clone(),
            data_file,
            sled_dir: self.dir.to_path_buf(),
            armed: armed.clone(),
        });
        let checkpointer = match checkpointer {
            Ok(c) => c,
            Err(e) => {
                *dir_lock = Some(lock);
                return Err(format!("checkpoint thread: {e}"));
            }
        };
        let (deliveries, due, dedup, dead, order, procs, tails) = trees;
        let store = Store {
            events,
            deliveries,
            due,
            dedup,
            dead,
            order,
            procs,
            tails,
            wal: self.wal.clone(),
            spool: self.spool.to_path_buf(),
            pending: Mutex::default(),
            unapplied,
            _checkpoint: checkpointer,
            healthy: AtomicBool::new(true),
            locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            event_locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            counts: Counts::default(),
            on_body_mismatch: OnceLock::new(),
            readiness: Default::default(),
            space: Space::new(self.data.to_path_buf(), self.opts.segment_size),
            clock: super::clock::Clock::new(),
            checkpoints: armed,
            data_dir: self.data.to_path_buf(),
            flow_lock: Mutex::default(),
            _lock: lock,
        };
        if let Some(old) = unlaned {
            store.move_into_lanes(&old).map_err(|e| format!("moving the due index into lanes: {e}"))?;
        }
        Ok((store, checkpoint))
    }
}

impl Store {
    /// The due index of a store from before lanes, moved into lanes: each
    /// entry's lane is read from its delivery and event (an entry whose
    /// records are gone is dropped: the claim would have repaired it away).
    /// New entries first, then the old cleared, so a crash in between
    /// re-runs an idempotent move.
    fn move_into_lanes(&self, old: &sled::Tree) -> Result<()> {
        let mut moved = 0u64;
        for entry in old.iter() {
            let (k, _) = entry?;
            let Some((due_ms, id, index)) = keys::DueKey::decode_unlaned(&k) else { continue };
            let (Some(d), Some(e)) = (self.delivery(&keys::delivery_key(&id, index))?, self.event(&id)?) else {
                continue;
            };
            let lane = keys::lane(&e.source, &d.route);
            self.due.insert(keys::DueKey { lane, due_ms, id, index }.encode(), &[])?;
            moved += 1;
        }
        old.clear()?;
        if moved > 0 {
            tracing::info!(entries = moved, "moved the due index into per-route lanes");
        }
        Ok(())
    }
}

impl Store {
    /// Close the store but keep the data dir locked (for a rebuild).
    fn release_lock(self) -> datadir::DirLock {
        let Store { _lock, .. } = self;
        _lock
    }
}

/// Clear group and other bits under the data dir, what an older hookd or
/// an operator left there included (said once, at INFO, when anything
/// changed); a failure is a warning, not a refusal to start.
fn tighten_modes(path: &Path) {
    let (changed, error) = datadir::tighten_tree(path);
    if changed > 0 {
        tracing::info!(entries = changed, "made {} and everything under it owner-only (0700/0600)", path.display());
    }
    if let Some(e) = error {
        tracing::warn!(error = %e, "could not make everything under {} owner-only", path.display());
    }
}

/// A `snap.*.generating` that a crash left behind stops sled from opening
/// (sled #1527): it is moved to `sled-aside/`, never deleted.
fn set_aside_unfinished_snapshots(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let text = name.to_string_lossy();
        if text.starts_with("snap.") && text.ends_with(".generating") {
            let aside = dir.with_file_name("sled-aside");
            std::fs::create_dir_all(&aside)?;
            std::fs::rename(entry.path(), aside.join(&name))?;
            tracing::warn!(file = %aside.join(&name).display(), "an unfinished sled snapshot was set aside");
        }
    }
    Ok(())
}

/// `sled` → `sled.damaged-<unix seconds>` (kept for the operator).
fn move_aside(dir: &Path) -> Result<PathBuf> {
    let secs = super::now_ms() / 1000;
    let aside = dir.with_file_name(format!("sled.damaged-{secs}"));
    std::fs::rename(dir, &aside).map_err(|e| StoreError::Io(format!("{}: {e}", dir.display())))?;
    if let Some(parent) = dir.parent() {
        std::fs::File::open(parent).and_then(|d| d.sync_all()).map_err(|e| StoreError::Io(e.to_string()))?;
    }
    Ok(aside)
}

pub(super) fn create_private_dir(path: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| StoreError::Io(format!("{}: {e}", path.display())))
}

/// The directories sled and the spool created (and their entries in their
/// parents) are durable: sled never fsyncs a directory.
fn sync_dirs(path: &Path) -> std::io::Result<()> {
    let sled = path.join("sled");
    for dir in [sled.join("blobs"), sled, path.join("spool"), path.to_path_buf()] {
        match std::fs::File::open(&dir) {
            Ok(d) => d.sync_all()?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => std::fs::File::open(parent)?.sync_all(),
        None => Ok(()),
    }
}

impl From<wal::Pos> for super::records::LogPos {
    fn from(p: wal::Pos) -> Self {
        super::records::LogPos { segment: p.segment, offset: p.offset, len: p.len, lsn: p.lsn }
    }
}

impl From<super::records::LogPos> for wal::Pos {
    fn from(p: super::records::LogPos) -> Self {
        wal::Pos { segment: p.segment, offset: p.offset, len: p.len, lsn: p.lsn }
    }
}
