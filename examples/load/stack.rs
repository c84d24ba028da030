//! `load stack`: the stack hookd replaces, under the same load in the same
//! sitting, so that the two are compared as ratios (issue 12 asks for
//! that; machines here differ ±30 % from one day to the next). Three
//! processes, each started here on a free loopback port and stopped here:
//!
//! - `redis-server` (Debian's) with `appendonly yes`, `appendfsync always`
//!   and no RDB snapshots, in a temp dir: Redis answers a write once it is
//!   fsynced, the durable setting the guides give for payments;
//! - `node examples/stack/server.js`: Fastify, the raw body checked by
//!   `stripe.webhooks.constructEvent`, the event added to a BullMQ queue
//!   (jobId = event id), 202 once Redis has answered;
//! - `node examples/stack/worker.js`: a BullMQ worker, concurrency
//!   `--dispatch-concurrency` (16), in a process of its own; an in-process
//!   no-op, or `--argv` / `--burn-ms` exec'd per job with the body on
//!   stdin. It counts completed jobs and answers the count over HTTP.
//!
//! The Node packages are pinned in `examples/stack/package.json`; `npm ci`
//! there installs them (the one line printed when they are missing says
//! so). CPU and RSS are the sum of the three processes; the handlers' CPU
//! is the worker's reaped children's.

use crate::server::{die_with_parent, free_port, get, terminate, wait_answering};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where the Node side lives.
pub fn dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/stack"))
}

/// The programs the stack needs, found before the first run.
pub struct Tools {
    redis: PathBuf,
    node: PathBuf,
}

/// `redis-server` and `node` (Debian's places, else PATH) and the Node
/// packages; `Err` is the one line to print.
pub fn find() -> Result<Tools, String> {
    let redis = executable("/usr/bin/redis-server", "redis-server")
        .ok_or("redis-server not found: apt-get install -y redis-server")?;
    let node = executable("/usr/bin/node", "node").ok_or("node not found: apt-get install -y nodejs npm")?;
    if !dir().join("node_modules/bullmq").is_dir() {
        return Err(format!("the stack's Node packages are missing: (cd {} && npm ci)", dir().display()));
    }
    Ok(Tools { redis, node })
}

fn executable(debian: &str, name: &str) -> Option<PathBuf> {
    let ok = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    let debian = PathBuf::from(debian);
    if ok(&debian) {
        return Some(debian);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| ok(p))
}

/// The stack's processes, in the order `Stack::pids` gives them (and they
/// stop in).
pub const PROCESSES: [&str; 3] = ["server", "worker", "redis-server"];

/// The three processes, in the order they stop: receiver, worker, Redis.
pub struct Stack {
    children: Vec<(&'static str, Child)>,
    pub addr: String,
    count: String,
    pub dir: PathBuf,
    _temp: tempfile::TempDir,
}

impl Stack {
    /// Start Redis, then the worker and the receiver; wait (bounded) until
    /// each answers. `argv`: what the worker execs per job (`None`: no-op).
    pub async fn start(tools: &Tools, argv: Option<&[String]>, concurrency: usize) -> (Stack, Duration) {
        let temp = tempfile::tempdir().expect("temp dir for the stack");
        let dir = temp.path().to_path_buf();
        let (redis_port, port, count_port) = (free_port(), free_port(), free_port());
        let log = |name: &str| std::fs::File::create(dir.join(name)).expect("stack log file");
        let started = Instant::now();
        let redis = die_with_parent(
            Command::new(&tools.redis)
                .args(["--port", &redis_port.to_string(), "--bind", "127.0.0.1", "--save", ""])
                .args(["--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no"])
                .arg("--dir")
                .arg(&dir)
                .stdin(Stdio::null())
                .stdout(log("redis.log"))
                .stderr(log("redis.err")),
        )
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", tools.redis.display()));
        let mut stack = Stack {
            children: vec![("redis-server", redis)],
            addr: format!("127.0.0.1:{port}"),
            count: format!("127.0.0.1:{count_port}"),
            dir: dir.clone(),
            _temp: temp,
        };
        stack.wait_redis(redis_port, started).await;
        let node = |script: &str, out: &str| {
            let mut cmd = Command::new(&tools.node);
            cmd.arg(self::dir().join(script))
                .current_dir(self::dir())
                .env("REDIS_PORT", redis_port.to_string())
                .env("NODE_ENV", "production")
                .stdin(Stdio::null())
                .stdout(log(out))
                .stderr(log(&format!("{out}.err")));
            cmd
        };
        let mut worker = node("worker.js", "worker.log");
        worker.env("COUNT_PORT", count_port.to_string()).env("CONCURRENCY", concurrency.to_string());
        if let Some(argv) = argv {
            worker.env("HANDLER_ARGV", serde_json::to_string(argv).expect("argv as JSON"));
        }
        let worker = die_with_parent(&mut worker).spawn().expect("start node worker.js");
        stack.children.insert(0, ("worker", worker));
        let mut server = node("server.js", "server.log");
        server.env("PORT", port.to_string()).env("STRIPE_WEBHOOK_SECRET", crate::server::SECRET);
        let server = die_with_parent(&mut server).spawn().expect("start node server.js");
        stack.children.insert(0, ("server", server));
        let limit = Duration::from_secs(30);
        for (what, addr, path) in [("worker", stack.count.clone(), "/"), ("server", stack.addr.clone(), "/readyz")] {
            let Some((_, child)) = stack.children.iter_mut().find(|(n, _)| *n == what) else { continue };
            if let Err(why) = wait_answering(&addr, path, child, started, limit).await {
                panic!("the stack's {what} {why}; logs under {}:\n{}", stack.dir.display(), stack.logs());
            }
        }
        (stack, started.elapsed())
    }

    async fn wait_redis(&mut self, port: u16, started: Instant) {
        let addr = format!("127.0.0.1:{port}");
        while started.elapsed() < Duration::from_secs(10) {
            if tokio::net::TcpStream::connect(&addr).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("redis-server did not listen on {addr} within 10 s:\n{}", self.logs());
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        for name in ["redis.err", "worker.log.err", "server.log.err"] {
            let text = std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
            out.push_str(&format!("--- {name}\n{}\n", text.lines().rev().take(20).collect::<Vec<_>>().join("\n")));
        }
        out
    }

    /// `(name, pid)` of each process.
    pub fn pids(&self) -> Vec<(&'static str, u32)> {
        self.children.iter().map(|(n, c)| (*n, c.id())).collect()
    }

    /// Jobs the worker has completed.
    pub async fn completed(&self) -> Option<u64> {
        let (status, body) = get(&self.count, "/", None).await?;
        std::str::from_utf8(&body).ok()?.trim().parse().ok().filter(|_| status == 200)
    }

    pub fn stop(&mut self) {
        for (what, child) in self.children.drain(..) {
            terminate(child, what, Duration::from_secs(10));
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.stop();
    }
}
