//! Group commit: callers write, then wait here; one thread runs
//! `flush()` + `fdatasync(<path>/db)` for everyone who asked since the last
//! one. A caller is answered only by a flush that started after it asked,
//! so every write it made before asking is on disk when it returns Ok.
//! sled's blob files (records over ~128 KiB, e.g. a delivery with many long
//! attempt outputs) are never fsynced by sled: each commit syncs the new
//! ones and their directory too, and makes them owner-only (sled creates
//! them, and its snapshots, with the process umask).
//!
//! Readiness is answered from here without a write per caller: the thread's
//! health (last round's result, and whether a round has been running too
//! long) plus a probe commit at most once a second, shared by all callers.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// A round running longer than this makes the store not ready.
const STUCK_AFTER: Duration = Duration::from_millis(1500);
/// A probe result is reused for this long.
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// A probe that has not committed by then counts as failed.
const PROBE_BUDGET: Duration = Duration::from_millis(750);
/// `ready` answers within this, whatever the disk does.
const ANSWER_WITHIN: Duration = Duration::from_millis(950);
/// How often the thread looks for files sled made with loose modes.
const TIGHTEN_EVERY: Duration = Duration::from_secs(1);

type Waiter = oneshot::Sender<Result<(), String>>;

pub struct GroupCommit {
    /// `None` only while dropping.
    tx: Option<mpsc::Sender<Waiter>>,
    health: Arc<Health>,
    readiness: Readiness,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What the commit thread says of itself, read without I/O.
struct Health {
    /// The last round succeeded.
    ok: AtomicBool,
    /// When the running round started, as milliseconds since `epoch` plus
    /// one; 0 between rounds.
    round_since: AtomicU64,
    epoch: Instant,
}

impl Health {
    fn new() -> Health {
        Health { ok: AtomicBool::new(true), round_since: AtomicU64::new(0), epoch: Instant::now() }
    }

    fn round_started(&self) {
        let ms = self.epoch.elapsed().as_millis() as u64;
        self.round_since.store(ms + 1, Ordering::Relaxed);
    }

    fn round_ended(&self, ok: bool) {
        self.ok.store(ok, Ordering::Relaxed);
        self.round_since.store(0, Ordering::Relaxed);
    }

    /// A round has been running for longer than `STUCK_AFTER`.
    fn stuck(&self) -> bool {
        match self.round_since.load(Ordering::Relaxed) {
            0 => false,
            since => {
                (self.epoch.elapsed().as_millis() as u64 + 1).saturating_sub(since) > STUCK_AFTER.as_millis() as u64
            }
        }
    }
}

/// The last probe: when it ended and whether it committed.
#[derive(Default)]
struct Readiness(tokio::sync::Mutex<Option<(Instant, bool)>>);

impl Readiness {
    /// Not ready while a round is stuck or the last one failed; otherwise
    /// the last probe's result if it is fresh, else `probe`'s (one caller
    /// runs it, the others wait for its result). Within `ANSWER_WITHIN`.
    async fn check(&self, health: &Health, probe: impl Future<Output = bool>) -> bool {
        if health.stuck() {
            return false;
        }
        let answer = async {
            let mut last = self.0.lock().await;
            if let Some((at, ok)) = *last {
                if at.elapsed() < PROBE_EVERY {
                    return ok && health.ok.load(Ordering::Relaxed) && !health.stuck();
                }
            }
            let ok = tokio::time::timeout(PROBE_BUDGET, probe).await.unwrap_or(false);
            *last = Some((Instant::now(), ok));
            ok
        };
        tokio::time::timeout(ANSWER_WITHIN, answer).await.unwrap_or(false)
    }
}

/// Dropping the store stops the commit thread and waits for it, so that its
/// handle on sled is gone and the database can be opened again at once
/// (sled allows one opener; `recover` and tests reopen in-process).
impl Drop for GroupCommit {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl GroupCommit {
    /// `data_file` is a second, read-only handle on sled's `db` file: sled's
    /// own flush ends in `sync_file_range` on Linux, which is not a barrier
    /// against power loss; `sync_data` on it is.
    /// `blobs` is sled's `blobs/` directory.
    pub fn start(db: sled::Db, data_file: File, blobs: PathBuf) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        let health = Arc::new(Health::new());
        let shared = health.clone();
        let thread = std::thread::Builder::new()
            .name("hookd-commit".into())
            .spawn(move || run(db, data_file, blobs, rx, &shared))?;
        Ok(GroupCommit { tx: Some(tx), health, readiness: Readiness::default(), thread: Some(thread) })
    }

    /// Wait until everything written before this call is durable.
    pub async fn sync(&self) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        let sender = self.tx.as_ref().ok_or("commit thread stopped")?;
        sender.send(tx).map_err(|_| "commit thread stopped".to_string())?;
        rx.await.map_err(|_| "commit thread stopped".to_string())?
    }

    /// Whether the last flush succeeded.
    pub fn healthy(&self) -> bool {
        self.health.ok.load(Ordering::Relaxed)
    }

    /// Storage takes durable writes (see [`Readiness::check`]); `write`
    /// makes the probe's write, which a commit then covers.
    pub async fn ready(&self, write: impl FnOnce() -> bool) -> bool {
        self.readiness.check(&self.health, async { write() && self.sync().await.is_ok() }).await
    }
}

fn run(db: sled::Db, data_file: File, blobs: PathBuf, rx: mpsc::Receiver<Waiter>, health: &Health) {
    let mut synced = HashMap::new();
    let mut tightened = Instant::now();
    loop {
        match rx.recv_timeout(TIGHTEN_EVERY) {
            Ok(first) => round(&db, &data_file, &blobs, &mut synced, health, first, &rx),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        // sled writes snapshots and blobs from its own threads too, with
        // the process umask: within a second they are owner-only.
        if tightened.elapsed() >= TIGHTEN_EVERY {
            tightened = Instant::now();
            for dir in [blobs.parent(), Some(blobs.as_path())].into_iter().flatten() {
                match super::datadir::tighten_entries(dir) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        tracing::warn!(error = %e, "could not make {} owner-only", dir.display())
                    }
                    _ => {}
                }
            }
        }
    }
}

/// One commit for `first` and every writer queued behind it.
fn round(
    db: &sled::Db,
    data_file: &File,
    blobs: &Path,
    synced: &mut HashMap<OsString, u64>,
    health: &Health,
    first: Waiter,
    rx: &mpsc::Receiver<Waiter>,
) {
    let mut batch = vec![first];
    while let Ok(next) = rx.try_recv() {
        batch.push(next);
    }
    let started = Instant::now();
    health.round_started();
    let result = db
        .flush()
        .map_err(|e| format!("flush: {e}"))
        .and_then(|_| sync_blobs(blobs, synced).map_err(|e| format!("blobs: {e}")))
        .and_then(|_| data_file.sync_data().map_err(|e| format!("fdatasync: {e}")));
    health.round_ended(result.is_ok());
    let writers = batch.len();
    for waiter in batch {
        let _ = waiter.send(result.clone());
    }
    tracing::debug!(writers, micros = started.elapsed().as_micros() as u64, ok = result.is_ok(), "commit round");
}

/// fsync blob files not synced yet at their current length (sled writes
/// each once, but one may still be growing while we look), then the
/// directory if any was new. `synced` forgets blobs sled removed.
fn sync_blobs(dir: &Path, synced: &mut HashMap<OsString, u64>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut present = HashMap::new();
    let mut new = false;
    for entry in entries {
        let entry = entry?;
        let meta = entry.metadata()?;
        let len = meta.len();
        let name = entry.file_name();
        if synced.get(&name) != Some(&len) {
            super::datadir::tighten(&entry.path(), &meta)?;
            File::open(entry.path())?.sync_data()?;
            new = true;
        }
        present.insert(name, len);
    }
    *synced = present;
    if new {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    async fn counting(runs: &AtomicUsize, ok: bool) -> bool {
        runs.fetch_add(1, Ordering::SeqCst);
        ok
    }

    #[tokio::test]
    async fn one_probe_a_second_answers_every_caller() {
        let (health, readiness, runs) = (Health::new(), Readiness::default(), AtomicUsize::new(0));
        for _ in 0..500 {
            assert!(readiness.check(&health, counting(&runs, true)).await);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        // A failed round since the probe is not hidden by its cached result.
        health.round_ended(false);
        assert!(!readiness.check(&health, counting(&runs, true)).await);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        tokio::time::sleep(PROBE_EVERY).await;
        assert!(readiness.check(&health, counting(&runs, true)).await, "a fresh probe decides again");
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_probe_that_never_commits_is_not_ready_within_a_second() {
        let (health, readiness) = (Health::new(), Readiness::default());
        let started = Instant::now();
        assert!(!readiness.check(&health, std::future::pending()).await);
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
        // Its failure is cached too: the next callers do not wait again.
        let started = Instant::now();
        assert!(!readiness.check(&health, std::future::pending()).await);
        assert!(started.elapsed() < Duration::from_millis(100), "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_round_running_too_long_is_not_ready_without_probing() {
        let epoch = Instant::now().checked_sub(Duration::from_secs(5)).expect("uptime");
        let health = Health { epoch, ..Health::new() };
        let (readiness, runs) = (Readiness::default(), AtomicUsize::new(0));
        assert!(readiness.check(&health, counting(&runs, true)).await);
        health.round_started();
        assert!(readiness.check(&health, counting(&runs, true)).await, "a round in progress is normal");
        // The running round started 2 s ago.
        let two_s_ago = health.epoch.elapsed().as_millis() as u64 + 1 - 2000;
        health.round_since.store(two_s_ago, Ordering::Relaxed);
        let started = Instant::now();
        assert!(!readiness.check(&health, counting(&runs, true)).await);
        assert!(started.elapsed() < Duration::from_millis(100));
        health.round_ended(true);
        assert!(readiness.check(&health, counting(&runs, true)).await, "ready again once it ended");
        assert_eq!(runs.load(Ordering::SeqCst), 1, "all from the one probe");
    }
}
