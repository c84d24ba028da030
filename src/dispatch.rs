//! Takes due deliveries from the store, runs each handler under the global
//! concurrency cap, and records the attempt's end and what comes next. Never
//! runs a delivery whose attempt is not yet durably recorded, and never
//! lets a slow handler hold up ingest (handlers run on their own tasks).

pub mod callback;
pub mod command;

use crate::config::{Source, Sources};
use crate::queue::Queue;
use crate::retry::{self, Outcome};
use crate::route::{Handler, Route};
use crate::store::keys::{id_text, DueKey};
use crate::store::{now_ms, AttemptEnd, Claim, Next, Store};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};
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
    store: Arc<Store>,
    queue: Queue,
    sources: Arc<Sources>,
    slots: Arc<Semaphore>,
    client: callback::Client,
    output_tail: usize,
}

impl Dispatcher {
    pub fn new(store: Arc<Store>, queue: Queue, sources: Arc<Sources>, concurrency: usize, output_tail: usize) -> Self {
        let slots = Arc::new(Semaphore::new(concurrency));
        Dispatcher { store, queue, sources, slots, client: callback::client(), output_tail }
    }

    /// Run until `shutdown`; then stop claiming and wait up to `grace` for
    /// running handlers. A handler still running after that is killed, and
    /// its delivery runs again after restart with the next attempt number.
    pub async fn run(self, shutdown: CancellationToken, grace: Duration) {
        let me = Arc::new(self);
        let tracker = TaskTracker::new();
        while !shutdown.is_cancelled() {
            let due = me.store.due(now_ms(), SCAN_BATCH, |d| me.queue.is_running(d));
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
                if me.queue.start(&entry) {
                    tracker.spawn(me.clone().deliver(entry, permit));
                }
            }
        }
        tracker.close();
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
            tracing::warn!(
                running = me.queue.running(),
                "handlers still running at shutdown; they will re-run after restart"
            );
        }
    }

    /// Sleep until the next entry is due, something wakes us, or shutdown.
    async fn idle(&self, shutdown: &CancellationToken) {
        let now = now_ms();
        let next = self.store.next_due(|d| self.queue.is_running(d)).ok().flatten();
        let wait = next.map_or(IDLE_SCAN, |at| Duration::from_millis(at.saturating_sub(now)).min(IDLE_SCAN));
        tokio::select! {
            _ = self.queue.woken() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.cancelled() => {}
        }
    }

    async fn deliver(self: Arc<Self>, due: DueKey, _permit: OwnedSemaphorePermit) {
        if let Err(e) = self.attempt(due).await {
            tracing::error!(id = %id_text(&due.id), error = %e, "recording a delivery failed; it stays due");
            tokio::time::sleep(STORE_ERROR_PAUSE).await;
        }
        self.queue.done(&due);
        self.queue.wake();
    }

    async fn attempt(&self, due: DueKey) -> Result<(), crate::store::StoreError> {
        let Some(claim) = self.store.claim(due).await? else { return Ok(()) };
        let source = self.sources.get(&claim.event.source);
        let route = source.and_then(|s| s.routes.iter().find(|r| r.name == claim.route));
        let end = match (source, route) {
            (Some(source), Some(route)) => self.run_handler(source, route, &claim).await,
            _ => AttemptEnd {
                outcome: "route removed".into(),
                exit_code: None,
                http_status: None,
                output_tail: String::new(),
                next: Next::Dead(format!(
                    "route {:?} of source {:?} is no longer configured",
                    claim.route, claim.event.source
                )),
            },
        };
        let outcome = end.outcome.clone();
        let state = self.store.finish(&claim, end).await?;
        tracing::info!(
            source = %claim.event.source,
            route = %claim.route,
            id = %id_text(&claim.due.id),
            event_id = %claim.event.event_id,
            attempt = claim.attempt,
            outcome = %outcome,
            state = state.as_str(),
            "attempt finished"
        );
        Ok(())
    }

    async fn run_handler(&self, source: &Source, route: &Route, claim: &Claim) -> AttemptEnd {
        let (outcome, mut end) = match &route.handler {
            Handler::Command { argv } => self.run_command(source, route, argv, claim).await,
            Handler::Callback { url, signing_secret } => {
                let secret = signing_secret.as_ref().map(|s| s.expose().to_vec());
                self.run_callback(route, url, secret, claim).await
            }
        };
        let now = now_ms();
        end.next = match retry::next(&route.retry, claim.attempt, outcome, fastrand::f64) {
            retry::Next::Delivered => Next::Delivered,
            retry::Next::Dead(reason) => Next::Dead(reason),
            retry::Next::RetryIn(d) => Next::RetryAt(now + d.as_millis() as u64),
        };
        end
    }

    async fn run_command(
        &self,
        source: &Source,
        route: &Route,
        argv: &[String],
        claim: &Claim,
    ) -> (Outcome, AttemptEnd) {
        let spec = command::CommandSpec {
            argv: argv.to_vec(),
            env: handler_env(claim),
            env_remove: source.secret_env.clone(),
            stdin: claim.body.clone(),
            timeout: route.timeout,
            tail_bytes: self.output_tail,
        };
        let result = command::run(spec).await;
        let (outcome, summary, code) = match result.exit {
            command::CommandExit::Code(0) => (Outcome::Delivered, "exit 0".to_string(), Some(0)),
            command::CommandExit::Code(c) if route.permanent_exit_codes.contains(&c) => {
                (Outcome::Dead { reason: format!("exit {c} (permanent)") }, format!("exit {c}"), Some(c))
            }
            command::CommandExit::Code(c) => (retry_with(format!("exit {c}")), format!("exit {c}"), Some(c)),
            command::CommandExit::Signal(s) => {
                (retry_with(format!("killed by signal {s}")), format!("signal {s}"), None)
            }
            command::CommandExit::TimedOut => {
                let what = format!("timed out after {}", humantime::format_duration(route.timeout));
                (retry_with(what.clone()), what, None)
            }
            command::CommandExit::SpawnFailed(e) => {
                (retry_with(format!("could not start: {e}")), "spawn failed".into(), None)
            }
        };
        let end = AttemptEnd {
            outcome: summary,
            exit_code: code,
            http_status: None,
            output_tail: result.output_tail,
            next: Next::Delivered,
        };
        (outcome, end)
    }

    async fn run_callback(
        &self,
        route: &Route,
        url: &str,
        secret: Option<Vec<u8>>,
        claim: &Claim,
    ) -> (Outcome, AttemptEnd) {
        let content_type = claim.event.headers.iter().find(|(k, _)| k == "content-type").map(|(_, v)| v.clone());
        let spec = callback::CallbackSpec {
            url: url.to_string(),
            body: claim.body.clone(),
            content_type,
            msg_id: id_text(&claim.due.id),
            signing_secret: secret,
            source: claim.event.source.clone(),
            event_type: claim.event.event_type.clone(),
            attempt: claim.attempt,
            timeout: route.timeout,
            tail_bytes: self.output_tail,
        };
        let result = callback::deliver(&self.client, spec).await;
        let (outcome, summary, status) = match result.outcome {
            callback::CallbackOutcome::Delivered { status } => {
                (Outcome::Delivered, format!("http {status}"), Some(status))
            }
            callback::CallbackOutcome::Permanent { status } => {
                (Outcome::Dead { reason: format!("http {status} (permanent)") }, format!("http {status}"), Some(status))
            }
            callback::CallbackOutcome::Retry { status, retry_after, reason } => {
                let summary = status.map_or_else(|| reason.clone(), |s| format!("http {s}"));
                (Outcome::Retry { after: retry_after, reason }, summary, status)
            }
        };
        let end = AttemptEnd {
            outcome: summary,
            exit_code: None,
            http_status: status,
            output_tail: result.response_tail,
            next: Next::Delivered,
        };
        (outcome, end)
    }
}

fn retry_with(reason: String) -> Outcome {
    Outcome::Retry { after: None, reason }
}

/// The SPEC §5 handler environment.
fn handler_env(claim: &Claim) -> Vec<(String, String)> {
    let received = UNIX_EPOCH + Duration::from_millis(claim.event.received_ms);
    let mut env = vec![
        ("HOOKD_SOURCE".to_string(), claim.event.source.clone()),
        ("HOOKD_EVENT_ID".to_string(), claim.event.event_id.clone()),
        ("HOOKD_EVENT_TYPE".to_string(), claim.event.event_type.clone()),
        ("HOOKD_ID".to_string(), id_text(&claim.due.id)),
        ("HOOKD_ATTEMPT".to_string(), claim.attempt.to_string()),
        ("HOOKD_RECEIVED_AT".to_string(), humantime::format_rfc3339_millis(received).to_string()),
        ("HOOKD_ROUTE".to_string(), claim.route.clone()),
    ];
    for (name, value) in &claim.event.headers {
        let var: String =
            name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
        env.push((format!("HOOKD_HEADER_{var}"), value.clone()));
    }
    env
}
