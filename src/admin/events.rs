//! The admin API's event paths: listing (and finding by the sender's id),
//! one event with its attempts' whole tails and the routes it did not
//! take, its stored body, replay and retry — both of which say how many
//! deliveries they touched and, for none, why.

use super::views::{event_json, Filter};
use super::{bad_request, cursor, limit, not_found, parse, store_error, Admin, AdminError, Answer};
use crate::ingress::reply;
use crate::route;
use crate::store::keys::{id_text, Id};
use crate::store::records::State;
use crate::store::{EventView, RetryNow};
use http::{HeaderValue, StatusCode};
use http_body_util::Full;
use serde_json::{json, Value};
use std::collections::HashMap;

/// The handler's output may be longer than a tail this close to
/// `[dispatch] output_tail` (the cut may also drop up to 3 bytes of a
/// split UTF-8 character).
const CUT_SLACK: usize = 3;

impl Admin {
    /// `GET /v1/events`; with `event_id=E`, the events with that sender id
    /// (in `source=` when given, else in every configured source).
    pub(super) fn list_events(&self, q: &HashMap<String, String>) -> Answer {
        let filter = Filter::from_query(q).map_err(bad_request)?;
        if let Some(event_id) = q.get("event_id").filter(|e| !e.is_empty()) {
            let mut items = Vec::new();
            for id in self.find(q.get("source").filter(|s| !s.is_empty()), event_id)? {
                let view = self.store.event_view(&id).map_err(store_error)?;
                items.extend(view.filter(|v| filter.keeps(v)).map(|v| event_json(&v, false)));
            }
            return Ok(reply(StatusCode::OK, json!({"items": items, "next_cursor": null})));
        }
        let page = self.store.list_events(&|v| filter.keeps(v), limit(q)?, cursor(q)).map_err(store_error)?;
        let items: Vec<Value> = page.items.iter().map(|v| event_json(v, false)).collect();
        Ok(reply(StatusCode::OK, json!({"items": items, "next_cursor": page.next_cursor})))
    }

    /// Hookd ids of the events with sender id `event_id`.
    fn find(&self, source: Option<&String>, event_id: &str) -> Result<Vec<Id>, AdminError> {
        let names: Vec<String> = match source {
            Some(s) => vec![s.clone()],
            None => self.sources.load().keys().cloned().collect(),
        };
        let mut ids = Vec::new();
        for name in names {
            ids.extend(self.store.find_by_event_id(&name, event_id).map_err(store_error)?);
        }
        Ok(ids)
    }

    pub(super) fn show_event(&self, id: &str) -> Answer {
        let id = parse(id)?;
        let view = self.store.event_view_whole(&id).map_err(store_error)?.ok_or_else(|| not_found(&id))?;
        let mut out = event_json(&view, true);
        for d in out["deliveries"].as_array_mut().into_iter().flatten() {
            for a in d["attempts"].as_array_mut().into_iter().flatten() {
                let len = a["output_tail"].as_str().map_or(0, str::len);
                a["output_tail_cut"] = json!(self.output_tail > 0 && len + CUT_SLACK >= self.output_tail);
            }
        }
        out["routes_not_taken"] = json!(self.not_taken(&view));
        Ok(reply(StatusCode::OK, out))
    }

    /// Each route of the event's source (today's config) that it has no
    /// delivery for, and why.
    fn not_taken(&self, view: &EventView) -> Vec<Value> {
        let sources = self.sources.load();
        let Some(source) = sources.get(&view.event.source) else { return Vec::new() };
        let ty = &view.event.event_type;
        let body = self.store.event_body(&view.id).ok().flatten().map(|(b, _)| b).unwrap_or_default();
        let mut subject = crate::route::condition::Subject::new(&view.event.headers, &body);
        let untaken = source.routes.iter().filter(|r| !view.event.routes.contains(&r.name));
        untaken
            .map(|r| {
                let why = r.why_not(ty, &mut subject).unwrap_or_else(|| {
                    "it did not take the event when it arrived (the configuration changed since)".into()
                });
                json!({"route": r.name, "why": why})
            })
            .collect()
    }

    /// The stored raw body with the content type it came with. Served so
    /// that a browser never runs it: no sniffing, a sandboxing CSP.
    pub(super) fn event_body(&self, id: &str) -> Answer {
        let id = parse(id)?;
        let (body, content_type) = self.store.event_body(&id).map_err(store_error)?.ok_or_else(|| not_found(&id))?;
        let mut resp = hyper::Response::new(Full::new(body));
        let h = resp.headers_mut();
        let ct = content_type.and_then(|c| HeaderValue::from_str(&c).ok());
        h.insert(http::header::CONTENT_TYPE, ct.unwrap_or(HeaderValue::from_static("application/octet-stream")));
        h.insert(http::header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        h.insert(http::header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; sandbox"));
        h.insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Ok(resp)
    }

    /// Replay the finished deliveries (or route an unrouted event with
    /// today's config); for 0, the reason.
    pub(super) async fn replay_event(&self, id: &str) -> Answer {
        let id = parse(id)?;
        let mut replayed = self.store.replay_event(&id).await.map_err(store_error)?.ok_or_else(|| not_found(&id))?;
        if replayed == 0 {
            let sources = self.sources.load_full();
            let routed = self.store.route_unrouted(&id, |event, body| match sources.get(&event.source) {
                Some(source) => route::deliveries_for(&source.routes, &event.event_type, &event.headers, body),
                None => Vec::new(),
            });
            replayed = routed.await.map_err(store_error)?.unwrap_or(0);
        }
        self.queue.wake();
        tracing::info!(id = %id_text(&id), replayed, "event replayed");
        let mut out = json!({"id": id_text(&id), "replayed": replayed});
        if replayed == 0 {
            let view = self.store.event_view(&id).map_err(store_error)?;
            out["reason"] = json!(view.map(|v| why_no_replay(&v)).unwrap_or("the event is gone"));
        }
        Ok(reply(StatusCode::OK, out))
    }

    /// Make pending and retrying deliveries due now; for 0, the reason.
    pub(super) async fn retry_event(&self, id: &str) -> Answer {
        let id = parse(id)?;
        let answers = self.store.retry_now(&id).await.map_err(store_error)?.ok_or_else(|| not_found(&id))?;
        let retried = answers.iter().filter(|(_, r)| matches!(r, RetryNow::Started | RetryNow::Due)).count();
        self.queue.wake();
        tracing::info!(id = %id_text(&id), retried, "event retried now");
        let deliveries: Vec<Value> =
            answers.iter().map(|(route, r)| json!({"route": route, "result": retry_text(*r)})).collect();
        let mut out = json!({"id": id_text(&id), "retried": retried, "deliveries": deliveries});
        if retried == 0 {
            out["reason"] = json!(why_no_retry(&answers));
        }
        Ok(reply(StatusCode::OK, out))
    }
}

fn retry_text(r: RetryNow) -> &'static str {
    match r {
        RetryNow::Started => "due now",
        RetryNow::Due => "already due",
        RetryNow::Running => "an attempt is running",
        RetryNow::Parked => "waiting behind an earlier event with the same order_by key",
        RetryNow::Finished(State::Dead) => "dead (use replay)",
        RetryNow::Finished(_) => "delivered (use replay to run it again)",
    }
}

fn why_no_retry(answers: &[(String, RetryNow)]) -> String {
    if answers.is_empty() {
        return "the event has no deliveries (unrouted): replay routes it with today's configuration".into();
    }
    let each: Vec<String> = answers.iter().map(|(route, r)| format!("{route}: {}", retry_text(*r))).collect();
    format!("nothing is waiting for a retry ({})", each.join("; "))
}

fn why_no_replay(v: &EventView) -> &'static str {
    if v.event.routes.is_empty() {
        return "the event still matches no route of today's configuration";
    }
    if v.deliveries.iter().any(|d| !d.state.is_terminal()) {
        return "its deliveries are still pending or retrying (retry runs them now)";
    }
    "it has no finished delivery to replay"
}
