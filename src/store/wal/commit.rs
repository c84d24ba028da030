//! The shared state behind `Wal` and its commit thread: appenders encode
//! frames into one buffer under a mutex; the thread writes the buffer with
//! one `pwrite` and one `fdatasync` per round, for everyone waiting, and
//! rolls to a new segment when an append asks for one.

use super::error::{Result, WalError};
use super::format::{mark_batch_end, Header, HEADER_LEN};
use super::segment::{self, Segment};
use super::WalConfig;
use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};

/// A commit round also starts by itself once this much is buffered, so an
/// appender that never waits cannot grow the buffer without bound.
const FLUSH_AT: usize = 4 << 20;
/// Buffers above this are not kept for the next round.
const KEEP_BUFFER: usize = 8 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Roll {
    Idle,
    /// An append does not fit the current segment: flush it, open the next.
    Requested,
    Running,
}

pub struct State {
    pub next_lsn: u64,
    /// The segment appends go to, and the logical end in it (buffered
    /// frames included).
    pub seq: u64,
    pub offset: u64,
    pub capacity: u64,
    /// Frames not yet taken by the commit thread, all for segment `seq`,
    /// starting at `pending_start`.
    pub pending: Vec<u8>,
    pub pending_start: u64,
    /// Where the last frame starts in `pending` (its batch-end bit is set
    /// when the round is taken).
    pub last_frame: usize,
    spare: Vec<u8>,
    /// Every LSN up to this one is durable.
    pub durable: u64,
    /// Someone waits for this LSN.
    pub wanted: u64,
    pub roll: Roll,
    /// Bumped when a roll attempt ends; `roll_error` is its failure.
    pub roll_gen: u64,
    pub roll_error: Option<WalError>,
    /// Poisoned: a write or fdatasync failed.
    pub failed: Option<WalError>,
    pub closing: bool,
    /// The commit thread has exited.
    pub stopped: bool,
}

impl State {
    pub fn new(seq: u64, offset: u64, capacity: u64, next_lsn: u64) -> State {
        State {
            next_lsn,
            seq,
            offset,
            capacity,
            pending: Vec::new(),
            pending_start: offset,
            last_frame: 0,
            spare: Vec::new(),
            durable: next_lsn - 1,
            wanted: next_lsn - 1,
            roll: Roll::Idle,
            roll_gen: 0,
            roll_error: None,
            failed: None,
            closing: false,
            stopped: false,
        }
    }

    pub fn poisoned(&self) -> Option<WalError> {
        self.failed.clone().map(|cause| WalError::Poisoned { cause: Box::new(cause) })
    }
}

/// What async waiters watch.
#[derive(Debug, Clone)]
pub struct Durable {
    pub lsn: u64,
    pub failed: Option<WalError>,
    pub stopped: bool,
}

pub struct Shared {
    pub dir: PathBuf,
    pub dir_file: File,
    pub config: WalConfig,
    pub state: Mutex<State>,
    /// The commit thread waits here for work.
    pub work: Condvar,
    /// Blocking waiters (durability, rolls) wait here.
    pub done: Condvar,
    pub watch: tokio::sync::watch::Sender<Durable>,
    /// Every live segment, for reads and replay.
    pub segments: RwLock<BTreeMap<u64, Arc<Segment>>>,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn wait<'a>(&self, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.done.wait(guard).unwrap_or_else(|p| p.into_inner())
    }

    pub fn segments(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<u64, Arc<Segment>>> {
        self.segments.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn segments_mut(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<u64, Arc<Segment>>> {
        self.segments.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Ask the commit thread to make `lsn` durable.
    pub fn want(&self, st: &mut State, lsn: u64) {
        if lsn > st.wanted {
            st.wanted = lsn;
            self.work.notify_one();
        }
    }

    /// Buffer one frame; blocks only while a segment roll is under way.
    pub fn append(&self, payload: &[u8]) -> Result<super::Pos> {
        let size = super::format::Frame::size(payload.len() as u32);
        let mut st = self.lock();
        let mut waited_for_roll = false;
        loop {
            if let Some(e) = st.poisoned() {
                return Err(e);
            }
            if st.closing || st.stopped {
                return Err(WalError::Closed);
            }
            if st.roll != Roll::Idle {
                // Nothing may be appended while the segment changes: LSNs
                // and positions are handed out in one order.
                let gen = st.roll_gen;
                while st.roll_gen == gen && st.failed.is_none() && !st.stopped {
                    st = self.wait(st);
                }
                waited_for_roll = true;
                continue;
            }
            if st.offset + size > st.capacity {
                if waited_for_roll {
                    if let Some(e) = st.roll_error.clone() {
                        return Err(e);
                    }
                }
                st.roll = Roll::Requested;
                self.work.notify_one();
                continue;
            }
            let lsn = st.next_lsn;
            let pos = super::Pos { segment: st.seq, offset: st.offset, len: payload.len() as u32, lsn };
            if st.pending.is_empty() {
                st.pending_start = st.offset;
            }
            st.last_frame = st.pending.len();
            super::format::encode_frame(&mut st.pending, lsn, payload);
            st.offset += size;
            st.next_lsn += 1;
            if st.pending.len() >= FLUSH_AT {
                self.want(&mut st, lsn);
            }
            return Ok(pos);
        }
    }

    fn publish(&self, st: &State) {
        self.done.notify_all();
        self.watch.send_replace(Durable { lsn: st.durable, failed: st.poisoned(), stopped: st.stopped });
    }

    fn poison(&self, error: WalError) {
        let mut st = self.lock();
        st.failed = Some(error);
        st.pending.clear();
        self.publish(&st);
    }
}

struct Batch {
    bytes: Vec<u8>,
    start: u64,
    last_lsn: u64,
}

/// The commit thread: until the `Wal` closes or a write fails.
pub fn run(shared: Arc<Shared>, mut current: Arc<Segment>) {
    loop {
        let mut st = shared.lock();
        loop {
            if st.failed.is_some() {
                break;
            }
            let wanted = st.wanted > st.durable && !st.pending.is_empty();
            if wanted || st.roll == Roll::Requested || st.closing {
                break;
            }
            st = shared.work.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        if st.failed.is_some() {
            break;
        }
        let closing = st.closing;
        let roll = st.roll == Roll::Requested;
        if roll {
            st.roll = Roll::Running;
        }
        let batch = (!st.pending.is_empty()).then(|| {
            let spare = std::mem::take(&mut st.spare);
            let mut bytes = std::mem::replace(&mut st.pending, spare);
            mark_batch_end(&mut bytes[st.last_frame..]);
            Batch { bytes, start: st.pending_start, last_lsn: st.next_lsn - 1 }
        });
        let next_lsn = st.next_lsn;
        let next_seq = st.seq + 1;
        drop(st);

        if let Some(batch) = batch {
            let started = std::time::Instant::now();
            if let Err(e) = write(&current, &batch) {
                shared.poison(e);
                break;
            }
            tracing::debug!(
                bytes = batch.bytes.len(),
                last_lsn = batch.last_lsn,
                micros = started.elapsed().as_micros() as u64,
                "commit round"
            );
            let mut st = shared.lock();
            st.durable = batch.last_lsn;
            if batch.bytes.capacity() <= KEEP_BUFFER {
                let mut bytes = batch.bytes;
                bytes.clear();
                st.spare = bytes;
            }
            shared.publish(&st);
        }
        if roll {
            // The old segment is complete and durable (just synced) before
            // the new one exists: damage in any but the newest segment is
            // never a torn write.
            let header = Header { seq: next_seq, first_lsn: next_lsn, capacity: shared.config.segment_size };
            let created = segment::create(&shared.dir, &shared.dir_file, header);
            let mut st = shared.lock();
            match created {
                Ok(segment) => {
                    let segment = Arc::new(segment);
                    shared.segments_mut().insert(segment.seq, segment.clone());
                    current = segment;
                    st.seq = next_seq;
                    st.offset = HEADER_LEN;
                    st.pending_start = HEADER_LEN;
                    st.capacity = header.capacity;
                    st.roll_error = None;
                }
                Err(WalError::Poisoned { cause }) => {
                    st.failed = Some(*cause);
                    st.roll_error = st.poisoned();
                }
                Err(e) => st.roll_error = Some(e),
            }
            st.roll = Roll::Idle;
            st.roll_gen += 1;
            shared.publish(&st);
            if st.failed.is_some() {
                break;
            }
        }
        if closing && shared.lock().pending.is_empty() {
            break;
        }
    }
    let mut st = shared.lock();
    st.stopped = true;
    st.roll = Roll::Idle;
    st.roll_gen += 1;
    shared.publish(&st);
}

/// One round: one positioned write of every buffered frame (retrying short
/// writes and EINTR), then one fdatasync.
fn write(segment: &Segment, batch: &Batch) -> Result<()> {
    debug_assert!(batch.start + batch.bytes.len() as u64 <= segment.capacity);
    #[cfg(test)]
    if segment::faults::hit(&segment::faults::WRITE, &segment.path) {
        return Err(WalError::io(&segment.path, "write", std::io::Error::from_raw_os_error(libc::EIO)));
    }
    segment.file.write_all_at(&batch.bytes, batch.start).map_err(|e| WalError::io(&segment.path, "write", e))?;
    segment.file.sync_data().map_err(|e| WalError::io(&segment.path, "fdatasync", e))
}
