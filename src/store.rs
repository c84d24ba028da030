//! The only module that names sled. `accept()` = dedup + event + deliveries,
//! group-committed to disk before it returns; `claim()` / `finish()` record
//! attempts. Knows nothing of HTTP, config files or handlers.
//!
//! Crash consistency rests on two facts: every single-key write is atomic,
//! and sled's recovery restores a prefix of the log. So each multi-key change
//! writes its keys in an order where any prefix is harmless, the event record
//! last as the commit marker of `accept()`, and every reader treats the
//! delivery record as the truth and the due index as a hint it repairs.

pub mod commit;
pub mod keys;
pub mod records;

use bytes::Bytes;
use commit::GroupCommit;
use keys::{dedup_key, delivery_key, DueKey, Id};
use records::{decode, encode, Attempt, Body, DedupEntry, Delivery, DeliveryRecord, Event, EventRecord, State};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Bodies larger than this are spooled to a file instead of a sled value
/// (sled writes values over ~128 KiB to blob files it never fsyncs).
pub const SPOOL_THRESHOLD: usize = 32 * 1024;

const LOCK_STRIPES: usize = 64;

#[derive(Debug)]
pub enum StoreError {
    Db(String),
    Io(String),
    /// A record that does not decode: never silently skipped.
    Corrupt(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Db(e) => write!(f, "database error: {e}"),
            StoreError::Io(e) => write!(f, "i/o error: {e}"),
            StoreError::Corrupt(e) => write!(f, "corrupt record: {e}"),
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

/// A verified, identified event, about to be accepted.
pub struct NewEvent {
    pub source: String,
    pub event_id: String,
    pub event_type: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// Names of the matched routes; empty means unrouted.
    pub routes: Vec<String>,
    pub dedup_window: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub id: Id,
    pub deduped: bool,
}

/// A delivery handed to the dispatcher, its attempt already recorded.
#[derive(Debug, Clone)]
pub struct Claim {
    pub due: DueKey,
    pub event: Event,
    pub body: Bytes,
    pub route: String,
    pub attempt: u32,
}

/// The end of one attempt, as the store records it.
#[derive(Debug, Clone)]
pub struct AttemptEnd {
    pub outcome: String,
    pub exit_code: Option<i32>,
    pub http_status: Option<u16>,
    pub output_tail: String,
    pub next: Next,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Delivered,
    RetryAt(u64),
    Dead(String),
}

/// One event with all its deliveries (for inspection).
#[derive(Debug, Clone)]
pub struct EventView {
    pub id: Id,
    pub event: Event,
    pub deliveries: Vec<Delivery>,
}

pub struct Store {
    db: sled::Db,
    events: sled::Tree,
    deliveries: sled::Tree,
    due: sled::Tree,
    dedup: sled::Tree,
    spool: PathBuf,
    commit: GroupCommit,
    locks: Vec<Mutex<()>>,
}

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl Store {
    /// Open (or create) the store under `path`, mode 0700.
    pub fn open(path: &Path, cache_capacity: u64) -> Result<Store> {
        create_private_dir(path)?;
        let spool = path.join("spool");
        create_private_dir(&spool)?;
        let db = sled::Config::new()
            .path(path.join("sled"))
            .cache_capacity(cache_capacity)
            .flush_every_ms(Some(500))
            .open()?;
        let data_file = std::fs::File::open(path.join("sled").join("db")).map_err(|e| StoreError::Io(e.to_string()))?;
        let commit = GroupCommit::start(db.clone(), data_file).map_err(|e| StoreError::Io(e.to_string()))?;
        Ok(Store {
            events: db.open_tree("events")?,
            deliveries: db.open_tree("deliveries")?,
            due: db.open_tree("due")?,
            dedup: db.open_tree("dedup")?,
            db,
            spool,
            commit,
            locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
        })
    }

    /// Accept an event: a new one is logged with its deliveries, a duplicate
    /// within the window answers the first id. Returns only once everything
    /// it wrote (or, for a duplicate, the first delivery of it) is on disk.
    pub async fn accept(&self, new: NewEvent) -> Result<Accepted> {
        let id = keys::new_id();
        let received_ms = now_ms();
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
        self.sync().await?;
        Ok(accepted)
    }

    /// The synchronous part of `accept`, under the dedup key's lock so that
    /// two copies of one event are ordered: the second sees the first's
    /// commit marker. Write order: dedup, deliveries, due index, event.
    fn log_event(&self, id: Id, received_ms: u64, new: NewEvent, body: Body) -> Result<Accepted> {
        let dkey = dedup_key(&new.source, &new.event_id);
        let _guard = self.locks[stripe(&dkey)].lock().unwrap_or_else(|p| p.into_inner());
        if let Some(first) = self.live_duplicate(&dkey, received_ms, new.dedup_window)? {
            return Ok(Accepted { id: first, deduped: true });
        }
        self.dedup.insert(&dkey, &DedupEntry { id, received_ms }.encode())?;
        for (index, route) in new.routes.iter().enumerate() {
            let index = u16::try_from(index).map_err(|_| StoreError::Io("too many routes".into()))?;
            let delivery = Delivery {
                route: route.clone(),
                state: State::Pending,
                next_due_ms: received_ms,
                attempts: Vec::new(),
                dead_reason: None,
            };
            self.deliveries.insert(delivery_key(&id, index), encode(&DeliveryRecord::V1(delivery))?)?;
            self.due.insert(DueKey { due_ms: received_ms, id, index }.encode(), &[])?;
        }
        let event = Event {
            source: new.source,
            event_id: new.event_id,
            event_type: new.event_type,
            received_ms,
            headers: new.headers,
            body,
            routes: new.routes,
        };
        self.events.insert(id, encode(&EventRecord::V1(event))?)?;
        Ok(Accepted { id, deduped: false })
    }

    /// The first id of a duplicate that is within its window and whose event
    /// was committed. A dedup entry without its event is the remains of an
    /// accept that crashed before its ack: the sender will retry, so it is new.
    fn live_duplicate(&self, dkey: &[u8], now: u64, window: Duration) -> Result<Option<Id>> {
        let Some(raw) = self.dedup.get(dkey)? else { return Ok(None) };
        let entry = DedupEntry::decode(&raw).ok_or_else(|| StoreError::Corrupt("dedup entry".into()))?;
        let expired = now.saturating_sub(entry.received_ms) > window.as_millis() as u64;
        if expired || !self.events.contains_key(entry.id)? {
            return Ok(None);
        }
        Ok(Some(entry.id))
    }

    /// Wait until every write made before this call is on disk.
    pub async fn sync(&self) -> Result<()> {
        self.commit.sync().await.map_err(StoreError::Io)
    }

    /// Storage is writable: a probe write is flushed and fsynced.
    pub async fn ready(&self) -> bool {
        let probe = self.db.insert("ready-probe", &now_ms().to_be_bytes());
        probe.is_ok() && self.sync().await.is_ok()
    }

    /// Up to `limit` due-index entries due at or before `now`, in due order,
    /// skipping those `skip` says are already running.
    pub fn due(&self, now: u64, limit: usize, skip: impl Fn(&DueKey) -> bool) -> Result<Vec<DueKey>> {
        let end = DueKey { due_ms: now, id: [0xff; 16], index: u16::MAX }.encode();
        let mut out = Vec::new();
        for entry in self.due.range(..=end) {
            let (k, _) = entry?;
            let due = DueKey::decode(&k).ok_or_else(|| StoreError::Corrupt("due key".into()))?;
            if !skip(&due) {
                out.push(due);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// When the earliest entry of the due index that `skip` does not
    /// exclude is due, if any.
    pub fn next_due(&self, skip: impl Fn(&DueKey) -> bool) -> Result<Option<u64>> {
        for entry in self.due.iter() {
            let (k, _) = entry?;
            let due = DueKey::decode(&k).ok_or_else(|| StoreError::Corrupt("due key".into()))?;
            if !skip(&due) {
                return Ok(Some(due.due_ms));
            }
        }
        Ok(None)
    }

    /// Start an attempt: validate the due entry against the delivery record
    /// (repairing a stale index entry), record the attempt, make it durable.
    /// `None`: nothing to run for this entry.
    pub async fn claim(&self, due: DueKey) -> Result<Option<Claim>> {
        let claim = self.claim_sync(due)?;
        if claim.is_some() {
            self.sync().await?;
        }
        Ok(claim)
    }

    fn claim_sync(&self, due: DueKey) -> Result<Option<Claim>> {
        let dk = delivery_key(&due.id, due.index);
        let (Some(mut delivery), Some(event)) = (self.delivery(&dk)?, self.event(&due.id)?) else {
            // The remains of an accept that never committed: nothing was acked.
            self.due.remove(due.encode())?;
            self.deliveries.remove(dk)?;
            return Ok(None);
        };
        if delivery.state.is_terminal() || delivery.next_due_ms != due.due_ms {
            self.repair_due(due, &delivery)?;
            return Ok(None);
        }
        let number = delivery.attempts.len() as u32 + 1;
        delivery.attempts.push(Attempt {
            number,
            started_ms: now_ms(),
            ended_ms: None,
            outcome: "running".into(),
            exit_code: None,
            http_status: None,
            output_tail: String::new(),
        });
        let route = delivery.route.clone();
        self.deliveries.insert(dk, encode(&DeliveryRecord::V1(delivery))?)?;
        let body = self.body(&due.id, &event)?;
        Ok(Some(Claim { due, event, body, route, attempt: number }))
    }

    /// Make the due index agree with the record for this delivery.
    fn repair_due(&self, stale: DueKey, delivery: &Delivery) -> Result<()> {
        if !delivery.state.is_terminal() {
            let right = DueKey { due_ms: delivery.next_due_ms, ..stale };
            self.due.insert(right.encode(), &[])?;
        }
        self.due.remove(stale.encode())?;
        Ok(())
    }

    /// End an attempt. Write order: new due entry, record, old due entry
    /// removed — any prefix leaves the record reachable from the index.
    pub async fn finish(&self, claim: &Claim, end: AttemptEnd) -> Result<State> {
        let state = self.finish_sync(claim, end)?;
        self.sync().await?;
        Ok(state)
    }

    fn finish_sync(&self, claim: &Claim, end: AttemptEnd) -> Result<State> {
        let dk = delivery_key(&claim.due.id, claim.due.index);
        let mut delivery = self.delivery(&dk)?.ok_or_else(|| StoreError::Corrupt("delivery vanished".into()))?;
        if let Some(attempt) = delivery.attempts.iter_mut().find(|a| a.number == claim.attempt) {
            attempt.ended_ms = Some(now_ms());
            attempt.outcome = end.outcome;
            attempt.exit_code = end.exit_code;
            attempt.http_status = end.http_status;
            attempt.output_tail = end.output_tail;
        }
        let same_key = matches!(end.next, Next::RetryAt(at) if at == claim.due.due_ms);
        match end.next {
            Next::Delivered => delivery.state = State::Delivered,
            Next::Dead(reason) => {
                delivery.state = State::Dead;
                delivery.dead_reason = Some(reason);
            }
            Next::RetryAt(at) => {
                delivery.state = State::Retrying;
                delivery.next_due_ms = at;
                self.due.insert(DueKey { due_ms: at, ..claim.due }.encode(), &[])?;
            }
        }
        let state = delivery.state;
        self.deliveries.insert(dk, encode(&DeliveryRecord::V1(delivery))?)?;
        if !same_key {
            self.due.remove(claim.due.encode())?;
        }
        Ok(state)
    }

    /// One event and its deliveries.
    pub fn event_view(&self, id: &Id) -> Result<Option<EventView>> {
        let Some(event) = self.event(id)? else { return Ok(None) };
        let mut deliveries = Vec::new();
        for index in 0..event.routes.len() {
            let index = u16::try_from(index).unwrap_or(u16::MAX);
            deliveries.extend(self.delivery(&delivery_key(id, index))?);
        }
        Ok(Some(EventView { id: *id, event, deliveries }))
    }

    /// Every event, oldest first (for inspection and tests).
    pub fn all_events(&self) -> Result<Vec<EventView>> {
        let mut out = Vec::new();
        for entry in self.events.iter() {
            let (k, _) = entry?;
            let id: Id = k.as_ref().try_into().map_err(|_| StoreError::Corrupt("event key".into()))?;
            out.extend(self.event_view(&id)?);
        }
        Ok(out)
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

    fn body(&self, id: &Id, event: &Event) -> Result<Bytes> {
        match &event.body {
            Body::Inline(b) => Ok(Bytes::copy_from_slice(b)),
            Body::Spooled { .. } => std::fs::read(self.spool.join(keys::id_text(id)))
                .map(Bytes::from)
                .map_err(|e| StoreError::Io(format!("spooled body: {e}"))),
        }
    }
}

fn stripe(key: &[u8]) -> usize {
    // FNV-1a: cheap and good enough to spread keys over the stripes.
    let hash = key.iter().fold(0xcbf29ce484222325u64, |h, b| (h ^ *b as u64).wrapping_mul(0x100000001b3));
    (hash % LOCK_STRIPES as u64) as usize
}

fn create_private_dir(path: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| StoreError::Io(format!("{}: {e}", path.display())))
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
