//! The hookd under test: a temp config, the release binary spawned on a free
//! loopback port, `/readyz` polled until it answers, its RSS read from
//! `/proc`, its admin API's stats, and a bounded SIGTERM at the end; and
//! what every server child of the load tool shares: the bounded stop, and
//! death with the load tool when it is killed.

use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::TokioIo;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

pub const SECRET: &str = "whsec_load_test_secret";
const TOKEN: &str = "load-admin-token";

/// What the source's one route does with each event.
pub enum Route {
    /// No route: events are stored as unrouted (pure ingest).
    None,
    Command(Vec<String>),
    Callback(String),
    /// A `nats` route: these servers (comma-separated), `nats::SUBJECT`.
    Nats(String),
}

pub struct Hookd {
    child: Option<Child>,
    pub addr: String,
    pub admin: String,
    pub dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

/// Poll `GET path` on `addr` every 5 ms until it answers 200; how long
/// after `started` it did. `Err` (why, for the caller's panic with its
/// logs) when `child` exits first or `limit` after `started` passes.
pub async fn wait_answering(
    addr: &str,
    path: &str,
    child: &mut Child,
    started: Instant,
    limit: Duration,
) -> Result<Duration, String> {
    while started.elapsed() < limit {
        if get(addr, path, None).await.is_some_and(|(s, _)| s == 200) {
            return Ok(started.elapsed());
        }
        if let Some(status) = child.try_wait().ok().flatten() {
            return Err(format!("exited with {status}"));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Err(format!("did not answer {path} on {addr} within {limit:?}"))
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

pub struct Launch<'a> {
    pub binary: &'a Path,
    pub route: Route,
    pub concurrency: usize,
    pub log: &'a str,
    /// `[storage] cache_capacity` (sled's page cache), e.g. "2MiB".
    pub cache: &'a str,
    /// Reuse this data directory (restart timing); else a fresh temp dir.
    pub data: Option<&'a Path>,
}

impl Hookd {
    /// Write the config, spawn `hookd serve`, wait (bounded) for `/readyz`.
    /// Returns the process and how long it took to become ready.
    pub async fn start(l: Launch<'_>) -> (Hookd, Duration) {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path().to_path_buf();
        let data = l.data.map(Path::to_path_buf).unwrap_or_else(|| dir.join("data"));
        let (port, admin_port) = (free_port(), free_port());
        std::fs::write(dir.join("token"), TOKEN).expect("write token");
        let route = match &l.route {
            Route::None => String::new(),
            Route::Command(argv) => format!(
                "[[sources.stripe.routes]]\nname = \"cmd\"\nevents = [\"*\"]\ncommand = {argv:?}\ntimeout = \"30s\"\nretry = {{ attempts = 5, initial = \"1s\", max = \"5s\" }}\n"
            ),
            Route::Callback(url) => format!(
                "[[sources.stripe.routes]]\nname = \"cb\"\nevents = [\"*\"]\nurl = \"{url}\"\nsigning_secret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\ntimeout = \"30s\"\nretry = {{ attempts = 5, initial = \"1s\", max = \"5s\" }}\n"
            ),
            Route::Nats(urls) => format!(
                "[[sources.stripe.routes]]\nname = \"js\"\nevents = [\"*\"]\nnats = {{ url = \"{urls}\", subject = \"{}\" }}\ntimeout = \"30s\"\nretry = {{ attempts = 5, initial = \"1s\", max = \"5s\" }}\n",
                crate::nats::SUBJECT
            ),
        };
        let config = format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\nmax_connections = 1024\n\n\
             [admin]\nlisten = \"127.0.0.1:{admin_port}\"\ntoken_file = \"{d}/token\"\n\n\
             [storage]\npath = \"{data}\"\ncache_capacity = \"{cache}\"\n\n[dispatch]\nconcurrency = {c}\n\n\
             [sources.stripe]\nkind = \"stripe\"\nsecret = \"{SECRET}\"\ntolerance = \"1h\"\n\n{route}",
            d = dir.display(),
            data = data.display(),
            c = l.concurrency,
            cache = l.cache,
        );
        std::fs::write(dir.join("config.toml"), config).expect("write config");
        let log = std::fs::File::create(dir.join("hookd.log")).expect("log file");
        let started = Instant::now();
        let child = die_with_parent(
            Command::new(l.binary)
                .args(["serve", "--config"])
                .arg(dir.join("config.toml"))
                .env("HOOKD_LOG", l.log)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log),
        )
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", l.binary.display()));
        let mut h = Hookd {
            child: Some(child),
            addr: format!("127.0.0.1:{port}"),
            admin: format!("127.0.0.1:{admin_port}"),
            dir,
            _temp: Some(temp),
        };
        let ready = h.wait_ready(started, Duration::from_secs(120)).await;
        (h, ready)
    }

    async fn wait_ready(&mut self, started: Instant, limit: Duration) -> Duration {
        let Some(child) = self.child.as_mut() else { panic!("hookd was never started") };
        match wait_answering(&self.addr, "/readyz", child, started, limit).await {
            Ok(ready) => ready,
            Err(why) => panic!("hookd {why}; log:\n{}", self.log_tail()),
        }
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("hookd.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// `(VmRSS, VmHWM)` in KiB.
    pub fn rss_kib(&self) -> (u64, u64) {
        rss_kib(self.pid())
    }

    /// Delivered deliveries of the stripe source, from `GET /v1/stats`.
    pub async fn delivered(&self) -> Option<u64> {
        let (status, body) = get(&self.admin, "/v1/stats", Some(TOKEN)).await?;
        let v: serde_json::Value = serde_json::from_slice(&body).ok().filter(|_| status == 200)?;
        v.pointer("/sources/stripe/delivered").and_then(serde_json::Value::as_u64).or(Some(0))
    }

    /// SIGTERM, wait up to 30 s, then SIGKILL.
    pub fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            terminate(child, "hookd", Duration::from_secs(30));
        }
    }
}

/// SIGTERM, wait up to `grace` for the exit, then SIGKILL and reap.
pub fn terminate(mut child: Child, what: &str, grace: Duration) {
    // SAFETY: kill(2) on the pid of a child not yet reaped (ours).
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("{what} did not stop within {grace:?} of SIGTERM; killing it");
    let _ = child.kill();
    let _ = child.wait();
}

/// Have the kernel SIGKILL the child when the thread that spawned it ends
/// (PR_SET_PDEATHSIG), so a load tool killed by Ctrl-C or SIGKILL, which
/// runs no destructor, leaves no server behind. Spawn from a thread that
/// lives as long as the child should (the main thread: `block_on`).
pub fn die_with_parent(cmd: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id();
    // SAFETY: between fork and exec only prctl and getppid, both
    // async-signal-safe; no allocation (the errors are raw OS errors), no lock.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before the prctl: then nobody would
            // ever kill this child.
            if libc::getppid() as u32 != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        })
    }
}

impl Drop for Hookd {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// CPU time the process has used so far, in seconds: `(own, children)`,
/// each user + system (`/proc/PID/stat` fields 14–17). `children` counts
/// only children already waited for (handlers hookd has reaped).
pub fn cpu_secs(pid: u32) -> (f64, f64) {
    cpu_of(&std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default())
}

/// `(own, children)` CPU seconds of one `stat` line (a process's or a
/// thread's).
fn cpu_of(stat: &str) -> (f64, f64) {
    // The command name (field 2) may hold spaces: count from after its ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let field = |n: usize| rest.split_whitespace().nth(n - 3).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // SAFETY: sysconf reads a constant of the system; no memory is involved.
    let tick = match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
        t if t > 0 => t as f64,
        _ => 100.0,
    };
    ((field(14) + field(15)) as f64 / tick, (field(16) + field(17)) as f64 / tick)
}

/// What hookd's threads are for, by the name the kernel shows (15 bytes).
pub const THREAD_GROUPS: [&str; 5] = ["ingress", "dispatch", "wal", "index", "other"];

fn thread_group(comm: &str) -> usize {
    match comm {
        // The main runtime: ingress and the admin API.
        c if c.starts_with("tokio-rt") => 0,
        // The background runtime: the dispatcher, callbacks, the janitor.
        c if c.starts_with("hookd-backgroun") => 1,
        "hookd-wal" => 2,
        c if c.starts_with("hookd-checkpoin") || c.starts_with("sled-") => 3,
        _ => 4,
    }
}

/// CPU seconds (user + system) per `THREAD_GROUPS` entry, over the
/// process's live threads (a thread that has exited is no longer counted).
pub fn thread_cpu_secs(pid: u32) -> [f64; 5] {
    let mut out = [0.0; 5];
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return out };
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        let (own, _) = cpu_of(&stat);
        out[thread_group(comm.trim())] += own;
    }
    out
}

/// A one-shot GET on a fresh connection: `(status, body)`, `None` on any
/// connection error. Bounded by a 2 s timeout.
pub async fn get(addr: &str, path: &str, token: Option<&str>) -> Option<(u16, bytes::Bytes)> {
    let once = async {
        let stream = TcpStream::connect(addr).await.ok()?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.ok()?;
        tokio::spawn(conn);
        let mut req = Request::get(path).header(http::header::HOST, addr);
        if let Some(t) = token {
            req = req.header(http::header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let resp = sender.send_request(req.body(Empty::<bytes::Bytes>::new()).ok()?).await.ok()?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.ok()?.to_bytes();
        Some((status, body))
    };
    tokio::time::timeout(Duration::from_secs(2), once).await.ok().flatten()
}
