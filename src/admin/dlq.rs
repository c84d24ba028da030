//! The admin API's DLQ paths: listing, replay (ids or a filter) and
//! purge (one, or by age and filter), each with `dry_run=true` answering
//! only the count it would touch.

use super::views::{dead_json, Filter};
use super::{
    bad_request, cursor, limit, not_found, parse, read_json, store_error, Admin, AdminError, Answer, MAX_LIMIT,
};
use crate::ingress::reply;
use crate::store::keys::{id_text, Id};
use crate::store::records::State;
use crate::store::{died_at, now_ms, DeadView, EventFilter, EventView, PurgeOutcome};
use http::StatusCode;
use hyper::body::Incoming;
use hyper::Request;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};

impl Admin {
    pub(super) fn list_dead(&self, q: &HashMap<String, String>) -> Answer {
        let filter = Filter::from_query(q).map_err(bad_request)?;
        let page = self.store.list_dead(&|v| filter.keeps(v), limit(q)?, cursor(q)).map_err(store_error)?;
        let items: Vec<Value> = page.items.iter().map(dead_json).collect();
        Ok(reply(StatusCode::OK, json!({"items": items, "next_cursor": page.next_cursor})))
    }

    /// `{"ids": [..]}`, or `{"all": true}` with optional `source` / `type`;
    /// with `dry_run`, only the count it would replay.
    pub(super) async fn replay_dead(&self, req: Request<Incoming>, dry_run: bool) -> Answer {
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
    pub(super) async fn purge(&self, id: &str, dry_run: bool) -> Answer {
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
    pub(super) async fn purge_filtered(&self, q: &HashMap<String, String>) -> Answer {
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
pub(super) fn dry_run(q: &HashMap<String, String>) -> Result<bool, AdminError> {
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
