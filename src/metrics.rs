//! Prometheus metrics (prometheus-client): what ingress, dispatch and the
//! store's counts expose on the admin listener's `GET /metrics`, in
//! Prometheus text 0.0.4 or OpenMetrics 1.0 (`expfmt`). Labels are
//! sources, event types, routes and outcome codes — never ids, bodies or
//! secrets.

mod expfmt;

pub use expfmt::Format;

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
    route_state: Family<Labels, Gauge>,
    route_waiting: Family<Labels, Gauge>,
    breaker_transitions: Family<Labels, Counter>,
}

/// One route's gauges at scrape time.
pub struct RouteGauges<'a> {
    pub source: &'a str,
    pub route: &'a str,
    /// `flow::RouteState::code`: 0 running, 1 paused, 2 breaker open.
    pub state: i64,
    pub waiting: u64,
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
            route_state: Family::default(),
            route_waiting: Family::default(),
            breaker_transitions: Family::default(),
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
        registry.register(
            "route_state",
            "Each route's flow state: 0 running, 1 paused, 2 breaker open",
            m.route_state.clone(),
        );
        registry.register("route_waiting", "Deliveries of each route pending or retrying", m.route_waiting.clone());
        registry.register(
            "breaker_transitions",
            "Route breakers opening (a failed probe included) and closing, by source, route and to",
            m.breaker_transitions.clone(),
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

    /// A route's breaker moved `to` `open` or `closed`.
    pub fn breaker(&self, source: &str, route: &str, to: &str) {
        let labels = vec![("source", source.to_string()), ("route", route.to_string()), ("to", to.to_string())];
        self.breaker_transitions.get_or_create(&labels).inc();
    }

    /// Set the per-route gauges before a scrape (the configured routes).
    pub fn routes<'a>(&self, routes: impl IntoIterator<Item = RouteGauges<'a>>) {
        self.route_state.clear();
        self.route_waiting.clear();
        for r in routes {
            let labels = vec![("source", r.source.to_string()), ("route", r.route.to_string())];
            self.route_state.get_or_create(&labels).set(r.state);
            self.route_waiting.get_or_create(&labels).set(r.waiting as i64);
        }
    }

    /// The exposition in `format`, with the gauges read from the store's
    /// counts. An error says what could not be encoded.
    pub fn render(&self, stats: &Stats, format: Format) -> Result<String, String> {
        for (source, c) in &stats.sources {
            let labels = vec![("source", source.clone())];
            self.queue_depth.get_or_create(&labels).set((c.pending + c.retrying) as i64);
            self.dlq_size.get_or_create(&labels).set(c.dead as i64);
        }
        let mut open = String::new();
        encode(&mut open, &self.registry).map_err(|_| "the OpenMetrics encoder failed".to_string())?;
        match format {
            Format::OpenMetrics => Ok(open),
            Format::Text004 => expfmt::to_text004(&open),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every family with samples, as the integration test makes them.
    fn busy() -> Metrics {
        let m = Metrics::default();
        let ms = Duration::from_millis(3);
        m.request("s", "invoice.paid", "accepted", 202, ms);
        m.request("s", "invoice.paid", "duplicate", 200, ms);
        m.request("s", "invoice.paid", "bad_signature", 401, ms);
        m.attempt("s", "0", "delivered", ms);
        m.attempt("s", "0", "retry", ms);
        m.running(1);
        m
    }

    fn stats() -> Stats {
        let counts = crate::store::SourceCounts { pending: 1, retrying: 2, delivered: 3, dead: 4, unrouted: 0 };
        Stats { sources: [("s".to_string(), counts)].into(), ..Stats::default() }
    }

    #[test]
    fn text_names_counters_with_total_in_their_metadata() {
        let text = busy().render(&stats(), Format::Text004).expect("text");
        for family in ["hookd_received_total", "hookd_signature_failures_total", "hookd_delivery_attempts_total"] {
            assert!(text.contains(&format!("# HELP {family} ")), "{family}:\n{text}");
            assert!(text.contains(&format!("# TYPE {family} counter\n")), "{family}:\n{text}");
        }
        assert!(text.contains("# TYPE hookd_ack_latency_seconds histogram\n"));
        assert!(text.contains("hookd_queue_depth{source=\"s\"} 3\n"), "{text}");
        assert!(text.contains("hookd_dlq_size{source=\"s\"} 4\n"), "{text}");
        assert!(!text.contains("# EOF") && !text.contains("# UNIT"));
        let open = busy().render(&stats(), Format::OpenMetrics).expect("open");
        assert!(open.contains("# TYPE hookd_received counter\n") && open.ends_with("# EOF\n"), "{open}");
    }

    #[test]
    fn help_texts_read_the_same_in_both_formats() {
        // prometheus-client writes HELP text as given: anything the formats
        // escape differently would be wrong in one of them.
        let open = busy().render(&stats(), Format::OpenMetrics).expect("open");
        for help in open.lines().filter_map(|l| l.strip_prefix("# HELP ")) {
            assert!(!help.contains(['\\', '"']), "{help}");
        }
    }

    #[test]
    fn both_formats_carry_the_same_samples() {
        let m = busy();
        let samples = |text: &str| -> Vec<String> {
            let mut s: Vec<String> = text.lines().filter(|l| !l.starts_with('#')).map(str::to_string).collect();
            s.sort();
            s
        };
        let open = m.render(&stats(), Format::OpenMetrics).expect("open");
        let text = m.render(&stats(), Format::Text004).expect("text");
        assert_eq!(samples(&open), samples(&text));
        assert!(samples(&text).len() > 40, "{text}");
    }
}
