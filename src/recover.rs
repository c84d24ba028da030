//! Recovery from storage faults by reopening the store in-process.
//!
//! sled 0.34 makes its first I/O error sticky (`Config::global_error`): after
//! one failed write (ENOSPC, EIO) every later call on that `Db` fails, even
//! once space returns, and the reset is private to sled. So hookd runs in
//! generations: one open store and everything `serve::run` wires around it.
//! A watcher checks, while the store is not ready, whether a plain write +
//! fsync in the data dir works again; if so sled is stuck, not the disk, and
//! the generation is shut down in order (stop accepting, let handlers finish,
//! drop the store) and the store reopened. The listening sockets stay bound
//! across generations, so senders see 503s during the fault and then at
//! most a short wait, never a refused connection. Never touches records.

use crate::config::Config;
use crate::http::Listener;
use crate::serve::{self, Listeners};
use crate::store::{Store, StoreError};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio_util::sync::CancellationToken;

/// How often a store that is not ready is checked for a stuck sled.
const WATCH_EVERY: Duration = Duration::from_secs(1);
/// Bytes the free-space probe writes: a few of sled's 512 KiB segments.
const PROBE_BYTES: usize = 2 << 20;

/// The sockets hookd listens on, kept bound across generations.
pub struct Bound {
    pub ingress: std::net::TcpListener,
    pub admin: Option<StdListener>,
    pub tls: Option<crate::tls::ingress::Acceptor>,
}

pub enum StdListener {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

impl Bound {
    /// Keep `listeners` bound while handing out clones to each generation.
    pub fn keep(listeners: Listeners) -> std::io::Result<Bound> {
        let admin = match listeners.admin {
            None => None,
            Some(Listener::Tcp(l)) => Some(StdListener::Tcp(l.into_std()?)),
            Some(Listener::Unix(l)) => Some(StdListener::Unix(l.into_std()?)),
        };
        Ok(Bound { ingress: listeners.ingress.into_std()?, admin, tls: listeners.tls })
    }

    fn listeners(&self) -> std::io::Result<Listeners> {
        let ingress = tokio::net::TcpListener::from_std(self.ingress.try_clone()?)?;
        let admin = match &self.admin {
            None => None,
            Some(StdListener::Tcp(l)) => Some(Listener::Tcp(tokio::net::TcpListener::from_std(l.try_clone()?)?)),
            Some(StdListener::Unix(l)) => Some(Listener::Unix(tokio::net::UnixListener::from_std(l.try_clone()?)?)),
        };
        Ok(Listeners { ingress, admin, tls: self.tls.clone() })
    }
}

/// Serve generation after generation until `shutdown`.
/// `hangup` (installed before the listener was announced) serves the first
/// generation's reloader; later ones install their own.
pub async fn run(
    config: Config,
    store: Store,
    bound: Bound,
    hangup: Signal,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let mut store = Some(store);
    let mut hangup = Some(hangup);
    loop {
        let current = match store.take() {
            Some(s) => Arc::new(s),
            None => match reopen(&config, &shutdown).await {
                Some(s) => Arc::new(s),
                None => return Ok(()),
            },
        };
        let generation = shutdown.child_token();
        let watcher = tokio::spawn(watch(current.clone(), config.storage.path.clone(), generation.clone()));
        let hup = match hangup.take() {
            Some(h) => h,
            None => signal(SignalKind::hangup())?,
        };
        serve::run(config.clone(), current, bound.listeners()?, hup, generation).await;
        watcher.abort();
        if shutdown.is_cancelled() {
            return Ok(());
        }
        tracing::warn!("storage is writable again but the store stays failed: reopening it");
    }
}

/// Cancel `generation` once the store fails while the disk takes writes.
async fn watch(store: Arc<Store>, path: std::path::PathBuf, generation: CancellationToken) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(WATCH_EVERY) => {}
            _ = generation.cancelled() => return,
        }
        // `healthy` is a flag (no I/O); only a failed commit costs a probe.
        if store.healthy() || store.ready().await {
            continue;
        }
        let probe_dir = path.clone();
        let writable = tokio::task::spawn_blocking(move || disk_takes_writes(&probe_dir)).await.unwrap_or(false);
        if writable {
            generation.cancel();
            return;
        }
    }
}

/// Open the store again, retrying (the previous generation may still hold
/// sled's lock for a moment, or the disk may fill again) until `shutdown`.
async fn reopen(config: &Config, shutdown: &CancellationToken) -> Option<Store> {
    let path = &config.storage.path;
    loop {
        match Store::open_with(path, &config.storage_options()).map(|(s, _)| s) {
            Ok(s) => {
                tracing::info!("store reopened");
                return Some(s);
            }
            // Most likely the previous generation's last handles, not yet dropped.
            Err(StoreError::InUse(_)) => tracing::warn!("the store is still held; retrying"),
            Err(e) => tracing::warn!(error = %e, "reopening the store failed; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(WATCH_EVERY) => {}
            _ = shutdown.cancelled() => return None,
        }
    }
}

/// A plain write + fsync of `PROBE_BYTES` in the data dir works.
fn disk_takes_writes(dir: &Path) -> bool {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let probe = dir.join("free-space.probe");
    let ok = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&probe)
        .and_then(|mut f| f.write_all(&vec![0u8; PROBE_BYTES]).and_then(|_| f.sync_all()))
        .is_ok();
    let _ = std::fs::remove_file(&probe);
    ok
}
