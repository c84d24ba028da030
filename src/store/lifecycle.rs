//! What happens to an event after its deliveries end: replay (new attempts,
//! same event), purge from the DLQ, and retention (delivered and dead events
//! removed after their time, dedup keys after their window). A purged
//! event's dedup key is retired, not removed, so the window still holds.

use super::keys::{dedup_key, delivery_key, id_ms, id_text, lane, order_key, order_prefix, DueKey, Id};
use super::query::EventView;
use super::records::{encode, Body, Change, DedupEntry, Event, EventRecord, State};
use super::{lock, now_ms, NewDelivery, Result, Store, StoreError};
use std::sync::Mutex;
use std::time::Duration;

/// Events removed per retention pass at most, so a pass never stalls ingest
/// for long; the next pass goes on.
const EXPIRE_BATCH: usize = 10_000;
/// Dedup entries looked at per pass (a rolling sweep over the tree).
const DEDUP_SWEEP: usize = 20_000;

/// How long things are kept.
pub struct Retention<'a> {
    pub delivered: Duration,
    pub dead: Duration,
    /// The dedup window of a source (sources may override the default).
    pub dedup_window: &'a (dyn Fn(&str) -> Duration + Sync),
}

/// What one retention pass removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Expired {
    pub events: usize,
    pub dedup_keys: usize,
}

/// Where the rolling dedup sweep goes on from.
#[derive(Default)]
pub struct SweepCursor(Mutex<Vec<u8>>);

impl Store {
    /// Replay every finished delivery of an event (delivered or dead):
    /// pending again, due now, attempt numbers going on. Deliveries still
    /// pending or retrying are left alone (they will run anyway). `None`:
    /// no such event.
    pub async fn replay_event(&self, id: &Id) -> Result<Option<usize>> {
        let n = self.replay_where(id, State::is_terminal)?;
        self.sync().await?;
        Ok(n)
    }

    /// Route an event that matched no route when it arrived, with `route`
    /// (the routes of today's config for its type and body): new pending
    /// deliveries, due now. Write order: deliveries (record, order line,
    /// due entry), then the event record listing the routes. `None`: no
    /// such event; `Some(0)`: it was routed already, or still matches none.
    pub async fn route_unrouted(
        &self,
        id: &Id,
        route: impl FnOnce(&Event, &[u8]) -> Vec<NewDelivery>,
    ) -> Result<Option<usize>> {
        let n = {
            let _guard = lock(&self.event_locks, id);
            let Some(mut event) = self.event(id)? else { return Ok(None) };
            if !event.routes.is_empty() {
                return Ok(Some(0));
            }
            let body = self.body(id, &event)?;
            let new = route(&event, &body);
            let at_ms = now_ms();
            self.add_deliveries(id, &event.source, &new, at_ms, true)?;
            if !new.is_empty() {
                event.routes = new.iter().map(|d| d.route.clone()).collect();
                self.events.insert(id, encode(&EventRecord::V1(event.clone()))?)?;
                self.counts.rerouted(id, &event.source, &event.routes);
                self.log(Change::Routed {
                    id: *id,
                    routes: event.routes.clone(),
                    order_keys: new.iter().map(|d| d.order_key.clone()).collect(),
                    at_ms,
                })?;
            }
            new.len()
        };
        self.sync().await?;
        Ok(Some(n))
    }

    /// Replay the dead deliveries of an event. `None`: no such event.
    pub async fn replay_dead(&self, id: &Id) -> Result<Option<usize>> {
        let n = self.replay_where(id, |s| s == State::Dead)?;
        self.sync().await?;
        Ok(n)
    }

    /// Make the event's pending and retrying deliveries due now (`retry`):
    /// the retry budget and attempt numbers go on as they were. Write
    /// order: new due entry, record, old due entry removed. Not a log
    /// record: a retry-now lost to a crash leaves the delivery due when it
    /// was before, which is a state it had. `None`: no such event.
    pub async fn retry_now(&self, id: &Id) -> Result<Option<Vec<(String, RetryNow)>>> {
        let answers = {
            let _guard = lock(&self.event_locks, id);
            let Some((event, implies)) = self.event_entry(id)? else { return Ok(None) };
            let now = now_ms();
            let mut answers = Vec::new();
            for (index, mut d) in self.indexed_deliveries(id, &event, implies)? {
                let why = match d.state {
                    s if s.is_terminal() => RetryNow::Finished(s),
                    _ if d.attempts.last().is_some_and(|a| a.ended_ms.is_none()) => RetryNow::Running,
                    _ if d.next_due_ms == super::PARKED => RetryNow::Parked,
                    _ if d.next_due_ms <= now => RetryNow::Due,
                    _ => {
                        let old = DueKey { lane: lane(&event.source, &d.route), due_ms: d.next_due_ms, id: *id, index };
                        self.due.insert(DueKey { due_ms: now, ..old }.encode(), &[])?;
                        d.next_due_ms = now;
                        self.put_delivery(&delivery_key(id, index), d.clone())?;
                        self.due.remove(old.encode())?;
                        RetryNow::Started
                    }
                };
                answers.push((d.route, why));
            }
            answers
        };
        self.sync().await?;
        Ok(Some(answers))
    }

    /// Write order per delivery: order line, due entry, record, DLQ entry
    /// removed — a prefix leaves it dead (nothing happened) or pending.
    fn replay_where(&self, id: &Id, which: impl Fn(State) -> bool) -> Result<Option<usize>> {
        let _guard = lock(&self.event_locks, id);
        let Some((event, implies)) = self.event_entry(id)? else { return Ok(None) };
        let now = now_ms();
        let mut replayed = 0;
        for (index, mut d) in self.indexed_deliveries(id, &event, implies)? {
            if !which(d.state) {
                continue;
            }
            let dk = delivery_key(id, index);
            if let Some(k) = &d.order_key {
                self.order.insert(order_key(&order_prefix(&event.source, &d.route, k), id, index), &[])?;
            }
            let lane = lane(&event.source, &d.route);
            self.due.insert(DueKey { lane, due_ms: now, id: *id, index }.encode(), &[])?;
            let (before, route) = (d.state, d.route.clone());
            d.state = State::Pending;
            d.next_due_ms = now;
            d.dead_reason = None;
            d.replayed_after = d.attempts.len() as u32;
            let replayed_after = d.replayed_after;
            self.put_delivery(&dk, d)?;
            self.dead.remove(dk)?;
            self.log(Change::Replayed { id: *id, index, at_ms: now, replayed_after })?;
            self.counts.moved(id, &event.source, &route, before, State::Pending);
            replayed += 1;
        }
        Ok(Some(replayed))
    }

    /// Remove an event that has a dead delivery and nothing in flight.
    pub async fn purge_dead(&self, id: &Id) -> Result<PurgeOutcome> {
        let outcome = {
            let _guard = lock(&self.event_locks, id);
            match self.event_view(id)? {
                None => PurgeOutcome::NotFound,
                Some(v) if !v.deliveries.iter().any(|d| d.state == State::Dead) => PurgeOutcome::NotDead,
                Some(v) if !v.deliveries.iter().all(|d| d.state.is_terminal()) => PurgeOutcome::InFlight,
                Some(v) => {
                    self.remove_event(&v)?;
                    PurgeOutcome::Purged
                }
            }
        };
        self.sync().await?;
        Ok(outcome)
    }

    /// One retention pass: finished events past their retention, then a
    /// slice of the dedup keys past their window.
    pub fn expire(&self, now: u64, keep: &Retention, sweep: &SweepCursor) -> Result<Expired> {
        let shortest = keep.delivered.min(keep.dead).as_millis() as u64;
        let mut expired = Expired::default();
        let mut stale = Vec::new();
        for entry in self.events.iter() {
            let (k, _) = entry?;
            let id: Id = k.as_ref().try_into().map_err(|_| StoreError::Corrupt("event key".into()))?;
            if id_ms(&id) + shortest > now || stale.len() >= EXPIRE_BATCH {
                break;
            }
            stale.push(id);
        }
        for id in stale {
            let _guard = lock(&self.event_locks, &id);
            let Some(view) = self.event_view(&id)? else { continue };
            if expires_at(&view, keep).is_some_and(|at| at <= now) {
                self.remove_event(&view)?;
                expired.events += 1;
            }
        }
        expired.dedup_keys = self.sweep_dedup(now, keep, sweep)?;
        Ok(expired)
    }

    /// Up to `DEDUP_SWEEP` dedup entries from where the last pass stopped;
    /// those past their source's window are removed.
    fn sweep_dedup(&self, now: u64, keep: &Retention, sweep: &SweepCursor) -> Result<usize> {
        let mut cursor = sweep.0.lock().unwrap_or_else(|p| p.into_inner());
        let mut removed = 0;
        let mut seen = 0;
        let mut last = None;
        for entry in self.dedup.range(cursor.clone()..) {
            let (k, v) = entry?;
            seen += 1;
            let source = k.split(|b| *b == 0).next().map(String::from_utf8_lossy).unwrap_or_default();
            let window = (keep.dedup_window)(&source).as_millis() as u64;
            let _guard = lock(&self.locks, &k);
            if DedupEntry::decode(&v).is_none_or(|e| e.received_ms + window < now) {
                self.dedup.remove(&k)?;
                removed += 1;
            }
            last = Some(k);
            if seen >= DEDUP_SWEEP {
                break;
            }
        }
        *cursor = match (seen >= DEDUP_SWEEP, last) {
            (true, Some(k)) => [k.as_ref(), &[0]].concat(),
            _ => Vec::new(),
        };
        Ok(removed)
    }

    /// Delete an event from the index and log that it is gone. Caller holds
    /// the event lock.
    fn remove_event(&self, view: &EventView) -> Result<()> {
        self.remove_from_index(view)?;
        self.log(Change::Removed { id: view.id })?;
        Ok(())
    }

    /// Delete an event, its deliveries and body; retire its dedup key.
    /// Write order: dedup retired, deliveries and their index entries, the
    /// event record last — so a crash midway leaves an event that the next
    /// retention pass finishes removing. Caller holds the event lock and
    /// read `view` under it (`event_view`): its `implies` decides the V1
    /// rewrite.
    pub(super) fn remove_from_index(&self, view: &EventView) -> Result<()> {
        let id = view.id;
        let dkey = dedup_key(&view.event.source, &view.event.event_id);
        {
            let _dedup = lock(&self.locks, &dkey);
            let entry = self.dedup.get(&dkey)?.and_then(|raw| DedupEntry::decode(&raw));
            if let Some(entry) = entry.filter(|e| e.id == id) {
                self.dedup.insert(&dkey, &DedupEntry { retired: true, ..entry }.encode())?;
            }
        }
        // A V2 record would make every delivery record removed below look
        // fresh again if a crash came midway: say first that the event's
        // deliveries are all written out (V1).
        if view.implies {
            self.events.insert(id, encode(&EventRecord::V1(view.event.clone()))?)?;
        }
        for (index, d) in self.indexed_deliveries(&id, &view.event, view.implies)? {
            let dk = delivery_key(&id, index);
            self.dead.remove(dk)?;
            if let Some(k) = &d.order_key {
                self.order.remove(order_key(&order_prefix(&view.event.source, &d.route, k), &id, index))?;
            }
            for tail in self.tails.scan_prefix(dk) {
                self.tails.remove(tail?.0)?;
            }
            self.deliveries.remove(dk)?;
        }
        self.events.remove(id)?;
        if matches!(view.event.body, Body::Spooled { .. }) {
            let _ = std::fs::remove_file(self.spool.join(id_text(&id)));
        }
        let states: Vec<(String, State)> = view.deliveries.iter().map(|d| (d.route.clone(), d.state)).collect();
        self.counts.purged(&id, &view.event.source, &states);
        Ok(())
    }
}

/// What `retry_now` did with one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryNow {
    /// It was waiting for a retry; it is due now.
    Started,
    /// It was due already (it starts as soon as a slot is free).
    Due,
    /// An attempt is running.
    Running,
    /// It waits behind an earlier delivery with its `order_by` key.
    Parked,
    /// Delivered or dead: that is `replay`'s.
    Finished(State),
}

/// What `purge_dead` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurgeOutcome {
    Purged,
    NotFound,
    /// The event has no dead delivery.
    NotDead,
    /// A delivery of it is still pending or retrying.
    InFlight,
}

/// When a finished event may go: its last attempt's end plus the retention
/// of its worst state; unrouted events count from arrival. `None`: still in
/// flight.
pub fn expires_at(view: &EventView, keep: &Retention) -> Option<u64> {
    if !view.deliveries.iter().all(|d| d.state.is_terminal()) {
        return None;
    }
    let ended = view.deliveries.iter().flat_map(|d| d.attempts.iter().filter_map(|a| a.ended_ms)).max();
    let since = ended.unwrap_or(view.event.received_ms).max(view.event.received_ms);
    let dead = view.deliveries.iter().any(|d| d.state == State::Dead);
    let keep = if dead { keep.dead } else { keep.delivered };
    Some(since + keep.as_millis() as u64)
}

/// When the last attempt of a dead delivery ended (its time of death).
pub fn died_at(d: &super::records::Delivery) -> Option<u64> {
    d.attempts.iter().filter_map(|a| a.ended_ms).max()
}
