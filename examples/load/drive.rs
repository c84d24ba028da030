//! The load itself: N unique, correctly signed Stripe-style events, sent
//! over K keep-alive HTTP/1.1 connections (one request at a time on each),
//! with every ack's latency recorded in an HDR histogram.

use bytes::Bytes;
use hdrhistogram::Histogram;
use hmac::{Hmac, KeyInit, Mac};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use sha2::Sha256;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpStream;

/// One signed request, ready to send.
#[derive(Clone)]
pub struct Signed {
    pub body: Bytes,
    pub signature: String,
}

/// `Stripe-Signature: t=<ts>,v1=hex(HMAC-SHA256(secret, "<ts>.<body>"))`.
pub fn stripe_signature(secret: &str, ts: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{ts}.").as_bytes());
    mac.update(body);
    format!("t={ts},v1={}", hex::encode(mac.finalize().into_bytes()))
}

pub fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// `n` unique signed events of about `size` bytes.
pub fn events(secret: &str, n: usize, size: usize) -> Vec<Signed> {
    let run = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    let ts = unix_now();
    (0..n)
        .map(|i| {
            let body = crate::body::stripe_body(run, i, size);
            Signed { signature: stripe_signature(secret, ts, &body), body: Bytes::from(body) }
        })
        .collect()
}

/// What one run of the load saw.
pub struct Outcome {
    pub sent: u64,
    pub accepted: u64,
    pub duplicates: u64,
    pub non_2xx: u64,
    pub errors: u64,
    pub elapsed: Duration,
    /// Ack latency in microseconds.
    pub latency: Histogram<u64>,
}

impl Outcome {
    fn empty() -> Outcome {
        Outcome {
            sent: 0,
            accepted: 0,
            duplicates: 0,
            non_2xx: 0,
            errors: 0,
            elapsed: Duration::ZERO,
            latency: new_histogram(),
        }
    }

    pub fn per_sec(&self, n: u64) -> f64 {
        n as f64 / self.elapsed.as_secs_f64()
    }

    pub fn ms(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }
}

/// Send `jobs` in order over `connections` keep-alive connections to
/// `addr`, stopping at `deadline` whatever is left.
pub async fn drive(addr: &str, jobs: Arc<Vec<Signed>>, connections: usize, deadline: Instant) -> Outcome {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|_| tokio::spawn(connection(addr.to_string(), jobs.clone(), next.clone(), deadline)))
        .collect();
    let mut total = Outcome::empty();
    for t in tasks {
        let part = t.await.expect("connection task");
        total.sent += part.sent;
        total.accepted += part.accepted;
        total.duplicates += part.duplicates;
        total.non_2xx += part.non_2xx;
        total.errors += part.errors;
        total.latency.add(&part.latency).expect("histograms of one shape");
    }
    total.elapsed = started.elapsed();
    total
}

fn new_histogram() -> Histogram<u64> {
    // 1 µs .. 60 s, 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds")
}

/// One keep-alive connection taking the next job until none are left; a
/// broken connection is counted and replaced (bounded by `deadline`).
async fn connection(addr: String, jobs: Arc<Vec<Signed>>, next: Arc<AtomicUsize>, deadline: Instant) -> Outcome {
    let mut out = Outcome::empty();
    let mut sender = None;
    while Instant::now() < deadline {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(job) = jobs.get(i) else { break };
        if sender.is_none() {
            sender = connect(&addr).await;
        }
        let Some(s) = sender.as_mut() else {
            out.errors += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let req = Request::post("/webhooks/stripe")
            .header(http::header::HOST, addr.as_str())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header("Stripe-Signature", job.signature.as_str())
            .body(Full::new(job.body.clone()))
            .expect("request");
        let t = Instant::now();
        out.sent += 1;
        let resp = match s.send_request(req).await {
            Ok(r) => r,
            Err(_) => {
                out.errors += 1;
                sender = None;
                continue;
            }
        };
        let status = resp.status().as_u16();
        let done = resp.into_body().collect().await.is_ok();
        out.latency.saturating_record(t.elapsed().as_micros().max(1) as u64);
        match status {
            202 => out.accepted += 1,
            200 => out.duplicates += 1,
            _ => out.non_2xx += 1,
        }
        if !done {
            sender = None;
        }
    }
    out
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: &str) -> Option<Sender> {
    let stream = TcpStream::connect(addr).await.ok()?;
    stream.set_nodelay(true).ok()?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.ok()?;
    tokio::spawn(conn);
    Some(sender)
}
