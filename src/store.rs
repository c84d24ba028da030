//! The only module that names sled or the write-ahead log. Every state
//! change that must survive is a record of hookd's own write-ahead log
//! (`wal`, `records::Change`), appended and fdatasynced before anything is
//! acknowledged; sled holds the index (dedup keys, event metadata, delivery
//! states, the due index, the DLQ, order lines), checkpointed off the ack
//! path and rebuilt from the log when it is behind or damaged (`open.rs`,
//! `journal.rs`). Knows nothing of HTTP, config files or handlers.
//!
//! An accept appends its `Accepted` record (body included) and waits for
//! the log; only then is it written to the index, so the index never names
//! an event the log does not hold. Other changes are written to the index
//! and appended under the event's lock, so both see them in one order; the
//! index may run ahead of the log by one commit round, never behind the
//! last checkpoint. Readers treat the delivery record as the truth and the
//! due, dead and order entries as hints they repair.
#![allow(clippy::disallowed_types)] // the one module allowed to name sled

mod checkpoint;
mod claim;
mod clock;
mod counts;
mod datadir;
mod flow;
pub mod inspect;
mod journal;
pub mod keys;
mod lifecycle;
mod open;
mod procs;
mod query;
pub mod records;
mod space;
pub mod wal;

pub use claim::{AttemptEnd, Claim, Claimed, Next};
pub use counts::{SourceCounts, Stats};
pub use flow::RouteControl;
pub use lifecycle::{died_at, expires_at, Expired, PurgeOutcome, Retention, RetryNow, SweepCursor};
pub use open::{Opened, Options};
pub use procs::ProcessNote;
pub use query::{DeadView, EventFilter, EventView, Page};

use bytes::Bytes;
use counts::Counts;
use keys::{dedup_key, delivery_key, lane, order_key, order_prefix, split_delivery_key, DueKey, Id};
use records::{
    decode, encode, Body, Change, DedupEntry, Delivery, DeliveryRecord, Event, EventRecord, LogRecord, State,
};
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `next_due_ms` of a delivery parked behind an earlier one of its
/// `order_by` line: it has no due entry until the line reaches it.
pub const PARKED: u64 = u64::MAX;

/// sled writes a page over ~128 KiB (segment / 4) to a blob file it never
/// fsyncs, and a blob half-synced at a power cut broke its recovery. A leaf
/// holds up to 17 items, so every value in the index stays a few KiB: the
/// index keeps the last `INDEX_TAIL` bytes of the newest attempt's output
/// tail only; every tail is whole in its attempt's log record (the `tails`
/// tree points to each one that is not empty).
pub const INDEX_TAIL: usize = 1024;

const LOCK_STRIPES: usize = 64;

#[derive(Debug)]
pub enum StoreError {
    Db(String),
    Io(String),
    /// A record that does not decode: never silently skipped.
    Corrupt(String),
    /// A listing cursor that this store never handed out.
    BadCursor,
    /// The log could not take the record: the disk is full.
    NoSpace(String),
    /// The store lost or cannot read data it acknowledged: hookd must not
    /// start on it. The text names the file and what to do.
    Damaged(String),
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
            StoreError::NoSpace(e) => write!(f, "no space left: {e}"),
            StoreError::Damaged(e) => write!(f, "the store is damaged: {e}"),
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

impl From<wal::WalError> for StoreError {
    fn from(e: wal::WalError) -> Self {
        match e {
            e if e.is_no_space() => StoreError::NoSpace(e.to_string()),
            e if e.is_corrupt() => StoreError::Damaged(e.to_string()),
            e => StoreError::Io(e.to_string()),
        }
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
    /// Where each ended attempt's record (its whole output tail) is in the
    /// log, by delivery key + attempt number.
    tails: sled::Tree,
    wal: Arc<wal::Wal>,
    /// Bodies of stores from before the log (read only).
    spool: PathBuf,
    /// Accepts appended to the log but not yet in the index, by dedup key:
    /// a second copy waits for the first instead of becoming new.
    pending: Mutex<HashMap<Vec<u8>, (Id, u64)>>,
    /// Their LSNs: a checkpoint never claims past the oldest.
    unapplied: Arc<Mutex<BTreeSet<u64>>>,
    /// Dropped with the store: a last checkpoint, then its thread ends.
    _checkpoint: checkpoint::Checkpointer,
    /// The last commit round and index write succeeded.
    healthy: AtomicBool,
    /// Serialize the two copies of one event (by dedup key).
    locks: Vec<Mutex<()>>,
    /// Serialize changes to one event's deliveries (by id) and one order line.
    event_locks: Vec<Mutex<()>>,
    counts: Counts,
    /// Told the source of each duplicate whose body differs from the first's.
    on_body_mismatch: OnceLock<SourceHook>,
    /// `/readyz`'s last probe, shared by all callers.
    readiness: Readiness,
    space: space::Space,
    /// The time expiry decisions trust (a jump forward expires nothing).
    clock: clock::Clock,
    /// Checkpoints may run (set when the open, replay included, is done).
    checkpoints: Arc<AtomicBool>,
    /// `storage.path` (for `flow.json`).
    data_dir: PathBuf,
    /// One writer of `flow.json` at a time.
    flow_lock: Mutex<()>,
    /// Held until the store is dropped: one hookd per data dir.
    _lock: datadir::DirLock,
}

/// Whether the open store's commit path works: false from a failed or stuck
/// commit round until the store is reopened. The systemd watchdog is pinged
/// only while it holds, so a process whose disk stopped answering is
/// restarted.
static COMMITS_OK: AtomicBool = AtomicBool::new(true);

pub fn commits_ok() -> bool {
    COMMITS_OK.load(Ordering::Relaxed)
}

/// Whether `apply_accepted` writes the live accept that just appended the
/// record (nothing to look up) or a record replayed from the log.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fresh {
    Yes,
    Replay,
}

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl Store {
    /// Accept an event: a new one is appended to the log, body and all,
    /// and written to the index once the log has it on disk; a duplicate
    /// within the window answers the first id (once that one is durable).
    /// Returns only when the answer is true on disk.
    pub async fn accept(&self, new: NewEvent) -> Result<Accepted> {
        let id = keys::new_id();
        let received_ms = now_ms();
        let dkey = dedup_key(&new.source, &new.event_id);
        let order_keys: Vec<Option<String>> = new.routes.iter().map(|r| r.order_key.clone()).collect();
        // The index's copy has no body (it points into the log); the log's
        // record has the body inline.
        let meta = Event {
            source: new.source,
            event_id: new.event_id,
            event_type: new.event_type,
            received_ms,
            headers: new.headers,
            body: Body::Inline(Vec::new()),
            routes: new.routes.into_iter().map(|r| r.route).collect(),
        };
        let (pos, meta, order_keys) = {
            let _guard = lock(&self.locks, &dkey);
            let first = match self.live_duplicate(&dkey, self.clock.expiry_now(), new.dedup_window)? {
                Some(first) => Some((first, None)),
                None => self.pending_map().get(&dkey).map(|&(first, lsn)| (first, Some(lsn))),
            };
            if let Some((first, lsn)) = first {
                drop(_guard);
                if let Some(lsn) = lsn {
                    self.durable(lsn).await?;
                }
                self.compare_bodies(&meta.source, &meta.event_id, &first, &new.body);
                return Ok(Accepted { id: first, deduped: true });
            }
            if !self.space.room() {
                return Err(StoreError::NoSpace(format!("less than {} bytes free", self.space.need())));
            }
            let body_len = new.body.len() as u64;
            // The log's record holds the event with its body; the index's
            // copy is the same event, its body a position in the log.
            let change =
                Change::Accepted { id, event: Event { body: Body::Inline(new.body.to_vec()), ..meta }, order_keys };
            let record = LogRecord::V1(change);
            let pos = self.wal.append(&encode(&record)?)?;
            self.pending_map().insert(dkey.clone(), (id, pos.lsn));
            self.unapplied_set().insert(pos.lsn);
            let LogRecord::V1(Change::Accepted { event, order_keys, .. }) = record else {
                return Err(StoreError::Corrupt("an accept's own record changed kind".into()));
            };
            (pos, Event { body: Body::Logged { pos: pos.into(), len: body_len }, ..event }, order_keys)
        };
        if let Err(e) = self.durable(pos.lsn).await {
            // Maybe on disk, maybe not: a re-send is new, and if this one
            // did reach the disk the replay at the next open dedups it.
            self.pending_map().remove(&dkey);
            self.unapplied_set().remove(&pos.lsn);
            return Err(e);
        }
        match self.apply_accepted(&id, meta, &order_keys, Fresh::Yes) {
            Ok(()) => {
                self.pending_map().remove(&dkey);
                self.unapplied_set().remove(&pos.lsn);
            }
            // Durable in the log, so acknowledged; the index gets it when the
            // store is reopened (replay from the checkpoint, which this LSN
            // holds back), and a re-send meanwhile is answered as duplicate.
            Err(e) => {
                tracing::error!(error = %e, "writing an accepted event to the index failed; the log has it");
                self.unhealthy();
            }
        }
        Ok(Accepted { id, deduped: false })
    }

    /// `f` is told the source of every duplicate whose body differs from
    /// the first copy's (set once; the metrics counter).
    pub fn on_body_mismatch(&self, f: impl Fn(&str) + Send + Sync + 'static) {
        let _ = self.on_body_mismatch.set(Box::new(f));
    }

    /// A duplicate is answered with the first copy, which wins: when its
    /// body differs from the first one's stored body, say so (WARN, both
    /// sha256 prefixes) and count it. Rare, so the first body is read
    /// back. A first event already purged (or still being indexed) has
    /// nothing to compare.
    fn compare_bodies(&self, source: &str, event_id: &str, first: &Id, body: &Bytes) {
        let stored = match self.event(first) {
            Ok(Some(event)) => self.body(first, &event),
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

    /// Write an event that the log holds to the index: dedup entry, its
    /// deliveries, then the event record — the commit marker. Nothing when
    /// the index has it already (a replay).
    fn apply_accepted(&self, id: &Id, event: Event, order_keys: &[Option<String>], fresh: Fresh) -> Result<()> {
        let dkey = dedup_key(&event.source, &event.event_id);
        let _guard = lock(&self.locks, &dkey);
        // A fresh accept has a new id, and its dedup key was looked up under
        // this lock before its append (any entry there is expired or the
        // remains of an accept that never committed; the pending map kept
        // every other copy out since): it is the newest. A replay knows
        // neither.
        let newer = match fresh {
            Fresh::Yes => true,
            Fresh::Replay if self.events.contains_key(id)? => return Ok(()),
            Fresh::Replay => match self.dedup.get(&dkey)?.and_then(|raw| DedupEntry::decode(&raw)) {
                Some(e) => e.received_ms <= event.received_ms,
                None => true,
            },
        };
        if newer {
            self.dedup
                .insert(&dkey, &DedupEntry { id: *id, received_ms: event.received_ms, retired: false }.encode())?;
        }
        let routes: Vec<NewDelivery> = event
            .routes
            .iter()
            .enumerate()
            .map(|(i, r)| NewDelivery { route: r.clone(), order_key: order_keys.get(i).cloned().flatten() })
            .collect();
        // Fresh deliveries without an order key need no record: the event
        // record says they are fresh (V2), and the first claim writes one.
        let implied = !routes.is_empty() && routes.iter().all(|r| r.order_key.is_none());
        self.add_deliveries(id, &event.source, &routes, event.received_ms, !implied)?;
        self.counts.accepted(id, &event.source, &event.routes);
        let record = if implied { EventRecord::V2(event) } else { EventRecord::V1(event) };
        self.events.insert(id, encode(&record)?)?;
        Ok(())
    }

    /// Append a change that the index already shows; durable after
    /// [`Store::sync`]. Called under the lock that ordered the index write.
    fn log(&self, change: Change) -> Result<wal::Pos> {
        let record = encode(&LogRecord::V1(change))?;
        Ok(self.wal.append(&record)?)
    }

    fn pending_map(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, (Id, u64)>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn unapplied_set(&self) -> std::sync::MutexGuard<'_, BTreeSet<u64>> {
        self.unapplied.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A commit round failed: the store is unhealthy until reopened.
    fn failed(&self, e: wal::WalError) -> StoreError {
        self.unhealthy();
        e.into()
    }

    /// New pending deliveries of event `id`, due at `due_ms`; each written
    /// record first (unless `records` is false: an event written as V2
    /// implies them), then its order-line entry, then its due entry.
    fn add_deliveries(&self, id: &Id, source: &str, routes: &[NewDelivery], due_ms: u64, records: bool) -> Result<()> {
        for (index, route) in routes.iter().enumerate() {
            let index = u16::try_from(index).map_err(|_| StoreError::Io("too many routes".into()))?;
            if records {
                let delivery = Delivery::fresh(route.route.clone(), due_ms, route.order_key.clone());
                self.put_delivery(&delivery_key(id, index), delivery)?;
            }
            if let Some(k) = &route.order_key {
                self.order.insert(order_key(&order_prefix(source, &route.route, k), id, index), &[])?;
            }
            self.due.insert(DueKey { lane: lane(source, &route.route), due_ms, id: *id, index }.encode(), &[])?;
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

    /// Now, for deciding that something expired (see `clock.rs`).
    pub fn expiry_now(&self) -> u64 {
        self.clock.expiry_now()
    }

    /// Wait until every change made before this call is on disk.
    pub async fn sync(&self) -> Result<()> {
        self.sync_within(Duration::ZERO).await
    }

    /// `sync` for the dispatcher's own records (a claim, an attempt's end):
    /// durable on the next commit round that an ack (or anyone) starts, or
    /// on one of its own after `LAZY_SYNC`. Under load the backlog's
    /// bookkeeping then adds no rounds of its own; on an idle hookd a
    /// handler starts (and an end is durable) up to `LAZY_SYNC` later.
    pub async fn sync_lazily(&self) -> Result<()> {
        self.sync_within(LAZY_SYNC).await
    }

    async fn sync_within(&self, gather: Duration) -> Result<()> {
        let last = self.wal.next_lsn().saturating_sub(1);
        if last == 0 {
            return Ok(());
        }
        self.committed(self.wal.durable_within(last, gather)).await
    }

    /// Accepts appended and not yet in the index: a commit round is under
    /// way or about to start.
    fn accepts_in_flight(&self) -> bool {
        !self.unapplied_set().is_empty()
    }

    /// Wait until record `lsn` is on disk, for at most `COMMIT_BUDGET`: a
    /// round that takes longer (a disk that stopped answering) fails its
    /// waiters and leaves the store unhealthy, so that senders get 503s,
    /// `/readyz` says so and `recover` can reopen the store.
    async fn durable(&self, lsn: u64) -> Result<()> {
        self.committed(self.wal.durable(lsn)).await
    }

    async fn committed(&self, wait: impl std::future::Future<Output = wal::Result<u64>>) -> Result<()> {
        match tokio::time::timeout(COMMIT_BUDGET, wait).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(self.failed(e)),
            Err(_) => {
                self.unhealthy();
                tracing::error!("a commit round did not finish within {COMMIT_BUDGET:?}: the store is unhealthy");
                Err(StoreError::Io(format!("the commit did not finish within {COMMIT_BUDGET:?}")))
            }
        }
    }

    fn unhealthy(&self) {
        self.healthy.store(false, Ordering::Relaxed);
        COMMITS_OK.store(false, Ordering::Relaxed);
    }

    /// The last commit round and index write succeeded (no I/O).
    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Storage is writable: the last commit round succeeded, none is stuck,
    /// there is room for the next segment, and a commit of whatever is
    /// buffered finishes in time. Probed at most once a second for all
    /// callers; answers within a second whatever the disk does; writes
    /// nothing of its own (the log's segments are preallocated).
    pub async fn ready(&self) -> bool {
        if !self.healthy() || !self.space.room() {
            return false;
        }
        let probe = async {
            let mut last = self.readiness.0.lock().await;
            if let Some((at, ok)) = *last {
                if at.elapsed() < READY_PROBE_EVERY {
                    return ok && self.healthy();
                }
            }
            let ok = tokio::time::timeout(READY_PROBE_BUDGET, self.sync()).await.is_ok_and(|r| r.is_ok());
            *last = Some((Instant::now(), ok));
            ok
        };
        tokio::time::timeout(READY_ANSWER_WITHIN, probe).await.unwrap_or(false)
    }

    fn event(&self, id: &Id) -> Result<Option<Event>> {
        Ok(self.event_entry(id)?.map(|(event, _)| event))
    }

    /// The event and whether its deliveries with no record are fresh
    /// (`EventRecord::V2`).
    fn event_entry(&self, id: &Id) -> Result<Option<(Event, bool)>> {
        let Some(raw) = self.events.get(id)? else { return Ok(None) };
        Ok(Some(decode::<EventRecord>(&raw)?.into_parts()))
    }

    /// Delivery `key` (event id + index): its record, or the fresh delivery
    /// an event written as V2 implies until its first claim.
    fn delivery(&self, key: &[u8]) -> Result<Option<Delivery>> {
        if let Some(d) = self.delivery_record(key)? {
            return Ok(Some(d));
        }
        let Some((id, index)) = split_delivery_key(key) else { return Ok(None) };
        match self.event_entry(&id)? {
            Some((event, true)) => Ok(implied_delivery(&event, index)),
            _ => Ok(None),
        }
    }

    /// Delivery `index` of `event` (read as `event_entry` gave it), without
    /// reading the event again.
    fn delivery_of(&self, id: &Id, index: u16, event: &Event, implies: bool) -> Result<Option<Delivery>> {
        if let Some(d) = self.delivery_record(&delivery_key(id, index))? {
            return Ok(Some(d));
        }
        Ok(if implies { implied_delivery(event, index) } else { None })
    }

    /// The `deliveries` tree's record for `key`, if written.
    fn delivery_record(&self, key: &[u8]) -> Result<Option<Delivery>> {
        let Some(raw) = self.deliveries.get(key)? else { return Ok(None) };
        let DeliveryRecord::V1(d) = decode(&raw)?;
        Ok(Some(d))
    }

    /// The delivery record as the index keeps it: output tails cut to the
    /// newest attempt's last `INDEX_TAIL` bytes (the log has them whole).
    fn put_delivery(&self, key: &[u8], mut delivery: Delivery) -> Result<()> {
        let newest = delivery.attempts.len().saturating_sub(1);
        for (i, a) in delivery.attempts.iter_mut().enumerate() {
            if i < newest {
                a.output_tail.clear();
            } else if a.output_tail.len() > INDEX_TAIL {
                let mut cut = a.output_tail.len() - INDEX_TAIL;
                while !a.output_tail.is_char_boundary(cut) {
                    cut += 1;
                }
                a.output_tail.drain(..cut);
            }
        }
        self.deliveries.insert(key, encode(&DeliveryRecord::V1(delivery))?)?;
        Ok(())
    }

    /// Where the record of attempt `number` of delivery `dk` is in the log,
    /// for an attempt whose output tail is not empty: an empty one has
    /// nothing to read back (a quiet handler, a callback answering with no
    /// body), and the index entry it would cost is one per attempt.
    fn note_tail(&self, dk: &[u8], number: u32, tail_empty: bool, pos: records::LogPos) -> Result<()> {
        if !tail_empty {
            self.tails.insert(tail_key(dk, number), encode(&pos)?)?;
        }
        Ok(())
    }

    /// Each ended attempt's whole output tail, read back from the log
    /// (where the log no longer has it, the index's cut copy stays).
    fn whole_tails(&self, id: &Id, index: u16, d: &mut Delivery) {
        let dk = delivery_key(id, index);
        for a in d.attempts.iter_mut().filter(|a| a.ended_ms.is_some()) {
            let pos = match self.tails.get(tail_key(&dk, a.number)) {
                Ok(Some(raw)) => match decode::<records::LogPos>(&raw) {
                    Ok(pos) => pos,
                    Err(_) => continue,
                },
                _ => continue,
            };
            let Ok(record) = self.wal.read(pos.into()) else { continue };
            if let Ok(LogRecord::V1(Change::AttemptEnded { attempt, .. })) = decode::<LogRecord>(&record) {
                a.output_tail = attempt.output_tail;
            }
        }
    }

    fn body(&self, id: &Id, event: &Event) -> Result<Bytes> {
        match &event.body {
            Body::Inline(b) => Ok(Bytes::copy_from_slice(b)),
            Body::Spooled { .. } => std::fs::read(self.spool.join(keys::id_text(id)))
                .map(Bytes::from)
                .map_err(|e| StoreError::Io(format!("spooled body: {e}"))),
            Body::Logged { pos, .. } => {
                let record = self.wal.read((*pos).into())?;
                match decode::<LogRecord>(&record)? {
                    LogRecord::V1(Change::Accepted { event: Event { body: Body::Inline(b), .. }, .. }) => {
                        Ok(Bytes::from(b))
                    }
                    _ => Err(StoreError::Corrupt(format!("the log record at lsn {} is not the event's", pos.lsn))),
                }
            }
        }
    }
}

/// The longest a commit round may take before its waiters get an error.
const COMMIT_BUDGET: Duration = Duration::from_secs(5);
/// How long the dispatcher's records wait for a commit round that someone
/// else starts (`sync_lazily`): tokio's timer tick, about one `fdatasync`
/// and a fork+exec here (BENCHMARKS.md).
const LAZY_SYNC: Duration = Duration::from_millis(1);
/// A readiness probe's result is reused for this long.
const READY_PROBE_EVERY: Duration = Duration::from_secs(1);
/// A probe that has not committed by then counts as failed.
const READY_PROBE_BUDGET: Duration = Duration::from_millis(750);
/// `ready` answers within this, whatever the disk does.
const READY_ANSWER_WITHIN: Duration = Duration::from_millis(950);

/// The last readiness probe: when it ended and whether it passed.
#[derive(Default)]
struct Readiness(tokio::sync::Mutex<Option<(Instant, bool)>>);

/// The fresh delivery a V2 event record implies for route `index`.
fn implied_delivery(event: &Event, index: u16) -> Option<Delivery> {
    let route = event.routes.get(usize::from(index))?;
    Some(Delivery::fresh(route.clone(), event.received_ms, None))
}

/// The first 16 hex digits of the body's sha256: enough to tell two bodies
/// apart in a log line.
fn sha256_prefix(body: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(body);
    hex::encode(&digest[..8])
}

fn tail_key(dk: &[u8], number: u32) -> Vec<u8> {
    [dk, &number.to_be_bytes()].concat()
}

/// Take the stripe lock that `key` hashes to.
fn lock<'a>(stripes: &'a [Mutex<()>], key: &[u8]) -> std::sync::MutexGuard<'a, ()> {
    // FNV-1a: cheap and good enough to spread keys over the stripes.
    let hash = key.iter().fold(0xcbf29ce484222325u64, |h, b| (h ^ *b as u64).wrapping_mul(0x100000001b3));
    stripes[(hash % stripes.len() as u64) as usize].lock().unwrap_or_else(|p| p.into_inner())
}
