//! What happens, as it happens: ingress tells of each new event, the
//! dispatcher of each attempt's end and each delivery gone dead. Owns one
//! tokio broadcast channel (lossy: a reader that falls behind skips what it
//! missed and is told how much, see `admin/tail.rs`) and the per-minute
//! counts of the last hour that the console's chart draws. Never blocks or
//! fails the caller (a send with no reader is dropped), never holds a body,
//! headers or secrets.

use serde::Serialize;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// How many happenings a slow reader may fall behind before it skips.
const BACKLOG: usize = 1024;
/// Minutes of counts kept (the chart shows the last hour).
pub const MINUTES: usize = 60;

/// One thing that happened, in `/v1/tail`'s words (SPEC §6).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Happening {
    /// A new event was stored (duplicates are not news).
    Received {
        id: String,
        source: String,
        event_id: String,
        #[serde(rename = "type")]
        event_type: String,
        /// `pending`, or `unrouted` when `routes` is empty.
        status: &'static str,
        routes: Vec<String>,
        received_at: String,
    },
    /// An attempt ended.
    Attempt {
        id: String,
        source: String,
        #[serde(rename = "type")]
        event_type: String,
        route: String,
        attempt: u32,
        outcome: String,
        /// The delivery's state after it: delivered, retrying or dead.
        state: &'static str,
        duration_ms: u64,
        next_due_at: Option<String>,
    },
    /// A delivery went dead (after the `attempt` that killed it).
    Dead {
        id: String,
        source: String,
        #[serde(rename = "type")]
        event_type: String,
        route: String,
        reason: String,
    },
}

impl Happening {
    /// The SSE `event:` name.
    pub fn name(&self) -> &'static str {
        match self {
            Happening::Received { .. } => "received",
            Happening::Attempt { .. } => "attempt",
            Happening::Dead { .. } => "dead",
        }
    }

    pub fn source(&self) -> &str {
        match self {
            Happening::Received { source, .. } | Happening::Attempt { source, .. } | Happening::Dead { source, .. } => {
                source
            }
        }
    }

    pub fn event_type(&self) -> &str {
        match self {
            Happening::Received { event_type, .. }
            | Happening::Attempt { event_type, .. }
            | Happening::Dead { event_type, .. } => event_type,
        }
    }
}

/// An RFC 3339 time (milliseconds) from epoch milliseconds.
pub fn time(ms: u64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_millis(at).to_string()
}

/// Which of the chart's counts a happening adds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tally {
    Received,
    Delivered,
    /// An attempt that did not deliver (retried or dead).
    Failed,
    Nothing,
}

/// Counts of one minute (`minute` = epoch ms / 60 000).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Minute {
    #[serde(skip)]
    pub minute: u64,
    pub received: u64,
    pub delivered: u64,
    /// Attempts that did not deliver (retried or dead).
    pub failed: u64,
}

/// The feed: cloned into ingress, the dispatcher and the admin API.
#[derive(Clone)]
pub struct Feed {
    tx: broadcast::Sender<Arc<Happening>>,
    minutes: Arc<Mutex<[Minute; MINUTES]>>,
    started_ms: u64,
}

impl Default for Feed {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(BACKLOG);
        let started_ms = crate::store::now_ms();
        Feed { tx, minutes: Arc::new(Mutex::new([Minute::default(); MINUTES])), started_ms }
    }
}

impl Feed {
    /// Count it, and tell every reader; never waits. `build` runs only
    /// when someone reads (a console or `hookd tail` open): with no reader
    /// the ack path pays for the count alone, not for the strings.
    pub fn publish(&self, tally: Tally, now_ms: u64, build: impl FnOnce() -> Happening) {
        self.count(tally, now_ms / 60_000);
        if self.tx.receiver_count() > 0 {
            let _ = self.tx.send(Arc::new(build()));
        }
    }

    /// Since when the minutes are counted (this hookd's start).
    pub fn started_ms(&self) -> u64 {
        self.started_ms
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Happening>> {
        self.tx.subscribe()
    }

    fn count(&self, tally: Tally, minute: u64) {
        if tally == Tally::Nothing {
            return;
        }
        let mut minutes = self.minutes.lock().unwrap_or_else(|p| p.into_inner());
        let slot = &mut minutes[(minute % MINUTES as u64) as usize];
        if slot.minute != minute {
            *slot = Minute { minute, ..Minute::default() };
        }
        match tally {
            Tally::Received => slot.received += 1,
            Tally::Delivered => slot.delivered += 1,
            Tally::Failed => slot.failed += 1,
            Tally::Nothing => {}
        }
    }

    /// The last `MINUTES` minutes up to the one holding `now_ms`, oldest
    /// first; minutes with nothing (or from before the start) are zeros.
    pub fn last_hour(&self, now_ms: u64) -> Vec<Minute> {
        let now = now_ms / 60_000;
        let minutes = self.minutes.lock().unwrap_or_else(|p| p.into_inner());
        (0..MINUTES as u64)
            .rev()
            .map(|back| {
                let minute = now.saturating_sub(back);
                let slot = minutes[(minute % MINUTES as u64) as usize];
                if slot.minute == minute {
                    slot
                } else {
                    Minute { minute, ..Minute::default() }
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received() -> Happening {
        Happening::Received {
            id: "i".into(),
            source: "s".into(),
            event_id: "e".into(),
            event_type: "t".into(),
            status: "pending",
            routes: vec!["0".into()],
            received_at: String::new(),
        }
    }

    fn attempt(state: &'static str) -> Happening {
        Happening::Attempt {
            id: "i".into(),
            source: "s".into(),
            event_type: "t".into(),
            route: "0".into(),
            attempt: 1,
            outcome: "exit 0".into(),
            state,
            duration_ms: 1,
            next_due_at: None,
        }
    }

    #[test]
    fn counts_per_minute_and_forgets_after_an_hour() {
        let feed = Feed::default();
        let t = 1_000 * 60_000;
        feed.publish(Tally::Received, t, received);
        feed.publish(Tally::Received, t + 59_999, received);
        feed.publish(Tally::Delivered, t + 1, || attempt("delivered"));
        feed.publish(Tally::Failed, t + 60_000, || attempt("retrying"));
        let hour = feed.last_hour(t + 60_000);
        assert_eq!(hour.len(), MINUTES);
        assert_eq!(hour[MINUTES - 2], Minute { minute: 1000, received: 2, delivered: 1, failed: 0 });
        assert_eq!(hour[MINUTES - 1], Minute { minute: 1001, received: 0, delivered: 0, failed: 1 });
        // An hour on, minute 1000's slot is reused and starts from zero.
        feed.publish(Tally::Received, t + 60 * 60_000, received);
        let later = feed.last_hour(t + 60 * 60_000);
        assert_eq!(later[MINUTES - 1], Minute { minute: 1060, received: 1, delivered: 0, failed: 0 });
        assert!(later.iter().all(|m| m.minute != 1000));
    }

    #[test]
    fn with_no_reader_nothing_is_built_but_everything_is_counted() {
        let feed = Feed::default();
        feed.publish(Tally::Received, 0, || panic!("built with no reader"));
        assert_eq!(feed.last_hour(0)[MINUTES - 1].received, 1);
        let mut rx = feed.subscribe();
        feed.publish(Tally::Received, 0, received);
        assert!(rx.try_recv().is_ok(), "a reader gets it");
    }

    #[test]
    fn a_slow_reader_is_told_it_lagged_and_the_sender_never_waits() {
        let feed = Feed::default();
        let mut rx = feed.subscribe();
        for _ in 0..BACKLOG + 10 {
            feed.publish(Tally::Received, 0, received);
        }
        assert!(matches!(rx.try_recv(), Err(broadcast::error::TryRecvError::Lagged(10))));
        assert!(rx.try_recv().is_ok());
    }
}
