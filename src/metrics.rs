//! Prometheus metrics (prometheus-client): what ingress, dispatch and the
//! store's counts expose on the admin listener's `GET /metrics`. Labels are
//! sources, event types, routes and outcome codes — never ids, bodies or
//! secrets.

use crate::store::Stats;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::time::Duration;

type Labels = Vec<(&'static str, String)>;

pub struct Metrics {
    registry: Registry,
    received: Family<Labels, Counter>,
    ack_latency: Histogram,
    signature_failures: Family<Labels, Counter>,
    duplicates: Family<Labels, Counter>,
    queue_depth: Family<Labels, Gauge>,
    dlq_size: Family<Labels, Gauge>,
    running: Gauge,
    delivery_duration: Family<Labels, Histogram>,
    attempts: Family<Labels, Counter>,
    dedup_body_mismatch: Family<Labels, Counter>,
}

fn latency_buckets() -> Histogram {
    // 0.25 ms … ~8 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("hookd");
        let m = Metrics {
            received: Family::default(),
            ack_latency: latency_buckets(),
            signature_failures: Family::default(),
            duplicates: Family::default(),
            queue_depth: Family::default(),
            dlq_size: Family::default(),
            running: Gauge::default(),
            delivery_duration: Family::new_with_constructor(latency_buckets),
            attempts: Family::default(),
            dedup_body_mismatch: Family::default(),
            registry: Registry::default(),
        };
        registry.register("received", "Webhook requests by source, type and outcome", m.received.clone());
        registry.register(
            "ack_latency_seconds",
            "Time from request start to the answer of accepted and duplicate webhooks",
            m.ack_latency.clone(),
        );
        registry.register(
            "signature_failures",
            "Requests refused with 401, by source and reason",
            m.signature_failures.clone(),
        );
        registry.register("duplicates", "Deliveries answered as duplicates, by source", m.duplicates.clone());
        registry.register("queue_depth", "Deliveries pending or retrying, by source", m.queue_depth.clone());
        registry.register("dlq_size", "Dead deliveries, by source", m.dlq_size.clone());
        registry.register("deliveries_running", "Handlers running now", m.running.clone());
        registry.register(
            "delivery_duration_seconds",
            "Handler run time per attempt, by source and route",
            m.delivery_duration.clone(),
        );
        registry.register(
            "delivery_attempts",
            "Finished attempts by source, route and outcome (delivered, retry, dead)",
            m.attempts.clone(),
        );
        registry.register(
            "dedup_body_mismatch",
            "Duplicates whose body differed from the first copy's (the first is kept), by source",
            m.dedup_body_mismatch.clone(),
        );
        Metrics { registry, ..m }
    }
}

impl Metrics {
    /// One webhook request answered: `outcome` is `accepted`, `duplicate`
    /// or the refusal's error code.
    pub fn request(&self, source: &str, event_type: &str, outcome: &str, status: u16, latency: Duration) {
        let labels =
            vec![("source", source.to_string()), ("type", event_type.to_string()), ("outcome", outcome.into())];
        self.received.get_or_create(&labels).inc();
        match status {
            200 | 202 => self.ack_latency.observe(latency.as_secs_f64()),
            401 => {
                let labels = vec![("source", source.to_string()), ("reason", outcome.to_string())];
                self.signature_failures.get_or_create(&labels).inc();
            }
            _ => {}
        }
        if outcome == "duplicate" {
            self.duplicates.get_or_create(&vec![("source", source.to_string())]).inc();
        }
    }

    /// A duplicate of `source` came with a different body than the first.
    pub fn dedup_body_mismatch(&self, source: &str) {
        self.dedup_body_mismatch.get_or_create(&vec![("source", source.to_string())]).inc();
    }

    pub fn running(&self, delta: i64) {
        self.running.inc_by(delta);
    }

    /// One attempt ended: `outcome` is `delivered`, `retry` or `dead`.
    pub fn attempt(&self, source: &str, route: &str, outcome: &str, took: Duration) {
        let at = vec![("source", source.to_string()), ("route", route.to_string())];
        self.delivery_duration.get_or_create(&at).observe(took.as_secs_f64());
        let mut labels = at;
        labels.push(("outcome", outcome.to_string()));
        self.attempts.get_or_create(&labels).inc();
    }

    /// The text exposition, with the gauges read from the store's counts.
    pub fn render(&self, stats: &Stats) -> String {
        for (source, c) in &stats.sources {
            let labels = vec![("source", source.clone())];
            self.queue_depth.get_or_create(&labels).set((c.pending + c.retrying) as i64);
            self.dlq_size.get_or_create(&labels).set(c.dead as i64);
        }
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            return "# encoding failed\n".into();
        }
        out
    }
}
