//! Drives the real `hookd` binary: writes a config into a temp dir, starts
//! `hookd serve` on a free loopback port, signs and sends requests the way
//! each sender documents, and reads stored state back once hookd stopped.

pub mod http;
pub mod nats;
pub mod sign;
pub mod tls;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_hookd");

pub struct Hookd {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    child: Option<Child>,
    pub addr: String,
    /// The admin listener's address, when the config has a TCP one.
    pub admin: Option<String>,
    log: PathBuf,
    env: Vec<(String, String)>,
}

impl Hookd {
    /// `sources` is the TOML of the `[sources.*]` tables; `{dir}` in it is
    /// replaced with the temp dir. Storage and server sections are written here.
    pub fn start(sources: &str) -> Hookd {
        Self::start_with(sources, &[])
    }

    /// Like `start`, with extra environment variables for the hookd process.
    pub fn start_with(sources: &str, env: &[(&str, &str)]) -> Hookd {
        Self::launch("", sources, env)
    }

    /// Like `start`, with extra `[server]` lines (e.g. `trusted_proxies`).
    pub fn start_server(server: &str, sources: &str) -> Hookd {
        Self::launch(server, sources, &[])
    }

    /// Like `start`, with extra `[storage]` lines (e.g. `retain_delivered`).
    pub fn start_storage(storage: &str, sources: &str) -> Hookd {
        Self::launch_with("", storage, sources, &[])
    }

    fn launch(server: &str, sources: &str, env: &[(&str, &str)]) -> Hookd {
        Self::launch_with(server, "", sources, env)
    }

    fn launch_with(server: &str, storage: &str, sources: &str, env: &[(&str, &str)]) -> Hookd {
        let mut h = Self::configure_with(server, storage, sources, env);
        h.spawn();
        h
    }

    /// Write the config (as `start_server`, with `env`) without starting
    /// hookd: the test prepares the data dir (e.g. mounts a small tmpfs on
    /// `dir/data`) and then calls `spawn`.
    pub fn configure(server: &str, sources: &str, env: &[(&str, &str)]) -> Hookd {
        Self::configure_with(server, "", sources, env)
    }

    /// `configure` with extra `[storage]` lines.
    pub fn configure_storage(storage: &str, sources: &str, env: &[(&str, &str)]) -> Hookd {
        Self::configure_with("", storage, sources, env)
    }

    fn configure_with(server: &str, storage: &str, sources: &str, env: &[(&str, &str)]) -> Hookd {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path().display().to_string();
        let config = dir.path().join("config.toml");
        let text = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nread_timeout = \"2s\"\n{server}\n\n[storage]\npath = \"{d}/data\"\n{storage}\n\n{}",
            sources.replace("{dir}", &d)
        );
        std::fs::write(&config, text).expect("write config");
        let log = dir.path().join("hookd.log");
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Hookd { dir, config, child: None, addr: String::new(), admin: None, log, env }
    }

    /// Start (or restart) the binary and wait for its listener.
    pub fn spawn(&mut self) {
        let mut child = Command::new(BIN)
            .args(["serve", "--config"])
            .arg(&self.config)
            .env("HOOKD_LOG", "debug")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start hookd");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        let log = self.log.clone();
        std::thread::spawn(move || {
            let mut out = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("log file");
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                use std::io::Write;
                let _ = writeln!(out, "{line}");
                if let Some(addr) = line.contains("admin listening").then(|| field(&line, "addr")).flatten() {
                    let _ = tx.send(format!("admin {addr}"));
                }
                if let Some(addr) = line.contains("ingress listening").then(|| field(&line, "addr")).flatten() {
                    let _ = tx.send(addr);
                }
            }
        });
        self.child = Some(child);
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("hookd did not start:\n{}", self.logs()));
            match line.strip_prefix("admin ") {
                Some(admin) => self.admin = Some(admin.to_string()).filter(|a| !a.starts_with("unix:")),
                None => {
                    self.addr = line;
                    break;
                }
            }
        }
    }

    /// Environment variables for the next `spawn` (added to those given).
    pub fn set_env(&mut self, env: &[(&str, &str)]) {
        self.env.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    }

    /// The running hookd's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait; returns the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Ok(Some(status)) = c.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                panic!("hookd did not exit after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Send SIGHUP (reload sources and routes).
    pub fn hangup(&self) {
        if let Some(c) = &self.child {
            unsafe { libc::kill(c.id() as i32, libc::SIGHUP) };
        }
    }

    /// Run a `hookd` subcommand against this instance's config, with the
    /// ports it really bound (the config says 0) given as `HOOKD_*`
    /// overrides; returns (exit code, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let mut cmd = Command::new(BIN);
        cmd.arg("--config").arg(&self.config).args(args).envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd.env("HOOKD_SERVER__LISTEN", &self.addr);
        if let Some(admin) = &self.admin {
            cmd.env("HOOKD_ADMIN__LISTEN", admin);
        }
        let out = cmd.output().expect("run hookd cli");
        let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
        (out.status.code().unwrap_or(-1), text(out.stdout), text(out.stderr))
    }

    /// `hookd <args> --json`, parsed; panics unless it exits 0.
    pub fn cli_json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.push("--json");
        let (code, out, err) = self.cli(&all);
        assert_eq!(code, 0, "hookd {args:?} failed: {err}");
        serde_json::from_str(&out).unwrap_or_else(|_| panic!("stdout is not exactly one JSON document: {out}"))
    }

    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// Stop hookd (SIGTERM) and open its store in this process.
    pub fn stop_and_open(&mut self) -> hookd::store::Store {
        assert_eq!(self.terminate(), Some(0), "hookd exit code; logs:\n{}", self.logs());
        hookd::store::Store::open(&self.dir.path().join("data"), 16 << 20).expect("open store")
    }
}

impl Drop for Hookd {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// `key=value` from a text log line.
fn field(line: &str, key: &str) -> Option<String> {
    let start = line.find(&format!("{key}="))? + key.len() + 1;
    Some(line[start..].split_whitespace().next()?.trim_matches('"').to_string())
}

/// Poll `f` until it returns Some, or panic after `timeout`.
pub fn wait_until<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Lines of a file (empty if it does not exist yet).
pub fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).map(|s| s.lines().map(str::to_string).collect()).unwrap_or_default()
}

/// A handler command that appends `<tag> <event id> <attempt>` to `file`
/// and exits with `code`.
pub fn recorder(file: &Path, code: i32) -> String {
    format!(
        "[\"/bin/sh\", \"-c\", \"echo \\\"$HOOKD_EVENT_ID $HOOKD_ATTEMPT $HOOKD_EVENT_TYPE\\\" >> {}; exit {code}\"]",
        file.display()
    )
}
