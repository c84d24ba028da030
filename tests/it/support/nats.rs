//! A real `nats-server` (Debian's package, installed by .ci/test) with
//! JetStream on a free loopback port and a temp store dir: one node, or a
//! cluster of three with routes; and a JetStream client (async-nats, on its
//! own runtime) that creates streams and reads back what they hold.

use super::wait_until;
use async_nats::jetstream;
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `nats-server` on PATH, else where Debian puts it.
fn binary() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("nats-server")).find(|f| f.is_file()))
        .unwrap_or_default();
    on_path.unwrap_or_else(|| PathBuf::from("/usr/sbin/nats-server"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

pub struct NatsServer {
    pub port: u16,
    /// The HTTP monitoring port (`-m`): `/connz`, `/jsz`.
    pub monitor: u16,
    args: Vec<String>,
    child: Option<Child>,
    _store: tempfile::TempDir,
    log: PathBuf,
}

impl NatsServer {
    /// One node: `-js -sd DIR -p PORT` on 127.0.0.1.
    pub fn start() -> NatsServer {
        let port = free_port();
        Self::launch(port, Vec::new())
    }

    /// One node that speaks only TLS, with `cert`/`key` (PEM); with
    /// `clients`, it also requires a client certificate that CA signed.
    pub fn start_tls(cert: &Path, key: &Path, clients: Option<&Path>) -> NatsServer {
        let port = free_port();
        let mut tls: Vec<String> =
            ["--tls", "--tlscert", &cert.display().to_string(), "--tlskey", &key.display().to_string()]
                .map(|s| s.to_string())
                .to_vec();
        if let Some(ca) = clients {
            tls.extend(["--tlsverify".to_string(), "--tlscacert".to_string(), ca.display().to_string()]);
        }
        Self::launch(port, tls)
    }

    /// Three nodes on loopback, routed to each other (cluster `hookd`).
    pub fn cluster() -> Vec<NatsServer> {
        let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
        let nodes: Vec<NatsServer> = ports
            .iter()
            .enumerate()
            .map(|(i, (port, cport))| {
                let routes: Vec<String> = ports
                    .iter()
                    .filter(|(_, c)| c != cport)
                    .map(|(_, c)| format!("nats-route://127.0.0.1:{c}"))
                    .collect();
                let extra = vec![
                    "--server_name".into(),
                    format!("n{i}"),
                    "--cluster_name".into(),
                    "hookd".into(),
                    "--cluster".into(),
                    format!("nats://127.0.0.1:{cport}"),
                    "--routes".into(),
                    routes.join(","),
                ];
                Self::launch(*port, extra)
            })
            .collect();
        nodes
    }

    fn launch(port: u16, extra: Vec<String>) -> NatsServer {
        let store = tempfile::tempdir().expect("store dir");
        let log = store.path().join("server.log");
        let monitor = free_port();
        let (p, m) = (port.to_string(), monitor.to_string());
        let mut args: Vec<String> = ["-a", "127.0.0.1", "-p", &p, "-m", &m, "-js", "-sd"].map(String::from).to_vec();
        args.push(store.path().join("js").display().to_string());
        args.extend(extra);
        let mut server = NatsServer { port, monitor, args, child: None, _store: store, log };
        server.spawn();
        server
    }

    /// Start (again) on the same port and store, and wait until it listens.
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).expect("log");
        let child = Command::new(binary())
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e} (install Debian's nats-server)", binary().display()));
        self.child = Some(child);
        let port = self.port;
        wait_until(Duration::from_secs(15), "nats-server listening", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
    }

    /// The names of the clients connected now (from `/connz`).
    pub fn clients(&self) -> Vec<String> {
        let Some(r) = super::http::get(&format!("127.0.0.1:{}", self.monitor), "/connz") else { return Vec::new() };
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
        let conns = v["connections"].as_array().cloned().unwrap_or_default();
        conns.iter().map(|c| c["name"].as_str().unwrap_or("").to_string()).collect()
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// SIGTERM (a clean stop: JetStream flushes its store) and wait.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(15);
            while c.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGSTOP: the server keeps its connections but answers nothing.
    /// Returns once every thread is stopped: `kill` only starts the stop,
    /// and on a busy machine a thread already running can still answer a
    /// publish before the group stop reaches it.
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
        let Some(pid) = self.child.as_ref().map(Child::id) else { return };
        wait_until(Duration::from_secs(10), "nats-server stopped", || all_stopped(pid).then_some(()));
    }

    /// SIGCONT after `pause`: it reads what was sent meanwhile, in order.
    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    fn signal(&self, sig: i32) {
        if let Some(c) = &self.child {
            unsafe { libc::kill(c.id() as i32, sig) };
        }
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Whether every thread of `pid` is in the stopped state (`T`).
fn all_stopped(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return false };
    let states: Vec<Option<char>> = tasks
        .flatten()
        .map(|t| {
            let stat = std::fs::read_to_string(t.path().join("stat")).ok()?;
            stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next())
        })
        .collect();
    !states.is_empty() && states.iter().all(|s| *s == Some('T'))
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// One message as the stream holds it.
#[derive(Debug, Clone)]
pub struct Stored {
    pub subject: String,
    pub headers: BTreeMap<String, String>,
    pub payload: Vec<u8>,
}

impl Stored {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }
}

/// A JetStream client for the test's side: streams made and read back.
pub struct Js {
    rt: tokio::runtime::Runtime,
    js: jetstream::Context,
}

impl Js {
    /// Connect to any of `urls` (comma-separated), retrying for a while.
    pub fn connect(urls: &str) -> Js {
        Self::connect_with(urls, async_nats::ConnectOptions::new())
    }

    /// Connect over TLS, trusting the CA in `ca` (PEM); `client`: a
    /// certificate and key (PEM) to present.
    pub fn connect_tls(url: &str, ca: &Path, client: Option<(&Path, &Path)>) -> Js {
        let mut options = async_nats::ConnectOptions::new().add_root_certificates(ca.into()).require_tls(true);
        if let Some((cert, key)) = client {
            options = options.add_client_certificate(cert.into(), key.into());
        }
        Self::connect_with(url, options)
    }

    fn connect_with(urls: &str, options: async_nats::ConnectOptions) -> Js {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
        let addrs: Vec<async_nats::ServerAddr> = urls.split(',').map(|u| u.parse().expect("url")).collect();
        let client = rt.block_on(options.retry_on_initial_connect().connect(addrs)).expect("connect to nats-server");
        let js = rt.block_on(async { jetstream::new(client) });
        Js { rt, js }
    }

    /// Create stream `name` on `subjects` with `replicas`, retrying while
    /// the cluster is still electing its JetStream leader.
    pub fn create_stream(&self, name: &str, subjects: &[&str], replicas: usize) {
        let config = jetstream::stream::Config {
            name: name.to_string(),
            subjects: subjects.iter().map(|s| s.to_string()).collect(),
            num_replicas: replicas,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        };
        let mut last = String::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            match self.rt.block_on(self.js.create_stream(config.clone())) {
                Ok(_) => return,
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("could not create stream {name}: {last}");
    }

    /// How many messages stream `name` holds (0 while it cannot say).
    pub fn count(&self, name: &str) -> u64 {
        self.rt
            .block_on(async {
                let mut stream = self.js.get_stream(name).await.ok()?;
                stream.info().await.ok().map(|i| i.state.messages)
            })
            .unwrap_or(0)
    }

    /// Every message of stream `name`, in sequence order.
    pub fn messages(&self, name: &str) -> Vec<Stored> {
        self.rt.block_on(async {
            let mut stream = self.js.get_stream(name).await.expect("stream");
            let state = stream.info().await.expect("stream info").state.clone();
            let mut out = Vec::new();
            for seq in state.first_sequence..=state.last_sequence {
                if state.messages == 0 {
                    break;
                }
                let m = stream.get_raw_message(seq).await.expect("message");
                let headers = m
                    .headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.first().map(|x| x.to_string()).unwrap_or_default()))
                    .collect();
                out.push(Stored { subject: m.subject.to_string(), headers, payload: m.payload.to_vec() });
            }
            out
        })
    }
}
