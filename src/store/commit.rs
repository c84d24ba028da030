//! Group commit: callers write, then wait here; one thread runs
//! `flush()` + `fdatasync(<path>/db)` for everyone who asked since the last
//! one. A caller is answered only by a flush that started after it asked,
//! so every write it made before asking is on disk when it returns Ok.

use std::fs::File;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

type Waiter = oneshot::Sender<Result<(), String>>;

pub struct GroupCommit {
    tx: mpsc::UnboundedSender<Waiter>,
    healthy: Arc<AtomicBool>,
}

impl GroupCommit {
    /// `data_file` is a second, read-only handle on sled's `db` file: sled's
    /// own flush ends in `sync_file_range` on Linux, which is not a barrier
    /// against power loss; `sync_data` on it is.
    pub fn start(db: sled::Db, data_file: File) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        let healthy = Arc::new(AtomicBool::new(true));
        let flag = healthy.clone();
        std::thread::Builder::new().name("hookd-commit".into()).spawn(move || run(db, data_file, rx, flag))?;
        Ok(GroupCommit { tx, healthy })
    }

    /// Wait until everything written before this call is durable.
    pub async fn sync(&self) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(tx).map_err(|_| "commit thread stopped".to_string())?;
        rx.await.map_err(|_| "commit thread stopped".to_string())?
    }

    /// Whether the last flush succeeded.
    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }
}

fn run(db: sled::Db, data_file: File, mut rx: mpsc::UnboundedReceiver<Waiter>, healthy: Arc<AtomicBool>) {
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while let Ok(next) = rx.try_recv() {
            batch.push(next);
        }
        let result = db
            .flush()
            .map_err(|e| format!("flush: {e}"))
            .and_then(|_| data_file.sync_data().map_err(|e| format!("fdatasync: {e}")));
        healthy.store(result.is_ok(), Ordering::Relaxed);
        for waiter in batch {
            let _ = waiter.send(result.clone());
        }
    }
}
