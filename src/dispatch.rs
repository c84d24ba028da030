//! Takes due deliveries from the store, runs each handler under the global
//! concurrency cap (and its route's), and records the attempt's end and what
//! comes next. Never runs a delivery whose attempt is not yet durably
//! recorded, and never lets a slow handler hold up ingest (handlers run on
//! their own tasks).

pub mod alert;
pub mod background;
pub mod callback;
mod child;
pub mod command;
pub mod nats;
mod run;

use crate::config::admin::Alerts;
use crate::config::secret::Secret;
use crate::config::SharedSources;
use crate::metrics::Metrics;
use crate::queue::{Queue, RouteKey};
use crate::store::keys::{id_text, DueKey};
use crate::store::records::State;
use crate::store::{now_ms, AttemptEnd, Claim, Claimed, Next, Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How many due entries one scan of the index takes.
const SCAN_BATCH: usize = 256;
/// Longest sleep between scans when nothing wakes the dispatcher.
const IDLE_SCAN: Duration = Duration::from_secs(1);
/// Pause after a store error before that delivery is tried again.
const STORE_ERROR_PAUSE: Duration = Duration::from_secs(1);

pub struct Dispatcher {
    pub store: Arc<Store>,
    pub queue: Queue,
    pub sources: SharedSources,
    pub metrics: Arc<Metrics>,
    pub alerts: Option<Alerts>,
    pub concurrency: usize,
    pub output_tail: usize,
    /// `[dispatch] inherit_env`, for alert commands (routes carry their own).
    pub inherit_env: Vec<String>,
    /// Scrubbed from output tails like every other secret.
    pub admin_token: Option<Secret>,
    /// Told of each attempt's end and each dead delivery (`/v1/tail`).
    pub feed: crate::feed::Feed,
    /// For `alerts.url` (routes carry their own).
    pub client: callback::Client,
}

/// The running dispatcher: its slots and the per-route
/// semaphores of routes with `concurrency`.
struct Running {
    d: Dispatcher,
    slots: Arc<Semaphore>,
    /// Shared NATS connections of `nats` routes.
    nats: nats::Pool,
    route_slots: Mutex<HashMap<RouteKey, (usize, Arc<Semaphore>)>>,
    alerts: TaskTracker,
}

type RoutePermit = Option<(RouteKey, OwnedSemaphorePermit)>;

impl Dispatcher {
    /// Run until `shutdown`; then stop claiming and wait up to `grace` for
    /// running handlers. A handler still running after that is killed, and
    /// its delivery runs again after restart with the next attempt number.
    pub async fn run(self, shutdown: CancellationToken, grace: Duration) {
        end_interrupted(&self.store);
        let slots = Arc::new(Semaphore::new(self.concurrency));
        let me = Arc::new(Running {
            d: self,
            slots,
            nats: nats::Pool::default(),
            route_slots: Mutex::default(),
            alerts: TaskTracker::new(),
        });
        let tracker = TaskTracker::new();
        while !shutdown.is_cancelled() {
            let due = me.d.store.due(now_ms(), SCAN_BATCH, |d| me.d.queue.is_held(d));
            let due = match due {
                Ok(due) => due,
                Err(e) => {
                    tracing::error!(error = %e, "reading the due index failed");
                    tokio::time::sleep(STORE_ERROR_PAUSE).await;
                    continue;
                }
            };
            if due.is_empty() {
                me.idle(&shutdown).await;
                continue;
            }
            for entry in due {
                let permit = tokio::select! {
                    p = me.slots.clone().acquire_owned() => p,
                    _ = shutdown.cancelled() => break,
                };
                let Ok(permit) = permit else { break };
                if me.d.queue.start(&entry) {
                    tracker.spawn(me.clone().deliver(entry, permit));
                }
            }
        }
        tracker.close();
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
            tracing::warn!(
                running = me.d.queue.running(),
                "handlers still running at shutdown; they will re-run after restart"
            );
        }
        me.alerts.close();
        let _ = tokio::time::timeout(Duration::from_secs(2), me.alerts.wait()).await;
    }
}

impl Running {
    /// Sleep until the next entry is due, something wakes us, or shutdown.
    async fn idle(&self, shutdown: &CancellationToken) {
        let now = now_ms();
        let next = self.d.store.next_due(|d| self.d.queue.is_held(d)).ok().flatten();
        let wait = next.map_or(IDLE_SCAN, |at| Duration::from_millis(at.saturating_sub(now)).min(IDLE_SCAN));
        tokio::select! {
            _ = self.d.queue.woken() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.cancelled() => {}
        }
    }

    async fn deliver(self: Arc<Self>, due: DueKey, permit: OwnedSemaphorePermit) {
        if let Err(e) = self.attempt(due, permit).await {
            tracing::error!(id = %id_text(&due.id), error = %e, "recording a delivery failed; it stays due");
            tokio::time::sleep(STORE_ERROR_PAUSE).await;
            self.d.queue.done(&due);
            self.d.queue.wake();
        }
    }

    /// Claim and run one delivery. Its slots are freed as soon as the
    /// attempt's end is written; the disk sync that makes it durable is
    /// waited for after that, so the next delivery need not wait for it.
    async fn attempt(&self, due: DueKey, slot: OwnedSemaphorePermit) -> Result<(), StoreError> {
        let (claim, route_slot) = match self.d.store.claim(due, |s, r| self.route_permit(s, r)).await? {
            Claimed::Run(claim, permit) => (claim, permit),
            Claimed::Nothing => {
                self.free(&due, slot, None);
                return Ok(());
            }
            Claimed::Busy { source, route } => {
                self.d.queue.defer((source, route), &due);
                self.free(&due, slot, None);
                return Ok(());
            }
        };
        self.d.metrics.running(1);
        let started = Instant::now();
        let end = self.run_handler(&claim).await;
        let took = started.elapsed();
        self.d.metrics.running(-1);
        let (outcome, next) = (end.outcome.clone(), end.next.clone());
        let state = self.d.store.finish(&claim, end)?;
        self.free(&due, slot, route_slot);
        self.d.store.sync().await?;
        let label = match state {
            State::Delivered => "delivered",
            State::Dead => "dead",
            State::Pending | State::Retrying => "retry",
        };
        self.d.metrics.attempt(&claim.event.source, &claim.route, label, started.elapsed());
        log_end(&claim, &outcome, &next);
        tell(&self.d.feed, &claim, outcome, &next, state, took);
        if let (Next::Dead(reason), Some(alerts)) = (next, &self.d.alerts) {
            let inherit = self.d.inherit_env.clone();
            self.alerts.spawn(alert::on_dead(alerts.clone(), self.d.client.clone(), claim, reason, inherit));
        }
        Ok(())
    }

    /// Give back the delivery's slots and let the scan look again.
    fn free(&self, due: &DueKey, slot: OwnedSemaphorePermit, route_slot: RoutePermit) {
        drop(slot);
        self.d.queue.done(due);
        if let Some((route, permit)) = route_slot {
            drop(permit);
            self.d.queue.release(&route);
        }
        self.d.queue.wake();
    }

    /// A slot of the route, for routes with `concurrency`; `None` when full.
    fn route_permit(&self, source: &str, route: &str) -> Option<RoutePermit> {
        let sources = self.d.sources.load();
        let limit = sources.get(source).and_then(|s| s.routes.iter().find(|r| r.name == route)?.concurrency);
        let Some(limit) = limit else { return Some(None) };
        let key = (source.to_string(), route.to_string());
        let sem = {
            let mut slots = self.route_slots.lock().unwrap_or_else(|p| p.into_inner());
            let entry = slots.entry(key.clone()).or_insert_with(|| (limit, Arc::new(Semaphore::new(limit))));
            if entry.0 != limit {
                *entry = (limit, Arc::new(Semaphore::new(limit)));
            }
            entry.1.clone()
        };
        sem.try_acquire_owned().ok().map(|p| Some((key, p)))
    }

    async fn run_handler(&self, claim: &Claim) -> AttemptEnd {
        let sources = self.d.sources.load_full();
        let source = sources.get(&claim.event.source);
        let route = source.and_then(|s| s.routes.iter().find(|r| r.name == claim.route));
        let (Some(_), Some(route)) = (source, route) else {
            return AttemptEnd {
                outcome: "route removed".into(),
                exit_code: None,
                http_status: None,
                output_tail: String::new(),
                next: Next::Dead(format!(
                    "route {:?} of source {:?} is no longer configured",
                    claim.route, claim.event.source
                )),
            };
        };
        let cx = run::Attempting {
            nats: &self.nats,
            store: &self.d.store,
            sources: &sources,
            admin_token: self.d.admin_token.as_ref(),
            tail: self.d.output_tail,
        };
        run::handler(&cx, route, claim).await
    }
}

/// One line per attempt, at the level an operator filters on: delivered
/// INFO, a retry WARN with when it runs next, dead ERROR.
fn log_end(claim: &Claim, outcome: &str, next: &Next) {
    let (source, route, event_id) = (&claim.event.source, &claim.route, &claim.event.event_id);
    let (id, attempt) = (id_text(&claim.due.id), claim.attempt);
    match next {
        Next::Delivered => {
            tracing::info!(%source, %route, %id, %event_id, attempt, %outcome, state = "delivered", "attempt finished")
        }
        Next::RetryAt(at) => {
            let secs = at.saturating_sub(now_ms()) as f64 / 1000.0;
            let next_in = format!("{secs:.1}s");
            tracing::warn!(%source, %route, %id, %event_id, attempt, %outcome, state = "retrying", %next_in, "attempt failed; will retry")
        }
        Next::Dead(reason) => {
            tracing::error!(%source, %route, %id, %event_id, attempt, %outcome, state = "dead", %reason, "delivery is dead")
        }
    }
}

/// The feed's news of an attempt's end (and of a death).
fn tell(feed: &crate::feed::Feed, claim: &Claim, outcome: String, next: &Next, state: State, took: Duration) {
    use crate::feed::{time, Happening, Tally};
    let (source, event_type) = (&claim.event.source, &claim.event.event_type);
    let now = now_ms();
    let tally = if state == State::Delivered { Tally::Delivered } else { Tally::Failed };
    feed.publish(tally, now, || Happening::Attempt {
        id: id_text(&claim.due.id),
        source: source.clone(),
        event_type: event_type.clone(),
        route: claim.route.clone(),
        attempt: claim.attempt,
        outcome,
        state: if state == State::Pending { "retrying" } else { state.as_str() },
        duration_ms: took.as_millis() as u64,
        next_due_at: match next {
            Next::RetryAt(at) => Some(time(*at)),
            _ => None,
        },
    });
    if let Next::Dead(reason) = next {
        feed.publish(Tally::Nothing, now, || Happening::Dead {
            id: id_text(&claim.due.id),
            source: source.clone(),
            event_type: event_type.clone(),
            route: claim.route.clone(),
            reason: reason.clone(),
        });
    }
}

/// At start: end the process groups of handlers a previous hookd started
/// and never saw end (it crashed, or its stop grace ran out), so that no
/// handler acts on an attempt that will run again.
fn end_interrupted(store: &Store) {
    let notes = match store.take_interrupted() {
        Ok(notes) => notes,
        Err(e) => return tracing::error!(error = %e, "reading the interrupted handlers failed"),
    };
    for who in notes {
        if command::end_interrupted(&who) {
            tracing::warn!(pgid = who.pgid, "ended the process group of a handler interrupted by the last stop");
        }
    }
}
