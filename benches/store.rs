//! The store's hot paths, each including the group commit (sled flush +
//! fdatasync) that every 2xx waits for:
//!
//! - `accept/N`: dedup + event + one delivery, N concurrent writers (1, 64);
//! - `claim_finish/N`: claim a due delivery (attempt recorded durably) and
//!   finish it as delivered, N concurrent dispatch tasks (1, 16).
//!
//! Each runs on a tokio runtime with 2 workers over a store in a temp dir.
//!
//!     cargo bench --bench store

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hookd::store::{AttemptEnd, Claimed, NewDelivery, NewEvent, Next, Store};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BODY_SIZE: usize = 2500;

static NEXT_EVENT: AtomicU64 = AtomicU64::new(0);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

fn open() -> (tempfile::TempDir, Arc<Store>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("data"), 64 << 20).expect("open store");
    (dir, Arc::new(store))
}

fn new_event(body: &Bytes) -> NewEvent {
    let n = NEXT_EVENT.fetch_add(1, Ordering::Relaxed);
    NewEvent {
        source: "stripe".into(),
        event_id: format!("evt_bench{n:016}"),
        event_type: "payment_intent.succeeded".into(),
        headers: Vec::new(),
        body: body.clone(),
        routes: vec![NewDelivery { route: "log".into(), order_key: None }],
        dedup_window: Duration::from_secs(7 * 86400),
    }
}

fn body() -> Bytes {
    let mut b = br#"{"id":"evt_bench","object":"event","type":"payment_intent.succeeded","data":{"object":{"#.to_vec();
    b.resize(BODY_SIZE - 3, b'x');
    b.extend_from_slice(b"}}}");
    Bytes::from(b)
}

/// Split `iters` over `writers` tasks, each running `op` its share of times;
/// the wall time of the whole lot.
async fn spread<F, Fut>(iters: u64, writers: u64, op: F) -> Duration
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let share = iters / writers + u64::from(w < iters % writers);
            let op = op.clone();
            tokio::spawn(async move {
                for _ in 0..share {
                    op().await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("bench task");
    }
    started.elapsed()
}

fn accept(c: &mut Criterion) {
    let rt = runtime();
    let (_dir, store) = open();
    let body = body();
    let mut group = c.benchmark_group("accept");
    group.throughput(Throughput::Elements(1)).sample_size(10).measurement_time(Duration::from_secs(8));
    for writers in [1u64, 64] {
        group.bench_function(writers.to_string(), |b| {
            b.iter_custom(|iters| {
                let (store, body) = (store.clone(), body.clone());
                rt.block_on(spread(iters, writers, move || {
                    let (store, body) = (store.clone(), body.clone());
                    async move {
                        store.accept(new_event(&body)).await.expect("accept");
                    }
                }))
            })
        });
    }
    group.finish();
}

fn claim_finish(c: &mut Criterion) {
    let rt = runtime();
    let body = body();
    let mut group = c.benchmark_group("claim_finish");
    group.throughput(Throughput::Elements(1)).sample_size(10).measurement_time(Duration::from_secs(8));
    for tasks in [1u64, 16] {
        group.bench_function(tasks.to_string(), |b| {
            b.iter_custom(|iters| {
                // A fresh store with exactly `iters` due deliveries, filled
                // untimed; tasks racing for one entry make the claim a no-op,
                // so each task takes its own slice of the due index.
                let (_dir, store) = open();
                rt.block_on(spread(iters, 64, {
                    let (store, body) = (store.clone(), body.clone());
                    move || {
                        let (store, body) = (store.clone(), body.clone());
                        async move {
                            store.accept(new_event(&body)).await.expect("accept");
                        }
                    }
                }));
                rt.block_on(claim_all(store, iters, tasks))
            })
        });
    }
    group.finish();
}

/// Claim and finish `iters` due deliveries with `tasks` concurrent tasks,
/// each owning a disjoint share of the due index.
async fn claim_all(store: Arc<Store>, iters: u64, tasks: u64) -> Duration {
    let now = hookd::store::now_ms();
    let mut due = Vec::new();
    for (lane, _) in store.lanes().expect("lanes") {
        due.extend(store.lane_due(lane, now, iters as usize, |_| false).expect("due"));
    }
    let per = due.len().div_ceil(tasks as usize).max(1);
    let started = Instant::now();
    let handles: Vec<_> = due
        .chunks(per)
        .map(|chunk| {
            let (store, chunk) = (store.clone(), chunk.to_vec());
            tokio::spawn(async move {
                for entry in chunk {
                    let Claimed::Run(claim) = store.claim(entry).await.expect("claim") else {
                        continue;
                    };
                    let end = AttemptEnd {
                        outcome: "exit 0".into(),
                        exit_code: Some(0),
                        http_status: None,
                        output_tail: String::new(),
                        next: Next::Delivered,
                    };
                    store.finish(&claim, end).expect("finish");
                    store.sync().await.expect("sync");
                }
            })
        })
        .collect();
    for h in handles {
        h.await.expect("claim task");
    }
    started.elapsed()
}

criterion_group!(benches, accept, claim_finish);
criterion_main!(benches);
