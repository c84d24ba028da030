//! `[alerts] on_dead`: once per delivery that goes dead, run the alert
//! command (an environment built like a handler's from `[dispatch]
//! inherit_env` and the `HOOKD_*` variables + `HOOKD_DEAD_REASON`, body on
//! stdin) or
//! POST the body to the alert URL (with `X-Hookd-Dead-Reason`), retried a
//! few times on its own task. Never blocks
//! dispatch; an alert that still fails is logged, and the dead delivery
//! stays visible in the DLQ either way.

use super::callback::{self, CallbackOutcome, CallbackSpec};
use super::child;
use super::command::{self, CommandExit, CommandSpec};
use super::run::handler_env;
use crate::config::admin::{AlertTarget, Alerts};
use crate::store::keys::id_text;
use crate::store::Claim;
use std::time::Duration;

/// Tries per alert, and the pause before each retry.
const BACKOFF: [Duration; 3] = [Duration::ZERO, Duration::from_secs(2), Duration::from_secs(10)];
const TAIL: usize = 1024;

/// `inherit_env`: `[dispatch] inherit_env`.
pub async fn on_dead(alerts: Alerts, client: callback::Client, claim: Claim, reason: String, inherit_env: Vec<String>) {
    for (n, pause) in BACKOFF.iter().enumerate() {
        tokio::time::sleep(*pause).await;
        match once(&alerts, &client, &claim, &reason, &inherit_env).await {
            Ok(()) => {
                tracing::info!(id = %id_text(&claim.due.id), route = %claim.route, "dead-delivery alert sent");
                return;
            }
            Err(why) => tracing::warn!(id = %id_text(&claim.due.id), try_ = n + 1, why, "dead-delivery alert failed"),
        }
    }
    tracing::error!(id = %id_text(&claim.due.id), route = %claim.route, "dead-delivery alert gave up");
}

/// A reason fit for a header value: printable ASCII, at most 200 bytes.
fn header_safe(reason: &str) -> String {
    reason.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).take(200).collect()
}

async fn once(
    alerts: &Alerts,
    client: &callback::Client,
    claim: &Claim,
    reason: &str,
    inherit_env: &[String],
) -> Result<(), String> {
    match &alerts.on_dead {
        AlertTarget::Command(argv) => {
            let mut vars = handler_env(claim);
            vars.push(("HOOKD_DEAD_REASON".into(), reason.to_string()));
            let spec = CommandSpec {
                argv: argv.clone(),
                env: child::environment(inherit_env, &[], vars),
                stdin: claim.body.clone(),
                timeout: alerts.timeout,
                tail_bytes: TAIL,
                on_start: None,
            };
            match command::run(spec).await.exit {
                CommandExit::Code(0) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
        AlertTarget::Url(url) => {
            let spec = CallbackSpec {
                extra_headers: vec![
                    ("x-hookd-dead-reason", header_safe(reason)),
                    ("x-hookd-route", claim.route.clone()),
                ],
                url: url.clone(),
                body: claim.body.clone(),
                content_type: claim.event.headers.iter().find(|(k, _)| k == "content-type").map(|(_, v)| v.clone()),
                msg_id: id_text(&claim.due.id),
                signing_secret: None,
                source: claim.event.source.clone(),
                event_type: claim.event.event_type.clone(),
                attempt: claim.attempt,
                timeout: alerts.timeout,
                tail_bytes: TAIL,
            };
            match callback::deliver(client, spec).await.outcome {
                CallbackOutcome::Delivered { .. } => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
    }
}
