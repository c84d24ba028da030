//! Admin request bodies through the real binary, from a raw TCP client that
//! controls every byte: a body that stalls is answered 408 within
//! `[server] read_timeout` (2 s in these tests), one over 1 MiB 413, and
//! neither is read before the token was checked.

use crate::support::http::{parse, Response};
use crate::support::Hookd;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const TOKEN: &str = "admin-bodies-token-0123456789abcd";

fn hookd() -> (Hookd, tempfile::TempDir) {
    let tokens = tempfile::tempdir().expect("tempdir");
    let token = tokens.path().join("token");
    std::fs::write(&token, format!("{TOKEN}\n")).expect("token");
    let h = Hookd::start(&format!(
        "[admin]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"{}\"\n\n\
         [sources.s]\nkind = \"stripe\"\nsecret = \"k\"\n\n[[sources.s.routes]]\nevents = [\"*\"]\ncommand = [\"true\"]\n",
        token.display()
    ));
    (h, tokens)
}

/// Send `head` (and `body`), keep the connection open without sending
/// more, and read one answer: its head and `Content-Length` bytes.
fn send_and_stall(addr: &str, head: &str, body: &[u8]) -> (Response, Duration) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(15))).expect("timeout");
    let started = Instant::now();
    s.write_all(head.as_bytes()).expect("head");
    // A server that answers early may close while we still write.
    let _ = s.write_all(body);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).unwrap_or_else(|e| panic!("no answer after {:?}: {e}", started.elapsed()));
        assert!(n > 0, "closed without an answer: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let r = parse(&got).expect("an HTTP answer");
            let len: usize = r.header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
            if got.len() >= end + 4 + len {
                return (r, started.elapsed());
            }
        }
    }
}

fn replay_head(addr: &str, auth: bool, framing: &str) -> String {
    let auth = if auth { format!("Authorization: Bearer {TOKEN}\r\n") } else { String::new() };
    format!("POST /v1/dlq/replay HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\n{framing}\r\n\r\n")
}

#[test]
fn a_stalled_admin_body_is_answered_408_within_the_read_timeout() {
    let (h, _tokens) = hookd();
    let admin = h.admin.clone().expect("admin");
    let (r, took) = send_and_stall(&admin, &replay_head(&admin, true, "Content-Length: 100"), b"{\"ids\": [");
    assert_eq!(r.status, 408, "{}", r.body);
    assert_eq!(r.json()["error"], "read_timeout", "{}", r.body);
    assert!(took >= Duration::from_millis(1900) && took < Duration::from_secs(6), "answered after {took:?}");

    // Chunked, one chunk and then nothing.
    let (r, took) =
        send_and_stall(&admin, &replay_head(&admin, true, "Transfer-Encoding: chunked"), b"5\r\n{\"ids\r\n");
    assert_eq!((r.status, r.json()["error"].as_str()), (408, Some("read_timeout")), "{}", r.body);
    assert!(took < Duration::from_secs(6), "answered after {took:?}");

    // Without the token nothing is read: 401 at once.
    let (r, took) = send_and_stall(&admin, &replay_head(&admin, false, "Content-Length: 100"), b"{");
    assert_eq!((r.status, r.json()["error"].as_str()), (401, Some("unauthorized")), "{}", r.body);
    assert!(took < Duration::from_secs(1), "answered after {took:?}");

    // A body that arrives in time is read as before.
    let body = b"{\"all\": true}";
    let head = replay_head(&admin, true, &format!("Content-Length: {}", body.len()));
    let (r, _) = send_and_stall(&admin, &head, body);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["replayed"], 0, "{}", r.body);
}

#[test]
fn an_admin_body_over_1_mib_is_answered_413() {
    let (h, _tokens) = hookd();
    let admin = h.admin.clone().expect("admin");
    // Declared too large: refused before a byte of the body is read.
    let (r, took) = send_and_stall(&admin, &replay_head(&admin, true, "Content-Length: 1048577"), b"");
    assert_eq!(r.status, 413, "{}", r.body);
    assert_eq!(r.json()["error"], "body_too_large", "{}", r.body);
    assert!(took < Duration::from_secs(1), "answered after {took:?}");

    // Chunked: refused once more than 1 MiB arrived (1 MiB, then 1 byte).
    let chunk = vec![b' '; 64 * 1024];
    let mut body = Vec::new();
    for _ in 0..16 {
        body.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        body.extend_from_slice(&chunk);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"1\r\n \r\n0\r\n\r\n");
    let (r, _) = send_and_stall(&admin, &replay_head(&admin, true, "Transfer-Encoding: chunked"), &body);
    assert_eq!((r.status, r.json()["error"].as_str()), (413, Some("body_too_large")), "{}", r.body);

    // Exactly 1 MiB is still read (and is not JSON).
    let body = vec![b' '; 1 << 20];
    let head = replay_head(&admin, true, &format!("Content-Length: {}", body.len()));
    let (r, _) = send_and_stall(&admin, &head, &body);
    assert_eq!((r.status, r.json()["error"].as_str()), (400, Some("bad_request")), "{}", r.body);
}
