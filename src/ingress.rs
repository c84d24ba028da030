//! `POST /webhooks/{source}`, `GET /healthz`, `GET /readyz`. Applies the SPEC
//! §4 checks in order — body size, source, allowlist, the client address's
//! budget of failed verifications, signature, the source's rate limit,
//! handshake, id/type, durable write — and answers only after
//! `Store::accept` returned. Never echoes secrets, signatures or bodies in
//! answers or logs, and escapes what a sender chose (event id, type) before
//! it reaches a log line.

pub mod guard;
mod log_safe;

pub use log_safe::LogSafe;

use crate::config::SharedSources;
use crate::dispatch::background::AckWaiting;
use crate::dispatch::reply;
use crate::feed::Happening;
use crate::http::HttpResponse;
use crate::metrics::Metrics;
use crate::queue::Queue;
use crate::route;
use crate::store::keys::id_text;
use crate::store::{NewEvent, Store};
use crate::verify::{self, handshake, identify, Inbound};
use arc_swap::ArcSwap;
use bytes::Bytes;
use guard::{Denied, Guards};
use http::{HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::Request;
use serde_json::json;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

pub struct Ingress {
    pub sources: SharedSources,
    pub metrics: Arc<Metrics>,
    pub store: Arc<Store>,
    pub queue: Queue,
    pub max_body: usize,
    pub read_timeout: Duration,
    /// Rebuilt with the sources on reload (rate limiters start afresh).
    pub guards: Arc<ArcSwap<Guards>>,
    /// Told of each new event (`/v1/tail`).
    pub feed: crate::feed::Feed,
    /// With `[server] tls`: `/readyz` is 503 while no certificate is held.
    pub tls: Option<Arc<crate::tls::ingress::Certs>>,
    /// Requests waiting for their reply route's first attempt.
    pub replies: reply::Replies,
}

/// A refusal: status, error code, human message, and for 429 the seconds
/// for `Retry-After`.
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
    /// For the log line only (e.g. how stale a timestamp was); never answered.
    detail: Option<String>,
}

fn refuse(status: StatusCode, code: &'static str, message: String) -> Refusal {
    Refusal { status, code, message, retry_after: None, detail: None }
}

/// What a request that passed the checks is answered.
enum Answer {
    Stored(Box<Stored>),
    /// A sender handshake answered in place: 200, nothing stored.
    Handshake(serde_json::Value),
}

/// An event stored: 202 (new) or 200 (duplicate) with `answer`, unless its
/// reply route's first attempt answers first.
struct Stored {
    status: StatusCode,
    answer: serde_json::Value,
    event_id: String,
    event_type: String,
    /// How many routes took it (0: unrouted).
    routes: usize,
    /// A new event of a reply route: who waits for it, and its hookd id.
    reply: Option<(reply::Waiter, crate::store::keys::Id)>,
}

impl Ingress {
    pub async fn handle(self: Arc<Self>, req: Request<Incoming>, peer: SocketAddr) -> HttpResponse {
        let path = req.uri().path().to_string();
        match (req.method(), path.as_str()) {
            (&Method::GET, "/healthz") => reply(StatusCode::OK, json!({"status": "ok"})),
            (&Method::GET, "/readyz") => self.readyz().await,
            (m, p) if p.starts_with("/webhooks/") => {
                if m != Method::POST {
                    return error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "webhooks are POSTed");
                }
                let source = p.trim_start_matches("/webhooks/").trim_end_matches('/').to_string();
                self.webhook(source, req, peer.ip()).await
            }
            _ => error(StatusCode::NOT_FOUND, "not_found", "no such path"),
        }
    }

    async fn readyz(&self) -> HttpResponse {
        if let Some(why) = self.tls.as_ref().and_then(|c| c.missing()) {
            return error(StatusCode::SERVICE_UNAVAILABLE, "tls_certificate_missing", &why);
        }
        if self.store.ready().await {
            reply(StatusCode::OK, json!({"status": "ready"}))
        } else {
            error(StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable", "storage is not writable")
        }
    }

    async fn webhook(&self, source: String, req: Request<Incoming>, peer: IpAddr) -> HttpResponse {
        let started = Instant::now();
        let client = self.guards.load().client_ip(peer, req.headers());
        let result = self.accept(&source, req, peer, client).await;
        let mut latency = started.elapsed();
        let logged = LogSafe(&source);
        match result {
            Ok(Answer::Stored(stored)) => {
                let outcome = if stored.status == StatusCode::OK { "duplicate" } else { "accepted" };
                // The ack latency is the durable write's; a reply's wait
                // is the handler's time, and shows in the log line.
                let acked = latency;
                let replied = match stored.reply {
                    Some((waiter, id)) => waiter.answer(&id).await,
                    None => None,
                };
                latency = started.elapsed();
                let status = if replied.is_some() { StatusCode::OK } else { stored.status };
                tracing::info!(
                    source = %logged,
                    event_id = %LogSafe(&stored.event_id),
                    event_type = %LogSafe(&stored.event_type),
                    outcome,
                    routes = stored.routes,
                    status = status.as_u16(),
                    %client,
                    latency_ms = millis(latency),
                    "request"
                );
                self.metrics.request(&source, &stored.event_type, outcome, status.as_u16(), acked);
                match replied {
                    Some(answer) => replied_with(answer),
                    None => reply(stored.status, stored.answer),
                }
            }
            Ok(Answer::Handshake(body)) => {
                let latency_ms = millis(latency);
                tracing::info!(source = %logged, outcome = "handshake", status = 200, %client, latency_ms, "request");
                reply(StatusCode::OK, body)
            }
            Err(r) => {
                let (status, latency_ms) = (r.status.as_u16(), millis(latency));
                // A signature failure is the operator's business (a wrong
                // secret, or someone probing): WARN, so `journalctl -p warning` shows it.
                if r.status == StatusCode::UNAUTHORIZED {
                    let detail = r.detail.as_deref();
                    tracing::warn!(source = %logged, outcome = r.code, status, %client, latency_ms, detail, "request");
                } else {
                    tracing::info!(source = %logged, outcome = r.code, status, %client, latency_ms, "request");
                }
                if r.status != StatusCode::NOT_FOUND {
                    self.metrics.request(&source, "", r.code, r.status.as_u16(), latency);
                }
                let mut resp = error(r.status, r.code, &r.message);
                if let Some(secs) = r.retry_after {
                    resp.headers_mut().insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
                }
                resp
            }
        }
    }

    async fn accept(
        &self,
        source_name: &str,
        req: Request<Incoming>,
        peer: IpAddr,
        client: IpAddr,
    ) -> Result<Answer, Refusal> {
        let (parts, body) = req.into_parts();
        let body = self.read_body(&parts.headers, body).await?;
        // Handlers that start while this is held start at the lowest
        // priority (dispatch/background.rs); it ends before the wake-up, so
        // this event's own handler is not counted against it.
        let waiting = AckWaiting::begin();
        let source = self.sources.load().get(source_name).cloned().ok_or_else(|| {
            refuse(StatusCode::NOT_FOUND, "unknown_source", format!("no source named {source_name:?}"))
        })?;
        let guards = self.guards.load_full();
        guards.admit(&source, client).map_err(denied)?;
        let received = guards.received_url(peer, &parts.headers, &parts.uri);
        let url = verify::signed_url(source.public_url.as_deref(), &received);
        let inbound = Inbound { headers: &parts.headers, body: &body, url: &url, now: SystemTime::now() };
        verify::check(&source.verifier, &inbound).map_err(|r| {
            tracing::debug!(
                source = %LogSafe(source_name),
                kind = source.kind.name(),
                secrets = source.verifier.secrets.len(),
                check = r.code(),
                "signature check failed: no configured secret produced a matching signature within the tolerance"
            );
            guards.verification_failed(client);
            Refusal { detail: r.log_detail(), ..refuse(StatusCode::UNAUTHORIZED, r.code(), r.message().to_string()) }
        })?;
        guards.admit_verified(&source).map_err(denied)?;
        drop(guards);
        if let Some(answer) = handshake::answer(&source.verifier, &inbound) {
            return Ok(Answer::Handshake(answer));
        }
        // A form body with a `payload=` field (GitHub's default) is read as
        // that JSON for its id, type and routes; the stored body stays raw.
        let content_type = parts.headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
        let view = route::payload::json_bytes(&body, content_type);
        let ident = identify::identify(&source.identify, &Inbound { body: &view, ..inbound })
            .map_err(|m| refuse(StatusCode::BAD_REQUEST, "unidentifiable", m))?;
        drop(view);
        let headers = kept_headers(&parts.headers, &source.keep_headers);
        let routes = route::deliveries_for(&source.routes, &ident.event_type, &headers, &body);
        let routed = !routes.is_empty();
        let new_routes: Vec<String> = routes.iter().map(|r| r.route.clone()).collect();
        let waiter = reply::waiter(&self.replies, &source, source_name, &new_routes, &ident.event_id);
        tracing::debug!(
            source = %LogSafe(source_name),
            event_id = %LogSafe(&ident.event_id),
            event_type = %LogSafe(&ident.event_type),
            routes = %new_routes.join(","),
            "routes matched"
        );
        let new = NewEvent {
            source: source_name.to_string(),
            event_id: ident.event_id.clone(),
            event_type: ident.event_type.clone(),
            headers,
            body,
            routes,
            dedup_window: source.dedup_window,
        };
        let accepted = self.store.accept(new).await.map_err(|e| {
            tracing::error!(source = %LogSafe(source_name), error = %e, "durable write failed");
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                "the event could not be stored; retry later".into(),
            )
        })?;
        drop(waiting);
        if routed && !accepted.deduped {
            self.queue.wake();
        }
        if !accepted.deduped {
            let news = || news_of(&accepted.id, source_name, &ident, &new_routes);
            self.feed.publish(crate::feed::Tally::Received, crate::store::now_ms(), news);
        }
        let status = if accepted.deduped { StatusCode::OK } else { StatusCode::ACCEPTED };
        let answer = json!({
            "received": true,
            "id": id_text(&accepted.id),
            "event_id": ident.event_id,
            "deduped": accepted.deduped,
        });
        let (event_id, event_type, routes) = (ident.event_id, ident.event_type, new_routes.len());
        let reply = waiter.filter(|_| !accepted.deduped).map(|w| (w, accepted.id));
        Ok(Answer::Stored(Box::new(Stored { status, answer, event_id, event_type, routes, reply })))
    }

    /// Read at most `max_body` bytes within `read_timeout`: 413 as soon as
    /// the limit is crossed (declared or chunked), 408 when too slow.
    async fn read_body(&self, headers: &HeaderMap, body: Incoming) -> Result<Bytes, Refusal> {
        let too_large = || {
            refuse(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", format!("the body exceeds {} bytes", self.max_body))
        };
        let declared = headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_body as u64) {
            return Err(too_large());
        }
        let collected = tokio::time::timeout(self.read_timeout, Limited::new(body, self.max_body).collect()).await;
        match collected {
            Err(_) => {
                Err(refuse(StatusCode::REQUEST_TIMEOUT, "read_timeout", "the body did not arrive in time".into()))
            }
            Ok(Ok(c)) => Ok(c.to_bytes()),
            Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
            Ok(Err(_)) => Err(refuse(StatusCode::BAD_REQUEST, "bad_body", "the body could not be read".into())),
        }
    }
}

/// 403 for the allowlist; 429 with `Retry-After`.
fn denied(d: Denied) -> Refusal {
    match d {
        Denied::Forbidden => {
            refuse(StatusCode::FORBIDDEN, "forbidden", "this client address may not post to this source".into())
        }
        Denied::Unverified { retry_after } => Refusal {
            retry_after: Some(retry_after),
            ..refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_failures",
                format!("too many requests from this address failed verification; retry in {retry_after}s"),
            )
        },
        Denied::TooMany { retry_after } => Refusal {
            retry_after: Some(retry_after),
            ..refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("over the rate limit; retry in {retry_after}s"),
            )
        },
    }
}

/// Milliseconds rounded to two decimals, so a log line says `0.3`, not
/// `0.30000000000000004` (a whole number of hundredths divided by 100 is
/// the double nearest that decimal, which prints as itself), and JSON logs
/// keep a number.
fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 100_000.0).round() / 100.0
}

/// The feed's news of a new event.
fn news_of(id: &crate::store::keys::Id, source: &str, ident: &identify::Identity, routes: &[String]) -> Happening {
    Happening::Received {
        id: id_text(id),
        source: source.to_string(),
        event_id: ident.event_id.clone(),
        event_type: ident.event_type.clone(),
        status: if routes.is_empty() { "unrouted" } else { "pending" },
        routes: routes.to_vec(),
        received_at: crate::feed::time(crate::store::keys::id_ms(id)),
    }
}

fn kept_headers(headers: &HeaderMap, keep: &[String]) -> Vec<(String, String)> {
    keep.iter()
        .filter_map(|name| {
            let value = headers.get(name.as_str())?.to_str().ok()?;
            Some((name.clone(), value.to_string()))
        })
        .collect()
}

pub fn reply(status: StatusCode, body: serde_json::Value) -> HttpResponse {
    let mut resp = hyper::Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    resp
}

/// A reply route's answer: 200 with the handler's output.
fn replied_with(answer: reply::Answer) -> HttpResponse {
    let mut resp = hyper::Response::new(Full::new(answer.body));
    resp.headers_mut().insert(http::header::CONTENT_TYPE, answer.content_type);
    resp
}

pub fn error(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    reply(status, json!({"error": code, "message": message}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_has_at_most_two_decimals() {
        assert_eq!(millis(Duration::from_nanos(300_000)), 0.3);
        assert_eq!(millis(Duration::from_nanos(1_234_567)), 1.23);
        assert_eq!(millis(Duration::from_nanos(1_235_001)), 1.24);
        assert_eq!(millis(Duration::from_secs(2)), 2000.0);
        for n in 0..20_000u64 {
            let text = millis(Duration::from_nanos(n * 7_919)).to_string();
            let decimals = text.split_once('.').map_or(0, |(_, d)| d.len());
            assert!(decimals <= 2, "{text}");
        }
    }
}
