//! Group commit: callers write, then wait here; one thread runs
//! `flush()` + `fdatasync(<path>/db)` for everyone who asked since the last
//! one. A caller is answered only by a flush that started after it asked,
//! so every write it made before asking is on disk when it returns Ok.
//! sled's blob files (records over ~128 KiB, e.g. a delivery with many long
//! attempt outputs) are never fsynced by sled: each commit syncs the new
//! ones and their directory too, and makes them owner-only (sled creates
//! them, and its snapshots, with the process umask).

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How often the thread looks for files sled made with loose modes.
const TIGHTEN_EVERY: Duration = Duration::from_secs(1);

type Waiter = oneshot::Sender<Result<(), String>>;

pub struct GroupCommit {
    /// `None` only while dropping.
    tx: Option<mpsc::Sender<Waiter>>,
    healthy: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
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
        let healthy = Arc::new(AtomicBool::new(true));
        let flag = healthy.clone();
        let thread = std::thread::Builder::new()
            .name("hookd-commit".into())
            .spawn(move || run(db, data_file, blobs, rx, &flag))?;
        Ok(GroupCommit { tx: Some(tx), healthy, thread: Some(thread) })
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
        self.healthy.load(Ordering::Relaxed)
    }
}

fn run(db: sled::Db, data_file: File, blobs: PathBuf, rx: mpsc::Receiver<Waiter>, healthy: &AtomicBool) {
    let mut synced = HashMap::new();
    let mut tightened = Instant::now();
    loop {
        match rx.recv_timeout(TIGHTEN_EVERY) {
            Ok(first) => round(&db, &data_file, &blobs, &mut synced, healthy, first, &rx),
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
    healthy: &AtomicBool,
    first: Waiter,
    rx: &mpsc::Receiver<Waiter>,
) {
    let mut batch = vec![first];
    while let Ok(next) = rx.try_recv() {
        batch.push(next);
    }
    let started = Instant::now();
    let result = db
        .flush()
        .map_err(|e| format!("flush: {e}"))
        .and_then(|_| sync_blobs(blobs, synced).map_err(|e| format!("blobs: {e}")))
        .and_then(|_| data_file.sync_data().map_err(|e| format!("fdatasync: {e}")));
    healthy.store(result.is_ok(), Ordering::Relaxed);
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
