//! The index's checkpoint, off the ack path: one thread, every 250 ms,
//! makes sled durable (`flush()` + `fdatasync` of a second handle on
//! `sled/db`, since sled's own flush ends in `sync_file_range`), then
//! records the LSN up to which the index holds every change, makes that
//! durable too, and removes the log segments that neither the replay from
//! that LSN nor any live event's body needs. Never blocks an accept or a
//! claim; a checkpoint that cannot finish only lets the log grow.

use super::records::{decode, Body, EventRecord};
use super::wal::Wal;
use std::collections::BTreeSet;
use std::fs::File;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Small and often: one second's worth of index pages flushed at once
/// stalled acks (p99.9 60 ms against 11 ms at 250 ms, and 25 % fewer
/// acks/s in `load ingest`; BENCHMARKS.md); 100 ms gained nothing more.
const EVERY: Duration = Duration::from_millis(250);
/// Events looked at, oldest first, for the oldest body still in the log:
/// ids and log order agree but for accepts racing within a millisecond.
const OLDEST_SCAN: usize = 256;
/// How long dropping the store waits for a last checkpoint.
const CLOSE_WAIT: Duration = Duration::from_secs(10);
pub(super) const KEY: &[u8] = b"checkpoint";

/// What the checkpoint thread works on (clones of the store's handles).
pub(super) struct Parts {
    pub db: sled::Db,
    pub events: sled::Tree,
    pub meta: sled::Tree,
    pub wal: Arc<Wal>,
    pub unapplied: Arc<Mutex<BTreeSet<u64>>>,
    /// A second, read-only handle on `sled/db`.
    pub data_file: File,
    /// `sled/`: what sled creates there later (snapshots, blobs) is made
    /// owner-only each round (sled uses the process umask).
    pub sled_dir: std::path::PathBuf,
    /// Set once the open is complete (the replay done): no checkpoint and
    /// no trim before, or a crash mid-replay would skip records.
    pub armed: Arc<std::sync::atomic::AtomicBool>,
}

pub(super) struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    /// In a mutex only so that the store is `Sync`.
    done: Mutex<mpsc::Receiver<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    pub fn start(parts: Parts) -> std::io::Result<Checkpointer> {
        let (stop, stopped) = mpsc::channel();
        let (finished, done) = mpsc::channel();
        let thread = std::thread::Builder::new().name("hookd-checkpoint".into()).spawn(move || {
            let mut last = read(&parts.meta).unwrap_or(0);
            let mut from: Option<Vec<u8>> = None;
            loop {
                let stopping = !matches!(stopped.recv_timeout(EVERY), Err(mpsc::RecvTimeoutError::Timeout));
                for dir in [parts.sled_dir.clone(), parts.sled_dir.join("blobs")] {
                    if let Err(e) = super::datadir::tighten_entries(&dir) {
                        tracing::debug!(error = %e, dir = %dir.display(), "could not tighten modes");
                    }
                }
                if !parts.armed.load(std::sync::atomic::Ordering::Acquire) {
                    if stopping {
                        let _ = finished.send(());
                        return;
                    }
                    continue;
                }
                match checkpoint(&parts, last, &mut from) {
                    Ok(lsn) => last = lsn,
                    Err(e) => tracing::warn!(error = %e, "checkpoint failed; the log keeps everything since the last"),
                }
                if stopping {
                    let _ = finished.send(());
                    return;
                }
            }
        })?;
        Ok(Checkpointer { stop: Some(stop), done: Mutex::new(done), thread: Some(thread) })
    }
}

/// A last checkpoint on close (so the next open replays nothing), waited
/// for a bounded time: a sled stuck on a full disk is left behind.
impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.take();
        let done = self.done.lock().unwrap_or_else(|e| e.into_inner()).recv_timeout(CLOSE_WAIT);
        match done {
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                if let Some(t) = self.thread.take() {
                    let _ = t.join();
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                tracing::error!("the last checkpoint did not finish; the next open replays the log");
            }
        }
    }
}

/// The checkpoint LSN the index holds (0: none, replay everything).
pub(super) fn read(meta: &sled::Tree) -> Option<u64> {
    let raw = meta.get(KEY).ok()??;
    Some(u64::from_be_bytes(raw.as_ref().try_into().ok()?))
}

fn checkpoint(p: &Parts, last: u64, from: &mut Option<Vec<u8>>) -> Result<u64, String> {
    let durable = p.wal.durable_lsn();
    let oldest_unapplied = p.unapplied.lock().unwrap_or_else(|e| e.into_inner()).first().copied();
    let lsn = oldest_unapplied.map_or(durable, |u| u.saturating_sub(1).min(durable));
    if lsn > last {
        p.db.flush().map_err(|e| format!("flush: {e}"))?;
        p.data_file.sync_data().map_err(|e| format!("fdatasync: {e}"))?;
        p.meta.insert(KEY, &lsn.to_be_bytes()).map_err(|e| format!("meta: {e}"))?;
        p.db.flush().map_err(|e| format!("flush: {e}"))?;
        p.data_file.sync_data().map_err(|e| format!("fdatasync: {e}"))?;
    }
    let lsn = lsn.max(last);
    trim(p, lsn, from)?;
    Ok(lsn)
}

/// Remove the segments wholly before both the checkpoint and the oldest
/// body an event in the index still points to. `from`: the key of the
/// oldest event seen with its body in the log (events from before the log
/// come first and are never added again, so they are skipped once).
fn trim(p: &Parts, checkpoint: u64, from: &mut Option<Vec<u8>>) -> Result<(), String> {
    let segments = p.wal.segments();
    let Some(replay_from) = segments.iter().rev().find(|s| s.first_lsn <= checkpoint + 1).map(|s| s.seq) else {
        return Ok(());
    };
    let mut keep = replay_from;
    let mut logged = 0;
    let start: Vec<u8> = from.clone().unwrap_or_default();
    for entry in p.events.range(start..) {
        let (k, v) = entry.map_err(|e| format!("events: {e}"))?;
        let Ok((event, _)) = decode::<EventRecord>(&v).map(EventRecord::into_parts) else { continue };
        if let Body::Logged { pos, .. } = event.body {
            if logged == 0 {
                *from = Some(k.to_vec());
            }
            keep = keep.min(pos.segment);
            logged += 1;
            if logged >= OLDEST_SCAN {
                break;
            }
        }
    }
    if segments.first().is_some_and(|s| s.seq < keep) {
        let removed = p.wal.remove_segments_before(keep).map_err(|e| e.to_string())?;
        if removed > 0 {
            tracing::debug!(removed, "log segments no longer needed were removed");
        }
    }
    Ok(())
}
