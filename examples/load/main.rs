//! hookd's load tool: starts the release `hookd serve` itself (temp config,
//! free loopback port, temp data dir), drives it with correctly signed
//! Stripe-style events over keep-alive connections, and reports throughput,
//! ack latency (HDR histogram), handler executions, RSS and restart time.
//! Loopback only; every loop is bounded in count and time.
//!
//! Workloads (the `--help` of each says more):
//! - `ingest`: no route, acks only.
//! - `callback`: end to end to an HTTP callback, on the built-in counting
//!   sink or (`--sink nginx`) a temp nginx, see `nginx.rs`.
//! - `command`: end to end to a command handler: `--argv`, or
//!   (`--burn-ms`) this binary's hidden `burn-handler`, which burns a set
//!   amount of its own CPU time per event, see `burn.rs`.
//! - `nats`: end to end to a `nats` route into a temp JetStream stream
//!   (`--replicas 3`: a three-node cluster and an R3 stream), see `nats.rs`.
//! - `duplicates`: every event twice at once; executions must equal events.
//! - `ceiling`: `ingest`'s load on a bare server that only parses HTTP,
//!   checks the HMAC and makes one WAL append durable, see `ceiling.rs`.
//! - `stack`: the same load on the stack hookd replaces (Fastify +
//!   `stripe.webhooks.constructEvent` + BullMQ on Redis with `appendfsync
//!   always`), end to end to its worker, see `stack.rs`.
//! - `forkexec`, `restart`, `size`: the machine's spawn rate, restart time
//!   with a full store, the binary's size.
//!
//! The load modes exit 1 when a run did not get every request acked (2xx)
//! or, end to end, did not count exactly `-n` handler executions (the
//! built-in sink's requests, else hookd's delivered count); timings are
//! only reported, never judged.
//!
//!     cargo build --release --example load --bin hookd
//!     target/release/examples/load --help

// A load tool starts the binary under test and measures fork+exec.
#![allow(clippy::disallowed_methods)]

mod body;
mod burn;
mod ceiling;
mod drive;
mod nats;
mod nginx;
mod restart;
mod server;
mod sink;
mod stack;

use clap::builder::TypedValueParser as _;
use clap::{Parser, Subcommand, ValueEnum};
use server::{Hookd, Launch, Route};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
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
    /// cache; the default is hookd's own).
    #[arg(long, global = true, default_value = hookd::config::raw::DEFAULT_CACHE)]
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
    /// End to end to an HTTP callback: the built-in counting sink, or a
    /// temp nginx (`--sink nginx`, counted through the admin API's
    /// delivered count).
    Callback {
        /// What answers the callbacks: `builtin` (in this process; counts
        /// requests and distinct webhook-ids) or `nginx` (`/usr/sbin/nginx`
        /// or on PATH, its own process with a temp config, answers 200).
        #[arg(long, value_enum, default_value_t = SinkKind::Builtin)]
        sink: SinkKind,
    },
    /// End to end to a command handler (`/bin/true` unless --argv or
    /// --burn-ms), counted through the admin API's delivered count.
    Command {
        /// The handler's argv.
        #[arg(long, num_args = 1.., default_values_t = ["/bin/true".to_string()])]
        argv: Vec<String>,
        /// Instead of --argv: this binary's hidden `burn-handler`, which
        /// reads the body, then burns this many milliseconds of its own CPU
        /// time (on top of its exec and start-up).
        #[arg(long, value_parser = burn::parse_cpu_ms, conflicts_with = "argv")]
        burn_ms: Option<f64>,
    },
    /// End to end to a `nats` route: a temp `nats-server -js` and a stream
    /// on `load.>`, counted through the admin API's delivered count and
    /// checked against the stream's message count (one copy per event).
    Nats {
        /// 1: one node; 3: three nodes on loopback and an R3 stream.
        #[arg(long, default_value_t = 1, value_parser = clap::builder::PossibleValuesParser::new(["1", "3"]).map(|s| s.parse::<usize>().unwrap_or(1)))]
        replicas: usize,
    },
    /// Every event sent twice, at the same time on two connections, to an
    /// HTTP callback: handler executions must equal the number of events.
    Duplicates,
    /// The no-route ceiling: `ingest`'s load on a bare server (this binary
    /// in a process of its own) that parses HTTP, checks the Stripe HMAC and
    /// makes one WAL append durable per event, and does nothing else.
    Ceiling,
    /// The same load on the stack hookd replaces, in the same sitting:
    /// Fastify + `stripe.webhooks.constructEvent` + a BullMQ job on Redis
    /// (`appendfsync always`), 202 once Redis answered; a BullMQ worker in
    /// its own process (concurrency `--dispatch-concurrency`) runs an
    /// in-process no-op, or execs `--argv` / `--burn-ms` per job (body on
    /// stdin). Needs redis-server, node and `npm ci` in examples/stack.
    Stack {
        /// The worker execs this per job instead of the no-op.
        #[arg(long, num_args = 1..)]
        argv: Option<Vec<String>>,
        /// The worker execs `command --burn-ms`'s handler per job.
        #[arg(long, value_parser = burn::parse_cpu_ms, conflicts_with = "argv")]
        burn_ms: Option<f64>,
    },
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
    /// (internal) The `command --burn-ms` handler: read stdin to EOF, burn
    /// `--cpu-ms` of this process's CPU time, exit 0.
    #[command(hide = true)]
    BurnHandler {
        #[arg(long, value_parser = burn::parse_cpu_ms)]
        cpu_ms: f64,
    },
    /// (internal) The `ceiling` server: 127.0.0.1:`--port`, a WAL in
    /// `--dir`, until SIGTERM or `--max-secs` at the latest.
    #[command(hide = true)]
    CeilingServe {
        #[arg(long)]
        port: u16,
        #[arg(long)]
        dir: PathBuf,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SinkKind {
    Builtin,
    Nginx,
}

fn main() -> ExitCode {
    let args = Args::parse();
    // The handler and the server first: neither wants the driver's runtime.
    match &args.mode {
        Mode::BurnHandler { cpu_ms } => return burn::run(*cpu_ms),
        Mode::CeilingServe { port, dir } => return ceiling::serve(*port, dir, Duration::from_secs(args.max_secs)),
        Mode::Forkexec => {
            forkexec(&args);
            return ExitCode::SUCCESS;
        }
        Mode::Size => {
            size(&args);
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let nginx = match args.mode {
        Mode::Callback { sink: SinkKind::Nginx } => match nginx::find() {
            Some(path) => Some(path),
            None => {
                eprintln!("{}", nginx::MISSING);
                return ExitCode::FAILURE;
            }
        },
        _ => None,
    };
    let nats_server = match args.mode {
        Mode::Nats { .. } => match nats::find() {
            Some(path) => Some(path),
            None => {
                eprintln!("{}", nats::MISSING);
                return ExitCode::FAILURE;
            }
        },
        _ => None,
    };
    let tools = match args.mode {
        Mode::Stack { .. } => match stack::find() {
            Ok(tools) => Some(tools),
            Err(why) => {
                eprintln!("{why}");
                return ExitCode::FAILURE;
            }
        },
        _ => None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("tokio runtime");
    let ok = match &args.mode {
        Mode::Restart { store } => {
            rt.block_on(restart_mode(&args, store, args.runs));
            true
        }
        _ => rt.block_on(load(&args, nginx.as_deref().or(nats_server.as_deref()), tools.as_ref())),
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn deadline(args: &Args) -> Instant {
    Instant::now() + Duration::from_secs(args.max_secs)
}

/// Whether the mode waits for handler executions after the acks.
fn end_to_end(m: &Mode) -> bool {
    !matches!(m, Mode::Ingest | Mode::Ceiling)
}

/// The numbers of one run that get a median across runs, and what decides
/// whether it passed.
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
    /// The server's CPU time (user + system) per event, µs, from the
    /// first request to the last execution (or ack); handlers apart.
    cpu_us: f64,
    /// Handler processes' CPU time per event, µs (command mode).
    child_cpu_us: f64,
    /// What `cpu_us` was measured on: hookd or the ceiling's server.
    server: &'static str,
    /// `cpu_us` by thread group (`server::THREAD_GROUPS`), µs per event.
    threads_us: [f64; 5],
    /// Requests answered 2xx (202 new, 200 duplicate), of `requests`.
    acked: u64,
    requests: u64,
}

/// `--runs` runs, the medians, and whether every run acked every request
/// and (end to end) executed every event exactly once.
/// `server`: the nginx or nats-server binary the mode needs; `tools`, what
/// `stack` needs.
async fn load(args: &Args, server: Option<&Path>, tools: Option<&stack::Tools>) -> bool {
    let mut runs = Vec::new();
    for run in 1..=args.runs {
        println!("--- run {run} of {}", args.runs);
        runs.push(load_once(args, server, tools).await);
    }
    let median = |f: &dyn Fn(&Summary) -> f64| {
        let mut v: Vec<f64> = runs.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    println!("--- median of {} runs ({})", runs.len(), mode_name(&args.mode));
    println!(
        "median          accepted/s {:.0}  p50 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms",
        median(&|s| s.accepted_per_sec),
        median(&|s| s.p50),
        median(&|s| s.p99),
        median(&|s| s.p999)
    );
    let expected = args.events as u64;
    let all_acked = runs.iter().all(|s| s.acked == s.requests);
    let all_executed = !end_to_end(&args.mode) || runs.iter().all(|s| s.executions == expected);
    if end_to_end(&args.mode) {
        println!(
            "median          end to end {:.0} events/s; executions == events in every run: {all_executed}",
            median(&|s| s.e2e_per_sec)
        );
    }
    println!("median          RSS idle {:.1} MB, under load {:.1} MB", median(&|s| s.idle_mb), median(&|s| s.load_mb));
    println!(
        "median          CPU per event: {} {:.1} µs, its handlers {:.1} µs",
        runs.first().map_or("server", |s| s.server),
        median(&|s| s.cpu_us),
        median(&|s| s.child_cpu_us)
    );
    let (names, by): (&[&str], _) = match args.mode {
        Mode::Stack { .. } => (&stack::PROCESSES, "process"),
        _ => (&server::THREAD_GROUPS, "thread"),
    };
    let groups: Vec<String> =
        names.iter().enumerate().map(|(i, g)| format!("{g} {:.1}", median(&|s: &Summary| s.threads_us[i]))).collect();
    println!("median          CPU per event by {by}, µs: {}", groups.join(", "));
    println!("check           every request acked in every run: {all_acked}");
    for (i, s) in runs.iter().enumerate() {
        if s.acked != s.requests {
            eprintln!("load: FAILED: run {}: {} of {} requests acked (2xx)", i + 1, s.acked, s.requests);
        }
        if end_to_end(&args.mode) && s.executions != expected {
            eprintln!("load: FAILED: run {}: {} handler executions, expected {expected}", i + 1, s.executions);
        }
    }
    all_acked && all_executed
}

/// What the load is sent to: hookd, the ceiling's bare server, or the
/// stack hookd replaces (three processes).
enum Target {
    Hookd(Hookd),
    Ceiling(ceiling::Ceiling),
    Stack(stack::Stack),
}

impl Target {
    fn name(&self) -> &'static str {
        match self {
            Target::Hookd(_) => "hookd",
            Target::Ceiling(_) => "ceiling",
            Target::Stack(_) => "stack",
        }
    }

    fn addr(&self) -> &str {
        match self {
            Target::Hookd(h) => &h.addr,
            Target::Ceiling(c) => &c.addr,
            Target::Stack(s) => &s.addr,
        }
    }

    /// Every process of the target, by name.
    fn pids(&self) -> Vec<(&'static str, u32)> {
        match self {
            Target::Hookd(h) => vec![("hookd", h.pid())],
            Target::Ceiling(c) => vec![("ceiling", c.pid())],
            Target::Stack(s) => s.pids(),
        }
    }

    /// `(VmRSS, VmHWM)` summed over its processes.
    fn rss_kib(&self) -> (u64, u64) {
        self.pids().iter().map(|(_, p)| server::rss_kib(*p)).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    }

    /// `(own, reaped children's)` CPU seconds, summed over its processes.
    fn cpu_secs(&self) -> (f64, f64) {
        self.pids().iter().map(|(_, p)| server::cpu_secs(*p)).fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1))
    }

    /// hookd's (or the ceiling's) CPU by thread group; the stack's by
    /// process, in the same slots (`groups` names them).
    fn split_cpu_secs(&self) -> [f64; 5] {
        match self {
            Target::Stack(s) => {
                let mut out = [0.0; 5];
                for (slot, (_, pid)) in out.iter_mut().zip(s.pids()) {
                    *slot = server::cpu_secs(pid).0;
                }
                out
            }
            _ => self.pids().first().map_or([0.0; 5], |(_, p)| server::thread_cpu_secs(*p)),
        }
    }

    /// The names of `split_cpu_secs`'s slots.
    fn groups(&self) -> Vec<&'static str> {
        match self {
            Target::Stack(s) => s.pids().iter().map(|(n, _)| *n).collect(),
            _ => server::THREAD_GROUPS.to_vec(),
        }
    }

    fn hookd(&self) -> Option<&Hookd> {
        match self {
            Target::Hookd(h) => Some(h),
            Target::Ceiling(_) | Target::Stack(_) => None,
        }
    }

    fn stop(&mut self) {
        match self {
            Target::Hookd(h) => h.stop(),
            Target::Ceiling(c) => c.stop(),
            Target::Stack(s) => s.stop(),
        }
    }
}

/// `command --burn-ms`: this binary's `burn-handler` as the route's argv.
fn burn_argv(cpu_ms: f64) -> Vec<String> {
    let exe = std::env::current_exe().expect("the load tool's own path (current_exe)");
    let exe = exe.to_str().expect("the load tool's path is UTF-8 (it goes into hookd's TOML config)");
    vec![exe.to_string(), "burn-handler".to_string(), "--cpu-ms".to_string(), cpu_ms.to_string()]
}

async fn load_once(args: &Args, nginx_binary: Option<&Path>, tools: Option<&stack::Tools>) -> Summary {
    let sink = Arc::new(sink::Sink::default());
    // Held to the end of the run; stopped (Drop) after hookd.
    let mut nginx = None;
    let mut jetstream = None;
    let (route, handler) = match &args.mode {
        Mode::Ingest | Mode::Ceiling => (Route::None, None),
        Mode::Stack { argv, burn_ms } => {
            let argv = burn_ms.map(burn_argv).or_else(|| argv.clone());
            let shown = argv.as_ref().map_or("the worker's in-process no-op".to_string(), |a| format!("{a:?}"));
            (Route::None, Some(shown))
        }
        Mode::Command { argv, burn_ms } => {
            let argv = burn_ms.map(burn_argv).unwrap_or_else(|| argv.clone());
            let shown = format!("{argv:?}");
            (Route::Command(argv), Some(shown))
        }
        Mode::Callback { sink: SinkKind::Nginx } => {
            let binary = nginx_binary.expect("nginx was located before the first run");
            let n = nginx::Nginx::start(binary).await;
            let shown = format!("{} (nginx {}, pid {})", n.url, binary.display(), n.pid());
            let route = Route::Callback(n.url.clone());
            nginx = Some(n);
            (route, Some(shown))
        }
        Mode::Nats { replicas } => {
            let binary = nginx_binary.expect("nats-server was located before the first run");
            let n = nats::Nats::start(binary, *replicas).await;
            let shown = format!(
                "nats {} -> stream {} (R{replicas}; nats-server {} pids {:?}, under {})",
                n.urls,
                nats::STREAM,
                binary.display(),
                n.pids(),
                n.dir.display()
            );
            let route = Route::Nats(n.urls.clone());
            jetstream = Some(n);
            (route, Some(shown))
        }
        _ => {
            let url = sink::start(sink.clone()).await;
            let shown = format!("{url} (built-in sink)");
            (Route::Callback(url), Some(shown))
        }
    };
    let copies = if matches!(args.mode, Mode::Duplicates) { 2 } else { 1 };
    eprintln!("signing {} events of ~{} bytes…", args.events, args.body_size);
    let events = drive::events(server::SECRET, args.events, args.body_size);
    let jobs: Vec<_> = events.iter().flat_map(|e| std::iter::repeat_n(e.clone(), copies)).collect();
    let (mut target, ready) = if let Mode::Stack { argv, burn_ms } = &args.mode {
        let tools = tools.expect("the stack's tools were found before the first run");
        let argv = burn_ms.map(burn_argv).or_else(|| argv.clone());
        let (s, ready) = stack::Stack::start(tools, argv.as_deref(), args.dispatch_concurrency).await;
        eprintln!("stack pids {:?} (Redis AOF and logs under {})", s.pids(), s.dir.display());
        (Target::Stack(s), ready)
    } else if matches!(args.mode, Mode::Ceiling) {
        // Outlives the sending (--max-secs) and the waits after it; stopped
        // by SIGTERM below long before.
        let (c, ready) = ceiling::Ceiling::start(Duration::from_secs(args.max_secs + 600)).await;
        eprintln!("ceiling-serve pid {} (WAL and log under {})", c.pid(), c.dir.display());
        (Target::Ceiling(c), ready)
    } else {
        let launch = Launch {
            binary: &args.hookd,
            route,
            concurrency: args.dispatch_concurrency,
            log: &args.log,
            cache: &args.cache,
            data: None,
        };
        let (h, ready) = Hookd::start(launch).await;
        eprintln!("hookd pid {} (data and log under {})", h.pid(), h.dir.display());
        (Target::Hookd(h), ready)
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = target.rss_kib().0;
    let (stop_sampling, peak) = sample_rss(target.pids().iter().map(|(_, p)| *p).collect());
    let cpu_before = target.cpu_secs();
    let threads_before = target.split_cpu_secs();
    let deadline = deadline(args);
    let out = drive::drive(target.addr(), Arc::new(jobs), args.connections, deadline).await;
    println!("mode            {}", mode_name(&args.mode));
    println!("load            {}", loadavg());
    let server = match target {
        Target::Hookd(_) => format!("HOOKD_LOG={}", args.log),
        Target::Ceiling(_) => "server: HTTP + HMAC + durable WAL append only".to_string(),
        Target::Stack(_) => "server: Fastify + constructEvent + BullMQ on Redis appendfsync always".to_string(),
    };
    println!(
        "events          {} x{copies}, {} connections, body {} B, {server}",
        args.events, args.connections, args.body_size
    );
    if let Some(handler) = &handler {
        println!("handler         {handler}");
    }
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
        acked: out.accepted + out.duplicates,
        requests: expected * copies as u64,
        ..Summary::default()
    };
    let (executions, took) = match (&args.mode, target.hookd(), &target) {
        (Mode::Stack { .. }, _, Target::Stack(s)) => {
            let (done, at) = wait_count(|| s.completed(), expected, deadline).await;
            println!("sink            counted through the worker's completed jobs");
            (done, at.duration_since(started))
        }
        (Mode::Ingest | Mode::Ceiling, _, _) | (_, None, _) => (0, Duration::ZERO),
        (Mode::Command { .. } | Mode::Callback { sink: SinkKind::Nginx } | Mode::Nats { .. }, Some(h), _) => {
            let (mut done, at) = wait_count(|| h.delivered(), expected, deadline).await;
            if nginx.is_some() {
                println!("sink            nginx: counted through hookd's delivered count");
            }
            if let Some(js) = &jetstream {
                let held = js.count().await;
                println!("sink            stream {} holds {held} messages (hookd delivered {done})", nats::STREAM);
                // One copy per event, or the run fails.
                if held != done {
                    done = held;
                }
            }
            (done, at.duration_since(started))
        }
        (_, Some(_), _) => {
            let done = wait_sink(&sink, expected, deadline).await;
            let at = sink.last().unwrap_or_else(Instant::now);
            println!("sink            {} requests, {} distinct webhook-ids", sink.requests(), sink.distinct());
            (done, at.duration_since(started))
        }
    };
    if end_to_end(&args.mode) {
        report_e2e(executions, expected, took);
        summary.executions = executions;
        summary.e2e_per_sec = executions as f64 / took.as_secs_f64();
    }
    // Read after a quiet second at least (the built-in sink's wait for
    // strays is two), so that the checkpoints writing the run's index
    // pages are counted; a quiet hookd uses well under 1 ms a second.
    if !matches!(args.mode, Mode::Callback { sink: SinkKind::Builtin }) {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let cpu_after = target.cpu_secs();
    let threads_after = target.split_cpu_secs();
    let per_event = |secs: f64| secs * 1e6 / expected.max(1) as f64;
    summary.cpu_us = per_event(cpu_after.0 - cpu_before.0);
    summary.server = target.name();
    summary.child_cpu_us = per_event(cpu_after.1 - cpu_before.1);
    println!(
        "{:<16}{:.2} s for {expected} events: {:.1} µs per event; handlers {:.2} s, {:.1} µs per event",
        format!("{} CPU", target.name()),
        cpu_after.0 - cpu_before.0,
        summary.cpu_us,
        cpu_after.1 - cpu_before.1,
        summary.child_cpu_us
    );
    for (i, slot) in summary.threads_us.iter_mut().enumerate() {
        *slot = per_event(threads_after[i] - threads_before[i]);
    }
    let groups: Vec<String> =
        target.groups().iter().zip(summary.threads_us).map(|(g, us)| format!("{g} {us:.1}")).collect();
    let by = if matches!(target, Target::Stack(_)) { "by process" } else { "by thread" };
    println!("{by:<16}per event, µs: {} (threads that exited are not counted)", groups.join(", "));
    let (rss, hwm) = target.rss_kib();
    stop_sampling.store(true, std::sync::atomic::Ordering::Relaxed);
    let sampled = peak.join().unwrap_or(0);
    println!(
        "{:<16}idle {:.1} MB, under load max {:.1} MB (sampled every 50 ms), VmHWM {:.1} MB, now {:.1} MB",
        format!("{} RSS", target.name()),
        mb(idle),
        mb(sampled),
        mb(hwm),
        mb(rss)
    );
    summary.idle_mb = mb(idle);
    summary.load_mb = mb(sampled.max(hwm));
    target.stop();
    drop(nginx);
    drop(jetstream);
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

/// Poll `count` every 20 ms (bounded) until it reaches `expected` (the
/// admin API's delivered count, the stack's completed jobs); the last
/// count and when it was first seen.
async fn wait_count<F: std::future::Future<Output = Option<u64>>>(
    count: impl Fn() -> F,
    expected: u64,
    deadline: Instant,
) -> (u64, Instant) {
    let limit = deadline.max(Instant::now() + Duration::from_secs(60));
    let mut done = 0;
    while Instant::now() < limit {
        done = count().await.unwrap_or(done);
        if done >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (done, Instant::now())
}

/// Sample the processes' summed RSS every 50 ms until told to stop; the
/// peak in KiB.
fn sample_rss(pids: Vec<u32>) -> (Arc<std::sync::atomic::AtomicBool>, std::thread::JoinHandle<u64>) {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::spawn(move || {
        let mut peak = 0;
        let limit = Instant::now() + Duration::from_secs(3600);
        while !flag.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < limit {
            peak = peak.max(pids.iter().map(|p| server::rss_kib(*p).0).sum());
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
        Mode::Callback { sink: SinkKind::Builtin } => "callback",
        Mode::Callback { sink: SinkKind::Nginx } => "callback --sink nginx",
        Mode::Command { burn_ms: None, .. } => "command",
        Mode::Command { burn_ms: Some(_), .. } => "command --burn-ms",
        Mode::Nats { replicas: 1 } => "nats",
        Mode::Nats { .. } => "nats --replicas 3",
        Mode::Duplicates => "duplicates",
        Mode::Ceiling => "ceiling",
        Mode::Stack { argv: None, burn_ms: None } => "stack",
        Mode::Stack { burn_ms: Some(_), .. } => "stack --burn-ms",
        Mode::Stack { .. } => "stack --argv",
        Mode::Forkexec => "forkexec",
        Mode::Restart { .. } => "restart",
        Mode::Size => "size",
        Mode::BurnHandler { .. } => "burn-handler",
        Mode::CeilingServe { .. } => "ceiling-serve",
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
