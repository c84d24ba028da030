//! `nats`: the route's target is a real NATS JetStream, a temp
//! `nats-server -js` on free loopback ports (`--replicas 3`: three nodes
//! routed to each other and an R3 stream), with the stream `LOAD` on
//! `load.>` created before hookd starts. Deliveries are counted through
//! hookd's admin API, and the stream's message count must equal the events
//! (one copy each, by `Nats-Msg-Id`).
//!
//! Every node keeps its store and log in one temp dir, runs as a child
//! with PR_SET_PDEATHSIG, and is stopped by a Drop guard (SIGTERM, 5 s,
//! then SIGKILL).

use crate::server::{die_with_parent, free_port, terminate};
use async_nats::jetstream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const MISSING: &str = "nats-server not found: apt-get install -y nats-server";
pub const STREAM: &str = "LOAD";
/// The route's subject template; the stream takes `load.>`.
pub const SUBJECT: &str = "load.{source}.{event_type}";

/// `/usr/sbin/nats-server` (Debian's place), else the first on PATH.
pub fn find() -> Option<PathBuf> {
    let debian = PathBuf::from("/usr/sbin/nats-server");
    if debian.is_file() {
        return Some(debian);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join("nats-server")).find(|p| p.is_file())
}

pub struct Nats {
    nodes: Vec<Child>,
    /// Every node's client URL, comma-separated (the route's `url`).
    pub urls: String,
    pub dir: PathBuf,
    js: jetstream::Context,
    _temp: tempfile::TempDir,
}

impl Nats {
    /// Start `replicas` nodes (1, or a cluster), then create the stream
    /// with that many replicas (retried while the cluster elects a leader;
    /// bounded, 30 s).
    pub async fn start(binary: &Path, replicas: usize) -> Nats {
        let temp = tempfile::tempdir().expect("temp dir for nats-server");
        let dir = temp.path().to_path_buf();
        let ports: Vec<(u16, u16)> = (0..replicas).map(|_| (free_port(), free_port())).collect();
        let mut nodes = Vec::new();
        for (i, (port, cport)) in ports.iter().enumerate() {
            let mut cmd = Command::new(binary);
            cmd.args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"]).arg(dir.join(format!("js{i}")));
            if replicas > 1 {
                let routes: Vec<String> = ports
                    .iter()
                    .filter(|(_, c)| c != cport)
                    .map(|(_, c)| format!("nats-route://127.0.0.1:{c}"))
                    .collect();
                cmd.args(["--server_name", &format!("n{i}"), "--cluster_name", "load"]).args([
                    "--cluster",
                    &format!("nats://127.0.0.1:{cport}"),
                    "--routes",
                    &routes.join(","),
                ]);
            }
            let log = std::fs::File::create(dir.join(format!("n{i}.log"))).expect("nats-server log");
            let child = die_with_parent(cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log))
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
            nodes.push(child);
        }
        let urls: Vec<String> = ports.iter().map(|(p, _)| format!("nats://127.0.0.1:{p}")).collect();
        let addrs: Vec<async_nats::ServerAddr> = urls.iter().map(|u| u.parse().expect("url")).collect();
        let client = tokio::time::timeout(
            Duration::from_secs(10),
            async_nats::ConnectOptions::new().retry_on_initial_connect().connect(addrs),
        )
        .await
        .expect("nats-server did not come up within 10 s")
        .expect("connect to nats-server");
        let js = jetstream::new(client);
        let n = Nats { nodes, urls: urls.join(","), dir, js, _temp: temp };
        n.create_stream(replicas).await;
        n
    }

    async fn create_stream(&self, replicas: usize) {
        let config = jetstream::stream::Config {
            name: STREAM.to_string(),
            subjects: vec!["load.>".to_string()],
            num_replicas: replicas,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.js.create_stream(config.clone()).await {
                Ok(_) => return,
                Err(e) if Instant::now() > deadline => panic!("could not create stream {STREAM}: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// The stream's message count (0 while it cannot say).
    pub async fn count(&self) -> u64 {
        let Ok(mut stream) = self.js.get_stream(STREAM).await else { return 0 };
        stream.info().await.map(|i| i.state.messages).unwrap_or(0)
    }

    pub fn pids(&self) -> Vec<u32> {
        self.nodes.iter().map(Child::id).collect()
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        for child in self.nodes.drain(..) {
            terminate(child, "nats-server", Duration::from_secs(5));
        }
    }
}
