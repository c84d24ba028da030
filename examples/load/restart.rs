//! Restart time with many stored events: fill a store in this process with
//! `Store::accept` at high concurrency (the same code path ingress uses,
//! minus HTTP), then time `hookd serve` from spawn to the first `/readyz` 200.

use bytes::Bytes;
use hookd::store::{NewEvent, Store};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WRITERS: u64 = 64;

/// Accept `n` unique unrouted stripe events into the store at `data`;
/// a `filled-<n>` marker beside it lets later runs reuse the store.
pub async fn fill(data: &Path, n: u64, size: usize, deadline: Instant) -> u64 {
    let marker = data.with_file_name(format!("filled-{n}"));
    if marker.exists() {
        eprintln!("reusing the store at {} ({} says it holds {n} events)", data.display(), marker.display());
        return n;
    }
    let store = Arc::new(Store::open(data, 64 << 20).expect("open store to fill"));
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let run = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let tasks: Vec<_> = (0..WRITERS)
        .map(|_| {
            let (store, next) = (store.clone(), next.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let body = Bytes::from(crate::body::stripe_body(run, i as usize, size));
                    let new = NewEvent {
                        source: "stripe".into(),
                        event_id: format!("evt_fill_{i}"),
                        event_type: "payment_intent.succeeded".into(),
                        headers: Vec::new(),
                        body,
                        routes: Vec::new(),
                        dedup_window: Duration::from_secs(7 * 86400),
                    };
                    store.accept(new).await.expect("accept while filling");
                    if i > 0 && i % 100_000 == 0 {
                        eprintln!("  filled {i} events in {:.0?}", started.elapsed());
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("fill task");
    }
    let filled = next.load(Ordering::Relaxed).min(n);
    store.sync().await.expect("final flush");
    drop(store);
    wait_unlocked(&data.join("sled").join("db"));
    eprintln!("filled {filled} events in {:.1?}", started.elapsed());
    if filled == n {
        std::fs::write(&marker, b"").expect("write marker");
    }
    filled
}

/// sled releases its lock on the `db` file when its last handle (held by
/// the store's commit thread too) is gone: wait (bounded) until it has.
fn wait_unlocked(db: &Path) {
    use std::os::fd::AsRawFd;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let Ok(file) = std::fs::File::open(db) else { return };
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return; // closing `file` releases it
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
