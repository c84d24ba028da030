//! The admin API (SPEC §6) on its own listener: bearer-token auth on every
//! path (not on a unix socket), events and the DLQ with cursor pagination,
//! replay and purge, stats and `/metrics` (Prometheus text 0.0.4, or
//! OpenMetrics when `Accept` asks). Reads and changes state only through
//! the store's API; a replay is a store write plus a wake-up. Request bodies
//! are read within `read_timeout` and at most `MAX_REQUEST_BODY` bytes.
//! Returns a stored body only at `GET /v1/events/{id}/body` (SPEC §6), and
//! never sender headers, secrets or the token. `/ui/` is the console's
//! (`crate::console`); a request carrying its session cookie, or any
//! `Origin` but this one, may change state only from this origin.

mod events;
mod routes;
mod tail;
mod views;

pub use tail::AdminBody;

use crate::config::SharedSources;
use crate::console::{self, Sessions};
use crate::feed::Feed;
use crate::http::{HttpResponse, UNIX_PEER};
use crate::ingress::{error, reply};
use crate::metrics::{Format, Metrics};
use crate::queue::Queue;
use crate::store::keys::{id_text, parse_id, Id};
use crate::store::records::State;
use crate::store::{died_at, now_ms, DeadView, EventFilter, EventView, PurgeOutcome, Store, StoreError};
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
use tokio_util::sync::CancellationToken;
use views::{dead_json, Filter};

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
    /// What happens, for `/v1/tail` and the per-minute counts.
    pub feed: Feed,
    /// The console's logins (TCP only).
    pub sessions: Sessions,
    /// Ends the open `/v1/tail` streams.
    pub shutdown: CancellationToken,
    /// `[dispatch] output_tail`: a stored tail this long was cut.
    pub output_tail: usize,
}

type Answer = Result<HttpResponse, AdminError>;

/// Who is asking: what decides the same-origin rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    /// On the unix socket: no token needed (the socket's mode is the guard).
    Socket,
    Bearer,
    /// The console's session cookie.
    Session,
}

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
    /// A state change from another origin (or a cookie without `Origin`).
    CrossOrigin,
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
            AdminError::CrossOrigin => error(
                StatusCode::FORBIDDEN,
                "cross_origin",
                "state-changing requests are accepted only from the console's own origin",
            ),
        }
    }
}

impl Admin {
    pub async fn handle(self: Arc<Self>, req: Request<Incoming>, peer: SocketAddr) -> hyper::Response<AdminBody> {
        let path = req.uri().path().trim_end_matches('/').to_string();
        if console::owns(req.uri().path()) {
            return self.console(req, peer).await.map(AdminBody::from);
        }
        let Some(caller) = self.caller(&req, peer) else {
            return error(StatusCode::UNAUTHORIZED, "unauthorized", "a valid bearer token is required")
                .map(AdminBody::from);
        };
        let method = req.method().clone();
        if !matches!(method, Method::GET | Method::HEAD) && !origin_allowed(caller, req.headers()) {
            return AdminError::CrossOrigin.into_response().map(AdminBody::from);
        }
        let query: HashMap<String, String> =
            form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes()).into_owned().collect();
        let segments: Vec<&str> = path.split('/').skip(1).collect();
        if let (&Method::GET, ["v1", "tail"]) = (&method, segments.as_slice()) {
            return self.tail(&query).unwrap_or_else(|e| e.into_response().map(AdminBody::from));
        }
        let answer = match (&method, segments.as_slice()) {
            (&Method::GET, ["metrics"]) => self.metrics(&req),
            (&Method::GET, ["v1", "stats"]) => Ok(self.stats()),
            (&Method::GET, ["v1", "stats", "minutes"]) => Ok(self.minutes()),
            (&Method::GET, ["v1", "routes"]) => Ok(self.routes()),
            (&Method::GET, ["v1", "events"]) => self.list_events(&query),
            (&Method::GET, ["v1", "events", id]) => self.show_event(id),
            (&Method::GET, ["v1", "events", id, "body"]) => self.event_body(id),
            (&Method::POST, ["v1", "events", id, "replay"]) => self.replay_event(id).await,
            (&Method::POST, ["v1", "events", id, "retry"]) => self.retry_event(id).await,
            (&Method::GET, ["v1", "dlq"]) => self.list_dead(&query),
            (&Method::POST, ["v1", "dlq", "replay"]) => match dry_run(&query) {
                Ok(dry) => self.replay_dead(req, dry).await,
                Err(e) => Err(e),
            },
            (&Method::DELETE, ["v1", "dlq"]) => self.purge_filtered(&query).await,
            (&Method::DELETE, ["v1", "dlq", id]) => match dry_run(&query) {
                Ok(dry) => self.purge(id, dry).await,
                Err(e) => Err(e),
            },
            _ => Err(AdminError::NotFound("no such admin path or method".into())),
        };
        answer.unwrap_or_else(AdminError::into_response).map(AdminBody::from)
    }

    /// The bearer token, the console's cookie, or the unix socket.
    fn caller(&self, req: &Request<Incoming>, peer: SocketAddr) -> Option<Caller> {
        if peer == UNIX_PEER {
            return Some(Caller::Socket);
        }
        if self.authorized(req) {
            return Some(Caller::Bearer);
        }
        self.sessions.valid(req.headers()).then_some(Caller::Session)
    }

    /// `/ui/…`: the login and logout, else an asset.
    async fn console(&self, req: Request<Incoming>, peer: SocketAddr) -> HttpResponse {
        let path = req.uri().path().to_string();
        let login = match (req.method(), path.as_str()) {
            (&Method::POST, "/ui/login") => true,
            (&Method::POST, "/ui/logout") => false,
            (method, path) => return console::asset(method, path),
        };
        if console::same_origin(req.headers()) != Some(true) {
            return AdminError::CrossOrigin.into_response();
        }
        if !login {
            self.sessions.close(req.headers());
            return console::cookie_answer(None);
        }
        if peer == UNIX_PEER {
            return console::cookie_answer(None);
        }
        let body = match read_json(req, self.read_timeout).await {
            Ok(b) => b,
            Err(e) => return e.into_response(),
        };
        let given = body["token"].as_str().unwrap_or("").trim().as_bytes().to_vec();
        let right = self.token.as_ref().is_some_and(|t| crate::verify::ct_eq(&given, t));
        if !right {
            tracing::warn!(%peer, "console login refused: wrong token");
            return error(StatusCode::UNAUTHORIZED, "unauthorized", "that is not the admin token");
        }
        match self.sessions.open() {
            Some(id) => {
                tracing::info!(%peer, "console login");
                console::cookie_answer(Some(&id))
            }
            None => AdminError::Internal("no_randomness", "no session id could be made").into_response(),
        }
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

    fn list_dead(&self, q: &HashMap<String, String>) -> Answer {
        let filter = Filter::from_query(q).map_err(bad_request)?;
        let page = self.store.list_dead(&|v| filter.keeps(v), limit(q)?, cursor(q)).map_err(store_error)?;
        let items: Vec<Value> = page.items.iter().map(dead_json).collect();
        Ok(reply(StatusCode::OK, json!({"items": items, "next_cursor": page.next_cursor})))
    }

    /// `{"ids": [..]}`, or `{"all": true}` with optional `source` / `type`;
    /// with `dry_run`, only the count it would replay.
    async fn replay_dead(&self, req: Request<Incoming>, dry_run: bool) -> Answer {
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
            let n = match dry_run {
                true => self.store.event_view(id).map_err(store_error)?.map(|v| dead_count(&v)),
                false => self.store.replay_dead(id).await.map_err(store_error)?,
            };
            match n {
                Some(n) => replayed += n,
                None => missing.push(id_text(id)),
            }
        }
        if !dry_run {
            self.queue.wake();
            tracing::info!(events = ids.len(), replayed, "dead deliveries replayed");
        }
        let answer = json!({"replayed": replayed, "events": ids.len(), "not_found": missing, "dry_run": dry_run});
        Ok(reply(StatusCode::OK, answer))
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

    /// Purge one dead event; with `dry_run`, say whether it would be.
    async fn purge(&self, id: &str, dry_run: bool) -> Answer {
        let id = parse(id)?;
        let outcome = match dry_run {
            false => self.store.purge_dead(&id).await.map_err(store_error)?,
            true => match self.store.event_view(&id).map_err(store_error)? {
                None => PurgeOutcome::NotFound,
                Some(v) if purgeable(&v) => return Ok(reply(StatusCode::OK, json!({"purged": 1, "dry_run": true}))),
                Some(v) if dead_count(&v) == 0 => PurgeOutcome::NotDead,
                Some(_) => PurgeOutcome::InFlight,
            },
        };
        match outcome {
            PurgeOutcome::Purged => Ok(reply(StatusCode::OK, json!({"purged": 1}))),
            PurgeOutcome::NotFound => Err(not_found(&id)),
            PurgeOutcome::NotDead => Err(AdminError::Conflict("not_dead", "the event has no dead delivery")),
            PurgeOutcome::InFlight => {
                Err(AdminError::Conflict("in_flight", "a delivery of this event is still pending or retrying"))
            }
        }
    }

    /// `DELETE /v1/dlq?older_than=7d&source=S&type=T` (at least one, or
    /// `all=true`): purge the dead events those keep whose dead deliveries
    /// died before then. With `dry_run=true`, only the count it would purge
    /// (events with nothing in flight).
    async fn purge_filtered(&self, q: &HashMap<String, String>) -> Answer {
        let dry_run = dry_run(q)?;
        let given = |k: &str| q.get(k).is_some_and(|v| !v.is_empty());
        if !["older_than", "source", "type"].iter().any(|k| given(k))
            && q.get("all").map(String::as_str) != Some("true")
        {
            return Err(bad_request("give older_than (e.g. 7d), source or type, or all=true".into()));
        }
        let cutoff = match q.get("older_than").filter(|v| !v.is_empty()) {
            Some(age) => {
                let age = crate::config::units::duration(age).map_err(|e| bad_request(format!("older_than: {e}")))?;
                now_ms().saturating_sub(age.as_millis() as u64)
            }
            None => u64::MAX,
        };
        let filter = Filter::from_query(q).map_err(bad_request)?;
        let old = self.dead_ids(&|v| filter.keeps(v), |d| died_at(&d.delivery).unwrap_or(0) < cutoff)?;
        let mut purged = 0;
        for id in old {
            let done = match dry_run {
                true => self.store.event_view(&id).map_err(store_error)?.is_some_and(|v| purgeable(&v)),
                false => self.store.purge_dead(&id).await.map_err(store_error)? == PurgeOutcome::Purged,
            };
            purged += usize::from(done);
        }
        Ok(reply(StatusCode::OK, json!({"purged": purged, "dry_run": dry_run})))
    }
}

/// `dry_run=true|false` (absent: false).
fn dry_run(q: &HashMap<String, String>) -> Result<bool, AdminError> {
    match q.get("dry_run").map(String::as_str) {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(_) => Err(bad_request("dry_run must be true or false".into())),
    }
}

fn dead_count(v: &EventView) -> usize {
    v.deliveries.iter().filter(|d| d.state == State::Dead).count()
}

/// What `purge_dead` would remove: a dead delivery and nothing in flight.
fn purgeable(v: &EventView) -> bool {
    dead_count(v) > 0 && v.deliveries.iter().all(|d| d.state.is_terminal())
}

/// A request that a browser may have sent for another site: a state change
/// is taken only with no `Origin` from a non-browser caller, or this origin.
fn origin_allowed(caller: Caller, headers: &http::HeaderMap) -> bool {
    match console::same_origin(headers) {
        Some(same) => same,
        None => caller != Caller::Session,
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
