//! Flow control (SPEC §5): for each route, how many attempts may start now
//! — paused, breaker, `rate`, `concurrency` — and the `priority` that orders
//! due deliveries for the global slots. The per-route state lives here, in
//! memory; pauses and open breakers are saved through the store
//! (`flow.json`) on each change and read back at start. Never runs a
//! handler and never reads the due index (the dispatcher does both).

pub mod breaker;

use crate::store::{RouteControl, Store, StoreError};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A route, named within its source.
pub type RouteKey = (String, String);

/// A route's flow settings (`priority`, `rate`, `breaker`, `concurrency`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    pub priority: i32,
    /// Attempt starts, with bursts up to the count per period.
    pub rate: Option<Quota>,
    /// `rate` as configured ("10/s"), for the views.
    pub rate_text: Option<String>,
    pub breaker: Option<breaker::Policy>,
    /// At most this many attempts at once.
    pub concurrency: Option<usize>,
}

/// What an operator sees of a route (`GET /v1/routes`, `hookd_route_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteState {
    Running,
    Paused {
        since_ms: u64,
    },
    /// `until_ms`: when the probe goes (`None`: the probe is running).
    BreakerOpen {
        until_ms: Option<u64>,
    },
}

impl RouteState {
    pub fn name(&self) -> &'static str {
        match self {
            RouteState::Running => "running",
            RouteState::Paused { .. } => "paused",
            RouteState::BreakerOpen { .. } => "breaker_open",
        }
    }

    /// `hookd_route_state`'s value.
    pub fn code(&self) -> i64 {
        match self {
            RouteState::Running => 0,
            RouteState::Paused { .. } => 1,
            RouteState::BreakerOpen { .. } => 2,
        }
    }
}

/// How many attempts of a route may start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allow {
    Up(usize),
    /// None; look again at this time (`None`: when something changes —
    /// an attempt ends, a resume).
    Wait(Option<u64>),
}

/// What an attempt's end did to its route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    pub transition: Option<breaker::Transition>,
    /// The breaker is open (or probing) now: a delivery whose retries are
    /// used up waits for the route instead of dying.
    pub route_down: bool,
    /// When the breaker lets its next probe through.
    pub open_until_ms: Option<u64>,
}

pub struct Flow {
    store: Arc<Store>,
    routes: Mutex<HashMap<RouteKey, RouteFlow>>,
    /// Held from the snapshot to the end of its write, so that an older
    /// snapshot never overwrites a newer one (a pause lost to a breaker's
    /// save).
    saving: Mutex<()>,
}

#[derive(Default)]
struct RouteFlow {
    paused_since_ms: Option<u64>,
    breaker: breaker::State,
    rate: Option<(Quota, DefaultDirectRateLimiter)>,
    slots: Option<(usize, Arc<Semaphore>)>,
    running: Arc<AtomicUsize>,
}

/// Held while one attempt of a route runs: its place in the route's
/// `concurrency`, and its count in `running`.
pub struct Slot {
    _permit: Option<OwnedSemaphorePermit>,
    running: Arc<AtomicUsize>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.running.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Flow {
    /// The saved pauses and open breakers, read back (the store's open
    /// refused a damaged file already; a read failing now is logged).
    pub fn load(store: Arc<Store>) -> Flow {
        let saved = store.route_controls().unwrap_or_else(|e| {
            tracing::error!(error = %e, "reading the saved pauses and breakers failed; every route runs");
            Vec::new()
        });
        let mut routes = HashMap::new();
        for saved in saved {
            let f: &mut RouteFlow = routes.entry((saved.source, saved.route)).or_default();
            f.paused_since_ms = saved.paused_since_ms;
            if let Some(until_ms) = saved.breaker_open_until_ms {
                f.breaker = breaker::State::Open { until_ms };
            }
        }
        Flow { store, routes: Mutex::new(routes), saving: Mutex::new(()) }
    }

    fn with<T>(&self, key: &RouteKey, f: impl FnOnce(&mut RouteFlow) -> T) -> T {
        let mut routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        f(routes.entry(key.clone()).or_default())
    }

    /// How many attempts of `key` may start now, before its rate.
    pub fn allowance(&self, key: &RouteKey, limits: &Limits, now_ms: u64) -> Allow {
        self.with(key, |f| {
            if f.paused_since_ms.is_some() {
                return Allow::Wait(None);
            }
            let mut n = usize::MAX;
            if limits.breaker.is_some() || f.breaker.is_open() {
                match f.breaker.allowance(now_ms) {
                    breaker::Allowance::Any => {}
                    breaker::Allowance::One => n = 1,
                    breaker::Allowance::None { until_ms } => return Allow::Wait(until_ms),
                }
            }
            if let Some(sem) = f.semaphore(limits.concurrency) {
                n = n.min(sem.available_permits());
            }
            match n {
                0 => Allow::Wait(None),
                n => Allow::Up(n),
            }
        })
    }

    /// One attempt start of `key` against its `rate`: `Err` says how long
    /// until the next is allowed.
    pub fn take_rate(&self, key: &RouteKey, limits: &Limits) -> Result<(), Duration> {
        let Some(quota) = limits.rate else { return Ok(()) };
        self.with(key, |f| {
            if f.rate.as_ref().is_none_or(|(q, _)| *q != quota) {
                f.rate = Some((quota, DefaultDirectRateLimiter::direct(quota)));
            }
            let Some((_, limiter)) = &f.rate else { return Ok(()) };
            limiter.check().map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
        })
    }

    /// Attempts of `key` were handed out under `allowance(now)`.
    pub fn started(&self, key: &RouteKey, now_ms: u64) {
        self.with(key, |f| f.breaker.started(now_ms));
    }

    /// A delivery handed out did not run (its claim found nothing to do):
    /// if it was the probe, the next due delivery may probe instead.
    pub fn unstarted(&self, key: &RouteKey) {
        self.with(key, |f| f.breaker.unstarted());
    }

    /// A place for one attempt of `key` (the store's claim asks it last):
    /// `None` when the route's `concurrency` is used up.
    pub fn slot(&self, key: &RouteKey, limits: &Limits) -> Option<Slot> {
        self.with(key, |f| {
            let permit = match f.semaphore(limits.concurrency) {
                Some(sem) => Some(sem.try_acquire_owned().ok()?),
                None => None,
            };
            f.running.fetch_add(1, Ordering::Relaxed);
            Some(Slot { _permit: permit, running: f.running.clone() })
        })
    }

    /// An attempt of `key` ended; a breaker transition is saved before
    /// this returns (an open breaker survives a restart).
    pub fn ended(&self, key: &RouteKey, limits: &Limits, verdict: breaker::Verdict, now_ms: u64) -> Ended {
        let (transition, state) = self.with(key, |f| {
            let t = match &limits.breaker {
                Some(policy) => f.breaker.ended(policy, verdict, now_ms),
                // The breaker was taken out of the config while open.
                None if f.breaker.is_open() => {
                    f.breaker = breaker::State::default();
                    Some(breaker::Transition::Closed)
                }
                None => None,
            };
            (t, f.breaker)
        });
        if transition.is_some() {
            self.save();
        }
        Ended { transition, route_down: state.is_open(), open_until_ms: state.open_until() }
    }

    /// Pause `key` (durable when this returns); false if it was paused.
    pub fn pause(&self, key: &RouteKey, now_ms: u64) -> Result<bool, StoreError> {
        let changed = self.with(key, |f| f.paused_since_ms.is_none().then(|| f.paused_since_ms = Some(now_ms)));
        self.save_or_undo(key, changed.is_some(), |f| f.paused_since_ms = None)
    }

    /// Resume `key`; false if it was not paused.
    pub fn resume(&self, key: &RouteKey) -> Result<bool, StoreError> {
        let was = self.with(key, |f| f.paused_since_ms.take());
        self.save_or_undo(key, was.is_some(), |f| f.paused_since_ms = was)
    }

    fn save_or_undo(
        &self,
        key: &RouteKey,
        changed: bool,
        undo: impl FnOnce(&mut RouteFlow),
    ) -> Result<bool, StoreError> {
        if !changed {
            return Ok(false);
        }
        let _one = self.saving.lock().unwrap_or_else(|p| p.into_inner());
        match self.store.save_route_controls(&self.controls()) {
            Ok(()) => Ok(true),
            Err(e) => {
                self.with(key, undo);
                Err(e)
            }
        }
    }

    /// Save after a breaker transition; a failure is logged (the breaker
    /// works on in memory).
    fn save(&self) {
        let _one = self.saving.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = self.store.save_route_controls(&self.controls()) {
            tracing::error!(error = %e, "could not save the breakers' state");
        }
    }

    fn controls(&self) -> Vec<RouteControl> {
        let routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<RouteControl> = routes
            .iter()
            .map(|((source, route), f)| RouteControl {
                source: source.clone(),
                route: route.clone(),
                paused_since_ms: f.paused_since_ms,
                breaker_open_until_ms: match f.breaker {
                    breaker::State::Open { until_ms } => Some(until_ms),
                    // Probing: open until the probe says otherwise.
                    breaker::State::Probing => Some(0),
                    breaker::State::Closed { .. } => None,
                },
            })
            .collect();
        out.sort_by(|a, b| (&a.source, &a.route).cmp(&(&b.source, &b.route)));
        out
    }

    pub fn state(&self, key: &RouteKey) -> RouteState {
        self.with(key, |f| match (f.paused_since_ms, f.breaker) {
            (Some(since_ms), _) => RouteState::Paused { since_ms },
            (None, breaker::State::Open { until_ms }) => RouteState::BreakerOpen { until_ms: Some(until_ms) },
            (None, breaker::State::Probing) => RouteState::BreakerOpen { until_ms: None },
            (None, breaker::State::Closed { .. }) => RouteState::Running,
        })
    }

    /// Attempts of `key` running now.
    pub fn running(&self, key: &RouteKey) -> usize {
        self.with(key, |f| f.running.load(Ordering::Relaxed))
    }
}

impl RouteFlow {
    /// The route's concurrency semaphore, (re)made when its limit changed.
    fn semaphore(&mut self, limit: Option<usize>) -> Option<Arc<Semaphore>> {
        let Some(limit) = limit else {
            self.slots = None;
            return None;
        };
        if self.slots.as_ref().is_none_or(|(l, _)| *l != limit) {
            self.slots = Some((limit, Arc::new(Semaphore::new(limit))));
        }
        self.slots.as_ref().map(|(_, s)| s.clone())
    }
}
