//! `[alerts]`: once per delivery that goes dead, and once when a route's
//! breaker opens (with the attempt that opened it), run the alert command (an
//! environment built like a handler's from `[dispatch] inherit_env` and the
//! `HOOKD_*` variables + `HOOKD_DEAD_REASON`, body on stdin) or POST to the
//! alert URL in its `format` — a JSON summary (default; never the
//! customer's body), Slack's `{"text"}`, or the raw body — with
//! `X-Hookd-Dead-Reason`, signed like a callback when `[alerts]` has a
//! signing secret; retried a few times on its own task. Never blocks
//! dispatch; an alert that still fails is logged, and the dead delivery
//! stays visible in the DLQ either way.

use super::callback::{self, CallbackOutcome, CallbackSpec};
use super::child;
use super::command::{self, CommandExit, CommandSpec};
use super::run::handler_env;
use crate::config::admin::{AlertFormat, AlertTarget, Alerts};
use crate::store::keys::id_text;
use crate::store::Claim;
use std::time::Duration;

/// Tries per alert, and the pause before each retry.
const BACKOFF: [Duration; 3] = [Duration::ZERO, Duration::from_secs(2), Duration::from_secs(10)];
const TAIL: usize = 1024;

/// What an alert is about: `HOOKD_ALERT`, `X-Hookd-Alert`, `"alert"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dead,
    BreakerOpen,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Dead => "dead",
            Kind::BreakerOpen => "breaker_open",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Kind::Dead => "dead-delivery alert",
            Kind::BreakerOpen => "breaker alert",
        }
    }
}

/// `inherit_env`: `[dispatch] inherit_env`.
pub async fn on_dead(alerts: Alerts, client: callback::Client, claim: Claim, reason: String, inherit_env: Vec<String>) {
    send(alerts, client, claim, Kind::Dead, reason, inherit_env).await
}

/// The attempt in `claim` opened its route's breaker.
pub async fn on_breaker(alerts: Alerts, client: callback::Client, claim: Claim, reason: String, inherit: Vec<String>) {
    send(alerts, client, claim, Kind::BreakerOpen, reason, inherit).await
}

async fn send(
    alerts: Alerts,
    client: callback::Client,
    claim: Claim,
    kind: Kind,
    reason: String,
    inherit: Vec<String>,
) {
    let what = kind.what();
    for (n, pause) in BACKOFF.iter().enumerate() {
        tokio::time::sleep(*pause).await;
        match once(&alerts, &client, &claim, kind, &reason, &inherit).await {
            Ok(()) => {
                tracing::info!(id = %id_text(&claim.due.id), route = %claim.route, "{what} sent");
                return;
            }
            Err(why) => tracing::warn!(id = %id_text(&claim.due.id), try_ = n + 1, why, "{what} failed"),
        }
    }
    tracing::error!(id = %id_text(&claim.due.id), route = %claim.route, "{what} gave up");
}

/// `format = "json"`: what went dead (or which attempt opened a breaker)
/// and why, never the body.
fn summary(claim: &Claim, kind: Kind, reason: &str) -> serde_json::Value {
    let received = std::time::UNIX_EPOCH + Duration::from_millis(claim.event.received_ms);
    serde_json::json!({
        "alert": kind.name(),
        "source": claim.event.source,
        "event_id": claim.event.event_id,
        "event_type": claim.event.event_type,
        "id": id_text(&claim.due.id),
        "route": claim.route,
        "reason": reason,
        "attempts": claim.attempt,
        "received_at": humantime::format_rfc3339_millis(received).to_string(),
    })
}

/// `format = "slack"`: the summary as one line a person reads in a channel.
fn one_line(claim: &Claim, kind: Kind, reason: &str) -> String {
    if kind == Kind::BreakerOpen {
        return format!(
            "hookd: the breaker of {} route {} opened: {reason}. Its deliveries wait (they are not dead-lettered). `hookd routes list`",
            claim.event.source, claim.route
        );
    }
    let n = claim.attempt;
    format!(
        "hookd: a delivery is dead: {} route {} — {} {} (hookd id {}) after {n} attempt{}: {reason}. `hookd events show {}`",
        claim.event.source,
        claim.route,
        claim.event.event_type,
        claim.event.event_id,
        id_text(&claim.due.id),
        if n == 1 { "" } else { "s" },
        id_text(&claim.due.id)
    )
}

/// Slack reads `&`, `<` and `>` as markup (`<!channel>`): escaped as its
/// docs ask, so a value from the event cannot ping a channel.
fn slack_escaped(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A reason fit for a header value: printable ASCII, at most 200 bytes.
fn header_safe(reason: &str) -> String {
    reason.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).take(200).collect()
}

async fn once(
    alerts: &Alerts,
    client: &callback::Client,
    claim: &Claim,
    kind: Kind,
    reason: &str,
    inherit_env: &[String],
) -> Result<(), String> {
    match &alerts.on_dead {
        AlertTarget::Command(argv) => {
            let mut vars = handler_env(claim);
            vars.push(("HOOKD_ALERT".into(), kind.name().to_string()));
            let reason_var = if kind == Kind::Dead { "HOOKD_DEAD_REASON" } else { "HOOKD_ALERT_REASON" };
            vars.push((reason_var.into(), reason.to_string()));
            let spec = CommandSpec {
                cwd: None,
                argv: argv.clone(),
                env: child::environment(inherit_env, &[], vars),
                stdin: claim.body.clone(),
                timeout: alerts.timeout,
                tail_bytes: TAIL,
                stdout_bytes: 0,
                on_start: None,
            };
            match command::run(spec).await.exit {
                CommandExit::Code(0) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
        AlertTarget::Url(url) => {
            let (body, content_type) = match alerts.format {
                AlertFormat::Raw => (
                    claim.body.clone(),
                    claim.event.headers.iter().find(|(k, _)| k == "content-type").map(|(_, v)| v.clone()),
                ),
                AlertFormat::Json => (summary(claim, kind, reason).to_string().into(), Some("application/json".into())),
                AlertFormat::Slack => {
                    let text = serde_json::json!({ "text": slack_escaped(&one_line(claim, kind, reason)) });
                    (text.to_string().into(), Some("application/json".into()))
                }
            };
            let spec = CallbackSpec {
                extra_headers: vec![
                    (
                        if kind == Kind::Dead { "x-hookd-dead-reason" } else { "x-hookd-alert-reason" },
                        header_safe(reason),
                    ),
                    ("x-hookd-alert", kind.name().to_string()),
                    ("x-hookd-route", claim.route.clone()),
                ],
                url: url.clone(),
                body,
                content_type,
                msg_id: id_text(&claim.due.id),
                signing_secret: alerts.signing_secret.as_ref().map(|s| s.expose().to_vec()),
                source: claim.event.source.clone(),
                event_type: claim.event.event_type.clone(),
                attempt: claim.attempt,
                timeout: alerts.timeout,
                tail_bytes: TAIL,
                body_bytes: 0,
            };
            match callback::deliver(client, spec).await.outcome {
                CallbackOutcome::Delivered { .. } => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
    }
}
