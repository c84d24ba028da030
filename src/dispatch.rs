//! Takes due deliveries from the store (`plan`: by priority, within each
//! route's flow control), runs each handler under the global concurrency
//! cap, tells the route's breaker how it went, and records the attempt's end and what
//! comes next. Never runs a delivery whose attempt is not yet durably
//! recorded, and never lets a slow handler hold up ingest (handlers run on
//! their own tasks).

pub mod alert;
pub mod background;
pub mod callback;
mod child;
pub mod command;
pub mod nats;
mod plan;
pub mod reply;
mod run;

use crate::config::admin::Alerts;
use crate::config::secret::Secret;
use crate::config::SharedSources;
use crate::flow::breaker::{Transition, Verdict};
use crate::flow::{self, Flow, Limits, RouteKey};
use crate::metrics::Metrics;
use crate::queue::Queue;
use crate::store::keys::{id_text, DueKey};
use crate::store::records::State;
use crate::store::{now_ms, AttemptEnd, Claim, Claimed, Next, Store, StoreError};
use bytes::Bytes;
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Longest sleep between scans when nothing wakes the dispatcher.
const IDLE_SCAN: Duration = Duration::from_secs(1);
/// Pause after a store error before that delivery is tried again.
const STORE_ERROR_PAUSE: Duration = Duration::from_secs(1);

pub struct Dispatcher {
    pub store: Arc<Store>,
    pub queue: Queue,
    pub sources: SharedSources,
    pub metrics: Arc<Metrics>,
    /// Pause, breaker, rate and concurrency of each route.
    pub flow: Arc<Flow>,
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
    /// Senders waiting for a reply route's first attempt (ingress registers them).
    pub replies: reply::Replies,
}

/// The running dispatcher and its global slots.
struct Running {
    d: Dispatcher,
    slots: Arc<Semaphore>,
    /// Shared NATS connections of `nats` routes.
    nats: nats::Pool,
    alerts: TaskTracker,
}

impl Dispatcher {
    /// Run until `shutdown`; then stop claiming and wait up to `grace` for
    /// running handlers. A handler still running after that is killed, and
    /// its delivery runs again after restart with the next attempt number.
    pub async fn run(self, shutdown: CancellationToken, grace: Duration) {
        end_interrupted(&self.store);
        let slots = Arc::new(Semaphore::new(self.concurrency));
        let me = Arc::new(Running { d: self, slots, nats: nats::Pool::default(), alerts: TaskTracker::new() });
        let tracker = TaskTracker::new();
        while !shutdown.is_cancelled() {
            let first = tokio::select! {
                p = me.slots.clone().acquire_owned() => p,
                _ = shutdown.cancelled() => break,
            };
            let Ok(first) = first else { break };
            background::gather(|| 1 + me.slots.available_permits(), me.d.concurrency).await;
            let free = 1 + me.slots.available_permits();
            let sources = me.d.sources.load();
            let planned = plan::plan(&me.d.store, &me.d.flow, &me.d.queue, &sources, now_ms(), free);
            let planned = match planned {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(error = %e, "reading the due index failed");
                    drop(first);
                    tokio::time::sleep(STORE_ERROR_PAUSE).await;
                    continue;
                }
            };
            if planned.start.is_empty() {
                drop(first);
                me.idle(planned.look_again_ms, &shutdown).await;
                continue;
            }
            let mut first = Some(first);
            for start in planned.start {
                let permit = match first.take() {
                    Some(p) => p,
                    None => match me.slots.clone().try_acquire_owned() {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                };
                if me.d.queue.start(&start.due) {
                    tracker.spawn(me.clone().deliver(start, permit));
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
    /// Sleep until `until` (at most `IDLE_SCAN`), something wakes us, or
    /// shutdown.
    async fn idle(&self, until: Option<u64>, shutdown: &CancellationToken) {
        let now = now_ms();
        let wait = until.map_or(IDLE_SCAN, |at| Duration::from_millis(at.saturating_sub(now)).min(IDLE_SCAN));
        tokio::select! {
            _ = self.d.queue.woken() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.cancelled() => {}
        }
    }

    async fn deliver(self: Arc<Self>, start: plan::Start, permit: OwnedSemaphorePermit) {
        let (due, key) = (start.due, start.slot.as_ref().map(|(k, _)| k.clone()));
        if let Err(e) = self.attempt(start, permit).await {
            tracing::error!(id = %id_text(&due.id), error = %e, "recording a delivery failed; it stays due");
            if let Some(key) = key {
                self.d.flow.unstarted(&key);
            }
            tokio::time::sleep(STORE_ERROR_PAUSE).await;
            self.d.queue.done(&due);
            self.d.queue.wake();
        }
    }

    /// Claim and run one delivery. Its slots are freed as soon as the
    /// attempt's end is written; the disk sync that makes it durable is
    /// waited for after that, so the next delivery need not wait for it.
    /// That sync rides on other commit rounds (`Store::sync_lazily`), and
    /// so does the claim's while acks are committing.
    async fn attempt(&self, start: plan::Start, slot: OwnedSemaphorePermit) -> Result<(), StoreError> {
        let (due, route_slot) = (start.due, start.slot);
        let claim = match self.d.store.claim(due).await? {
            Claimed::Run(claim) => claim,
            Claimed::Nothing => {
                if let Some((key, _)) = &route_slot {
                    self.d.flow.unstarted(key);
                }
                self.free(&due, slot, route_slot);
                return Ok(());
            }
        };
        self.d.metrics.running(1);
        let started = Instant::now();
        let replying = self.d.replies.take(&claim, &self.d.sources.load());
        let (mut end, route, output) = self.run_handler(&claim, replying.is_some()).await;
        let took = started.elapsed();
        self.d.metrics.running(-1);
        if let (Some((verdict, limits)), Some((key, _))) = (route, &route_slot) {
            self.flow_ended(&claim, key, &limits, verdict, &mut end);
        }
        let (outcome, next) = (end.outcome.clone(), end.next.clone());
        let state = self.d.store.finish(&claim, end)?;
        self.free(&due, slot, route_slot);
        self.d.store.sync_lazily().await?;
        if let Some(replying) = replying {
            replying.send(state == State::Delivered, output);
        }
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

    /// Tell the route's breaker how the attempt went. While it is open, a
    /// delivery whose retries are used up waits for the route instead of
    /// dying: the outage is the route's, not the event's.
    fn flow_ended(&self, claim: &Claim, key: &RouteKey, limits: &Limits, verdict: Verdict, end: &mut AttemptEnd) {
        let now = now_ms();
        let ended = self.d.flow.ended(key, limits, verdict, now);
        let (source, route) = (&claim.event.source, &claim.route);
        match ended.transition {
            Some(Transition::Opened { until_ms, failures }) => {
                let until = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(until_ms));
                tracing::warn!(%source, %route, failures, %until, last = %end.outcome, "breaker opened: no attempts of this route until the cool-down ends");
                self.d.metrics.breaker(source, route, "open");
                if let Some(alerts) = &self.d.alerts {
                    let reason =
                        format!("{failures} failures in a row (the last: {}); one probe at {until}", end.outcome);
                    let inherit = self.d.inherit_env.clone();
                    self.alerts.spawn(alert::on_breaker(
                        alerts.clone(),
                        self.d.client.clone(),
                        claim.clone(),
                        reason,
                        inherit,
                    ));
                }
            }
            Some(Transition::Reopened { until_ms }) => {
                let until = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(until_ms));
                tracing::warn!(%source, %route, %until, last = %end.outcome, "breaker probe failed: open again");
                self.d.metrics.breaker(source, route, "open");
            }
            Some(Transition::Closed) => {
                tracing::info!(%source, %route, "breaker closed: the route works again");
                self.d.metrics.breaker(source, route, "closed");
            }
            None => {}
        }
        if verdict == Verdict::Failed && ended.route_down && matches!(end.next, Next::Dead(_)) {
            let at =
                ended.open_until_ms.unwrap_or(now + limits.breaker.map_or(60_000, |b| b.cool_down.as_millis() as u64));
            end.next = Next::RetryAt(at.max(now));
        }
    }

    /// Give back the delivery's slots and let the scan look again.
    fn free(&self, due: &DueKey, slot: OwnedSemaphorePermit, route_slot: Option<(RouteKey, flow::Slot)>) {
        drop(slot);
        drop(route_slot);
        self.d.queue.done(due);
        self.d.queue.wake();
    }

    /// Run the attempt; with the route in force (`None`: it was removed,
    /// and the delivery is dead) and what the attempt says of it; with
    /// `reply` (a sender waits), its output too.
    async fn run_handler(&self, claim: &Claim, reply: bool) -> (AttemptEnd, Option<(Verdict, Limits)>, Option<Bytes>) {
        let sources = self.d.sources.load_full();
        let source = sources.get(&claim.event.source);
        let route = source.and_then(|s| s.routes.iter().find(|r| r.name == claim.route));
        let (Some(_), Some(route)) = (source, route) else {
            let end = AttemptEnd {
                outcome: "route removed".into(),
                exit_code: None,
                http_status: None,
                output_tail: String::new(),
                next: Next::Dead(format!(
                    "route {:?} of source {:?} is no longer configured",
                    claim.route, claim.event.source
                )),
            };
            return (end, None, None);
        };
        let cx = run::Attempting {
            nats: &self.nats,
            store: &self.d.store,
            sources: &sources,
            admin_token: self.d.admin_token.as_ref(),
            tail: self.d.output_tail,
            reply,
        };
        let (end, verdict, output) = run::handler(&cx, route, claim).await;
        (end, Some((verdict, route.limits.clone())), output)
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
