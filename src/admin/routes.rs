//! The admin API's views of the configuration in force and of the feed:
//! `GET /v1/routes` (each route, its flow state and counts) and
//! `POST /v1/routes/{source}/{route}/pause|resume`, `GET /v1/stats/minutes`
//! (received / delivered / failed per minute over the last hour, for the
//! console's chart) and `GET /v1/tail`. Never shows a secret: a callback's
//! URL loses its user info and query.

use super::tail::{self, AdminBody, TailFilter};
use super::views::time;
use super::{bad_request, store_error, Admin, AdminError};
use crate::flow::RouteState;
use crate::ingress::reply;
use crate::route::Handler;
use crate::store::keys::lane;
use crate::store::now_ms;
use http::{HeaderValue, StatusCode};
use serde_json::{json, Value};
use std::collections::HashMap;

/// `due` counts stop here: counting is a scan of the route's lane.
const DUE_COUNT_CAP: usize = 100_000;

impl Admin {
    /// Every configured route with its flow state (SPEC §5): running,
    /// paused (since), breaker open (until; `null` while the probe runs),
    /// and its deliveries waiting (pending or retrying), due now (counted
    /// up to `DUE_COUNT_CAP`) and running.
    pub(super) fn routes(&self) -> Result<crate::http::HttpResponse, AdminError> {
        let sources = self.sources.load();
        let waiting = self.store.waiting();
        let now = now_ms();
        let mut items = Vec::new();
        for (name, source) in sources.iter() {
            for r in &source.routes {
                let (kind, target) = handler(&r.handler);
                let key = (name.clone(), r.name.clone());
                let state = self.flow.state(&key);
                let due = self.store.due_count(lane(name, &r.name), now, DUE_COUNT_CAP).map_err(store_error)?;
                let l = &r.limits;
                items.push(json!({
                    "source": name,
                    "route": r.name,
                    "events": r.events,
                    "handler": kind,
                    "target": target,
                    "timeout_ms": r.timeout.as_millis() as u64,
                    "concurrency": l.concurrency,
                    "order_by": r.order_by,
                    "priority": l.priority,
                    "rate": l.rate_text,
                    "breaker": l.breaker.map(|b| json!({"failures": b.failures, "cool_down_ms": b.cool_down.as_millis() as u64})),
                    "state": state.name(),
                    "paused_since": match state { RouteState::Paused { since_ms } => json!(time(since_ms)), _ => Value::Null },
                    "breaker_open_until": match state {
                        RouteState::BreakerOpen { until_ms: Some(at) } => json!(time(at)),
                        _ => Value::Null,
                    },
                    "waiting": waiting.get(&key).copied().unwrap_or(0),
                    "due": due,
                    "running": self.flow.running(&key),
                }));
            }
        }
        Ok(reply(StatusCode::OK, json!({"items": items, "next_cursor": null})))
    }

    /// `POST /v1/routes/{source}/{route}/pause|resume`: durable before the
    /// answer. Attempts already running finish; a resumed route's due
    /// deliveries start at once.
    pub(super) fn pause_or_resume(
        &self,
        source: &str,
        route: &str,
        pause: bool,
    ) -> Result<crate::http::HttpResponse, AdminError> {
        let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
        let (source, route) = (decode(source), decode(route));
        let known = self.sources.load().get(&source).is_some_and(|s| s.routes.iter().any(|r| r.name == route));
        if !known {
            return Err(AdminError::NotFound(format!("no route {route:?} of source {source:?}")));
        }
        let key = (source.clone(), route.clone());
        let changed = match pause {
            true => self.flow.pause(&key, now_ms()),
            false => self.flow.resume(&key),
        }
        .map_err(store_error)?;
        if changed {
            let what = if pause { "paused" } else { "resumed" };
            tracing::info!(%source, %route, "route {what} by an operator");
        }
        if !pause {
            self.queue.wake();
        }
        let state = self.flow.state(&key);
        Ok(reply(StatusCode::OK, json!({"source": source, "route": route, "state": state.name(), "changed": changed})))
    }

    /// The last hour, per minute, oldest first; counted in memory since
    /// this hookd started (`counting_since`).
    pub(super) fn minutes(&self) -> crate::http::HttpResponse {
        let minutes: Vec<Value> = self
            .feed
            .last_hour(now_ms())
            .iter()
            .map(|m| json!({"at": time(m.minute * 60_000), "received": m.received, "delivered": m.delivered, "failed": m.failed}))
            .collect();
        reply(StatusCode::OK, json!({"minutes": minutes, "counting_since": time(self.feed.started_ms())}))
    }

    pub(super) fn tail(&self, q: &HashMap<String, String>) -> Result<hyper::Response<AdminBody>, AdminError> {
        let event_type = match q.get("type").filter(|t| !t.is_empty()) {
            Some(t) => Some(
                globset::Glob::new(t)
                    .map_err(|e| bad_request(format!("bad type glob: {}", e.kind())))?
                    .compile_matcher(),
            ),
            None => None,
        };
        let filter = TailFilter { source: q.get("source").filter(|s| !s.is_empty()).cloned(), event_type };
        let mut resp = hyper::Response::new(tail::stream(&self.feed, filter, self.shutdown.clone()));
        let h = resp.headers_mut();
        h.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        h.insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert("x-accel-buffering", HeaderValue::from_static("no"));
        Ok(resp)
    }
}

/// The handler's kind and what it runs or calls, without secrets.
fn handler(h: &Handler) -> (&'static str, String) {
    match h {
        Handler::Command { argv } => ("command", argv.first().cloned().unwrap_or_default()),
        Handler::Callback { url, .. } => ("url", shown_url(url)),
        Handler::Nats(target) => ("nats", target.describe()),
    }
}

/// Scheme, host and path: no user info, no query (either may hold a token).
fn shown_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{host}/{path}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn shown_urls_lose_user_info_and_query() {
        assert_eq!(super::shown_url("https://u:p@h.example:8443/x/y?token=1"), "https://h.example:8443/x/y");
        assert_eq!(super::shown_url("http://127.0.0.1:3000"), "http://127.0.0.1:3000/");
    }
}
