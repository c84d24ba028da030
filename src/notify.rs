//! systemd readiness protocol (sd_notify): `READY=1` once the store is open
//! and the ingress listener is bound, `STOPPING=1` when shutdown begins, and
//! `WATCHDOG=1` pings while `WatchdogSec=` is set and the store's commits
//! work (a disk that stopped answering gets hookd restarted). Every call is a no-op when
//! `NOTIFY_SOCKET` is unset; a failed send is logged, never fatal.

use sd_notify::NotifyState;
use std::time::Duration;

/// Tell the service manager hookd is serving.
pub fn ready(addr: &str) {
    let status = format!("ingress listening on {addr}");
    send(&[NotifyState::Ready, NotifyState::Status(&status)]);
}

/// Tell the service manager hookd is shutting down.
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("shutting down")]);
}

/// Ping the watchdog at half its interval, forever (the runtime ends it).
/// Pings come from a runtime task, so a wedged runtime stops them and
/// systemd restarts hookd. Returns at once when no watchdog is configured.
pub async fn watchdog() {
    let Some(interval) = sd_notify::watchdog_enabled() else { return };
    let mut tick = tokio::time::interval((interval / 2).max(Duration::from_millis(100)));
    let mut held = false;
    loop {
        tick.tick().await;
        if crate::store::commits_ok() {
            held = false;
            send(&[NotifyState::Watchdog]);
        } else if !held {
            held = true;
            tracing::error!("the store's commits fail: not pinging the watchdog until they work again");
        }
    }
}

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify the service manager");
    }
}
