//! The admin API (SPEC §6) on its own listener: bearer-token auth on every
//! path (not on a unix socket), events and the DLQ with cursor pagination,
//! replay and purge, stats and `/metrics` (Prometheus text 0.0.4, or
//! OpenMetrics when `Accept` asks). Reads and changes state only through
//! the store's API; a replay is a store write plus a wake-up. Request bodies
//! are read within `read_timeout` and at most `MAX_REQUEST_BODY` bytes.
//! Never returns bodies, secrets or the token.

mod views;

use crate::config::SharedSources;
use crate::http::{HttpResponse, UNIX_PEER};
use crate::ingress::{error, reply};
use crate::metrics::{Format, Metrics};
use crate::queue::Queue;
use crate::route;
use crate::store::keys::{id_text, parse_id, Id};
use crate::store::{died_at, now_ms, DeadView, EventFilter, PurgeOutcome, Store, StoreError};
use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::Request;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use views::{dead_json, event_json, Filter};

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 1000;
const MAX_REQUEST_BODY: usize = 1 << 20;

pub struct Admin {
    pub store: Arc<Store>,
    pub queue: Queue,
    pub metrics: Arc<Metrics>,
    /// Today's routes, for replaying an event that matched none.
    pub sources: SharedSources,
    /// `None` only on a unix socket without a token.
    pub token: Option<Vec<u8>>,
    /// A request body must arrive within this (`[server] read_timeout`,
    /// as the headers must).
    pub read_timeout: Duration,
}

type Answer = Result<HttpResponse, AdminError>;

/// Why an admin request is refused; mapped to status + JSON in one place.
#[derive(Debug)]
pub enum AdminError {
    BadRequest(String),
    NotFound(String),
    Conflict(&'static str, &'static str),
    /// The body crossed `MAX_REQUEST_BODY` (declared or as it arrived).
    TooLarge,
    /// The body did not arrive within `read_timeout`.
    TooSlow,
    Internal(&'static str, &'static str),
    Storage,
}

impl AdminError {
    fn into_response(self) -> HttpResponse {
        match self {
            AdminError::BadRequest(m) => error(StatusCode::BAD_REQUEST, "bad_request", &m),
            AdminError::NotFound(m) => error(StatusCode::NOT_FOUND, "not_found", &m),
            AdminError::Conflict(code, m) => error(StatusCode::CONFLICT, code, m),
            AdminError::TooLarge => error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                &format!("the body exceeds {MAX_REQUEST_BODY} bytes"),
            ),
            AdminError::TooSlow => {
                error(StatusCode::REQUEST_TIMEOUT, "read_timeout", "the body did not arrive in time")
            }
            AdminError::Internal(code, m) => error(StatusCode::INTERNAL_SERVER_ERROR, code, m),
            AdminError::Storage => {
                error(StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable", "storage error; see the hookd log")
            }
        }
    }
}

impl Admin {
    pub async fn handle(self: Arc<Self>, req: Request<Incoming>, peer: SocketAddr) -> HttpResponse {
        if peer != UNIX_PEER && !self.authorized(&req) {
            return error(StatusCode::UNAUTHORIZED, "unauthorized", "a valid bearer token is required");
        }
        let method = req.method().clone();
        let path = req.uri().path().trim_end_matches('/').to_string();
        let query: HashMap<String, String> =
            form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes()).into_owned().collect();
        let segments: Vec<&str> = path.split('/').skip(1).collect();
        let answer = match (&method, segments.as_slice()) {
            (&Method::GET, ["metrics"]) => self.metrics(&req),
            (&Method::GET, ["v1", "stats"]) => Ok(self.stats()),
            (&Method::GET, ["v1", "events"]) => self.list_events(&query),
            (&Method::GET, ["v1", "events", id]) => self.show_event(id),
            (&Method::POST, ["v1", "events", id, "replay"]) => self.replay_event(id).await,
            (&Method::GET, ["v1", "dlq"]) => self.list_dead(&query),
            (&Method::POST, ["v1", "dlq", "replay"]) => self.replay_dead(req).await,
            (&Method::DELETE, ["v1", "dlq"]) => self.purge_older(&query).await,
            (&Method::DELETE, ["v1", "dlq", id]) => self.purge(id).await,
            _ => Err(AdminError::NotFound("no such admin path or method".into())),
        };
        answer.unwrap_or_else(AdminError::into_response)
    }

    fn authorized(&self, req: &Request<Incoming>) -> bool {
        let Some(token) = &self.token else { return false };
        let given = req.headers().get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let bearer = given.and_then(|v| v.strip_prefix("Bearer ")).unwrap_or("");
        crate::verify::ct_eq(bearer.trim().as_bytes(), token)
    }

    /// Prometheus text 0.0.4 unless `Accept` prefers OpenMetrics.
    fn metrics(&self, req: &Request<Incoming>) -> Answer {
        let accept = req.headers().get(http::header::ACCEPT).and_then(|v| v.to_str().ok());
        let format = Format::negotiate(accept);
        let text = self.metrics.render(&self.store.stats(), format).map_err(|e| {
            tracing::error!(error = %e, "metrics could not be encoded");
            AdminError::Internal("metrics_unavailable", "the metrics could not be encoded; see the hookd log")
        })?;
        let mut resp = hyper::Response::new(http_body_util::Full::new(Bytes::from(text)));
        let headers = resp.headers_mut();
        headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(format.content_type()));
        headers.insert(http::header::VARY, http::HeaderValue::from_static("Accept"));
        Ok(resp)
    }

    fn stats(&self) -> HttpResponse {
        let stats = self.store.stats();
        let mut body = serde_json::to_value(&stats).unwrap_or(Value::Null);
        body["running"] = json!(self.queue.running());
        reply(StatusCode::OK, body)
    }

    fn list_events(&self, q: &HashMap<String, String>) -> Answer {
        let filter = Filter::from_query(q).map_err(bad_request)?;
        let page = self.store.list_events(&|v| filter.keeps(v), limit(q)?, cursor(q)).map_err(store_error)?;
        let items: Vec<Value> = page.items.iter().map(|v| event_json(v, false)).collect();
        Ok(reply(StatusCode::OK, json!({"items": items, "next_cursor": page.next_cursor})))
    }

    fn show_event(&self, id: &str) -> Answer {
        let id = parse(id)?;
        match self.store.event_view_whole(&id).map_err(store_error)? {
            Some(view) => Ok(reply(StatusCode::OK, event_json(&view, true))),
            None => Err(not_found(&id)),
        }
    }

    async fn replay_event(&self, id: &str) -> Answer {
        let id = parse(id)?;
        let mut replayed = self.store.replay_event(&id).await.map_err(store_error)?.ok_or_else(|| not_found(&id))?;
        if replayed == 0 {
            let sources = self.sources.load_full();
            let routed = self.store.route_unrouted(&id, |event, body| match sources.get(&event.source) {
                Some(source) => route::deliveries(&source.routes, &event.event_type, body),
                None => Vec::new(),
            });
            replayed = routed.await.map_err(store_error)?.unwrap_or(0);
        }
        self.queue.wake();
        tracing::info!(id = %id_text(&id), replayed, "event replayed");
        Ok(reply(StatusCode::OK, json!({"id": id_text(&id), "replayed": replayed})))
    }

    fn list_dead(&self, q: &HashMap<String, String>) -> Answer {
        let filter = Filter::from_query(q).map_err(bad_request)?;
        let page = self.store.list_dead(&|v| filter.keeps(v), limit(q)?, cursor(q)).map_err(store_error)?;
        let items: Vec<Value> = page.items.iter().map(dead_json).collect();
        Ok(reply(StatusCode::OK, json!({"items": items, "next_cursor": page.next_cursor})))
    }

    /// `{"ids": [..]}`, or `{"all": true}` with optional `source` / `type`.
    async fn replay_dead(&self, req: Request<Incoming>) -> Answer {
        let body = read_json(req, self.read_timeout).await?;
        let ids: Vec<Id> = match (body.get("ids"), body.get("all")) {
            (Some(Value::Array(ids)), None) => {
                ids.iter().map(|v| parse(v.as_str().unwrap_or(""))).collect::<Result<_, _>>()?
            }
            (None, Some(Value::Bool(true))) => {
                let q: HashMap<String, String> = ["source", "type"]
                    .iter()
                    .filter_map(|k| Some((k.to_string(), body.get(*k)?.as_str()?.to_string())))
                    .collect();
                let filter = Filter::from_query(&q).map_err(bad_request)?;
                self.dead_ids(&|v| filter.keeps(v), |_| true)?
            }
            _ => {
                return Err(bad_request("expected {\"ids\": [...]} or {\"all\": true, \"source\"?, \"type\"?}".into()))
            }
        };
        let (mut replayed, mut missing) = (0, Vec::new());
        for id in &ids {
            match self.store.replay_dead(id).await.map_err(store_error)? {
                Some(n) => replayed += n,
                None => missing.push(id_text(id)),
            }
        }
        self.queue.wake();
        tracing::info!(events = ids.len(), replayed, "dead deliveries replayed");
        Ok(reply(StatusCode::OK, json!({"replayed": replayed, "events": ids.len(), "not_found": missing})))
    }

    /// Every event with a dead delivery that `filter` and `keep` keep,
    /// walking the whole DLQ page by page.
    fn dead_ids(&self, filter: EventFilter, keep: impl Fn(&DeadView) -> bool) -> Result<Vec<Id>, AdminError> {
        let mut ids = BTreeSet::new();
        let mut cursor = None;
        loop {
            let page = self.store.list_dead(filter, MAX_LIMIT, cursor.as_deref()).map_err(store_error)?;
            ids.extend(page.items.iter().filter(|d| keep(d)).map(|d| d.id));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(ids.into_iter().collect()),
            }
        }
    }

    async fn purge(&self, id: &str) -> Answer {
        let id = parse(id)?;
        match self.store.purge_dead(&id).await.map_err(store_error)? {
            PurgeOutcome::Purged => Ok(reply(StatusCode::OK, json!({"purged": 1}))),
            PurgeOutcome::NotFound => Err(not_found(&id)),
            PurgeOutcome::NotDead => Err(AdminError::Conflict("not_dead", "the event has no dead delivery")),
            PurgeOutcome::InFlight => {
                Err(AdminError::Conflict("in_flight", "a delivery of this event is still pending or retrying"))
            }
        }
    }

    /// `DELETE /v1/dlq?older_than=7d`: purge events whose dead deliveries
    /// died before then.
    async fn purge_older(&self, q: &HashMap<String, String>) -> Answer {
        let age = q.get("older_than").ok_or_else(|| bad_request("older_than is required (e.g. 7d)".into()))?;
        let age = crate::config::units::duration(age).map_err(bad_request)?;
        let cutoff = now_ms().saturating_sub(age.as_millis() as u64);
        let old = self.dead_ids(&|_| true, |d| died_at(&d.delivery).unwrap_or(0) < cutoff)?;
        let mut purged = 0;
        for id in old {
            if self.store.purge_dead(&id).await.map_err(store_error)? == PurgeOutcome::Purged {
                purged += 1;
            }
        }
        Ok(reply(StatusCode::OK, json!({"purged": purged})))
    }
}

fn parse(id: &str) -> Result<Id, AdminError> {
    parse_id(id).ok_or_else(|| bad_request(format!("{id:?} is not a hookd id")))
}

fn limit(q: &HashMap<String, String>) -> Result<usize, AdminError> {
    match q.get("limit") {
        None => Ok(DEFAULT_LIMIT),
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(bad_request(format!("limit must be 1 to {MAX_LIMIT}"))),
        },
    }
}

fn cursor(q: &HashMap<String, String>) -> Option<&str> {
    q.get("cursor").map(String::as_str).filter(|c| !c.is_empty())
}

/// The JSON body, read within `within` and at most `MAX_REQUEST_BODY`
/// bytes: 413 as soon as the limit is crossed (declared or chunked), 408
/// when too slow — as ingress does.
async fn read_json(req: Request<Incoming>, within: Duration) -> Result<Value, AdminError> {
    let declared = req.headers().get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_REQUEST_BODY as u64) {
        return Err(AdminError::TooLarge);
    }
    let collected = tokio::time::timeout(within, Limited::new(req.into_body(), MAX_REQUEST_BODY).collect()).await;
    let body = match collected {
        Err(_) => return Err(AdminError::TooSlow),
        Ok(Ok(c)) => c.to_bytes(),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => return Err(AdminError::TooLarge),
        Ok(Err(_)) => return Err(bad_request("the request body could not be read".into())),
    };
    serde_json::from_slice(&body).map_err(|e| bad_request(format!("the body is not JSON: {e}")))
}

fn bad_request(message: String) -> AdminError {
    AdminError::BadRequest(message)
}

fn not_found(id: &Id) -> AdminError {
    AdminError::NotFound(format!("no event {}", id_text(id)))
}

fn store_error(e: StoreError) -> AdminError {
    if matches!(e, StoreError::BadCursor) {
        return bad_request("unknown cursor".into());
    }
    tracing::error!(error = %e, "admin: storage error");
    AdminError::Storage
}
