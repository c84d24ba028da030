//! `callback --sink nginx`: the callback target is a real HTTP server, a
//! temp nginx answering `200 ok` to everything on a free loopback port,
//! instead of the built-in sink (which shares the load tool's runtime and
//! CPU accounting). nginx cannot count, so deliveries are counted through
//! hookd's admin API (its delivered count), as `command` mode does.
//!
//! Everything nginx writes stays in a temp dir: config, pid, error log and
//! every `*_temp_path`; no access log. It runs as a child with `daemon off`
//! and is stopped by a Drop guard (SIGTERM, 5 s, then SIGKILL) on every
//! exit path that unwinds, and by PR_SET_PDEATHSIG on those that do not.

use crate::server::{die_with_parent, free_port, terminate, wait_answering};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The one line printed when there is no nginx. Both names exist in Debian
/// bookworm (1.22): `nginx` is the server itself, `nginx-light` is `nginx`
/// plus the echo module, so the plain one comes first.
pub const MISSING: &str = "nginx not found: apt-get install -y nginx (or nginx-light)";

/// `/usr/sbin/nginx` (Debian's place, often not on a user's PATH), else the
/// first `nginx` on PATH.
pub fn find() -> Option<PathBuf> {
    let executable = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    let debian = PathBuf::from("/usr/sbin/nginx");
    if executable(&debian) {
        return Some(debian);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join("nginx")).find(|p| executable(p))
}

pub struct Nginx {
    child: Option<Child>,
    /// Where hookd's callback route points.
    pub url: String,
    pub dir: PathBuf,
    _temp: tempfile::TempDir,
}

impl Nginx {
    /// Write the config, start `binary`, wait (bounded, 10 s) until the
    /// port answers 200.
    pub async fn start(binary: &Path) -> Nginx {
        let temp = tempfile::tempdir().expect("temp dir for nginx");
        let dir = temp.path().to_path_buf();
        let port = free_port();
        std::fs::write(dir.join("nginx.conf"), config(&dir, port)).expect("write nginx.conf");
        let stderr = std::fs::File::create(dir.join("stderr.log")).expect("nginx stderr file");
        let child = die_with_parent(
            Command::new(binary)
                // -p: the prefix relative paths resolve against; -e: the
                // error log used before the config is read (the compiled-in
                // /var/log/nginx/error.log otherwise).
                .arg("-p")
                .arg(&dir)
                .arg("-e")
                .arg(dir.join("error.log"))
                .arg("-c")
                .arg(dir.join("nginx.conf"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr),
        )
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let mut n = Nginx { child: Some(child), url: format!("http://127.0.0.1:{port}/hook"), dir, _temp: temp };
        let addr = format!("127.0.0.1:{port}");
        let Some(child) = n.child.as_mut() else { panic!("nginx was never started") };
        match wait_answering(&addr, "/", child, Instant::now(), Duration::from_secs(10)).await {
            Ok(_) => n,
            Err(why) => panic!("nginx {why}:\n{}", n.logs()),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    fn logs(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.join(f)).unwrap_or_default();
        format!("{}{}", read("stderr.log"), read("error.log"))
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            terminate(child, "nginx", Duration::from_secs(5));
        }
    }
}

/// `master_process off`: one process, the child we spawned, serves. So
/// the pid we hold is the whole of nginx — stopping or killing it leaves
/// no orphaned worker still holding the port (with a master, a SIGKILL of
/// the master would) — and as root it does not switch to the `user` of a
/// worker, which could not enter the 0700 temp dir. One worker either way
/// (`worker_processes 1`), so the work done is the same.
fn config(dir: &Path, port: u16) -> String {
    let d = dir.display();
    format!(
        r#"daemon off;
master_process off;
worker_processes 1;
pid "{d}/nginx.pid";
error_log "{d}/error.log" warn;

events {{
    worker_connections 1024;
}}

http {{
    access_log off;
    client_body_temp_path "{d}/client_body";
    proxy_temp_path "{d}/proxy";
    fastcgi_temp_path "{d}/fastcgi";
    uwsgi_temp_path "{d}/uwsgi";
    scgi_temp_path "{d}/scgi";
    keepalive_requests 1000000;
    keepalive_timeout 300s;

    server {{
        listen 127.0.0.1:{port};
        # `return` reads and discards the callback's body.
        location / {{
            return 200 "ok\n";
        }}
    }}
}}
"#
    )
}
