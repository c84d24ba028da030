//! One scan of the due index: which due deliveries start now, for the free
//! global slots. The index is one lane per route; each lane's head is one
//! seek, and a paused, breaker-open, full or rate-spent route is passed by
//! without reading further into its lane, however long it is. The rest are
//! taken by `priority` (higher first: strict, so a lower priority runs on
//! what higher ones leave — their `concurrency`, `rate` or an empty lane)
//! and, within one priority, in due order across routes. Also says when
//! to look again. Never starts anything itself.

use crate::config::Sources;
use crate::flow::{Allow, Flow, Limits, RouteKey, Slot};
use crate::queue::Queue;
use crate::store::keys::{lane, DueKey, Lane};
use crate::store::{Store, StoreError};
use std::cmp::Reverse;
use std::collections::HashMap;

/// A delivery to start, with its place in its route.
pub struct Start {
    pub due: DueKey,
    /// `None` for a lane no configured route has (the route was removed:
    /// the attempt records that).
    pub slot: Option<(RouteKey, Slot)>,
}

pub struct Plan {
    pub start: Vec<Start>,
    /// The earliest time something not started now may start.
    pub look_again_ms: Option<u64>,
}

struct Candidate<'a> {
    lane: Lane,
    route: Option<(RouteKey, &'a Limits)>,
    allow: usize,
    priority: i32,
}

pub fn plan(
    store: &Store,
    flow: &Flow,
    queue: &Queue,
    sources: &Sources,
    now: u64,
    free: usize,
) -> Result<Plan, StoreError> {
    let known: HashMap<Lane, (RouteKey, &Limits)> = sources
        .iter()
        .flat_map(|(s, src)| {
            src.routes.iter().map(move |r| (lane(s, &r.name), ((s.clone(), r.name.clone()), &r.limits)))
        })
        .collect();
    let mut look_again: Option<u64> = None;
    let mut soon = |at: u64| look_again = Some(look_again.map_or(at, |t| t.min(at)));
    let mut candidates = Vec::new();
    for (lane, head_ms) in store.lanes()? {
        let route = known.get(&lane).map(|(k, l)| (k.clone(), *l));
        let allow = match &route {
            Some((key, limits)) => flow.allowance(key, limits, now),
            None => Allow::Up(usize::MAX),
        };
        match allow {
            Allow::Wait(at) => at.into_iter().for_each(&mut soon),
            Allow::Up(_) if head_ms > now => soon(head_ms),
            Allow::Up(allow) => {
                let priority = route.as_ref().map_or(0, |(_, l)| l.priority);
                candidates.push(Candidate { lane, route, allow, priority });
            }
        }
    }
    candidates.sort_by_key(|c| Reverse(c.priority));
    let mut start = Vec::new();
    let mut left = free;
    for group in candidates.chunk_by(|a, b| a.priority == b.priority) {
        if left == 0 {
            break;
        }
        let mut entries = Vec::new();
        for (i, c) in group.iter().enumerate() {
            let got = store.lane_due(c.lane, now, c.allow.min(left), |d| queue.is_running(d))?;
            if got.is_empty() {
                // Its due entries are all running: the next one not running.
                store.lane_next(c.lane, |d| queue.is_running(d))?.into_iter().for_each(&mut soon);
            }
            entries.extend(got.into_iter().map(|d| (d, i)));
        }
        entries.sort_by_key(|(d, _)| (d.due_ms, d.id, d.index));
        let mut taken = vec![0usize; group.len()];
        let mut stopped = vec![false; group.len()];
        for (due, i) in entries {
            if left == 0 {
                break;
            }
            let c = &group[i];
            if stopped[i] || taken[i] >= c.allow {
                continue;
            }
            let slot = match &c.route {
                None => None,
                Some((key, limits)) => {
                    let Some(slot) = flow.slot(key, limits) else {
                        stopped[i] = true;
                        continue;
                    };
                    if let Err(wait) = flow.take_rate(key, limits) {
                        stopped[i] = true;
                        soon(now + wait.as_millis() as u64 + 1);
                        continue;
                    }
                    Some((key.clone(), slot))
                }
            };
            taken[i] += 1;
            left -= 1;
            start.push(Start { due, slot });
        }
        for (c, n) in group.iter().zip(&taken) {
            if let (Some((key, _)), true) = (&c.route, *n > 0) {
                flow.started(key, now);
            }
        }
    }
    Ok(Plan { start, look_again_ms: look_again })
}
