//! Retention in the background: delivered and dead events past
//! `retain_delivered` / `retain_dead`, dedup keys past their source's
//! window. Runs store passes on a blocking thread, a bounded batch at a
//! time, so ingest never waits for it. Never touches an event in flight,
//! and never trusts a wall clock that just jumped forward (the store's
//! `expiry_now`).

use crate::config::SharedSources;
use crate::store::{Retention, Store, SweepCursor};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub struct Janitor {
    pub store: Arc<Store>,
    pub sources: SharedSources,
    pub retain_delivered: Duration,
    pub retain_dead: Duration,
    pub dedup_window: Duration,
}

impl Janitor {
    /// A pass every quarter of the shortest retention, between 100 ms and
    /// a minute.
    fn interval(&self) -> Duration {
        let windows = self.sources.load().values().map(|s| s.dedup_window).min().unwrap_or(self.dedup_window);
        let shortest = self.retain_delivered.min(self.retain_dead).min(self.dedup_window).min(windows);
        (shortest / 4).clamp(Duration::from_millis(100), Duration::from_secs(60))
    }

    pub async fn run(self, shutdown: CancellationToken) {
        let me = Arc::new(self);
        let sweep = Arc::new(SweepCursor::default());
        loop {
            tokio::select! {
                _ = tokio::time::sleep(me.interval()) => {}
                _ = shutdown.cancelled() => return,
            }
            let (pass, sweep) = (me.clone(), sweep.clone());
            let result = tokio::task::spawn_blocking(move || pass.pass(&sweep)).await;
            match result {
                Ok(Ok(e)) if e.events + e.dedup_keys > 0 => {
                    tracing::info!(events = e.events, dedup_keys = e.dedup_keys, "retention removed")
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "retention pass failed"),
                Err(e) => tracing::error!(error = %e, "retention pass panicked"),
            }
        }
    }

    fn pass(&self, sweep: &SweepCursor) -> Result<crate::store::Expired, crate::store::StoreError> {
        let sources = self.sources.load_full();
        let default = self.dedup_window;
        let window = move |source: &str| sources.get(source).map_or(default, |s| s.dedup_window);
        let keep = Retention { delivered: self.retain_delivered, dead: self.retain_dead, dedup_window: &window };
        self.store.expire(self.store.expiry_now(), &keep, sweep)
    }
}
