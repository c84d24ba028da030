//! SPEC §4's limits through the real binary: the request-header limit
//! (431), the per-address budget of failed verifications and the source
//! `rate_limit` counted over verified requests only, the per-address cap on
//! open connections, and request log lines a sender cannot forge.

use crate::support::http::{get, post, Response};
use crate::support::sign::{stripe, stripe_event, unix_now};
use crate::support::{wait_until, Hookd, BIN};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

const SOURCE: &str = "[sources.s]\nkind = \"stripe\"\nsecret = \"k\"\n";

fn signed_with(h: &Hookd, id: &str, extra: &[(String, String)]) -> Option<Response> {
    let body = stripe_event(id, "t");
    let mut headers = vec![stripe("k", unix_now(), &body)];
    headers.extend_from_slice(extra);
    post(&h.addr, "/webhooks/s", &headers, &body)
}

fn big(name: &str, len: usize) -> (String, String) {
    (name.to_string(), "a".repeat(len))
}

#[test]
fn headers_over_max_header_bytes_are_431_and_smaller_ones_pass() {
    let mut h = Hookd::start(SOURCE);
    // One 100 KB header: hyper stops reading at the limit and answers 431.
    let r = signed_with(&h, "evt_big", &[big("X-Big", 100_000)]).expect("the 431 reaches the client");
    assert_eq!(r.status, 431, "{r:?}");
    // Just over 32 KiB in all (under hyper's cut-off): the same 431, with a JSON error.
    let r = signed_with(&h, "evt_over", &[big("X-A", 17_000), big("X-B", 17_000)]).expect("response");
    assert_eq!((r.status, r.json()["error"].as_str()), (431, Some("headers_too_large")), "{}", r.body);
    assert_eq!(r.header("connection"), Some("close"));
    // 20 KB of headers in all is an ordinary request.
    let fine: Vec<_> = (0..4).map(|i| big(&format!("X-Fine-{i}"), 5_000)).collect();
    let r = signed_with(&h, "evt_fine", &fine).expect("response");
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(get(&h.addr, "/healthz").map(|r| r.status), Some(200));
    let events = h.stop_and_open().all_events().expect("events");
    let ids: Vec<_> = events.iter().map(|e| e.event.event_id.as_str()).collect();
    assert_eq!(ids, ["evt_fine"], "nothing is stored for a 431");
}

#[test]
fn max_header_bytes_is_configurable_as_bytes_or_a_size() {
    for limit in ["65536", "\"64KiB\""] {
        let h = Hookd::start_server(&format!("max_header_bytes = {limit}"), SOURCE);
        let r = signed_with(&h, "evt_50k", &[big("X-Big", 50_000)]).expect("response");
        assert_eq!(r.status, 202, "{limit}: {}", r.body);
        let r = signed_with(&h, "evt_100k", &[big("X-Big", 100_000)]).expect("response");
        assert_eq!(r.status, 431, "{limit}");
    }
}

#[test]
fn server_limits_with_bad_values_are_config_errors_with_the_key_path() {
    let server = "max_header_bytes = 4096\nunverified_rate_limit = \"0/s\"\nmax_connections_per_address = 0";
    let h = Hookd::configure(server, SOURCE, &[]);
    let (code, _, err) = h.cli(&["check-config"]);
    assert_eq!(code, 2, "{err}");
    for key in ["server.max_header_bytes: ", "server.unverified_rate_limit: ", "server.max_connections_per_address: "] {
        assert!(err.contains(key), "no {key:?} in:\n{err}");
    }
    assert!(err.contains("8192"), "the minimum is named: {err}");
    let h = Hookd::configure("max_header_bytes = \"lots\"", SOURCE, &[]);
    let (code, _, err) = h.cli(&["check-config"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("server.max_header_bytes: invalid size"), "{err}");
}

/// Both clients reach hookd through a "proxy" on 127.0.0.1, so
/// `X-Forwarded-For` names them.
fn via(client: &str) -> (String, String) {
    ("X-Forwarded-For".to_string(), client.to_string())
}

#[test]
fn unsigned_flood_cannot_spend_the_senders_rate_limit() {
    let server = "trusted_proxies = [\"127.0.0.1/32\"]\nunverified_rate_limit = \"5/m\"";
    let mut h = Hookd::start_server(server, &format!("{SOURCE}rate_limit = \"3/m\"\n"));
    let flooder = via("203.0.113.66");
    let mut statuses = Vec::new();
    for n in 0..50 {
        let headers = match n % 2 {
            0 => vec![flooder.clone()],
            _ => vec![flooder.clone(), stripe("wrong", unix_now(), b"{}")],
        };
        let r = post(&h.addr, "/webhooks/s", &headers, b"{}").expect("response");
        if r.status == 429 {
            assert_eq!(r.json()["error"], "too_many_failures", "{}", r.body);
            let secs: u64 = r.header("retry-after").and_then(|v| v.parse().ok()).expect("Retry-After");
            assert!((1..=12).contains(&secs), "a 5/m budget refills one every 12 s: {secs}");
        }
        statuses.push(r.status);
    }
    assert_eq!(statuses[..5], [401; 5], "the budget: five failed verifications");
    assert!(statuses[5..].iter().all(|&s| s == 429), "then 429: {statuses:?}");

    // The real sender, from its own address, still has its whole rate limit.
    let sender = via("198.51.100.7");
    for n in 0..3 {
        let r = signed_with(&h, &format!("evt_real_{n}"), std::slice::from_ref(&sender)).expect("response");
        assert_eq!(r.status, 202, "signed request {n} after the flood: {}", r.body);
    }
    // …and `rate_limit` still applies to verified requests.
    let r = signed_with(&h, "evt_real_3", std::slice::from_ref(&sender)).expect("response");
    assert_eq!((r.status, r.json()["error"].as_str()), (429, Some("rate_limited")), "{}", r.body);
    assert!(r.header("retry-after").and_then(|v| v.parse::<u64>().ok()).is_some_and(|s| s >= 1));
    // The signature is checked before the source's rate limit: junk from the
    // sender's address is 401, not 429, and spends nothing of the sender's quota.
    let r = post(&h.addr, "/webhooks/s", std::slice::from_ref(&sender), b"{}").expect("response");
    assert_eq!(r.status, 401, "{}", r.body);
    // The flooder's budget is checked before verifying: even a good signature waits.
    let r = signed_with(&h, "evt_from_flooder", std::slice::from_ref(&flooder)).expect("response");
    assert_eq!(r.status, 429, "{}", r.body);

    let logs = h.logs();
    let unauthorized: Vec<_> = logs.lines().filter(|l| l.contains("status=401")).collect();
    assert!(!unauthorized.is_empty());
    for line in unauthorized {
        assert!(line.contains(" WARN "), "a signature failure is WARN: {line}");
        assert!(line.contains("client=203.0.113.66") || line.contains("client=198.51.100.7"), "{line}");
    }
    let events = h.stop_and_open().all_events().expect("events");
    assert_eq!(events.len(), 3, "only the sender's three verified, in-limit events are stored");
}

/// One keep-alive request on `s`: the status, or `None` if the connection
/// was closed without an answer.
fn roundtrip(s: &mut TcpStream) -> Option<u16> {
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").ok()?;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if body.len() >= len {
                return head.split_whitespace().nth(1)?.parse().ok();
            }
        }
    }
}

fn connect(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    s
}

#[test]
fn connections_per_address_are_capped_and_trusted_proxies_are_exempt() {
    let h = Hookd::start_server("max_connections_per_address = 3", SOURCE);
    let mut open: Vec<TcpStream> = (0..3).map(|_| connect(&h.addr)).collect();
    for s in &mut open {
        assert_eq!(roundtrip(s), Some(200));
    }
    let mut extra = connect(&h.addr);
    assert_eq!(roundtrip(&mut extra), None, "the fourth connection from 127.0.0.1 is closed unanswered");
    for s in &mut open {
        assert_eq!(roundtrip(s), Some(200), "the open connections still work");
    }
    drop(open.pop());
    let mut fresh = wait_until(Duration::from_secs(5), "a freed slot", || {
        let mut s = connect(&h.addr);
        roundtrip(&mut s).map(|_| s)
    });
    assert_eq!(roundtrip(&mut fresh), Some(200));
    wait_until(Duration::from_secs(5), "the refusal in the log", || {
        h.logs().contains("WARN hookd::http: connection refused: too many open connections").then_some(())
    });

    let proxied = Hookd::start_server("max_connections_per_address = 2\ntrusted_proxies = [\"127.0.0.1/32\"]", SOURCE);
    let mut many: Vec<TcpStream> = (0..6).map(|_| connect(&proxied.addr)).collect();
    for s in &mut many {
        assert_eq!(roundtrip(s), Some(200), "a trusted proxy's connections are not capped");
    }
}

/// An event id and type that try to start a log line of their own.
const FORGED_ID: &str = "evt\n2026-01-01T00:00:00.000000Z  INFO hookd::ingress: forged";
const FORGED_TYPE: &str = "t\u{1b}[31m\r";

fn forged_body() -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"id": FORGED_ID, "object": "event", "type": FORGED_TYPE})).expect("json")
}

#[test]
fn sender_chosen_values_are_escaped_in_the_text_log() {
    let h = Hookd::start(SOURCE);
    let body = forged_body();
    let r = post(&h.addr, "/webhooks/s", &[stripe("k", unix_now(), &body)], &body).expect("response");
    assert_eq!(r.status, 202, "{}", r.body);
    let logs = wait_until(Duration::from_secs(5), "the request line", || {
        let logs = h.logs();
        logs.contains("outcome=\"accepted\"").then_some(logs)
    });
    assert!(!logs.lines().any(|l| l.starts_with("2026-01-01")), "a forged line:\n{logs}");
    assert!(!logs.contains('\u{1b}') && !logs.contains('\r'), "raw control characters:\n{logs:?}");
    let line = logs.lines().find(|l| l.contains("outcome=\"accepted\"")).expect("request line");
    assert!(line.contains(r#"event_id="evt\n2026-01-01T00:00:00.000000Z  INFO hookd::ingress: forged""#), "{line}");
    assert!(line.contains(r#"event_type="t\u{1b}[31m\r" "#), "{line}");
    let latency = line.split("latency_ms=").nth(1).and_then(|v| v.split_whitespace().next()).expect("latency_ms");
    let decimals = latency.split_once('.').map_or(0, |(_, d)| d.len());
    assert!(decimals <= 2 && latency.parse::<f64>().is_ok(), "latency_ms={latency}");
}

#[test]
fn sender_chosen_values_are_escaped_in_the_json_log() {
    let h = Hookd::configure("", SOURCE, &[]);
    let mut child = Command::new(BIN)
        .args(["serve", "--log-format", "json", "--config"])
        .arg(&h.config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start hookd");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let next = |lines: &mut Vec<String>| {
        let line = rx.recv_timeout(Duration::from_secs(20)).expect("a log line");
        lines.push(line.clone());
        serde_json::from_str::<serde_json::Value>(&line).unwrap_or_else(|_| panic!("not one JSON line: {line:?}"))
    };
    let addr = loop {
        let v = next(&mut lines);
        if v["message"] == "ingress listening" {
            break v["addr"].as_str().expect("addr").to_string();
        }
    };
    let body = forged_body();
    let r = post(&addr, "/webhooks/s", &[stripe("k", unix_now(), &body)], &body).expect("response");
    let request = loop {
        let v = next(&mut lines);
        if v["message"] == "request" {
            break v;
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(request["event_id"], r#""evt\n2026-01-01T00:00:00.000000Z  INFO hookd::ingress: forged""#);
    assert_eq!(request["event_type"], r#""t\u{1b}[31m\r""#);
    assert!(request["latency_ms"].is_number(), "{request}");
    assert!(lines.iter().all(|l| !l.contains('\u{1b}')), "{lines:?}");
}
