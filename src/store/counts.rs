//! Delivery counts per source and state, and the waiting (pending or
//! retrying) deliveries of each route, kept in memory beside the store so
//! that `stats`, `GET /v1/routes` and the metrics gauges cost nothing per
//! scrape. Recounted
//! from the records after every open, in the background (a large store
//! would otherwise hold up readiness); every state change goes through here.

use super::keys::Id;
use super::records::State;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// How many deliveries of one source are in each state; `unrouted` counts
/// events that matched no route.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SourceCounts {
    pub pending: u64,
    pub retrying: u64,
    pub delivered: u64,
    pub dead: u64,
    pub unrouted: u64,
}

impl SourceCounts {
    fn slot(&mut self, state: State) -> &mut u64 {
        match state {
            State::Pending => &mut self.pending,
            State::Retrying => &mut self.retrying,
            State::Delivered => &mut self.delivered,
            State::Dead => &mut self.dead,
        }
    }

    pub fn add(&mut self, state: State) {
        *self.slot(state) += 1;
    }

    fn remove(&mut self, state: State) {
        let slot = self.slot(state);
        *slot = slot.saturating_sub(1);
    }
}

/// Every source's counts, plus the totals an operator asks for first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub sources: BTreeMap<String, SourceCounts>,
    /// Deliveries waiting to run: pending + retrying.
    pub queue_depth: u64,
    pub dlq_size: u64,
    /// The recount after open is still running: the numbers cover the
    /// events counted so far and everything since.
    pub counting: bool,
}

/// The counts, and how far the recount after open has come. Until it is
/// done, a change to an event it has not reached is left to it (it will
/// read the changed record); the recount advances under each event's lock,
/// as every change does, so each event is counted exactly once.
#[derive(Default)]
pub(super) struct Counts(Mutex<Inner>);

/// A route, named within its source.
type RouteName = (String, String);

#[derive(Default)]
struct Inner {
    map: BTreeMap<String, SourceCounts>,
    waiting: BTreeMap<RouteName, u64>,
    recount: Option<Progress>,
}

struct Progress {
    /// The newest event present at open: newer ones are always counted live.
    upto: Id,
    /// The newest event the recount has counted.
    through: Option<Id>,
}

impl Inner {
    fn applies(&self, id: &Id) -> bool {
        match &self.recount {
            None => true,
            Some(p) => *id > p.upto || p.through.is_some_and(|t| *id <= t),
        }
    }

    fn source(&mut self, source: &str) -> &mut SourceCounts {
        self.map.entry(source.to_string()).or_default()
    }

    /// One delivery of `route` entered `state` (`+1`) or left it (`-1`).
    fn route(&mut self, source: &str, route: &str, state: State, delta: i64) {
        if !matches!(state, State::Pending | State::Retrying) {
            return;
        }
        let n = self.waiting.entry((source.to_string(), route.to_string())).or_default();
        *n = n.saturating_add_signed(delta);
    }
}

impl Counts {
    fn with(&self, f: impl FnOnce(&mut Inner)) {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// At open: the store's newest event is `upto` (none: nothing to count).
    pub fn start_recount(&self, upto: Option<Id>) {
        self.with(|c| {
            c.map.clear();
            c.waiting.clear();
            c.recount = upto.map(|upto| Progress { upto, through: None });
        });
    }

    /// The recount's bound, while it is to run.
    pub fn recount_upto(&self) -> Option<Id> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).recount.as_ref().map(|p| p.upto)
    }

    /// The recount read event `id` (gone: `None`): count it, move past it.
    /// Caller holds the event's lock.
    pub fn counted(&self, id: &Id, event: Option<(&str, &[(String, State)])>) {
        self.with(|c| {
            if let Some((source, states)) = event {
                let s = c.source(source);
                if states.is_empty() {
                    s.unrouted += 1;
                }
                states.iter().for_each(|(_, st)| s.add(*st));
                states.iter().for_each(|(r, st)| c.route(source, r, *st, 1));
            }
            if let Some(p) = &mut c.recount {
                p.through = Some(*id);
            }
        });
    }

    pub fn recount_done(&self) {
        self.with(|c| c.recount = None);
    }

    /// A new event with a pending delivery for each of `routes` (none:
    /// unrouted).
    pub fn accepted(&self, id: &Id, source: &str, routes: &[String]) {
        self.with(|c| {
            if !c.applies(id) {
                return;
            }
            let s = c.source(source);
            match routes.len() {
                0 => s.unrouted += 1,
                n => s.pending += n as u64,
            }
            routes.iter().for_each(|r| c.route(source, r, State::Pending, 1));
        });
    }

    /// An unrouted event got `routes` pending deliveries (replay with
    /// today's routes). Caller holds the event's lock.
    pub fn rerouted(&self, id: &Id, source: &str, routes: &[String]) {
        self.with(|c| {
            if c.applies(id) {
                let s = c.source(source);
                s.unrouted = s.unrouted.saturating_sub(1);
                s.pending += routes.len() as u64;
                routes.iter().for_each(|r| c.route(source, r, State::Pending, 1));
            }
        });
    }

    /// A delivery of event `id` changed state. Caller holds the event's lock.
    pub fn moved(&self, id: &Id, source: &str, route: &str, from: State, to: State) {
        self.with(|c| {
            if from != to && c.applies(id) {
                let s = c.source(source);
                s.remove(from);
                s.add(to);
                c.route(source, route, from, -1);
                c.route(source, route, to, 1);
            }
        });
    }

    /// Event `id` left the store, with deliveries in `states` (none:
    /// unrouted). Caller holds the event's lock.
    pub fn purged(&self, id: &Id, source: &str, states: &[(String, State)]) {
        self.with(|c| {
            if !c.applies(id) {
                return;
            }
            let s = c.source(source);
            if states.is_empty() {
                s.unrouted = s.unrouted.saturating_sub(1);
            }
            states.iter().for_each(|(_, st)| s.remove(*st));
            states.iter().for_each(|(r, st)| c.route(source, r, *st, -1));
        });
    }

    /// Each route's deliveries waiting to run (pending or retrying).
    pub fn waiting(&self) -> BTreeMap<RouteName, u64> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).waiting.clone()
    }

    pub fn stats(&self) -> Stats {
        let inner = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let sources = inner.map.clone();
        let queue_depth = sources.values().map(|s| s.pending + s.retrying).sum();
        let dlq_size = sources.values().map(|s| s.dead).sum();
        Stats { sources, queue_depth, dlq_size, counting: inner.recount.is_some() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> Id {
        [n; 16]
    }

    /// Each event is counted once whether it changes before or after the
    /// recount reaches it, and new events count at once.
    #[test]
    fn a_change_is_left_to_the_recount_until_it_passes() {
        let c = Counts::default();
        c.start_recount(Some(id(5)));
        // Event 3 finishes before the recount reads it: left to the recount,
        // which then reads it as delivered.
        c.moved(&id(3), "s", "r", State::Pending, State::Delivered);
        c.counted(&id(3), Some(("s", &[("r".into(), State::Delivered)])));
        // Event 4 is read pending, then dies: counted live.
        c.counted(&id(4), Some(("s", &[("r".into(), State::Pending)])));
        c.moved(&id(4), "s", "r", State::Pending, State::Dead);
        // Event 9 arrived after open.
        c.accepted(&id(9), "s", &["r".into()]);
        assert!(c.stats().counting);
        c.recount_done();
        let s = c.stats();
        let want = SourceCounts { pending: 1, retrying: 0, delivered: 1, dead: 1, unrouted: 0 };
        assert_eq!((s.sources["s"], s.counting, s.dlq_size, s.queue_depth), (want, false, 1, 1));
        assert_eq!(c.waiting()[&("s".to_string(), "r".to_string())], 1);
    }

    #[test]
    fn an_empty_store_needs_no_recount() {
        let c = Counts::default();
        c.start_recount(None);
        c.accepted(&id(1), "s", &[]);
        assert_eq!((c.stats().counting, c.stats().sources["s"].unrouted), (false, 1));
    }
}
