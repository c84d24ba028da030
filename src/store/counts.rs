//! Delivery counts per source and state, kept in memory beside the store so
//! that `stats` and the metrics gauges cost nothing per scrape. Recounted
//! from the records at every open; every state change goes through here.

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
}

#[derive(Default)]
pub(super) struct Counts(Mutex<BTreeMap<String, SourceCounts>>);

impl Counts {
    fn with(&self, f: impl FnOnce(&mut BTreeMap<String, SourceCounts>)) {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()));
    }

    pub fn reset(&self, counts: BTreeMap<String, SourceCounts>) {
        self.with(|c| *c = counts);
    }

    /// A new event with `routes` pending deliveries (none: unrouted).
    pub fn accepted(&self, source: &str, routes: usize) {
        self.with(|c| {
            let s = c.entry(source.to_string()).or_default();
            match routes {
                0 => s.unrouted += 1,
                n => s.pending += n as u64,
            }
        });
    }

    pub fn moved(&self, source: &str, from: State, to: State) {
        if from != to {
            self.with(|c| {
                let s = c.entry(source.to_string()).or_default();
                s.remove(from);
                s.add(to);
            });
        }
    }

    /// An event left the store, with deliveries in `states` (none: unrouted).
    pub fn purged(&self, source: &str, states: &[State]) {
        self.with(|c| {
            let s = c.entry(source.to_string()).or_default();
            if states.is_empty() {
                s.unrouted = s.unrouted.saturating_sub(1);
            }
            states.iter().for_each(|st| s.remove(*st));
        });
    }

    pub fn stats(&self) -> Stats {
        let sources = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let queue_depth = sources.values().map(|s| s.pending + s.retrying).sum();
        let dlq_size = sources.values().map(|s| s.dead).sum();
        Stats { sources, queue_depth, dlq_size }
    }
}
