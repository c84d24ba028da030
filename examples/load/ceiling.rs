//! `load ceiling`: what the CPU allows once the unavoidable work of an ack
//! is paid — HTTP/1.1 parsing, the Stripe HMAC, one append to hookd's
//! write-ahead log made durable — with nothing of hookd in between (no
//! config, routing, dedup, sled index, guards, logging or metrics). The
//! driver side is `ingest`'s: same events, connections and report; only
//! the server differs.
//!
//! The server is this same binary re-executed as the hidden subcommand
//! `load ceiling-serve --port <p> --dir <d>`, a process of its own, so it
//! is measured like hookd (RSS via its pid, its own CPU) and competes with
//! the load generator for the 2 cores the same way. Like `hookd serve` it
//! runs a tokio multi-thread runtime with the default worker count and
//! serves keep-alive HTTP/1.1 with `hyper::server::conn::http1`. For each
//! POST: the body collected within 10 s (hookd's default `read_timeout`),
//! at most 1 MiB (413 beyond); `Stripe-Signature` checked by hookd's own
//! `verify::stripe::verify` (HMAC-SHA256 of `"{t}.{body}"`, constant-time
//! compare, 1 h tolerance as in the load tool's hookd config); the body
//! appended to a `hookd::store::wal::Wal` in `<d>` and awaited durable;
//! then 202 with a JSON body shaped like hookd's ack. hookd's ack also
//! carries the sender's `event_id`, which takes a JSON parse of the body
//! that the ceiling does not pay, so it is left out here.

use crate::server::{self, die_with_parent, free_port, terminate, wait_answering};
use bytes::Bytes;
use hookd::store::wal::{Wal, WalConfig};
use hookd::verify::{stripe, Inbound};
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::net::TcpListener;

const MAX_BODY: usize = 1 << 20;
const READ_TIMEOUT: Duration = Duration::from_secs(10);
const TOLERANCE: Duration = Duration::from_secs(3600);

// ---- the driver's side: the ceiling process under test -------------------

pub struct Ceiling {
    child: Option<Child>,
    pub addr: String,
    pub dir: PathBuf,
    _temp: tempfile::TempDir,
}

impl Ceiling {
    /// Spawn `load ceiling-serve` on a free loopback port with a fresh WAL
    /// directory and wait (bounded) until it answers `/readyz`. It exits on
    /// SIGTERM, after `lifetime` at the latest, and with this process
    /// (PR_SET_PDEATHSIG).
    pub async fn start(lifetime: Duration) -> (Ceiling, Duration) {
        let exe = std::env::current_exe().expect("the load tool's own path (current_exe)");
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path().to_path_buf();
        let port = free_port();
        let log = std::fs::File::create(dir.join("ceiling.log")).expect("ceiling log file");
        let started = Instant::now();
        let child = die_with_parent(
            Command::new(&exe)
                .args(["ceiling-serve", "--port", &port.to_string(), "--max-secs", &lifetime.as_secs().to_string()])
                .arg("--dir")
                .arg(dir.join("wal"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log),
        )
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {} ceiling-serve: {e}", exe.display()));
        let mut c = Ceiling { child: Some(child), addr: format!("127.0.0.1:{port}"), dir, _temp: temp };
        let Some(child) = c.child.as_mut() else { panic!("ceiling-serve was never started") };
        match wait_answering(&c.addr, "/readyz", child, started, Duration::from_secs(30)).await {
            Ok(ready) => (c, ready),
            Err(why) => panic!("ceiling-serve {why}; log:\n{}", c.log()),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("ceiling.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// SIGTERM, wait up to 10 s, then SIGKILL.
    pub fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            terminate(child, "ceiling-serve", Duration::from_secs(10));
        }
    }
}

impl Drop for Ceiling {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

// ---- the server's side: `load ceiling-serve` ------------------------------

/// The hidden subcommand's body: serve until SIGTERM or `lifetime`.
pub fn serve(port: u16, dir: &Path, lifetime: Duration) -> ExitCode {
    // Like `hookd serve`: a multi-thread runtime, default worker count.
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ceiling-serve: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(serve_async(port, dir, lifetime)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ceiling-serve: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve_async(port: u16, dir: &Path, lifetime: Duration) -> Result<(), String> {
    let (wal, _) =
        Wal::open(dir, WalConfig::default()).map_err(|e| format!("open the WAL in {}: {e}", dir.display()))?;
    let wal = Arc::new(wal);
    let secrets = Arc::new(vec![server::SECRET.as_bytes().to_vec()]);
    let listener = TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| format!("bind 127.0.0.1:{port}: {e}"))?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("SIGTERM handler: {e}"))?;
    // hookd's accept loop does the same: a timer so the header read
    // timeout fires (it also closes idle keep-alives), keep-alive on.
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(READ_TIMEOUT).keep_alive(true);
    let builder = Arc::new(builder);
    let end = tokio::time::sleep(lifetime);
    tokio::pin!(end);
    // Bounded by SIGTERM and by `lifetime`.
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and the like: say so, do not spin.
                    eprintln!("ceiling-serve: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = term.recv() => break,
            _ = &mut end => {
                eprintln!("ceiling-serve: lifetime of {lifetime:?} reached");
                break;
            }
        };
        let _ = stream.set_nodelay(true);
        let (wal, secrets, builder) = (wal.clone(), secrets.clone(), builder.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let (wal, secrets) = (wal.clone(), secrets.clone());
                async move { Ok::<_, Infallible>(handle(req, &wal, &secrets).await) }
            });
            let _ = builder.serve_connection(TokioIo::new(stream), service).await;
        });
    }
    Ok(())
}

async fn handle(req: Request<Incoming>, wal: &Wal, secrets: &[Vec<u8>]) -> Response<Full<Bytes>> {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/readyz") => reply(StatusCode::OK, r#"{"status":"ready"}"#.to_string()),
        (&Method::POST, _) => accept(req, wal, secrets).await,
        _ => error(StatusCode::NOT_FOUND, "not_found", "no such path"),
    }
}

/// The whole ack path: body, signature, one durable log append.
async fn accept(req: Request<Incoming>, wal: &Wal, secrets: &[Vec<u8>]) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = match tokio::time::timeout(READ_TIMEOUT, Limited::new(body, MAX_BODY).collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return error(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", "the body is over 1 MiB")
        }
        Ok(Err(_)) => return error(StatusCode::BAD_REQUEST, "bad_body", "the body could not be read"),
        Err(_) => return error(StatusCode::REQUEST_TIMEOUT, "body_timeout", "the body was not read in time"),
    };
    let inbound = Inbound { headers: &parts.headers, body: &body, url: "", now: SystemTime::now() };
    if let Err(r) = stripe::verify(secrets, TOLERANCE, &inbound) {
        return error(StatusCode::UNAUTHORIZED, r.code(), r.message());
    }
    let durable = match wal.append(&body) {
        Ok(pos) => wal.durable(pos.lsn).await.map(|_| ()),
        Err(e) => Err(e),
    };
    if let Err(e) = durable {
        eprintln!("ceiling-serve: durable write failed: {e}");
        return error(StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable", "the event could not be stored");
    }
    let id = ulid::Ulid::generate();
    reply(StatusCode::ACCEPTED, format!(r#"{{"received":true,"id":"{id}","deduped":false}}"#))
}

fn reply(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    resp
}

fn error(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    reply(status, serde_json::json!({"error": code, "message": message}).to_string())
}
