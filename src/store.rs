//! The only module that names sled. `accept()` = dedup + event + deliveries,
//! group-committed to disk before it returns; `claim()` / `finish()` record
//! attempts; replay, purge, retention and the read side live in the
//! submodules. Knows nothing of HTTP, config files or handlers.
//!
//! Crash consistency rests on two facts: every single-key write is atomic,
//! and sled's recovery restores a prefix of the log. So each multi-key change
//! writes its keys in an order where any prefix is harmless, the event record
//! last as the commit marker of `accept()`, and every reader treats the
//! delivery record as the truth and the indexes (due, dead, order) as hints
//! it repairs.
#![allow(clippy::disallowed_types)] // the one module allowed to name sled

mod claim;
pub mod commit;
mod counts;
mod datadir;
pub mod keys;
mod lifecycle;
mod procs;
mod query;
pub mod records;

pub use claim::{AttemptEnd, Claim, Claimed, Next};
pub use counts::{SourceCounts, Stats};
pub use lifecycle::{died_at, expires_at, Expired, PurgeOutcome, Retention, SweepCursor};
pub use procs::ProcessNote;
pub use query::{DeadView, EventFilter, EventView, Page};

use bytes::Bytes;
use commit::GroupCommit;
use counts::Counts;
use keys::{dedup_key, delivery_key, order_key, order_prefix, DueKey, Id};
use records::{decode, encode, Body, DedupEntry, Delivery, DeliveryRecord, Event, EventRecord, State};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Bodies larger than this are spooled to a file instead of a sled value
/// (sled writes values over ~128 KiB to blob files it never fsyncs).
pub const SPOOL_THRESHOLD: usize = 32 * 1024;

/// `next_due_ms` of a delivery parked behind an earlier one of its
/// `order_by` line: it has no due entry until the line reaches it.
pub const PARKED: u64 = u64::MAX;

const LOCK_STRIPES: usize = 64;

#[derive(Debug)]
pub enum StoreError {
    Db(String),
    Io(String),
    /// A record that does not decode: never silently skipped.
    Corrupt(String),
    /// A listing cursor that this store never handed out.
    BadCursor,
    /// Another process (a second hookd) holds the data dir's lock.
    InUse(PathBuf),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Db(e) => write!(f, "database error: {e}"),
            StoreError::Io(e) => write!(f, "i/o error: {e}"),
            StoreError::Corrupt(e) => write!(f, "corrupt record: {e}"),
            StoreError::BadCursor => f.write_str("unknown cursor"),
            StoreError::InUse(path) => write!(f, "another hookd is already using {}", path.display()),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Db(e.to_string())
    }
}

impl From<postcard::Error> for StoreError {
    fn from(e: postcard::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

type Result<T> = std::result::Result<T, StoreError>;

/// Called with a source's name (see [`Store::on_body_mismatch`]).
type SourceHook = Box<dyn Fn(&str) + Send + Sync>;

/// A verified, identified event, about to be accepted.
pub struct NewEvent {
    pub source: String,
    pub event_id: String,
    pub event_type: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// The matched routes, in config order; empty means unrouted.
    pub routes: Vec<NewDelivery>,
    pub dedup_window: Duration,
}

/// One matched route of a new event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    pub route: String,
    /// The route's `order_by` value for this event, when it has one.
    pub order_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub id: Id,
    pub deduped: bool,
}

pub struct Store {
    db: sled::Db,
    events: sled::Tree,
    deliveries: sled::Tree,
    due: sled::Tree,
    dedup: sled::Tree,
    /// Dead deliveries (the DLQ), keyed like `deliveries`.
    dead: sled::Tree,
    /// Live deliveries of routes with `order_by`, in line per key.
    order: sled::Tree,
    /// Process groups of running handlers, by attempt.
    procs: sled::Tree,
    spool: PathBuf,
    commit: GroupCommit,
    /// Serialize the two copies of one event (by dedup key).
    locks: Vec<Mutex<()>>,
    /// Serialize changes to one event's deliveries (by id) and one order line.
    event_locks: Vec<Mutex<()>>,
    counts: Counts,
    /// Told the source of each duplicate whose body differs from the first's.
    on_body_mismatch: OnceLock<SourceHook>,
    /// Held until the store is dropped: one hookd per data dir.
    _lock: datadir::DirLock,
}

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl Store {
    /// Open (or create) the store under `path` and repair what a crash may
    /// have left half-done. The data dir is locked (a second hookd gets
    /// [`StoreError::InUse`]) and made owner-only, what was there before
    /// included. The counts behind `stats` are then rebuilt by
    /// [`Store::recount`], which the caller runs in the background: until it
    /// is done, `stats().counting` is true.
    pub fn open(path: &Path, cache_capacity: u64) -> Result<Store> {
        create_private_dir(path)?;
        let lock = datadir::lock(path).map_err(|e| match e {
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
        let db = sled::Config::new().path(&sled_dir).cache_capacity(cache_capacity).flush_every_ms(Some(500)).open()?;
        // sled's `conf`, `db` and a snapshot it may have written just now.
        if let (_, Some(e)) = datadir::tighten_tree(&sled_dir) {
            tracing::warn!(error = %e, "could not make {} owner-only", sled_dir.display());
        }
        let data_file = std::fs::File::open(path.join("sled").join("db")).map_err(|e| StoreError::Io(e.to_string()))?;
        let blobs = path.join("sled").join("blobs");
        let commit = GroupCommit::start(db.clone(), data_file, blobs).map_err(|e| StoreError::Io(e.to_string()))?;
        sync_dirs(path).map_err(|e| StoreError::Io(format!("{}: {e}", path.display())))?;
        let store = Store {
            events: db.open_tree("events")?,
            deliveries: db.open_tree("deliveries")?,
            due: db.open_tree("due")?,
            dedup: db.open_tree("dedup")?,
            dead: db.open_tree("dead")?,
            order: db.open_tree("order")?,
            procs: db.open_tree("procs")?,
            db,
            spool,
            commit,
            locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            event_locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            counts: Counts::default(),
            on_body_mismatch: OnceLock::new(),
            _lock: lock,
        };
        store.repair_order_lines()?;
        store.remove_orphan_bodies()?;
        let newest = store.events.last()?.and_then(|(k, _)| <Id>::try_from(k.as_ref()).ok());
        store.counts.start_recount(newest);
        Ok(store)
    }

    /// Accept an event: a new one is logged with its deliveries, a duplicate
    /// within the window answers the first id. Returns only once everything
    /// it wrote (or, for a duplicate, the first delivery of it) is on disk.
    pub async fn accept(&self, new: NewEvent) -> Result<Accepted> {
        let id = keys::new_id();
        let received_ms = now_ms();
        let copy = (new.source.clone(), new.event_id.clone(), new.body.clone());
        let body = if new.body.len() > SPOOL_THRESHOLD {
            let (spool, bytes) = (self.spool.clone(), new.body.clone());
            tokio::task::spawn_blocking(move || write_spool(&spool, &id, &bytes))
                .await
                .map_err(|e| StoreError::Io(e.to_string()))??;
            Body::Spooled { len: new.body.len() as u64 }
        } else {
            Body::Inline(new.body.to_vec())
        };
        let outcome = self.log_event(id, received_ms, new, body);
        if !matches!(outcome, Ok(Accepted { deduped: false, .. })) {
            let _ = std::fs::remove_file(self.spool.join(keys::id_text(&id)));
        }
        let accepted = outcome?;
        if accepted.deduped {
            let (source, event_id, body) = copy;
            self.compare_bodies(&source, &event_id, &accepted.id, &body).await;
        }
        self.sync().await?;
        Ok(accepted)
    }

    /// `f` is told the source of every duplicate whose body differs from
    /// the first copy's (set once; the metrics counter).
    pub fn on_body_mismatch(&self, f: impl Fn(&str) + Send + Sync + 'static) {
        let _ = self.on_body_mismatch.set(Box::new(f));
    }

    /// A duplicate is answered with the first copy, which wins: when its
    /// body differs from the first one's stored body, say so (WARN, both
    /// sha256 prefixes) and count it. Rare, so the first body is read
    /// back. A first event already purged has nothing to compare.
    async fn compare_bodies(&self, source: &str, event_id: &str, first: &Id, body: &Bytes) {
        let stored = match self.event(first) {
            Ok(Some(event)) => match event.body {
                Body::Inline(b) => Ok(Bytes::from(b)),
                Body::Spooled { .. } => {
                    let path = self.spool.join(keys::id_text(first));
                    tokio::task::spawn_blocking(move || std::fs::read(path))
                        .await
                        .unwrap_or_else(|e| Err(std::io::Error::other(e)))
                        .map(Bytes::from)
                        .map_err(|e| StoreError::Io(format!("spooled body: {e}")))
                }
            },
            Ok(None) => return,
            Err(e) => Err(e),
        };
        match stored {
            Ok(stored) if stored == *body => {}
            Ok(stored) => {
                tracing::warn!(
                    %source,
                    event_id = ?event_id,
                    first_id = %keys::id_text(first),
                    first_sha256 = %sha256_prefix(&stored),
                    new_sha256 = %sha256_prefix(body),
                    "duplicate event id with a different body: the first body is kept, this one is dropped"
                );
                if let Some(count) = self.on_body_mismatch.get() {
                    count(source);
                }
            }
            Err(e) => tracing::warn!(%source, event_id = ?event_id, error = %e,
                "duplicate event id: the first body could not be read to compare"),
        }
    }

    /// The synchronous part of `accept`, under the dedup key's lock so that
    /// two copies of one event are ordered: the second sees the first's
    /// commit marker. Write order: dedup, deliveries (record, order line,
    /// due index), event.
    fn log_event(&self, id: Id, received_ms: u64, new: NewEvent, body: Body) -> Result<Accepted> {
        let dkey = dedup_key(&new.source, &new.event_id);
        let _guard = lock(&self.locks, &dkey);
        if let Some(first) = self.live_duplicate(&dkey, received_ms, new.dedup_window)? {
            return Ok(Accepted { id: first, deduped: true });
        }
        self.dedup.insert(&dkey, &DedupEntry { id, received_ms, retired: false }.encode())?;
        self.add_deliveries(&id, &new.source, &new.routes, received_ms)?;
        let routes: Vec<String> = new.routes.into_iter().map(|r| r.route).collect();
        self.counts.accepted(&id, &new.source, routes.len());
        let event = Event {
            source: new.source,
            event_id: new.event_id,
            event_type: new.event_type,
            received_ms,
            headers: new.headers,
            body,
            routes,
        };
        self.events.insert(id, encode(&EventRecord::V1(event))?)?;
        Ok(Accepted { id, deduped: false })
    }

    /// New pending deliveries of event `id`, due at `due_ms`; each written
    /// record first, then its order-line entry, then its due entry.
    fn add_deliveries(&self, id: &Id, source: &str, routes: &[NewDelivery], due_ms: u64) -> Result<()> {
        for (index, route) in routes.iter().enumerate() {
            let index = u16::try_from(index).map_err(|_| StoreError::Io("too many routes".into()))?;
            let delivery = Delivery {
                route: route.route.clone(),
                state: State::Pending,
                next_due_ms: due_ms,
                attempts: Vec::new(),
                dead_reason: None,
                order_key: route.order_key.clone(),
                replayed_after: 0,
            };
            self.put_delivery(&delivery_key(id, index), delivery)?;
            if let Some(k) = &route.order_key {
                self.order.insert(order_key(&order_prefix(source, &route.route, k), id, index), &[])?;
            }
            self.due.insert(DueKey { due_ms, id: *id, index }.encode(), &[])?;
        }
        Ok(())
    }

    /// The first id of a duplicate that is within its window and whose event
    /// was committed (or purged on purpose since). A dedup entry without its
    /// event is the remains of an accept that crashed before its ack: the
    /// sender will retry, so it is new.
    fn live_duplicate(&self, dkey: &[u8], now: u64, window: Duration) -> Result<Option<Id>> {
        let Some(raw) = self.dedup.get(dkey)? else { return Ok(None) };
        let entry = DedupEntry::decode(&raw).ok_or_else(|| StoreError::Corrupt("dedup entry".into()))?;
        let expired = now.saturating_sub(entry.received_ms) > window.as_millis() as u64;
        if expired || !(entry.retired || self.events.contains_key(entry.id)?) {
            return Ok(None);
        }
        Ok(Some(entry.id))
    }

    /// Wait until every write made before this call is on disk.
    pub async fn sync(&self) -> Result<()> {
        self.commit.sync().await.map_err(StoreError::Io)
    }

    /// The last group commit succeeded (no I/O: a cheap gate before `ready`).
    pub fn healthy(&self) -> bool {
        self.commit.healthy()
    }

    /// Storage is writable, answered within a second whatever the disk
    /// does: from the commit thread's health (its last round succeeded and
    /// none has been running for over 1.5 s) and a probe write + commit that
    /// runs at most once a second, shared by every caller.
    pub async fn ready(&self) -> bool {
        self.commit.ready(|| self.db.insert("ready-probe", &now_ms().to_be_bytes()).is_ok()).await
    }

    /// At open, before anything is accepted: spooled bodies whose accept
    /// never wrote its event record (a crash or a failed write after the
    /// spool) and half-written `.tmp` files are removed.
    fn remove_orphan_bodies(&self) -> Result<()> {
        let io = |e: std::io::Error| StoreError::Io(format!("spool: {e}"));
        let mut removed = 0;
        for entry in std::fs::read_dir(&self.spool).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let orphan = match keys::parse_id(&name) {
                Some(id) => !self.events.contains_key(id)?,
                None => name.ends_with(".tmp"),
            };
            if orphan {
                std::fs::remove_file(entry.path()).map_err(io)?;
                removed += 1;
            }
        }
        if removed > 0 {
            tracing::info!(removed, "removed spooled bodies of accepts that never committed");
        }
        Ok(())
    }

    fn event(&self, id: &Id) -> Result<Option<Event>> {
        let Some(raw) = self.events.get(id)? else { return Ok(None) };
        let EventRecord::V1(event) = decode(&raw)?;
        Ok(Some(event))
    }

    fn delivery(&self, key: &[u8]) -> Result<Option<Delivery>> {
        let Some(raw) = self.deliveries.get(key)? else { return Ok(None) };
        let DeliveryRecord::V1(d) = decode(&raw)?;
        Ok(Some(d))
    }

    fn put_delivery(&self, key: &[u8], delivery: Delivery) -> Result<()> {
        self.deliveries.insert(key, encode(&DeliveryRecord::V1(delivery))?)?;
        Ok(())
    }

    fn body(&self, id: &Id, event: &Event) -> Result<Bytes> {
        match &event.body {
            Body::Inline(b) => Ok(Bytes::copy_from_slice(b)),
            Body::Spooled { .. } => std::fs::read(self.spool.join(keys::id_text(id)))
                .map(Bytes::from)
                .map_err(|e| StoreError::Io(format!("spooled body: {e}"))),
        }
    }
}

/// The first 16 hex digits of the body's sha256: enough to tell two bodies
/// apart in a log line.
fn sha256_prefix(body: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(body);
    hex::encode(&digest[..8])
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

/// Take the stripe lock that `key` hashes to.
fn lock<'a>(stripes: &'a [Mutex<()>], key: &[u8]) -> std::sync::MutexGuard<'a, ()> {
    // FNV-1a: cheap and good enough to spread keys over the stripes.
    let hash = key.iter().fold(0xcbf29ce484222325u64, |h, b| (h ^ *b as u64).wrapping_mul(0x100000001b3));
    stripes[(hash % stripes.len() as u64) as usize].lock().unwrap_or_else(|p| p.into_inner())
}

fn create_private_dir(path: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| StoreError::Io(format!("{}: {e}", path.display())))
}

/// The directories sled and the spool created (and their entries in their
/// parents) are durable before the first ack: sled never fsyncs a directory.
fn sync_dirs(path: &Path) -> std::io::Result<()> {
    let sled = path.join("sled");
    for dir in [sled.join("blobs"), sled, path.join("spool"), path.to_path_buf()] {
        std::fs::File::open(&dir)?.sync_all()?;
    }
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => std::fs::File::open(parent)?.sync_all(),
        None => Ok(()),
    }
}

/// write → fsync → rename → fsync the directory: the body is durable before
/// the event record that points to it is even written.
fn write_spool(dir: &Path, id: &Id, body: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |e: std::io::Error| StoreError::Io(format!("spool: {e}"));
    let name = keys::id_text(id);
    let tmp = dir.join(format!("{name}.tmp"));
    let mut file =
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp).map_err(io)?;
    file.write_all(body).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, dir.join(name)).map_err(io)?;
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)
}
