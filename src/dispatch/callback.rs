//! Delivers one webhook to an HTTP callback handler: one signed POST and a
//! verdict (delivered / retry / permanent), decided by the status line
//! alone, over http:// or https://. Must never follow a redirect, buffer more than `tail_bytes` of a
//! response, or outlive `timeout`.
//!
//! The verdict is taken as soon as the status and headers arrived; the body
//! is then read only for the response tail, under its own budget
//! (`BODY_BUDGET`, cut to what is left of `timeout`). A body that is slow,
//! cut off or broken keeps what arrived and changes nothing: a 2xx is
//! delivered, a 500 a retry, a 404 dead.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use http::{Method, Request, Response, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;

use super::reply::Whole;
use crate::verify::standard::sign_v1;

/// http:// and https:// (verified; see `tls::client`), HTTP/1 only.
pub type Client = crate::tls::client::HttpsClient;

const USER_AGENT_VALUE: &str = concat!("hookd/", env!("CARGO_PKG_VERSION"));
const DEFAULT_CONTENT_TYPE: &str = "application/json";
/// Transport error texts are cut to this many characters.
const REASON_MAX: usize = 200;
/// How long the response body is read once the status line arrived (at
/// most what is left of the route's `timeout`).
pub const BODY_BUDGET: Duration = Duration::from_secs(2);

/// A client verifying https:// against the system's roots only (routes
/// and alerts carry their own, built from the config's TLS settings).
pub fn client() -> Client {
    crate::tls::client::http_client(crate::tls::client::verifying(crate::tls::client::system_roots()))
}

/// One delivery attempt of one event to one handler.
#[derive(Debug, Clone)]
pub struct CallbackSpec {
    pub url: String,
    pub body: Bytes,
    pub content_type: Option<String>,
    pub msg_id: String,
    pub signing_secret: Option<Vec<u8>>,
    pub source: String,
    pub event_type: String,
    pub attempt: u32,
    pub timeout: Duration,
    pub tail_bytes: usize,
    /// Also keep the response body whole, up to this many bytes (0: not
    /// at all): a reply route's answer.
    pub body_bytes: usize,
    /// More headers (e.g. `X-Hookd-Dead-Reason` on alerts).
    pub extra_headers: Vec<(&'static str, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CallbackOutcome {
    Delivered {
        status: u16,
    },
    Retry {
        status: Option<u16>,
        retry_after: Option<Duration>,
        reason: String,
    },
    /// `status: 0` means the request could not be built (bad URL,
    /// unsendable header); the reason is in `response_tail`.
    Permanent {
        status: u16,
    },
}

#[derive(Debug, Clone)]
pub struct CallbackResult {
    pub outcome: CallbackOutcome,
    /// The last `tail_bytes` of the response body (lossy UTF-8), or why no
    /// request was sent. A body not read to its end is followed by a line
    /// saying why (`[response body incomplete: …]`).
    pub response_tail: String,
    /// The whole response body, when `body_bytes` asked for it, it fit and
    /// it was read to its end.
    pub body: Option<Bytes>,
    pub duration: Duration,
}

/// POST `spec.body` to `spec.url`. Connect, send and the status line run
/// under `spec.timeout`; the body then gets `BODY_BUDGET` or what is left
/// of `spec.timeout`, whichever is less.
pub async fn deliver(client: &Client, spec: CallbackSpec) -> CallbackResult {
    let started = Instant::now();
    let mut whole = Whole::new(spec.body_bytes);
    let (outcome, response_tail) = match build_request(&spec, SystemTime::now()) {
        Err(why) => (CallbackOutcome::Permanent { status: 0 }, why.to_string()),
        Ok(req) => match tokio::time::timeout(spec.timeout, client.request(req)).await {
            Err(_) => (transport_retry(format!("timed out after {:?}", spec.timeout)), String::new()),
            Ok(Err(e)) => (transport_retry(describe(&e)), String::new()),
            Ok(Ok(response)) => {
                let budget = spec.timeout.saturating_sub(started.elapsed()).min(BODY_BUDGET);
                answered(response, (spec.tail_bytes, &mut whole), budget).await
            }
        },
    };
    CallbackResult { outcome, response_tail, body: whole.into_bytes(), duration: started.elapsed() }
}

/// Status (and `Retry-After`) → verdict. Pure.
pub fn classify(status: u16, retry_after: Option<&str>, now: SystemTime) -> CallbackOutcome {
    let retry = |reason: String| CallbackOutcome::Retry {
        status: Some(status),
        retry_after: retry_after.and_then(|v| parse_retry_after(v, now)),
        reason,
    };
    match status {
        200..=299 => CallbackOutcome::Delivered { status },
        300..=399 => retry("redirect not followed".into()),
        408 | 425 | 429 | 500..=599 => retry(format!("HTTP {status}")),
        400..=499 => CallbackOutcome::Permanent { status },
        _ => retry(format!("unexpected HTTP status {status}")),
    }
}

/// `Retry-After`: delta-seconds or an HTTP-date (IMF-fixdate, or the obsolete
/// RFC 850 / asctime forms); a date in the past means "now".
fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse().ok().map(Duration::from_secs);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

fn build_request(spec: &CallbackSpec, now: SystemTime) -> Result<Request<Full<Bytes>>, &'static str> {
    let uri: Uri = spec.url.parse().map_err(|_| "invalid callback URL")?;
    match uri.scheme_str() {
        Some("http" | "https") if uri.host().is_some() => {}
        Some("http" | "https") => return Err("invalid callback URL"),
        _ => return Err("callback URL must start with http:// or https://"),
    }
    let timestamp = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let content_type = spec.content_type.as_deref().unwrap_or(DEFAULT_CONTENT_TYPE);
    let mut builder = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(CONTENT_TYPE, content_type)
        .header(USER_AGENT, USER_AGENT_VALUE)
        .header("webhook-id", spec.msg_id.as_str())
        .header("webhook-timestamp", timestamp)
        .header("x-hookd-source", spec.source.as_str())
        .header("x-hookd-event-type", spec.event_type.as_str())
        .header("x-hookd-attempt", spec.attempt);
    for (name, value) in &spec.extra_headers {
        builder = builder.header(*name, value.as_str());
    }
    if let Some(secret) = &spec.signing_secret {
        let signature = sign_v1(secret, &spec.msg_id, timestamp, &spec.body);
        builder = builder.header("webhook-signature", signature);
    }
    builder.body(Full::new(spec.body.clone())).map_err(|_| "a header value cannot be sent (control characters?)")
}

/// The status line decides; the body is read within `budget` for the tail
/// (and whole, for a reply).
async fn answered(
    response: Response<Incoming>,
    (tail_bytes, whole): (usize, &mut Whole),
    budget: Duration,
) -> (CallbackOutcome, String) {
    let status = response.status().as_u16();
    let retry_after = response.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let outcome = classify(status, retry_after.as_deref(), SystemTime::now());
    let mut tail = Vec::new();
    let read = read_tail(response.into_body(), tail_bytes, &mut tail, whole);
    let why = match tokio::time::timeout(budget, read).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(format!("{e}")),
        Err(_) => Some(format!("not finished after {budget:?}")),
    };
    let mut text = tail_text(&tail);
    if let Some(why) = why {
        whole.spoil();
        let why: String = why.chars().take(REASON_MAX).collect();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&format!("[response body incomplete: {why}]"));
    }
    (outcome, text)
}

/// Read the whole body into `tail`, keeping only its last `keep` bytes
/// (and into `whole`); on an error `tail` holds what arrived before it (so
/// does a caller that stops waiting).
async fn read_tail(mut body: Incoming, keep: usize, tail: &mut Vec<u8>, whole: &mut Whole) -> Result<(), hyper::Error> {
    while let Some(frame) = body.frame().await {
        let Ok(chunk) = frame?.into_data() else {
            continue;
        };
        whole.push(&chunk);
        if chunk.len() >= keep {
            tail.clear();
            tail.extend_from_slice(&chunk[chunk.len() - keep..]);
        } else {
            tail.extend_from_slice(&chunk);
            let excess = tail.len().saturating_sub(keep);
            tail.drain(..excess);
        }
    }
    Ok(())
}

/// The kept bytes as text, not starting inside a UTF-8 sequence the cut split.
fn tail_text(tail: &[u8]) -> String {
    let start = tail.iter().take(3).take_while(|b| (**b & 0xC0) == 0x80).count();
    String::from_utf8_lossy(&tail[start..]).into_owned()
}

fn transport_retry(reason: String) -> CallbackOutcome {
    CallbackOutcome::Retry { status: None, retry_after: None, reason }
}

/// "connect failed: Connection refused (os error 111)", "TLS: certificate
/// expired" and the like.
pub(crate) fn describe(e: &hyper_util::client::legacy::Error) -> String {
    if let Some(tls) = crate::tls::client::failure(e) {
        return tls.chars().take(REASON_MAX).collect();
    }
    let mut root: &dyn std::error::Error = e;
    while let Some(next) = root.source() {
        root = next;
    }
    let what = if e.is_connect() { "connect failed" } else { "request failed" };
    let text = format!("{what}: {root}");
    text.chars().take(REASON_MAX).collect()
}

#[cfg(test)]
mod tests;
