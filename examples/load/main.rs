//! hookd's load tool: starts the release `hookd serve` itself (temp config,
//! free loopback port, temp data dir), drives it with correctly signed
//! Stripe-style events over keep-alive connections, and reports throughput,
//! ack latency (HDR histogram), handler executions, RSS and restart time.
//! Loopback only; every loop is bounded in count and time.
//!
//!     cargo build --release && cargo run --release --example load -- --help

// A load tool starts the binary under test and measures fork+exec.
#![allow(clippy::disallowed_methods)]

mod body;
mod drive;
mod restart;
mod server;
mod sink;

use clap::{Parser, Subcommand};
use server::{Hookd, Launch, Route};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Load benchmark for hookd (loopback only, bounded in count and time)")]
struct Args {
    #[command(subcommand)]
    mode: Mode,
    /// The hookd binary to start (build it with `cargo build --release`).
    #[arg(long, global = true, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/target/release/hookd"))]
    hookd: PathBuf,
    /// Events to send (each unique).
    #[arg(long, short = 'n', global = true, default_value_t = 20_000)]
    events: usize,
    /// Keep-alive connections, one request at a time on each.
    #[arg(long, short = 'c', global = true, default_value_t = 32)]
    connections: usize,
    /// Body size in bytes (a padded Stripe event).
    #[arg(long, global = true, default_value_t = 2500)]
    body_size: usize,
    /// hookd's log level (HOOKD_LOG): info logs a line per request and attempt.
    #[arg(long, global = true, default_value = "info")]
    log: String,
    /// `[storage] cache_capacity` of the hookd under test (sled's page
    /// cache; hookd's default is 16MiB).
    #[arg(long, global = true, default_value = "16MiB")]
    cache: String,
    /// `[dispatch] concurrency` of the hookd under test.
    #[arg(long, global = true, default_value_t = 16)]
    dispatch_concurrency: usize,
    /// Repeat the whole run (fresh hookd, fresh store) this many times and
    /// print the medians.
    #[arg(long, global = true, default_value_t = 3)]
    runs: usize,
    /// Stop sending after this many seconds, whatever is left.
    #[arg(long, global = true, default_value_t = 120)]
    max_secs: u64,
}

#[derive(Subcommand)]
enum Mode {
    /// Durable ingest: events with no route (stored as unrouted), acks only.
    Ingest,
    /// End to end to an HTTP callback on a built-in counting sink.
    Callback,
    /// End to end to a command handler (`/bin/true` unless --argv), counted
    /// through the admin API's delivered count.
    Command {
        #[arg(long, num_args = 1.., default_values_t = ["/bin/true".to_string()])]
        argv: Vec<String>,
    },
    /// Every event sent twice, at the same time on two connections, to an
    /// HTTP callback: handler executions must equal the number of events.
    Duplicates,
    /// The machine's bare fork+exec rate: `/bin/true` spawned N times, one
    /// at a time and `--dispatch-concurrency` at a time.
    Forkexec,
    /// Fill a store with N events in-process (minutes at 1M), then time
    /// `hookd serve` start → `/readyz` 200, `--runs` times.
    Restart {
        /// Where to keep the filled store (reused when already filled).
        #[arg(long)]
        store: PathBuf,
    },
    /// Size of the release binary, as built and stripped.
    Size,
}

fn main() {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("tokio runtime");
    match &args.mode {
        Mode::Forkexec => forkexec(&args),
        Mode::Size => size(&args),
        Mode::Restart { store } => rt.block_on(restart_mode(&args, store, args.runs)),
        _ => rt.block_on(load(&args)),
    }
}

fn deadline(args: &Args) -> Instant {
    Instant::now() + Duration::from_secs(args.max_secs)
}

/// The numbers of one run that get a median across runs.
#[derive(Default, Clone, Copy)]
struct Summary {
    accepted_per_sec: f64,
    p50: f64,
    p99: f64,
    p999: f64,
    e2e_per_sec: f64,
    executions: u64,
    idle_mb: f64,
    load_mb: f64,
}

async fn load(args: &Args) {
    let mut runs = Vec::new();
    for run in 1..=args.runs {
        println!("--- run {run} of {}", args.runs);
        runs.push(load_once(args).await);
    }
    let median = |f: fn(&Summary) -> f64| {
        let mut v: Vec<f64> = runs.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    println!("--- median of {} runs ({})", runs.len(), mode_name(&args.mode));
    println!(
        "median          accepted/s {:.0}  p50 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms",
        median(|s| s.accepted_per_sec),
        median(|s| s.p50),
        median(|s| s.p99),
        median(|s| s.p999)
    );
    if !matches!(args.mode, Mode::Ingest) {
        let all_ok = runs.iter().all(|s| s.executions == args.events as u64);
        println!(
            "median          end to end {:.0} events/s; executions == events in every run: {all_ok}",
            median(|s| s.e2e_per_sec)
        );
    }
    println!("median          RSS idle {:.1} MB, under load {:.1} MB", median(|s| s.idle_mb), median(|s| s.load_mb));
}

async fn load_once(args: &Args) -> Summary {
    let sink = Arc::new(sink::Sink::default());
    let route = match &args.mode {
        Mode::Ingest => Route::None,
        Mode::Command { argv } => Route::Command(argv.clone()),
        _ => Route::Callback(sink::start(sink.clone()).await),
    };
    let copies = if matches!(args.mode, Mode::Duplicates) { 2 } else { 1 };
    eprintln!("signing {} events of ~{} bytes…", args.events, args.body_size);
    let events = drive::events(server::SECRET, args.events, args.body_size);
    let jobs: Vec<_> = events.iter().flat_map(|e| std::iter::repeat_n(e.clone(), copies)).collect();
    let launch = Launch {
        binary: &args.hookd,
        route,
        concurrency: args.dispatch_concurrency,
        log: &args.log,
        cache: &args.cache,
        data: None,
    };
    let (mut h, ready) = Hookd::start(launch).await;
    eprintln!("hookd pid {} (data and log under {})", h.pid(), h.dir.display());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = h.rss_kib().0;
    let (stop_sampling, peak) = sample_rss(h.pid());
    let deadline = deadline(args);
    let out = drive::drive(&h.addr, Arc::new(jobs), args.connections, deadline).await;
    println!("mode            {}", mode_name(&args.mode));
    println!("load            {}", loadavg());
    println!(
        "events          {} x{copies}, {} connections, body {} B, HOOKD_LOG={}",
        args.events, args.connections, args.body_size, args.log
    );
    println!("ready after     {:.0} ms", ready.as_secs_f64() * 1000.0);
    println!(
        "sent            {} in {:.2} s: {:.0} req/s ({} 202, {} 200 duplicate, {} non-2xx, {} connection errors)",
        out.sent,
        out.elapsed.as_secs_f64(),
        out.per_sec(out.sent),
        out.accepted,
        out.duplicates,
        out.non_2xx,
        out.errors
    );
    println!("accepted/s      {:.0}", out.per_sec(out.accepted));
    println!(
        "ack latency     p50 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms  max {:.2} ms",
        out.ms(0.50),
        out.ms(0.99),
        out.ms(0.999),
        out.latency.max() as f64 / 1000.0
    );
    let started = Instant::now() - out.elapsed;
    let expected = args.events as u64;
    let mut summary = Summary {
        accepted_per_sec: out.per_sec(out.accepted),
        p50: out.ms(0.50),
        p99: out.ms(0.99),
        p999: out.ms(0.999),
        ..Summary::default()
    };
    let (executions, took) = match &args.mode {
        Mode::Ingest => (0, Duration::ZERO),
        Mode::Command { .. } => {
            let (done, at) = wait_delivered(&h, expected, deadline).await;
            (done, at.duration_since(started))
        }
        _ => {
            let done = wait_sink(&sink, expected, deadline).await;
            let at = sink.last().unwrap_or_else(Instant::now);
            println!("sink            {} requests, {} distinct webhook-ids", sink.requests(), sink.distinct());
            (done, at.duration_since(started))
        }
    };
    if !matches!(args.mode, Mode::Ingest) {
        report_e2e(executions, expected, took);
        summary.executions = executions;
        summary.e2e_per_sec = executions as f64 / took.as_secs_f64();
    }
    let (rss, hwm) = h.rss_kib();
    stop_sampling.store(true, std::sync::atomic::Ordering::Relaxed);
    let sampled = peak.join().unwrap_or(0);
    println!(
        "hookd RSS       idle {:.1} MB, under load max {:.1} MB (sampled every 50 ms), VmHWM {:.1} MB, now {:.1} MB",
        mb(idle),
        mb(sampled),
        mb(hwm),
        mb(rss)
    );
    summary.idle_mb = mb(idle);
    summary.load_mb = mb(sampled.max(hwm));
    h.stop();
    summary
}

fn report_e2e(executions: u64, expected: u64, took: Duration) {
    println!(
        "end to end      {executions} handler executions (expected {expected}{}) in {:.2} s: {:.0} events/s",
        if executions == expected { ", ok" } else { ", MISMATCH" },
        took.as_secs_f64(),
        executions as f64 / took.as_secs_f64()
    );
}

/// Wait (bounded) until the sink has seen `expected` requests, then a
/// further 2 s for any that should not come (a duplicate run twice).
async fn wait_sink(sink: &sink::Sink, expected: u64, deadline: Instant) -> u64 {
    let limit = deadline.max(Instant::now() + Duration::from_secs(60));
    while sink.requests() < expected && Instant::now() < limit {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    sink.requests()
}

/// Poll the admin API (bounded) until `expected` deliveries are delivered;
/// returns the count and when it was first seen.
async fn wait_delivered(h: &Hookd, expected: u64, deadline: Instant) -> (u64, Instant) {
    let limit = deadline.max(Instant::now() + Duration::from_secs(60));
    let mut done = 0;
    while Instant::now() < limit {
        done = h.delivered().await.unwrap_or(done);
        if done >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (done, Instant::now())
}

/// Sample the process's RSS every 50 ms until told to stop; the peak in KiB.
fn sample_rss(pid: u32) -> (Arc<std::sync::atomic::AtomicBool>, std::thread::JoinHandle<u64>) {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::spawn(move || {
        let mut peak = 0;
        let limit = Instant::now() + Duration::from_secs(3600);
        while !flag.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < limit {
            peak = peak.max(server::rss_kib(pid).0);
            std::thread::sleep(Duration::from_millis(50));
        }
        peak
    });
    (stop, handle)
}

fn mb(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn mode_name(m: &Mode) -> &'static str {
    match m {
        Mode::Ingest => "ingest",
        Mode::Callback => "callback",
        Mode::Command { .. } => "command",
        Mode::Duplicates => "duplicates",
        Mode::Forkexec => "forkexec",
        Mode::Restart { .. } => "restart",
        Mode::Size => "size",
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn forkexec(args: &Args) {
    let n = args.events;
    let spawn = || {
        let status = std::process::Command::new("/bin/true").status().expect("spawn /bin/true");
        assert!(status.success());
    };
    let started = Instant::now();
    for _ in 0..n {
        spawn();
    }
    let serial = started.elapsed();
    let threads = args.dispatch_concurrency.max(1);
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || (0..n / threads + usize::from(t < n % threads)).for_each(|_| spawn()));
        }
    });
    let parallel = started.elapsed();
    println!("load            {}", loadavg());
    println!("fork+exec       {n} x /bin/true one at a time: {:.0}/s", n as f64 / serial.as_secs_f64());
    println!("fork+exec       {n} x /bin/true {threads} at a time: {:.0}/s", n as f64 / parallel.as_secs_f64());
}

fn size(args: &Args) {
    let built = std::fs::metadata(&args.hookd).map(|m| m.len()).unwrap_or(0);
    let stripped = std::env::temp_dir().join(format!("hookd-stripped-{}", std::process::id()));
    let ok = std::process::Command::new("strip")
        .arg("-o")
        .arg(&stripped)
        .arg(&args.hookd)
        .status()
        .is_ok_and(|s| s.success());
    let small = std::fs::metadata(&stripped).map(|m| m.len()).unwrap_or(0);
    let _ = std::fs::remove_file(&stripped);
    println!("binary          {} as built: {:.2} MB", args.hookd.display(), built as f64 / 1e6);
    if ok {
        println!("binary          stripped: {:.2} MB ({small} bytes)", small as f64 / 1e6);
    } else {
        println!("binary          `strip` not available");
    }
}

async fn restart_mode(args: &Args, store: &std::path::Path, runs: usize) {
    std::fs::create_dir_all(store).expect("store dir");
    let data = store.join("data");
    let fill_deadline = Instant::now() + Duration::from_secs(args.max_secs.max(1800));
    let n = args.events as u64;
    let filled = restart::fill(&data, n, args.body_size, fill_deadline).await;
    let mut times = Vec::new();
    for run in 1..=runs {
        let launch = Launch {
            binary: &args.hookd,
            route: Route::None,
            concurrency: 16,
            log: &args.log,
            cache: &args.cache,
            data: Some(&data),
        };
        let load = loadavg();
        let (mut h, ready) = Hookd::start(launch).await;
        let (rss, _) = h.rss_kib();
        println!(
            "restart run {run}  {filled} events: /readyz 200 after {:.0} ms (RSS {:.1} MB, load {load})",
            ready.as_secs_f64() * 1000.0,
            mb(rss)
        );
        times.push(ready);
        h.stop();
    }
    times.sort();
    if let Some(m) = times.get(times.len() / 2) {
        println!("restart median  {:.0} ms over {} runs", m.as_secs_f64() * 1000.0, times.len());
    }
}
