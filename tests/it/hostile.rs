//! Hostile and broken input through the real binary: oversized and
//! garbage requests, pipelining, `Expect: 100-continue`, the connection
//! cap, hostile JSON, and handlers or callback targets that misbehave.
//! Each test ends by checking hookd still answers, and its log has no panic.

use crate::support::http::{get, parse, post, raw};
use crate::support::sign::{stripe, stripe_event, unix_now};
use crate::support::{lines, wait_until, Hookd};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const SOURCE: &str = "[sources.s]\nkind = \"stripe\"\nsecret = \"k\"\n";

fn signed(h: &Hookd, body: &[u8]) -> Option<u16> {
    post(&h.addr, "/webhooks/s", &[stripe("k", unix_now(), body)], body).map(|r| r.status)
}

fn assert_healthy(h: &Hookd) {
    assert_eq!(get(&h.addr, "/healthz").map(|r| r.status), Some(200), "hookd stopped answering");
    assert!(!h.logs().contains("panicked"), "hookd panicked:\n{}", h.logs());
}

/// Write `bytes`, read until the server closes or goes quiet for `quiet`.
fn exchange(addr: &str, bytes: &[u8], quiet: Duration) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(quiet)).expect("timeout");
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

#[test]
fn oversized_headers_are_431_and_garbage_never_breaks_hookd() {
    let h = Hookd::start(SOURCE);
    let huge = format!("POST /webhooks/s HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(1 << 20));
    assert_eq!(raw(&h.addr, huge.as_bytes()).map(|r| r.status), Some(431));
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let req = format!("POST /webhooks/s HTTP/1.1\r\nHost: x\r\n{many}Content-Length: 0\r\n\r\n");
    assert_eq!(raw(&h.addr, req.as_bytes()).map(|r| r.status), Some(431));
    let fixed: [&[u8]; 6] = [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"\x00\xff\xfe\r\n\r\n",
        b"POST /webhooks/s HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"POST /webhooks/s HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        b"POST /webhooks/s HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ];
    for bytes in fixed {
        let out = exchange(&h.addr, bytes, Duration::from_secs(5));
        if let Some(r) = parse(&out) {
            assert!((400..500).contains(&r.status), "{:?} answered {}", String::from_utf8_lossy(bytes), r.status);
        }
    }
    let mut rng = fastrand::Rng::with_seed(5);
    for _ in 0..200 {
        let len = rng.usize(1..512);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        bytes.extend_from_slice(b"\r\n\r\n");
        let out = exchange(&h.addr, &bytes, Duration::from_secs(5));
        if let Some(r) = parse(&out) {
            assert!((400..500).contains(&r.status), "random bytes answered {}", r.status);
        }
    }
    assert_eq!(signed(&h, &stripe_event("evt_after_garbage", "t")), Some(202));
    assert_healthy(&h);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let h = Hookd::start(SOURCE);
    let body = stripe_event("evt_pipe", "t");
    let (name, sig) = stripe("k", unix_now(), &body);
    let one =
        format!("POST /webhooks/s HTTP/1.1\r\nHost: x\r\n{name}: {sig}\r\nContent-Length: {}\r\n\r\n", body.len());
    let mut bytes = Vec::new();
    for _ in 0..3 {
        bytes.extend_from_slice(one.as_bytes());
        bytes.extend_from_slice(&body);
    }
    bytes.extend_from_slice(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let out = String::from_utf8_lossy(&exchange(&h.addr, &bytes, Duration::from_secs(10))).into_owned();
    let statuses: Vec<&str> = out.match_indices("HTTP/1.1 ").map(|(i, _)| &out[i + 9..i + 12]).collect();
    assert_eq!(statuses, ["202", "200", "200", "200"], "{out}");
    assert_healthy(&h);
}

#[test]
fn expect_100_continue_is_honoured_and_refused_early_when_too_large() {
    let h = Hookd::start(SOURCE);
    let body = stripe_event("evt_expect", "t");
    let (name, sig) = stripe("k", unix_now(), &body);
    let head = format!(
        "POST /webhooks/s HTTP/1.1\r\nHost: x\r\n{name}: {sig}\r\nExpect: 100-continue\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut s = TcpStream::connect(&h.addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    s.write_all(head.as_bytes()).expect("head");
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).expect("100 Continue");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 100"), "{:?}", String::from_utf8_lossy(&buf[..n]));
    s.write_all(&body).expect("body");
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert_eq!(parse(&rest).map(|r| r.status), Some(202));
    // Declared too large: 413 at once, the body is never asked for.
    let big = "POST /webhooks/s HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 99999999\r\n\r\n";
    let out = exchange(&h.addr, big.as_bytes(), Duration::from_secs(10));
    assert_eq!(parse(&out).map(|r| r.status), Some(413), "{:?}", String::from_utf8_lossy(&out));
    assert_healthy(&h);
}

#[test]
fn idle_connections_are_capped_and_do_not_starve_hookd_for_ever() {
    let h = Hookd::start_server("max_connections = 4", SOURCE);
    let idle: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(&h.addr).expect("connect")).collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut fifth = TcpStream::connect(&h.addr).expect("the kernel still queues the fifth");
    fifth.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").expect("write");
    fifth.set_read_timeout(Some(Duration::from_millis(500))).expect("timeout");
    let mut buf = Vec::new();
    let early = fifth.read_to_end(&mut buf);
    assert!(early.is_err() && buf.is_empty(), "a fifth connection was served past max_connections = 4");
    // The idle ones are closed after read_timeout (2 s here); then it is served.
    fifth.set_read_timeout(Some(Duration::from_secs(15))).expect("timeout");
    let _ = fifth.read_to_end(&mut buf);
    assert_eq!(parse(&buf).map(|r| r.status), Some(200));
    drop(idle);
    assert_healthy(&h);
}

#[test]
fn hostile_json_is_400_never_a_crash() {
    let h = Hookd::start_server("max_body = \"16MiB\"", SOURCE);
    let deep = |n: usize| {
        let mut b = b"{\"id\":\"evt_deep\",\"type\":\"t\",\"x\":".to_vec();
        b.extend(std::iter::repeat_n(b'[', n));
        b.extend(std::iter::repeat_n(b']', n));
        b.push(b'}');
        b
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("10 MB of nesting", deep(5 << 20)),
        ("nesting past the recursion limit", deep(200)),
        ("invalid UTF-8", b"{\"id\":\"\xff\xfe\",\"type\":\"t\"}".to_vec()),
        ("not JSON", b"id=evt&type=t".to_vec()),
        ("a huge number as id", format!("{{\"id\":1{},\"type\":\"t\"}}", "0".repeat(100_000)).into_bytes()),
        ("an out-of-range float", b"{\"id\":\"evt_f\",\"type\":\"t\",\"n\":1e999999}".to_vec()),
        ("empty", Vec::new()),
        ("a JSON string", b"\"evt\"".to_vec()),
    ];
    for (what, body) in &cases {
        assert_eq!(signed(&h, body), Some(400), "{what}; logs:\n{}", h.logs());
    }
    // Duplicate keys are not a crash either: one value wins, consistently.
    let dup = b"{\"id\":\"evt_a\",\"id\":\"evt_b\",\"type\":\"t\"}";
    let first = post(&h.addr, "/webhooks/s", &[stripe("k", unix_now(), dup)], dup).expect("answer");
    assert!(matches!(first.status, 202 | 400), "duplicate keys: {}", first.status);
    if first.status == 202 {
        assert_eq!(signed(&h, dup), Some(200), "the same bytes identify the same event");
    }
    assert_healthy(&h);
}

#[test]
fn a_flooding_handler_and_a_stdin_ignoring_one_keep_hookd_small() {
    let work = tempfile::tempdir().expect("tempdir");
    let runs = work.path().join("runs");
    let flood = "head -c 300000000 /dev/zero; head -c 300000000 /dev/zero >&2";
    let route = |events: &str, script: &str| {
        format!(
            "[[sources.s.routes]]\nevents = [\"{events}\"]\ncommand = [\"/bin/sh\", \"-c\", {:?}]\ntimeout = \"60s\"\n",
            format!("echo \"$HOOKD_EVENT_TYPE\" >> {}; {script}", runs.display())
        )
    };
    let config =
        format!("{SOURCE}\n{}\n{}\n{}", route("flood", flood), route("deaf", "true"), route("instant", "exit 0"));
    let h = Hookd::start_server("max_body = \"16MiB\"", &config);
    let mut body = stripe_event("evt_deaf", "deaf");
    body.truncate(body.len() - 1);
    body.extend_from_slice(format!(",\"pad\":\"{}\"}}", "x".repeat(10 << 20)).as_bytes());
    assert_eq!(signed(&h, &body), Some(202), "a 10 MB body for a handler that ignores stdin");
    assert_eq!(signed(&h, &stripe_event("evt_flood", "flood")), Some(202));
    assert_eq!(signed(&h, &stripe_event("evt_instant", "instant")), Some(202));
    let mut peak_kib = 0;
    wait_until(Duration::from_secs(90), "all three handlers", || {
        peak_kib = peak_kib.max(rss_kib(h.pid()?).unwrap_or(0));
        let finished = h.logs().matches("attempt finished").count();
        (lines(&runs).len() == 3 && finished == 3).then_some(())
    });
    eprintln!("hookd peak RSS while a handler wrote 600 MB: {peak_kib} KiB");
    assert!(peak_kib < 200 * 1024, "hookd grew to {peak_kib} KiB while a handler flooded its output");
    assert_healthy(&h);
}

/// Resident set size of `pid`, from /proc.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A callback target that reads the request, then answers garbage
/// (`garbage = true`) or resets the connection.
fn broken_target(garbage: bool) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    std::thread::spawn(move || {
        for mut s in listener.incoming().map_while(Result::ok) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = s.read(&mut [0u8; 65536]);
            if garbage {
                let _ = s.write_all(b"SURPRISE\r\n\r\n\x00\xff");
            } else {
                let off = libc::linger { l_onoff: 1, l_linger: 0 };
                let len = std::mem::size_of::<libc::linger>() as libc::socklen_t;
                let fd = std::os::unix::io::AsRawFd::as_raw_fd(&s);
                unsafe {
                    libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_LINGER, (&off as *const libc::linger).cast(), len)
                };
            }
        }
    });
    format!("http://{addr}/cb")
}

#[test]
fn callback_targets_that_answer_garbage_or_reset_are_retried_then_dead() {
    let route = |url: String| {
        format!("[[sources.s.routes]]\nevents = [\"*\"]\nurl = \"{url}\"\nretry = {{ attempts = 2, initial = \"50ms\", max = \"50ms\" }}\n")
    };
    let mut h = Hookd::start(&format!("{SOURCE}\n{}\n{}", route(broken_target(true)), route(broken_target(false))));
    assert_eq!(signed(&h, &stripe_event("evt_cb", "t")), Some(202));
    wait_until(Duration::from_secs(20), "both deliveries dead", || {
        (h.logs().matches("state=\"dead\"").count() == 2).then_some(())
    });
    assert_healthy(&h);
    let store = h.stop_and_open();
    let events = store.all_events().expect("events");
    for d in &events[0].deliveries {
        assert_eq!((d.state.as_str(), d.attempts.len()), ("dead", 2), "route {}", d.route);
    }
}
