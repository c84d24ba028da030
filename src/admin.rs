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

mod dlq;
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
use crate::store::{Store, StoreError};
use bytes::Bytes;
use dlq::dry_run;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::Request;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

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
    /// Each route's flow state (pause, resume, breakers).
    pub flow: Arc<crate::flow::Flow>,
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
            (&Method::GET, ["v1", "routes"]) => self.routes(),
            (&Method::POST, ["v1", "routes", source, route, "pause"]) => self.pause_or_resume(source, route, true),
            (&Method::POST, ["v1", "routes", source, route, "resume"]) => self.pause_or_resume(source, route, false),
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
            return console::cookie_answer(None, false);
        }
        if peer == UNIX_PEER {
            return console::cookie_answer(None, false);
        }
        if let Err(wait) = self.sessions.may_try_login() {
            let mut resp = error(StatusCode::TOO_MANY_REQUESTS, "too_many_logins", "too many login attempts; wait");
            let secs = wait.as_secs().max(1).to_string();
            if let Ok(v) = http::HeaderValue::from_str(&secs) {
                resp.headers_mut().insert(http::header::RETRY_AFTER, v);
            }
            return resp;
        }
        let secure = req.headers().get(http::header::ORIGIN).is_some_and(|o| o.as_bytes().starts_with(b"https://"));
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
                console::cookie_answer(Some(&id), secure)
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
        let sources = self.sources.load();
        let waiting = self.store.waiting();
        let keys: Vec<(String, String)> =
            sources.iter().flat_map(|(s, src)| src.routes.iter().map(move |r| (s.clone(), r.name.clone()))).collect();
        self.metrics.routes(keys.iter().map(|k| crate::metrics::RouteGauges {
            source: &k.0,
            route: &k.1,
            state: self.flow.state(k).code(),
            waiting: waiting.get(k).copied().unwrap_or(0),
        }));
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
