//! Group commit: callers write, then wait here; one thread runs
//! `flush()` + `fdatasync(<path>/db)` for everyone who asked since the last
//! one. A caller is answered only by a flush that started after it asked,
//! so every write it made before asking is on disk when it returns Ok.
//! sled's blob files (records over ~128 KiB, e.g. a delivery with many long
//! attempt outputs) are never fsynced by sled: each commit syncs the new
//! ones and their directory too.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

type Waiter = oneshot::Sender<Result<(), String>>;

pub struct GroupCommit {
    /// `None` only while dropping.
    tx: Option<mpsc::UnboundedSender<Waiter>>,
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
        let (tx, rx) = mpsc::unbounded_channel();
        let healthy = Arc::new(AtomicBool::new(true));
        let flag = healthy.clone();
        let thread = std::thread::Builder::new()
            .name("hookd-commit".into())
            .spawn(move || run(db, data_file, blobs, rx, flag))?;
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

fn run(
    db: sled::Db,
    data_file: File,
    blobs: PathBuf,
    mut rx: mpsc::UnboundedReceiver<Waiter>,
    healthy: Arc<AtomicBool>,
) {
    let mut synced = HashMap::new();
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while let Ok(next) = rx.try_recv() {
            batch.push(next);
        }
        let result = db
            .flush()
            .map_err(|e| format!("flush: {e}"))
            .and_then(|_| sync_blobs(&blobs, &mut synced).map_err(|e| format!("blobs: {e}")))
            .and_then(|_| data_file.sync_data().map_err(|e| format!("fdatasync: {e}")));
        healthy.store(result.is_ok(), Ordering::Relaxed);
        for waiter in batch {
            let _ = waiter.send(result.clone());
        }
    }
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
        let len = entry.metadata()?.len();
        let name = entry.file_name();
        if synced.get(&name) != Some(&len) {
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
