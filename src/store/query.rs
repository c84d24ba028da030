//! The read side: one event with its deliveries, pages of events and of
//! dead deliveries (newest first, cursor-paginated), and the counts. Reads
//! only; a filter is the caller's predicate, so the store knows no query
//! language.

use super::counts::Stats;
use super::keys::{dedup_key, delivery_key, id_text, parse_id, split_delivery_key, Id};
use super::records::{DedupEntry, Delivery, Event, State};
use super::{lock, Result, Store, StoreError};
use bytes::Bytes;

/// One event and its deliveries (delivery `i` is route `i`).
#[derive(Debug, Clone)]
pub struct EventView {
    pub id: Id,
    pub event: Event,
    pub deliveries: Vec<Delivery>,
    /// The stored record is V2: a delivery with no record is fresh.
    pub(super) implies: bool,
}

impl EventView {
    /// `unrouted`, else whether any delivery is in `state`.
    pub fn has_status(&self, status: &str) -> bool {
        match status {
            "unrouted" => self.event.routes.is_empty(),
            s => self.deliveries.iter().any(|d| d.state.as_str() == s),
        }
    }
}

/// A dead delivery with its event.
#[derive(Debug, Clone)]
pub struct DeadView {
    pub id: Id,
    pub index: u16,
    pub event: Event,
    pub delivery: Delivery,
    /// As `EventView::implies`.
    implies: bool,
}

/// One page of a listing; `next_cursor` continues after its last item.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// A predicate over events, built by the caller from its filters.
pub type EventFilter<'a> = &'a dyn Fn(&EventView) -> bool;

impl Store {
    /// One event and its deliveries.
    pub fn event_view(&self, id: &Id) -> Result<Option<EventView>> {
        let Some((event, implies)) = self.event_entry(id)? else { return Ok(None) };
        let deliveries = self.indexed_deliveries(id, &event, implies)?.into_iter().map(|(_, d)| d).collect();
        Ok(Some(EventView { id: *id, event, deliveries, implies }))
    }

    /// One event and its deliveries, each attempt's output tail whole (read
    /// back from the log; the index keeps only the newest one's end).
    pub fn event_view_whole(&self, id: &Id) -> Result<Option<EventView>> {
        let Some((event, implies)) = self.event_entry(id)? else { return Ok(None) };
        let mut deliveries = Vec::new();
        for (index, mut d) in self.indexed_deliveries(id, &event, implies)? {
            self.whole_tails(id, index, &mut d);
            deliveries.push(d);
        }
        Ok(Some(EventView { id: *id, event, deliveries, implies }))
    }

    /// The event a sender's id names in `source`: the dedup index's entry
    /// (source, event id) → hookd id, while that event is still stored.
    pub fn find_by_event_id(&self, source: &str, event_id: &str) -> Result<Option<Id>> {
        let Some(raw) = self.dedup.get(dedup_key(source, event_id))? else { return Ok(None) };
        let entry = DedupEntry::decode(&raw).ok_or_else(|| StoreError::Corrupt("dedup entry".into()))?;
        Ok(self.events.contains_key(entry.id)?.then_some(entry.id))
    }

    /// The stored raw body of an event and the content type it came with
    /// (when the source's kind keeps it). `None`: no such event.
    pub fn event_body(&self, id: &Id) -> Result<Option<(Bytes, Option<String>)>> {
        let Some(event) = self.event(id)? else { return Ok(None) };
        let body = self.body(id, &event)?;
        let content_type = event.headers.iter().find(|(k, _)| k == "content-type").map(|(_, v)| v.clone());
        Ok(Some((body, content_type)))
    }

    /// The deliveries of an event with their indexes (one may be missing
    /// only while a removal is half done); `implies`: the event record is
    /// V2, so a delivery with no record is fresh.
    pub(super) fn indexed_deliveries(&self, id: &Id, event: &Event, implies: bool) -> Result<Vec<(u16, Delivery)>> {
        let mut out = Vec::with_capacity(event.routes.len());
        for index in 0..event.routes.len() {
            let index = u16::try_from(index).unwrap_or(u16::MAX);
            if let Some(d) = self.delivery_of(id, index, event, implies)? {
                out.push((index, d));
            }
        }
        Ok(out)
    }

    /// Every event, oldest first (for tests and small stores).
    pub fn all_events(&self) -> Result<Vec<EventView>> {
        let mut out = Vec::new();
        for entry in self.events.iter() {
            let (k, _) = entry?;
            out.extend(self.event_view(&event_id(&k)?)?);
        }
        Ok(out)
    }

    /// Up to `limit` events that `filter` keeps, newest first, starting
    /// after `cursor` (a hookd id from the previous page).
    pub fn list_events(&self, filter: EventFilter, limit: usize, cursor: Option<&str>) -> Result<Page<EventView>> {
        let before = match cursor {
            Some(c) => Some(parse_id(c).ok_or(StoreError::BadCursor)?),
            None => None,
        };
        let range = match before {
            Some(id) => self.events.range(..id),
            None => self.events.range::<&[u8], _>(..),
        };
        let mut items = Vec::new();
        for entry in range.rev() {
            let (k, _) = entry?;
            let Some(view) = self.event_view(&event_id(&k)?)? else { continue };
            if filter(&view) {
                items.push(view);
                if items.len() > limit {
                    break;
                }
            }
        }
        let next_cursor = (items.len() > limit).then(|| {
            items.truncate(limit);
            items.last().map(|v| id_text(&v.id))
        });
        Ok(Page { items, next_cursor: next_cursor.flatten() })
    }

    /// Up to `limit` dead deliveries whose event `filter` keeps, newest
    /// first, starting after `cursor`.
    pub fn list_dead(&self, filter: EventFilter, limit: usize, cursor: Option<&str>) -> Result<Page<DeadView>> {
        let before = match cursor {
            Some(c) => Some(parse_dead_cursor(c).ok_or(StoreError::BadCursor)?),
            None => None,
        };
        let range = match before {
            Some(k) => self.dead.range(..k.to_vec()),
            None => self.dead.range::<&[u8], _>(..),
        };
        let mut items = Vec::new();
        for entry in range.rev() {
            let (k, _) = entry?;
            let Some(view) = self.dead_view(&k)? else { continue };
            let event = EventView {
                id: view.id,
                event: view.event.clone(),
                deliveries: vec![view.delivery.clone()],
                implies: view.implies,
            };
            if filter(&event) {
                items.push(view);
                if items.len() > limit {
                    break;
                }
            }
        }
        let next_cursor = (items.len() > limit).then(|| {
            items.truncate(limit);
            items.last().map(|v| format!("{}.{}", id_text(&v.id), v.index))
        });
        Ok(Page { items, next_cursor: next_cursor.flatten() })
    }

    /// The dead delivery behind a DLQ entry, if it still is one.
    fn dead_view(&self, key: &[u8]) -> Result<Option<DeadView>> {
        let Some((id, index)) = split_delivery_key(key) else { return Ok(None) };
        let Some((event, implies)) = self.event_entry(&id)? else { return Ok(None) };
        let Some(delivery) = self.delivery_of(&id, index, &event, implies)? else { return Ok(None) };
        if delivery.state != State::Dead {
            return Ok(None);
        }
        Ok(Some(DeadView { id, index, event, delivery, implies }))
    }

    /// Counts per source and state, and the totals.
    pub fn stats(&self) -> Stats {
        self.counts.stats()
    }

    /// Each route's deliveries waiting to run (pending or retrying), by
    /// (source, route); partial while `stats().counting`.
    pub fn waiting(&self) -> std::collections::BTreeMap<(String, String), u64> {
        self.counts.waiting()
    }

    /// Rebuild the counts from the records: every event present at open,
    /// each read under its lock so that concurrent changes are counted
    /// once. Long on a large store; run it on a blocking thread.
    pub fn recount(&self) -> Result<()> {
        let Some(upto) = self.counts.recount_upto() else { return Ok(()) };
        let started = std::time::Instant::now();
        let mut n = 0u64;
        for entry in self.events.range(..=upto) {
            let (k, _) = entry?;
            let id = event_id(&k)?;
            let _guard = lock(&self.event_locks, &id);
            let view = self.event_view(&id)?;
            // A routed event with no delivery left is half removed: not counted.
            let view = view.filter(|v| v.event.routes.is_empty() || !v.deliveries.is_empty());
            let states: Vec<(String, State)> =
                view.iter().flat_map(|v| v.deliveries.iter().map(|d| (d.route.clone(), d.state))).collect();
            self.counts.counted(&id, view.as_ref().map(|v| (v.event.source.as_str(), states.as_slice())));
            n += 1;
        }
        self.counts.recount_done();
        tracing::info!(events = n, took_ms = started.elapsed().as_millis() as u64, "counts rebuilt");
        Ok(())
    }
}

fn event_id(key: &[u8]) -> Result<Id> {
    key.try_into().map_err(|_| StoreError::Corrupt("event key".into()))
}

/// `<hookd id>.<delivery index>` → the dead tree's key.
fn parse_dead_cursor(c: &str) -> Option<[u8; 18]> {
    let (id, index) = c.split_once('.')?;
    Some(delivery_key(&parse_id(id)?, index.parse().ok()?))
}
