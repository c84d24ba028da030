//! The admin API's JSON shapes and its list filters. The JSON names are the
//! contract the CLI and scripts read; bodies and sender headers are never
//! included (headers may carry tokens), only the body's size.

use crate::store::keys::id_text;
use crate::store::records::{Attempt, Body, Delivery};
use crate::store::{died_at, DeadView, EventView, PARKED};
use globset::GlobMatcher;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, UNIX_EPOCH};

pub const STATUSES: [&str; 5] = ["pending", "retrying", "delivered", "dead", "unrouted"];

/// `source`, `status` and `type` (a glob, like route `events`) filters.
pub struct Filter {
    source: Option<String>,
    status: Option<String>,
    event_type: Option<GlobMatcher>,
}

impl Filter {
    pub fn from_query(q: &HashMap<String, String>) -> Result<Filter, String> {
        let status = q.get("status").filter(|s| !s.is_empty()).cloned();
        if let Some(s) = &status {
            if !STATUSES.contains(&s.as_str()) {
                return Err(format!("status must be one of {}", STATUSES.join(", ")));
            }
        }
        let event_type = match q.get("type").filter(|t| !t.is_empty()) {
            Some(t) => {
                Some(globset::Glob::new(t).map_err(|e| format!("bad type glob: {}", e.kind()))?.compile_matcher())
            }
            None => None,
        };
        Ok(Filter { source: q.get("source").filter(|s| !s.is_empty()).cloned(), status, event_type })
    }

    pub fn keeps(&self, v: &EventView) -> bool {
        self.source.as_ref().is_none_or(|s| *s == v.event.source)
            && self.event_type.as_ref().is_none_or(|g| g.is_match(&v.event.event_type))
            && self.status.as_ref().is_none_or(|s| v.has_status(s))
    }
}

/// An RFC 3339 time from epoch milliseconds.
pub fn time(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// The event's overall status: unrouted, else its least finished delivery.
pub fn status(v: &EventView) -> &'static str {
    if v.event.routes.is_empty() {
        return "unrouted";
    }
    ["dead", "retrying", "pending"].into_iter().find(|s| v.has_status(s)).unwrap_or("delivered")
}

pub fn event_json(v: &EventView, full: bool) -> Value {
    let body_bytes = match &v.event.body {
        Body::Inline(b) => b.len() as u64,
        Body::Spooled { len } | Body::Logged { len, .. } => *len,
    };
    json!({
        "id": id_text(&v.id),
        "source": v.event.source,
        "event_id": v.event.event_id,
        "event_type": v.event.event_type,
        "received_at": time(v.event.received_ms),
        "status": status(v),
        "body_bytes": body_bytes,
        "deliveries": v.deliveries.iter().map(|d| delivery_json(d, full)).collect::<Vec<_>>(),
    })
}

fn delivery_json(d: &Delivery, full: bool) -> Value {
    let live = !d.state.is_terminal();
    let mut out = json!({
        "route": d.route,
        "state": d.state.as_str(),
        "attempt_count": d.attempts.len(),
        "next_due_at": (live && d.next_due_ms != PARKED).then(|| time(d.next_due_ms)),
        "waiting_for_order_key": live && d.next_due_ms == PARKED,
        "order_key": d.order_key,
        "dead_reason": d.dead_reason,
    });
    if full {
        out["attempts"] = d.attempts.iter().map(attempt_json).collect();
    }
    out
}

fn attempt_json(a: &Attempt) -> Value {
    json!({
        "number": a.number,
        "started_at": time(a.started_ms),
        "ended_at": a.ended_ms.map(time),
        "outcome": a.outcome,
        "duration_ms": a.ended_ms.map(|e| e.saturating_sub(a.started_ms)),
        "exit_code": a.exit_code,
        "http_status": a.http_status,
        "output_tail": a.output_tail,
    })
}

pub fn dead_json(d: &DeadView) -> Value {
    json!({
        "id": id_text(&d.id),
        "source": d.event.source,
        "event_id": d.event.event_id,
        "event_type": d.event.event_type,
        "received_at": time(d.event.received_ms),
        "route": d.delivery.route,
        "attempt_count": d.delivery.attempts.len(),
        "dead_reason": d.delivery.dead_reason,
        "died_at": died_at(&d.delivery).map(time),
    })
}
