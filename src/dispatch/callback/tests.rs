//! Unit tests of callback delivery against in-test hyper servers on 127.0.0.1.

use super::*;
use crate::verify::standard::{verify, StandardKey};
use crate::verify::{Inbound, Rejection};
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, StatusCode};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const SECRET: &[u8] = b"callback-test-secret-of-24+bytes";
const BODY: &[u8] = br#"{"type":"invoice.paid","id":"evt_1"}"#;

struct Seen {
    headers: HeaderMap,
    body: Bytes,
}

type Respond = dyn Fn(usize) -> Response<Full<Bytes>> + Send + Sync;

/// Serve `respond(n)` for the n-th request (0-based); every request is
/// reported on the returned channel.
async fn serve(respond: Arc<Respond>) -> (String, mpsc::UnboundedReceiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = mpsc::unbounded_channel();
    let count = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (tx, respond, count) = (tx.clone(), respond.clone(), count.clone());
            let svc = service_fn(move |req: Request<Incoming>| {
                let (tx, respond, count) = (tx.clone(), respond.clone(), count.clone());
                async move {
                    let (parts, body) = req.into_parts();
                    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                    let _ = tx.send(Seen { headers: parts.headers, body });
                    Ok::<_, Infallible>(respond(count.fetch_add(1, Ordering::SeqCst)))
                }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
            });
        }
    });
    (format!("http://{addr}/hook"), rx)
}

fn reply(status: u16, headers: &[(&str, &str)], body: &str) -> Response<Full<Bytes>> {
    let mut builder = Response::builder().status(status);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    builder.body(Full::new(Bytes::from(body.to_string()))).expect("test response")
}

fn spec(url: &str, secret: Option<&[u8]>) -> CallbackSpec {
    CallbackSpec {
        extra_headers: Vec::new(),
        url: url.to_string(),
        body: Bytes::from_static(BODY),
        content_type: None,
        msg_id: "01JDQ8ZC4W7N5Y0G3T2B6H9K1M".into(),
        signing_secret: secret.map(<[u8]>::to_vec),
        source: "stripe".into(),
        event_type: "invoice.paid".into(),
        attempt: 3,
        timeout: Duration::from_secs(5),
        tail_bytes: 16,
        body_bytes: 0,
    }
}

fn header<'a>(seen: &'a Seen, name: &str) -> &'a str {
    seen.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// HMAC-SHA256 written out with the `hmac` crate, not via `sign_v1`.
fn independent_signature(id: &str, ts: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(SECRET).expect("hmac key");
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    format!("v1,{sig}")
}

#[tokio::test]
async fn signed_delivery_retries_on_500_then_delivers() {
    let long_error = format!("boom {} END", "x".repeat(1000));
    let respond: Arc<Respond> = Arc::new(move |n| match n {
        0 => reply(500, &[("retry-after", "7")], &long_error),
        _ => reply(200, &[], "ok"),
    });
    let (url, mut seen) = serve(respond).await;
    let client = client();

    let first = deliver(&client, spec(&url, Some(SECRET))).await;
    let expected = CallbackOutcome::Retry {
        status: Some(500),
        retry_after: Some(Duration::from_secs(7)),
        reason: "HTTP 500".into(),
    };
    assert_eq!(first.outcome, expected);
    assert!(first.response_tail.ends_with(" END") && first.response_tail.len() <= 16);

    let second = deliver(&client, spec(&url, Some(SECRET))).await;
    assert_eq!(second.outcome, CallbackOutcome::Delivered { status: 200 });
    assert_eq!(second.response_tail, "ok");

    for _ in 0..2 {
        let got = seen.recv().await.expect("request seen");
        check_request(&got);
    }
}

fn check_request(got: &Seen) {
    assert_eq!(got.body.as_ref(), BODY);
    assert_eq!(header(got, "content-type"), "application/json");
    assert_eq!(header(got, "user-agent"), concat!("hookd/", env!("CARGO_PKG_VERSION")));
    assert_eq!(header(got, "x-hookd-source"), "stripe");
    assert_eq!(header(got, "x-hookd-event-type"), "invoice.paid");
    assert_eq!(header(got, "x-hookd-attempt"), "3");
    let (id, ts) = (header(got, "webhook-id"), header(got, "webhook-timestamp"));
    assert_eq!(id, "01JDQ8ZC4W7N5Y0G3T2B6H9K1M");
    assert_eq!(header(got, "webhook-signature"), independent_signature(id, ts, BODY));

    let secret = base64::engine::general_purpose::STANDARD.encode(SECRET);
    let key = StandardKey::parse_secret(&format!("whsec_{secret}")).expect("key");
    let req = Inbound { headers: &got.headers, body: &got.body, url: "", now: SystemTime::now() };
    assert_eq!(verify(&[key], Duration::from_secs(60), &req), Ok(()));
}

#[tokio::test]
async fn unsigned_delivery_has_no_signature_and_fails_verification() {
    let (url, mut seen) = serve(Arc::new(|_| reply(204, &[], ""))).await;
    let mut unsigned = spec(&url, None);
    unsigned.content_type = Some("application/x-www-form-urlencoded".into());
    let result = deliver(&client(), unsigned).await;
    assert_eq!(result.outcome, CallbackOutcome::Delivered { status: 204 });
    let got = seen.recv().await.expect("request seen");
    assert!(got.headers.get("webhook-signature").is_none());
    assert_eq!(header(&got, "content-type"), "application/x-www-form-urlencoded");
    let key = StandardKey::parse_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("key");
    let req = Inbound { headers: &got.headers, body: &got.body, url: "", now: SystemTime::now() };
    assert_eq!(verify(&[key], Duration::from_secs(60), &req), Err(Rejection::MissingSignature));
}

#[tokio::test]
async fn silent_server_times_out_as_retry() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let hold = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            open.push(stream); // accept, never answer
        }
    });
    let mut slow = spec(&format!("http://{addr}/"), Some(SECRET));
    slow.timeout = Duration::from_millis(300);
    let result = deliver(&client(), slow).await;
    match &result.outcome {
        CallbackOutcome::Retry { status: None, reason, .. } => assert!(reason.contains("timed out"), "{reason}"),
        other => panic!("expected a timeout retry, got {other:?}"),
    }
    assert!(result.duration >= Duration::from_millis(300) && result.duration < Duration::from_secs(5));
    hold.abort();
}

#[tokio::test]
async fn redirect_is_a_retry_and_not_followed() {
    let (url, mut seen) = serve(Arc::new(|_| reply(302, &[("location", "/elsewhere")], ""))).await;
    let result = deliver(&client(), spec(&url, None)).await;
    let expected =
        CallbackOutcome::Retry { status: Some(302), retry_after: None, reason: "redirect not followed".into() };
    assert_eq!(result.outcome, expected);
    assert!(seen.recv().await.is_some());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(seen.try_recv().is_err(), "the Location was not requested");
}

#[tokio::test]
async fn refused_connection_is_a_retry_without_status() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let result = deliver(&client(), spec(&format!("http://{addr}/"), None)).await;
    match &result.outcome {
        CallbackOutcome::Retry { status: None, reason, .. } => {
            assert!(reason.starts_with("connect failed"), "{reason}")
        }
        other => panic!("expected a connect retry, got {other:?}"),
    }
}

#[tokio::test]
async fn unusable_urls_and_headers_are_permanent() {
    let cases = [
        ("ftp://example.com/", "callback URL must start with http:// or https://"),
        ("not a url", "invalid callback URL"),
        ("/relative", "callback URL must start with http:// or https://"),
    ];
    for (url, why) in cases {
        let result = deliver(&client(), spec(url, None)).await;
        assert_eq!(result.outcome, CallbackOutcome::Permanent { status: 0 }, "{url}");
        assert_eq!(result.response_tail, why, "{url}");
    }
    let mut bad = spec("http://127.0.0.1:9/", None);
    bad.event_type = "line\nbreak".into();
    let result = deliver(&client(), bad).await;
    assert_eq!(result.outcome, CallbackOutcome::Permanent { status: 0 });
}

#[test]
fn classify_table() {
    let now = UNIX_EPOCH + Duration::from_secs(1_445_412_480); // 2015-10-21 07:28:00 UTC
    let retry = |status, after: Option<u64>, reason: &str| CallbackOutcome::Retry {
        status: Some(status),
        retry_after: after.map(Duration::from_secs),
        reason: reason.into(),
    };
    let cases: &[(u16, Option<&str>, CallbackOutcome)] = &[
        (200, None, CallbackOutcome::Delivered { status: 200 }),
        (299, Some("5"), CallbackOutcome::Delivered { status: 299 }),
        (301, None, retry(301, None, "redirect not followed")),
        (308, None, retry(308, None, "redirect not followed")),
        (400, Some("5"), CallbackOutcome::Permanent { status: 400 }),
        (404, None, CallbackOutcome::Permanent { status: 404 }),
        (410, None, CallbackOutcome::Permanent { status: 410 }),
        (408, None, retry(408, None, "HTTP 408")),
        (425, None, retry(425, None, "HTTP 425")),
        (429, Some("120"), retry(429, Some(120), "HTTP 429")),
        (500, Some("soon"), retry(500, None, "HTTP 500")),
        (503, Some("Wed, 21 Oct 2015 07:29:00 GMT"), retry(503, Some(60), "HTTP 503")),
        (503, Some("Wed, 21 Oct 2015 07:00:00 GMT"), retry(503, Some(0), "HTTP 503")),
        (504, Some("Wednesday, 21-Oct-15 07:28:30 GMT"), retry(504, Some(30), "HTTP 504")),
        (599, Some("99999999999999999999999"), retry(599, None, "HTTP 599")),
        (600, None, retry(600, None, "unexpected HTTP status 600")),
    ];
    for (status, after, expected) in cases {
        assert_eq!(&classify(*status, *after, now), expected, "{status} {after:?}");
    }
    assert!(StatusCode::from_u16(600).is_ok(), "hyper can hand us 600..=999");
}

#[tokio::test]
async fn zero_tail_keeps_nothing() {
    let (url, _seen) = serve(Arc::new(|_| reply(200, &[], "some body"))).await;
    let mut none = spec(&url, None);
    none.tail_bytes = 0;
    let result = deliver(&client(), none).await;
    assert_eq!(result.outcome, CallbackOutcome::Delivered { status: 200 });
    assert_eq!(result.response_tail, "");
}

/// A raw target: reads one request, writes `status` with a `Content-Length`
/// of 100000, then `body` one byte per `every` (and closes when `close`).
async fn trickle(status: u16, body: &'static [u8], every: Duration, close: bool) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                while !seen.ends_with(BODY) {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let head = format!("HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n");
                if stream.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                for b in body {
                    if stream.write_all(&[*b]).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(every).await;
                }
                if !close {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                }
            });
        }
    });
    format!("http://{addr}/hook")
}

#[tokio::test]
async fn a_2xx_whose_body_trickles_is_delivered_within_the_timeout() {
    let url = trickle(200, b"abcdefghijklmnopqrstuvwxyz", Duration::from_millis(100), false).await;
    let mut slow = spec(&url, None);
    slow.timeout = Duration::from_millis(700);
    slow.tail_bytes = 64;
    let result = deliver(&client(), slow).await;
    assert_eq!(result.outcome, CallbackOutcome::Delivered { status: 200 });
    assert!(result.response_tail.starts_with("abc"), "{:?}", result.response_tail);
    assert!(
        result.response_tail.contains("\n[response body incomplete: not finished after"),
        "{:?}",
        result.response_tail
    );
    // The body's budget is what was left of the route's timeout.
    assert!(result.duration >= Duration::from_millis(650), "{:?}", result.duration);
    assert!(result.duration < Duration::from_millis(1500), "{:?}", result.duration);
}

#[tokio::test]
async fn the_body_budget_is_bounded_by_its_own_limit() {
    let url = trickle(202, b"0123456789012345678901234567890123456789", Duration::from_millis(100), false).await;
    let mut slow = spec(&url, None);
    slow.timeout = Duration::from_secs(30);
    let result = deliver(&client(), slow).await;
    assert_eq!(result.outcome, CallbackOutcome::Delivered { status: 202 });
    assert!(result.duration >= BODY_BUDGET && result.duration < BODY_BUDGET + Duration::from_secs(1));
    // Only the last 16 bytes of what arrived are kept, then the note.
    let (kept, note) = result.response_tail.split_once('\n').expect("a note");
    assert!(kept.len() <= 16 && kept.chars().all(|c| c.is_ascii_digit()), "{kept:?}");
    assert_eq!(note, format!("[response body incomplete: not finished after {BODY_BUDGET:?}]"));
}

#[tokio::test]
async fn a_broken_body_changes_no_verdict() {
    let cases = [
        (200, CallbackOutcome::Delivered { status: 200 }),
        (503, CallbackOutcome::Retry { status: Some(503), retry_after: None, reason: "HTTP 503".into() }),
        (404, CallbackOutcome::Permanent { status: 404 }),
    ];
    for (status, expected) in cases {
        // Cut off: 5 of 100000 bytes, then the connection closes.
        let url = trickle(status, b"hello", Duration::ZERO, true).await;
        let result = deliver(&client(), spec(&url, None)).await;
        assert_eq!(result.outcome, expected, "{status} cut off");
        assert!(result.response_tail.starts_with("hello\n[response body incomplete: "), "{:?}", result.response_tail);
        // Slow: the status still decides, within the timeout.
        let url = trickle(status, b"slow body", Duration::from_millis(200), false).await;
        let mut slow = spec(&url, None);
        slow.timeout = Duration::from_millis(500);
        let result = deliver(&client(), slow).await;
        assert_eq!(result.outcome, expected, "{status} slow");
        assert!(result.duration < Duration::from_millis(1200), "{:?}", result.duration);
    }
}
