//! One attempt of one handler, as data: runs the route's command,
//! callback or NATS publish and maps what happened to an `Outcome` and the
//! `AttemptEnd` the store records (retry timing from the pure `retry`
//! module), its output tail scrubbed of every secret. Also the SPEC §5
//! `HOOKD_*` variables.

use super::callback;
use super::child;
use super::command;
use super::nats;
use crate::config::secret::Secret;
use crate::config::Sources;
use crate::flow::breaker::Verdict;
use crate::retry::{self, Outcome};
use crate::route::template::Event;
use crate::route::{Handler, Route};
use crate::store::keys::id_text;
use crate::store::{now_ms, AttemptEnd, Claim, Next, Store};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

/// What every attempt needs besides its route and claim.
pub struct Attempting<'a> {
    pub nats: &'a nats::Pool,
    pub store: &'a Arc<Store>,
    /// All sources in force: their secrets are scrubbed from every tail.
    pub sources: &'a Sources,
    pub admin_token: Option<&'a Secret>,
    pub tail: usize,
}

/// Run the route's handler for `claim` and decide what comes next; the
/// verdict is what the attempt says of the route (its breaker's input).
pub async fn handler(cx: &Attempting<'_>, route: &Route, claim: &Claim) -> (AttemptEnd, Verdict) {
    let (outcome, mut end) = match &route.handler {
        Handler::Command { argv } => run_command(cx, route, argv, claim).await,
        Handler::Callback { url, signing_secret, client } => {
            let secret = signing_secret.as_ref().map(|s| s.expose().to_vec());
            run_callback(client, route, url, secret, claim, cx.tail).await
        }
        Handler::Nats(target) => run_nats(cx, route, target, claim).await,
    };
    end.output_tail = child::scrub(end.output_tail, &child::secrets(cx.sources, cx.admin_token));
    let verdict = match outcome {
        Outcome::Delivered => Verdict::Worked,
        Outcome::Retry { .. } => Verdict::Failed,
        Outcome::Dead { .. } => Verdict::Refused,
    };
    let now = now_ms();
    end.next = match retry::next(&route.retry, claim.attempt_in_round, outcome, fastrand::f64) {
        retry::Next::Delivered => Next::Delivered,
        retry::Next::Dead(reason) => Next::Dead(reason),
        retry::Next::RetryIn(d) => Next::RetryAt(now + d.as_millis() as u64),
    };
    (end, verdict)
}

async fn run_command(cx: &Attempting<'_>, route: &Route, argv: &[String], claim: &Claim) -> (Outcome, AttemptEnd) {
    let (store, due, attempt) = (cx.store.clone(), claim.due, claim.attempt);
    let note = move |who: command::Started| {
        if let Err(e) = store.note_process(&due, attempt, &who) {
            tracing::warn!(id = %id_text(&due.id), error = %e, "could not note the handler's process group");
        }
    };
    let (argv, env) = rendered(route, argv, claim);
    let spec = command::CommandSpec {
        argv,
        env: child::environment(&route.inherit_env, &env, handler_env(claim)),
        cwd: route.cwd.clone(),
        stdin: claim.body.clone(),
        timeout: route.timeout,
        tail_bytes: cx.tail,
        on_start: Some(Box::new(note)),
    };
    let result = command::run(spec).await;
    let (outcome, summary, code) = match result.exit {
        command::CommandExit::Code(0) => (Outcome::Delivered, "exit 0".to_string(), Some(0)),
        command::CommandExit::Code(c) if route.permanent_exit_codes.contains(&c) => {
            (Outcome::Dead { reason: format!("exit {c} (permanent)") }, format!("exit {c}"), Some(c))
        }
        command::CommandExit::Code(c) => (retry_with(format!("exit {c}")), format!("exit {c}"), Some(c)),
        command::CommandExit::Signal(s) => (retry_with(format!("killed by signal {s}")), format!("signal {s}"), None),
        command::CommandExit::TimedOut => {
            let what = format!("timed out after {}", humantime::format_duration(route.timeout));
            (retry_with(what.clone()), what, None)
        }
        command::CommandExit::SpawnFailed(e) => (retry_with(e.clone()), e, None),
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
    client: &callback::Client,
    route: &Route,
    url: &str,
    secret: Option<Vec<u8>>,
    claim: &Claim,
    tail: usize,
) -> (Outcome, AttemptEnd) {
    let content_type = claim.event.headers.iter().find(|(k, _)| k == "content-type").map(|(_, v)| v.clone());
    let spec = callback::CallbackSpec {
        extra_headers: Vec::new(),
        url: url.to_string(),
        body: claim.body.clone(),
        content_type,
        msg_id: id_text(&claim.due.id),
        signing_secret: secret,
        source: claim.event.source.clone(),
        event_type: claim.event.event_type.clone(),
        attempt: claim.attempt,
        timeout: route.timeout,
        tail_bytes: tail,
    };
    let result = callback::deliver(client, spec).await;
    let (outcome, summary, status) = match result.outcome {
        callback::CallbackOutcome::Delivered { status } => (Outcome::Delivered, format!("http {status}"), Some(status)),
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

async fn run_nats(
    cx: &Attempting<'_>,
    route: &Route,
    target: &nats::NatsTarget,
    claim: &Claim,
) -> (Outcome, AttemptEnd) {
    let pool = cx.nats;
    // A server not seen before: the routes may have been reloaded, so let
    // go of the connections no route names any more.
    if !pool.knows(&target.server) {
        pool.retain(|s| names_server(cx.sources, s));
    }
    let (event, id, received_at) = (&claim.event, id_text(&claim.due.id), received_at(claim));
    let subject = target.subject.render(&template_event(claim, &id, &received_at));
    let content_type = event.headers.iter().find(|(k, _)| k == "content-type").map(|(_, v)| v.clone());
    let msg = nats::Publish {
        msg_id: format!("{}:{}", event.source, event.event_id),
        subject: subject.clone(),
        body: claim.body.clone(),
        hookd_id: id,
        source: event.source.clone(),
        event_type: event.event_type.clone(),
        attempt: claim.attempt,
        content_type: content_type.unwrap_or_else(|| "application/json".into()),
        timeout: route.timeout,
    };
    let (outcome, summary, tail) = match nats::publish(pool, target, msg).await {
        nats::NatsOutcome::Delivered { stream, sequence, duplicate } => {
            let what = if duplicate { "nats ack (duplicate)" } else { "nats ack" };
            (Outcome::Delivered, what.to_string(), format!("{subject} -> stream {stream} seq {sequence}"))
        }
        nats::NatsOutcome::Retry { reason } => (retry_with(reason.clone()), reason, format!("{subject}: no ack")),
    };
    let end =
        AttemptEnd { outcome: summary, exit_code: None, http_status: None, output_tail: tail, next: Next::Delivered };
    (outcome, end)
}

fn names_server(sources: &Sources, server: &nats::Server) -> bool {
    let mut routes = sources.values().flat_map(|s| s.routes.iter());
    routes.any(|r| matches!(&r.handler, Handler::Nats(t) if &t.server == server))
}

/// The route's argv and `env` values rendered for this attempt (SPEC §5
/// templates; the body's JSON is parsed at most once, and only if asked).
fn rendered(route: &Route, argv: &[String], claim: &Claim) -> (Vec<String>, Vec<(String, String)>) {
    let (id, received) = (id_text(&claim.due.id), received_at(claim));
    let ev = template_event(claim, &id, &received);
    let mut doc = None;
    let argv = match route.argv.len() == argv.len() {
        true => route.argv.iter().map(|t| t.render(&ev, &mut doc)).collect(),
        false => argv.to_vec(),
    };
    let env = route.env.iter().map(|(k, t)| (k.clone(), t.render(&ev, &mut doc))).collect();
    (argv, env)
}

/// What a route's templates read for this attempt; `id` and `received_at`
/// are the claim's, as text.
fn template_event<'a>(claim: &'a Claim, id: &'a str, received_at: &'a str) -> Event<'a> {
    Event {
        source: &claim.event.source,
        event_id: &claim.event.event_id,
        event_type: &claim.event.event_type,
        id,
        attempt: claim.attempt,
        received_at,
        headers: &claim.event.headers,
        body: &claim.body,
    }
}

/// When the event was received, RFC 3339 with milliseconds.
fn received_at(claim: &Claim) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(claim.event.received_ms)).to_string()
}

fn retry_with(reason: String) -> Outcome {
    Outcome::Retry { after: None, reason }
}

/// The SPEC §5 `HOOKD_*` variables of a handler.
pub fn handler_env(claim: &Claim) -> Vec<(String, String)> {
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
