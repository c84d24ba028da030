//! Restart with a large backlog: the store is filled in-process (through
//! `hookd::store::Store::accept`, the path ingress uses) with pending
//! deliveries of a route whose handler waits on a gate; then hookd starts
//! on it. While gated, never more handlers run than `dispatch.concurrency`
//! (no thundering herd); once opened, the backlog drains; hookd's RSS is
//! sampled throughout and must stay bounded.
//!
//! CI fills `HOOKD_BACKLOG` events (default 1000); the big run:
//! `HOOKD_BACKLOG=100000 cargo test --test it backlog -- --nocapture`.

use crate::support::http::request;
use crate::support::{wait_until, Hookd};
use hookd::store::{NewDelivery, NewEvent, Store};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CONCURRENCY: usize = 4;
const TOKEN: &str = "backlog-token";

fn backlog() -> usize {
    std::env::var("HOOKD_BACKLOG").ok().and_then(|v| v.parse().ok()).unwrap_or(1000)
}

fn fill(path: &std::path::Path, n: usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let store = Arc::new(Store::open(path, 16 << 20).expect("open store"));
    runtime.block_on(async {
        let tasks: Vec<_> = (0..64)
            .map(|t| {
                let store = store.clone();
                tokio::spawn(async move {
                    for i in (t..n).step_by(64) {
                        let body = format!("{{\"id\":\"evt_{i}\",\"type\":\"t\"}}");
                        let new = NewEvent {
                            source: "s".into(),
                            event_id: format!("evt_{i}"),
                            event_type: "t".into(),
                            headers: Vec::new(),
                            body: body.into(),
                            routes: vec![NewDelivery { route: "slow".into(), order_key: None }],
                            dedup_window: Duration::from_secs(3600),
                        };
                        store.accept(new).await.expect("accept");
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("filler");
        }
    });
    drop(store);
    // sled's threads close the db file (and its flock) a moment after the
    // last handle is dropped; hookd must find it unlocked.
    let db = std::fs::File::open(path.join("sled/db")).expect("db file");
    let fd = std::os::unix::io::AsRawFd::as_raw_fd(&db);
    wait_until(Duration::from_secs(10), "sled's lock released", || {
        (unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) } == 0).then_some(())
    });
    unsafe { libc::flock(fd, libc::LOCK_UN) };
}

#[test]
fn a_large_backlog_drains_with_bounded_concurrency_and_memory() {
    let n = backlog();
    let work = tempfile::tempdir().expect("tempdir");
    let (gate, running, done) = (work.path().join("gate"), work.path().join("running"), work.path().join("done"));
    std::fs::create_dir(&running).expect("running dir");
    std::fs::write(work.path().join("token"), TOKEN).expect("token");
    let script = format!(
        "touch {r}/$HOOKD_EVENT_ID; while [ ! -e {g} ]; do sleep 0.05; done; rm {r}/$HOOKD_EVENT_ID; echo >> {d}",
        r = running.display(),
        g = gate.display(),
        d = done.display()
    );
    let config = format!(
        "[admin]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"{}\"\n\n[dispatch]\nconcurrency = {CONCURRENCY}\n\n\
         [sources.s]\nkind = \"stripe\"\nsecret = \"k\"\n\n[[sources.s.routes]]\nname = \"slow\"\nevents = [\"*\"]\n\
         command = [\"/bin/sh\", \"-c\", {script:?}]\ntimeout = \"10m\"\n",
        work.path().join("token").display()
    );
    let mut h = Hookd::configure("", &config, &[]);
    let started = Instant::now();
    fill(&h.dir.path().join("data"), n);
    eprintln!("filled {n} pending deliveries in {:?}", started.elapsed());

    let started = Instant::now();
    h.spawn();
    eprintln!("hookd started on the backlog in {:?}", started.elapsed());
    let pid = h.pid().expect("pid");
    let (mut peak_running, mut peak_rss) = (0, 0);
    let mut sample = |peak_running: &mut usize| {
        let now = std::fs::read_dir(&running).map(|d| d.count()).unwrap_or(0);
        *peak_running = (*peak_running).max(now);
        peak_rss = peak_rss.max(rss_kib(pid));
    };
    wait_until(Duration::from_secs(30), "the first handlers", || {
        sample(&mut peak_running);
        (peak_running == CONCURRENCY).then_some(())
    });
    for _ in 0..40 {
        sample(&mut peak_running);
        std::thread::sleep(Duration::from_millis(25));
    }
    assert_eq!(peak_running, CONCURRENCY, "dispatch.concurrency = {CONCURRENCY} not honoured");

    std::fs::write(&gate, "").expect("open the gate");
    let drain = Instant::now();
    let admin = h.admin.clone().expect("admin");
    let auth = format!("Bearer {TOKEN}");
    wait_until(Duration::from_secs(600), "the backlog drained", || {
        sample(&mut peak_running);
        let stats = request(&admin, "GET", "/v1/stats", &[("Authorization", &auth)], b"")?.json();
        (stats["sources"]["s"]["delivered"].as_u64()? == n as u64).then_some(())
    });
    assert!(peak_running <= CONCURRENCY, "{peak_running} handlers ran at once");
    eprintln!(
        "drained {n} deliveries in {:?}; at most {peak_running} handlers at once; hookd peak RSS {peak_rss} KiB",
        drain.elapsed()
    );
    assert!(peak_rss < 256 * 1024, "hookd grew to {peak_rss} KiB over a backlog of {n}");
    let store = h.stop_and_open();
    store.recount().expect("recount");
    assert_eq!(store.stats().queue_depth, 0);
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap_or("");
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0)
}
