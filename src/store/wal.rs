//! hookd's own write-ahead log: the durable truth of the store. Owns the
//! files under `<storage.path>/wal/`; never interprets a payload, never
//! repairs damage silently, never deletes a segment but on an explicit
//! `remove_segments_before`.
//!
//! # Format
//! Segments `wal/<seq:016>.wal`, seq counting up from 1. Each is
//! preallocated (`posix_fallocate`) to `segment_size` when created and
//! starts with a 48-byte header: magic `HOOKDWAL`, format version (1), seq,
//! the LSN of its first record, its capacity, crc32c. Then records, each
//! `[len u32 LE][crc32c u32 LE][lsn u64 LE][payload]`, the crc over
//! len+lsn+payload. Bit 31 of `len` marks the last record of a commit
//! round (recovery needs to know where durable rounds end; payloads are
//! < 2 GiB, `max_record` caps them far lower). LSNs start at 1 and rise by
//! exactly 1 across segments. After its last record a segment holds zeros.
//! A record that does not fit in a segment's free space starts a new one.
//!
//! # Shape
//! `append(payload) -> Pos` buffers (any number of threads or tasks); one
//! commit thread serves all waiters (`wait_durable(lsn)`, async
//! `durable(lsn)`, `sync()`): whoever waits starts a round, and a round
//! covers everything buffered when it starts.
//!
//! # Durability
//! A round writes the buffer with one `pwrite` (`write_all_at`: short
//! writes and EINTR retried) and one `fdatasync`; only then do waiters
//! hear their LSN is durable. Rolling over: the old segment is synced
//! first, then the new one is created (`O_EXCL`), preallocated, its header
//! written, the file fsynced and the directory fsynced — so ENOSPC shows up
//! there, with no LSN used up, and never mid-record. Segments are never
//! reused or rewritten; removal fsyncs the directory after each unlink,
//! oldest first (no gap on a crash). Open fsyncs the directory and the
//! newest segment. A failed write or fdatasync poisons the log (the page
//! cache can no longer be trusted): reopen it.
//!
//! # Recovery (open) and `check`
//! Every header and record is verified, in order. At the end of the newest
//! segment, a bad, short or zero record with nothing valid after it is a
//! torn tail: the log ends there, the torn bytes are zeroed and fsynced,
//! and appends continue after the last good record. Good records after it
//! are still a torn tail only when they can all be the one round cut
//! mid-write (no round end among them but the last, and an all-zero sector
//! in between, which a disk writing sectors out of order leaves and a
//! flipped bit does not); they are dropped with it. Everything else is
//! `Corrupt { file, offset, reason }` and open refuses: a bad record
//! elsewhere, an LSN gap or repeat, a bad header, a missing segment. A
//! newest segment holding only zeros (or nothing) is a creation cut before
//! its header was durable — nothing was ever written to it — and open
//! completes it in place. `check` reports every problem instead of the
//! first. Blind spots: a flipped bit in the log's very last record (or
//! before an all-zero sector inside the last round) reads as a torn write,
//! and segments missing from the end look like a shorter log — the store's
//! index must know the last LSN it saw.
//!
//! # What it assumes of the filesystem
//! fdatasync makes the data written before it durable and the file size
//! with it; a directory fsync makes creates and unlinks durable; parts of
//! a preallocated file never written read back as zeros after a crash
//! (ext4/xfs unwritten extents); sectors (512 B) are not torn internally;
//! writes into preallocated blocks do not need new space (true for ext4 and
//! xfs, not for copy-on-write filesystems, where ENOSPC mid-write poisons).

mod commit;
mod error;
mod format;
mod replay;
mod scan;
mod segment;
#[cfg(test)]
mod tests;

pub use error::{Result, WalError};
pub use format::{segment_name, HEADER_LEN};
pub use replay::{Record, Replay};
pub use scan::{CheckReport, Problem, TornTail};

use commit::{Durable, Shared, State};
use format::FRAME_HEADER;
use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, RwLock};

/// Sizes. `segment_size` is what each new segment is preallocated to;
/// changing it affects new segments only (each records its own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalConfig {
    /// Default 16 MiB (open reads one whole segment at a time to scan it).
    pub segment_size: u64,
    /// Largest payload `append` takes. Default 4 MiB.
    pub max_record: usize,
}

impl Default for WalConfig {
    fn default() -> Self {
        WalConfig { segment_size: 16 << 20, max_record: 4 << 20 }
    }
}

impl WalConfig {
    fn validate(&self) -> Result<()> {
        if self.max_record > format::LEN_MASK as usize {
            return Err(WalError::Config(format!("max_record {} is over 2 GiB", self.max_record)));
        }
        let needed = HEADER_LEN + FRAME_HEADER as u64 + self.max_record as u64;
        if self.segment_size < needed {
            return Err(WalError::Config(format!(
                "segment_size {} cannot hold one record of max_record {} (needs {needed})",
                self.segment_size, self.max_record
            )));
        }
        Ok(())
    }
}

/// Where a record is: enough to read it back (`Wal::read`).
/// `offset` is where its frame starts in segment `segment`; `len` is the
/// payload length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Pos {
    pub segment: u64,
    pub offset: u64,
    pub len: u32,
    pub lsn: u64,
}

/// What `open` found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// There was no segment: a new, empty log was started.
    pub created: bool,
    pub segments: usize,
    /// Records held: `first_lsn..next_lsn`.
    pub first_lsn: u64,
    pub next_lsn: u64,
    /// The crash cut the end of the newest segment (zeroed again).
    pub torn_tail: Option<TornTail>,
    /// The newest segment held only zeros (its creation was cut) and was
    /// initialised in place.
    pub completed_creation: Option<PathBuf>,
    /// The newest segment came back shorter than its capacity and was
    /// preallocated again.
    pub regrown: Option<PathBuf>,
}

/// One segment, for checkpoint decisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    pub seq: u64,
    pub first_lsn: u64,
    pub path: PathBuf,
}

/// The log. `Send + Sync`: share it behind an `Arc`; any number of threads
/// or tasks append and wait, one internal thread commits.
pub struct Wal {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Wal {
    /// Open the log in `dir` (created, mode 0700, if missing; locked
    /// against a second writer), recover its tail and start the commit
    /// thread. Damage is `Err(Corrupt)`; nothing is truncated but a torn
    /// tail (see the module doc).
    pub fn open(dir: &Path, config: WalConfig) -> Result<(Wal, Recovery)> {
        config.validate()?;
        let dir_file = segment::open_dir(dir)?;
        let log = scan::scan_log(dir, false)?;
        if let Some(p) = log.problems.into_iter().next() {
            return Err(WalError::Corrupt { file: p.file, offset: p.offset, reason: p.reason });
        }
        let mut recovery = Recovery {
            created: false,
            segments: log.segments.len(),
            first_lsn: log.first_lsn,
            next_lsn: log.next_lsn,
            torn_tail: None,
            completed_creation: None,
            regrown: None,
        };
        let mut segments = BTreeMap::new();
        let count = log.segments.len();
        let mut tail = None;
        for (i, s) in log.segments.into_iter().enumerate() {
            let header = s.header;
            if i + 1 < count {
                // scan_log reports any non-newest segment without a header.
                let Some(header) = header else { continue };
                segments.insert(s.seq, Arc::new(segment::open_read(&s.path, header)?));
                continue;
            }
            let (current, offset) = match header {
                None => {
                    let header = format::Header { seq: s.seq, first_lsn: log.next_lsn, capacity: config.segment_size };
                    recovery.completed_creation = Some(s.path.clone());
                    (segment::reinit(dir, &dir_file, &s.path, header)?, HEADER_LEN)
                }
                Some(header) => {
                    let zero_to = if s.torn.is_some() { s.nonzero_end } else { 0 };
                    let (current, grown) = segment::reopen_tail(&s.path, header, s.end, zero_to)?;
                    if grown {
                        recovery.regrown = Some(s.path.clone());
                    }
                    recovery.torn_tail = s.torn;
                    (current, s.end)
                }
            };
            tail = Some((Arc::new(current), offset));
        }
        let (current, offset) = match tail {
            Some(t) => t,
            None => {
                recovery.created = true;
                recovery.segments = 1;
                let header = format::Header { seq: 1, first_lsn: 1, capacity: config.segment_size };
                (Arc::new(segment::create(dir, &dir_file, header)?), HEADER_LEN)
            }
        };
        if recovery.segments == 1 {
            recovery.first_lsn = current.first_lsn;
        }
        segments.insert(current.seq, current.clone());
        segment::sync_dir(&dir_file, dir)?;

        let state = State::new(current.seq, offset, current.capacity, recovery.next_lsn);
        let (watch, _) =
            tokio::sync::watch::channel(Durable { lsn: recovery.next_lsn - 1, failed: None, stopped: false });
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            dir_file,
            config,
            state: Mutex::new(state),
            work: Condvar::new(),
            done: Condvar::new(),
            watch,
            segments: RwLock::new(segments),
        });
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("hookd-wal".into())
                .spawn(move || commit::run(shared, current))
                .map_err(|e| WalError::io(dir, "spawn commit thread", e))?
        };
        Ok((Wal { shared, thread: Some(thread) }, recovery))
    }

    /// Verify the whole log in `dir` without changing anything (no lock
    /// taken: run it on a stopped store for a stable answer) and report
    /// every problem. `Err` only when the files cannot be read.
    pub fn check(dir: &Path) -> Result<CheckReport> {
        std::fs::metadata(dir).map_err(|e| WalError::io(dir, "open directory", e))?;
        let log = scan::scan_log(dir, true)?;
        let last = log.segments.last();
        Ok(CheckReport {
            segments: log.segments.len(),
            records: log.segments.iter().map(|s| s.records).sum(),
            first_lsn: log.first_lsn,
            next_lsn: log.next_lsn,
            torn_tail: last.and_then(|s| s.torn.clone()),
            torn_creation: last.filter(|s| s.header.is_none()).map(|s| s.path.clone()),
            problems: log.problems,
        })
    }

    /// Buffer one record; durable only once a commit round covers its LSN
    /// (`wait_durable`, `durable`, `sync`). Cheap: a crc32c and a copy under a
    /// mutex. Blocks only when the record starts a new segment (one
    /// fdatasync plus the segment's creation, once per `segment_size`).
    /// `NoSpace` then means the segment could not be preallocated: nothing
    /// was buffered, no LSN used; retry later.
    pub fn append(&self, payload: &[u8]) -> Result<Pos> {
        if payload.len() > self.shared.config.max_record {
            return Err(WalError::TooLarge { len: payload.len(), max: self.shared.config.max_record });
        }
        self.shared.append(payload)
    }

    /// Block until `lsn` is durable (starting a commit round if none
    /// covers it). Returns the highest durable LSN.
    pub fn wait_durable(&self, lsn: u64) -> Result<u64> {
        let shared = &self.shared;
        let mut st = shared.lock();
        if lsn >= st.next_lsn {
            return Err(WalError::NotAppended { lsn, next_lsn: st.next_lsn });
        }
        shared.want(&mut st, lsn);
        loop {
            if st.durable >= lsn {
                return Ok(st.durable);
            }
            if let Some(e) = st.poisoned() {
                return Err(e);
            }
            if st.stopped {
                return Err(WalError::Closed);
            }
            st = shared.wait(st);
        }
    }

    /// `wait_durable` for async callers: never blocks the executor.
    pub async fn durable(&self, lsn: u64) -> Result<u64> {
        self.durable_within(lsn, std::time::Duration::ZERO).await
    }

    /// `durable`, for records whose waiter can spare `gather`: ride on a
    /// round that someone else starts, and start one only if none has
    /// covered `lsn` within `gather`. Under load such records add no rounds
    /// of their own (each `fdatasync` costs CPU); alone they wait `gather`.
    pub async fn durable_within(&self, lsn: u64, gather: std::time::Duration) -> Result<u64> {
        // Already durable, or never appended; an eager waiter asks for a round.
        let check = |shared: &Shared| -> Result<Option<u64>> {
            let mut st = shared.lock();
            if lsn >= st.next_lsn {
                return Err(WalError::NotAppended { lsn, next_lsn: st.next_lsn });
            }
            if st.durable >= lsn {
                return Ok(Some(st.durable));
            }
            if gather.is_zero() {
                shared.want(&mut st, lsn);
            }
            Ok(None)
        };
        if let Some(durable) = check(&self.shared)? {
            return Ok(durable);
        }
        // `wait_for` looks at the current value first: a round that ended
        // since the check is not missed.
        let mut rx = self.shared.watch.subscribe();
        if !gather.is_zero() {
            if let Ok(covered) = tokio::time::timeout(gather, covers(&mut rx, lsn)).await {
                return covered;
            }
            self.shared.want(&mut self.shared.lock(), lsn);
        }
        covers(&mut rx, lsn).await
    }

    /// Make everything appended so far durable (one round for all of it).
    /// Returns the highest durable LSN.
    pub fn sync(&self) -> Result<u64> {
        let last = self.shared.lock().next_lsn - 1;
        if last == 0 {
            return Ok(0);
        }
        self.wait_durable(last)
    }

    /// Highest durable LSN (0: none yet).
    pub fn durable_lsn(&self) -> u64 {
        self.shared.lock().durable
    }

    /// The LSN the next append gets.
    pub fn next_lsn(&self) -> u64 {
        self.shared.lock().next_lsn
    }

    /// LSN of the oldest record still held (after `remove_segments_before`).
    pub fn first_lsn(&self) -> u64 {
        self.shared.segments().values().next().map(|s| s.first_lsn).unwrap_or(1)
    }

    /// The live segments, oldest first.
    pub fn segments(&self) -> Vec<SegmentInfo> {
        self.shared
            .segments()
            .values()
            .map(|s| SegmentInfo { seq: s.seq, first_lsn: s.first_lsn, path: s.path.clone() })
            .collect()
    }

    /// The payload of the durable record at `pos`, its length, LSN and crc
    /// verified against the file.
    pub fn read(&self, pos: Pos) -> Result<Vec<u8>> {
        if pos.lsn > self.shared.lock().durable {
            return Err(WalError::NotDurable { lsn: pos.lsn });
        }
        let segment = self.shared.segments().get(&pos.segment).cloned();
        let Some(segment) = segment else {
            return Err(WalError::Removed { lsn: pos.lsn, first_lsn: self.first_lsn() });
        };
        let corrupt = |reason: String| WalError::corrupt(&segment.path, pos.offset, reason);
        let frame_len = format::Frame::size(pos.len);
        if pos.offset < HEADER_LEN || pos.offset + frame_len > segment.capacity {
            return Err(corrupt(format!("no record of {} bytes fits at this offset", pos.len)));
        }
        let mut buf = vec![0u8; frame_len as usize];
        segment.file.read_exact_at(&mut buf, pos.offset).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => corrupt("record runs past the end of the file".into()),
            _ => WalError::io(&segment.path, "read segment", e),
        })?;
        match format::parse_frame(&buf, 0, buf.len()) {
            format::Frame::Record { lsn, len, .. } if lsn == pos.lsn && len == pos.len => {}
            format::Frame::Record { lsn, len, .. } => {
                return Err(corrupt(format!(
                    "found record lsn {lsn} of {len} bytes, expected lsn {} of {} bytes",
                    pos.lsn, pos.len
                )))
            }
            format::Frame::Bad(reason) => return Err(corrupt(reason)),
        }
        buf.copy_within(FRAME_HEADER.., 0);
        buf.truncate(pos.len as usize);
        Ok(buf)
    }

    /// Every durable record with LSN ≥ `from_lsn`, in order, read from the
    /// files and verified again; it stops at the LSN that was durable when
    /// it began. `Removed` if `from_lsn` is before the oldest segment.
    pub fn replay(&self, from_lsn: u64) -> Result<Replay> {
        let end = self.durable_lsn();
        let segments: Vec<_> = self.shared.segments().values().cloned().collect();
        Replay::new(segments, from_lsn.max(1), end)
    }

    /// Remove every segment with a seq below `seq`, oldest first, each
    /// unlink followed by a directory fsync; the newest segment is never
    /// removed. The caller (the checkpoint) vouches that nothing it still
    /// needs is in them. Returns how many were removed.
    pub fn remove_segments_before(&self, seq: u64) -> Result<usize> {
        let current = self.shared.lock().seq;
        let victims: Vec<_> = self.shared.segments().range(..seq.min(current)).map(|(_, s)| s.clone()).collect();
        for victim in &victims {
            self.shared.segments_mut().remove(&victim.seq);
            std::fs::remove_file(&victim.path).map_err(|e| WalError::io(&victim.path, "remove segment", e))?;
            segment::sync_dir(&self.shared.dir_file, &self.shared.dir)?;
        }
        Ok(victims.len())
    }

    /// The directory the log lives in.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    pub fn config(&self) -> &WalConfig {
        &self.shared.config
    }

    /// Why the log stopped taking appends, if it did (a failed write or
    /// fdatasync): the store is unhealthy until it reopens the log.
    pub fn poisoned(&self) -> Option<WalError> {
        self.shared.lock().poisoned()
    }

    /// Sync what is buffered, stop the commit thread, release the lock.
    pub fn close(self) -> Result<u64> {
        let durable = self.sync();
        drop(self);
        durable
    }
}

/// Dropping stops the commit thread after a last round for whatever is
/// buffered, and waits for it, so the directory can be opened again at once.
impl Drop for Wal {
    fn drop(&mut self) {
        {
            let mut st = self.shared.lock();
            st.closing = true;
            if st.next_lsn > 0 {
                let last = st.next_lsn - 1;
                self.shared.want(&mut st, last);
            }
            self.shared.work.notify_all();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Until a commit round covers `lsn` (its durable LSN), or the log fails
/// or stops.
async fn covers(rx: &mut tokio::sync::watch::Receiver<Durable>, lsn: u64) -> Result<u64> {
    let seen =
        rx.wait_for(|d| d.lsn >= lsn || d.failed.is_some() || d.stopped).await.map_err(|_| WalError::Closed)?.clone();
    match seen {
        Durable { lsn: durable, .. } if durable >= lsn => Ok(durable),
        Durable { failed: Some(e), .. } => Err(e),
        _ => Err(WalError::Closed),
    }
}

/// Every record of the log in `dir` up to its first damage, read without
/// taking the lock and without repairing anything: for `hookd store check`
/// and `hookd store export` on a stopped store.
pub fn read_only(dir: &Path) -> Result<Replay> {
    let log = scan::scan_log(dir, false)?;
    let mut segments = Vec::new();
    for s in log.segments {
        let Some(header) = s.header else { continue };
        segments.push(Arc::new(segment::open_read(&s.path, header)?));
    }
    Replay::new(segments, log.first_lsn, log.next_lsn.saturating_sub(1))
}
