//! `POST /webhooks/{source}`, `GET /healthz`, `GET /readyz`. Applies the SPEC
//! §4 checks in order — body size, source, allowlist, rate limit, signature,
//! handshake, id/type, durable write — and answers only after
//! `Store::accept` returned. Never echoes secrets, signatures or bodies in
//! answers or logs.

pub mod guard;

use crate::config::SharedSources;
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
}

/// A refusal: status, error code, human message, and for 429 the seconds
/// for `Retry-After`.
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
}

fn refuse(status: StatusCode, code: &'static str, message: String) -> Refusal {
    Refusal { status, code, message, retry_after: None }
}

/// What a request that passed the checks is answered.
enum Answer {
    /// 202 (new) or 200 (duplicate), with the sender's event id and type.
    Stored(StatusCode, serde_json::Value, String, String),
    /// A sender handshake answered in place: 200, nothing stored.
    Handshake(serde_json::Value),
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
        if self.store.ready().await {
            reply(StatusCode::OK, json!({"status": "ready"}))
        } else {
            error(StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable", "storage is not writable")
        }
    }

    async fn webhook(&self, source: String, req: Request<Incoming>, peer: IpAddr) -> HttpResponse {
        let started = Instant::now();
        let result = self.accept(&source, req, peer).await;
        let latency = started.elapsed();
        let latency_ms = latency.as_secs_f64() * 1000.0;
        match result {
            Ok(Answer::Stored(status, body, event_id, event_type)) => {
                let outcome = if status == StatusCode::OK { "duplicate" } else { "accepted" };
                tracing::info!(%source, %event_id, %event_type, outcome, status = status.as_u16(), latency_ms, "request");
                self.metrics.request(&source, &event_type, outcome, status.as_u16(), latency);
                reply(status, body)
            }
            Ok(Answer::Handshake(body)) => {
                tracing::info!(%source, outcome = "handshake", status = 200, latency_ms, "request");
                reply(StatusCode::OK, body)
            }
            Err(r) => {
                tracing::info!(%source, outcome = r.code, status = r.status.as_u16(), latency_ms, "request");
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

    async fn accept(&self, source_name: &str, req: Request<Incoming>, peer: IpAddr) -> Result<Answer, Refusal> {
        let (parts, body) = req.into_parts();
        let body = self.read_body(&parts.headers, body).await?;
        let source = self.sources.load().get(source_name).cloned().ok_or_else(|| {
            refuse(StatusCode::NOT_FOUND, "unknown_source", format!("no source named {source_name:?}"))
        })?;
        let guards = self.guards.load();
        let client = guards.client_ip(peer, &parts.headers);
        guards.admit(&source, client).map_err(denied)?;
        let received = guards.received_url(peer, &parts.headers, &parts.uri);
        drop(guards);
        let url = verify::signed_url(source.public_url.as_deref(), &received);
        let inbound = Inbound { headers: &parts.headers, body: &body, url: &url, now: SystemTime::now() };
        verify::check(&source.verifier, &inbound)
            .map_err(|r| refuse(StatusCode::UNAUTHORIZED, r.code(), r.message().to_string()))?;
        if let Some(answer) = handshake::answer(&source.verifier, &inbound) {
            return Ok(Answer::Handshake(answer));
        }
        let ident = identify::identify(&source.identify, &inbound)
            .map_err(|m| refuse(StatusCode::BAD_REQUEST, "unidentifiable", m))?;
        let routes = route::deliveries(&source.routes, &ident.event_type, &body);
        let routed = !routes.is_empty();
        let headers = kept_headers(&parts.headers, &source.keep_headers);
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
            tracing::error!(source = source_name, error = %e, "durable write failed");
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                "the event could not be stored; retry later".into(),
            )
        })?;
        if routed && !accepted.deduped {
            self.queue.wake();
        }
        let status = if accepted.deduped { StatusCode::OK } else { StatusCode::ACCEPTED };
        let answer = json!({
            "received": true,
            "id": id_text(&accepted.id),
            "event_id": ident.event_id,
            "deduped": accepted.deduped,
        });
        Ok(Answer::Stored(status, answer, ident.event_id, ident.event_type))
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

pub fn error(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    reply(status, json!({"error": code, "message": message}))
}
