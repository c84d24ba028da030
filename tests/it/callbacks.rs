//! SPEC §5 HTTP callbacks through the real binary, against raw TCP targets
//! that answer a status line and then trickle their body: the status line
//! decides, the body only fills the response tail.

use crate::support::http::post;
use crate::support::sign::{stripe, stripe_event, unix_now};
use crate::support::{wait_until, Hookd};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A target that reads each request, answers `status` with headers
/// promising a 1 MB body, then writes `a`, `b`, `c`… one byte per second
/// until hookd hangs up (or a minute passed).
struct Trickler {
    addr: String,
    requests: Arc<AtomicUsize>,
}

impl Trickler {
    fn start(status: &'static str) -> Trickler {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let requests = Arc::new(AtomicUsize::new(0));
        let count = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let count = count.clone();
                std::thread::spawn(move || trickle(stream, status, &count));
            }
        });
        Trickler { addr, requests }
    }

    fn count(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn trickle(mut s: TcpStream, status: &str, count: &AtomicUsize) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    // The request: its head, then Content-Length bytes.
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
        let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
        let head = String::from_utf8_lossy(&seen[..end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if seen.len() >= end + 4 + len {
            break;
        }
    }
    count.fetch_add(1, Ordering::SeqCst);
    let head = format!("HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: 1000000\r\n\r\n");
    if s.write_all(head.as_bytes()).is_err() {
        return;
    }
    for b in (b'a'..=b'z').cycle().take(60) {
        if s.write_all(&[b]).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

pub(crate) fn send(h: &Hookd, source: &str, id: &str) -> String {
    let body = stripe_event(id, "invoice.paid");
    let r = post(&h.addr, &format!("/webhooks/{source}"), &[stripe("k", unix_now(), &body)], &body).expect("answer");
    assert_eq!(r.status, 202, "{}", r.body);
    r.json()["id"].as_str().expect("id").to_string()
}

/// `hookd events show ID` once its status is final.
pub(crate) fn finished(h: &Hookd, id: &str) -> Value {
    wait_until(Duration::from_secs(30), &format!("{id} finished"), || {
        let v = h.cli_json(&["events", "show", id]);
        matches!(v["status"].as_str(), Some("delivered" | "dead")).then_some(v)
    })
}

#[test]
fn a_callback_that_answered_its_status_is_judged_by_it_however_slow_its_body() {
    let ok = Trickler::start("200 OK");
    let refused = Trickler::start("400 Bad Request");
    // Retries would come 10 ms apart, and the old rule (the whole exchange
    // under `timeout`) would record a timeout at 5 s.
    let source = |name: &str, target: &Trickler| {
        format!(
            "[sources.{name}]\nkind = \"stripe\"\nsecret = \"k\"\n\n[[sources.{name}.routes]]\nevents = [\"*\"]\n\
             url = \"http://{}/hook\"\ntimeout = \"5s\"\nretry = {{ attempts = 3, initial = \"10ms\", max = \"50ms\" }}\n\n",
            target.addr
        )
    };
    let config = format!(
        "[admin]\nlisten = \"unix:{{dir}}/admin.sock\"\n\n{}{}",
        source("ok", &ok),
        source("refused", &refused)
    );
    let h = Hookd::start(&config);
    let started = Instant::now();
    let delivered = send(&h, "ok", "evt_trickle_200");
    let dead = send(&h, "refused", "evt_trickle_400");

    let v = finished(&h, &delivered);
    let took = started.elapsed();
    assert_eq!(v["status"], "delivered", "{v}");
    // Decided within the body's 2 s budget, well before the route's 5 s.
    assert!(took < Duration::from_millis(4500), "took {took:?}");
    let d = &v["deliveries"][0];
    assert_eq!(d["attempt_count"], 1, "{v}");
    let attempt = &d["attempts"][0];
    assert_eq!(attempt["http_status"], 200, "{v}");
    assert_eq!(attempt["outcome"], "http 200", "{v}");
    let tail = attempt["output_tail"].as_str().expect("tail");
    assert!(tail.starts_with('a'), "what arrived is kept: {tail:?}");
    assert!(tail.contains("[response body incomplete: not finished after 2s]"), "{tail:?}");

    let v = finished(&h, &dead);
    assert_eq!(v["status"], "dead", "{v}");
    let d = &v["deliveries"][0];
    assert_eq!((d["attempt_count"].as_u64(), d["attempts"][0]["http_status"].as_u64()), (Some(1), Some(400)), "{v}");
    assert_eq!(d["dead_reason"], "http 400 (permanent)", "{v}");

    // Nothing runs again.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!((ok.count(), refused.count()), (1, 1));
}
