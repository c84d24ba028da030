//! The translation against hand-written expositions (OpenMetrics 1.0 as
//! prometheus-client writes it → what Prometheus text 0.0.4 says), and the
//! `Accept` negotiation against what real scrapers send.

use super::*;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family as Fam;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

fn translate(open: &str) -> String {
    to_text004(open).unwrap_or_else(|e| panic!("{e}\n{open}"))
}

#[test]
fn a_registry_of_every_kind_translates_exactly() {
    let mut registry = Registry::with_prefix("app");
    let requests: Fam<Vec<(&'static str, String)>, Counter> = Fam::default();
    requests.get_or_create(&vec![("path", "a\"b\\c\nd λ".to_string())]).inc_by(3);
    registry.register("requests", "Requests by path", requests);
    let bytes: Counter = Counter::default();
    bytes.inc_by(7);
    registry.register_with_unit("sent", "Sent", Unit::Bytes, bytes);
    let depth: Gauge = Gauge::default();
    depth.set(-2);
    registry.register("depth", "Queue depth", depth);
    let latency = Histogram::new([0.5, 1.0]);
    latency.observe(0.25);
    latency.observe(3.0);
    registry.register_with_unit("latency", "Latency", Unit::Seconds, latency);
    registry.register("build", "Build", Info::new(vec![("version", "1.2.3".to_string())]));
    let empty: Fam<Vec<(&'static str, String)>, Counter> = Fam::default();
    registry.register("unused", "Never incremented", empty);
    let mut open = String::new();
    encode(&mut open, &registry).expect("encode");

    let expected = concat!(
        "# HELP app_requests_total Requests by path.\n",
        "# TYPE app_requests_total counter\n",
        "app_requests_total{path=\"a\\\"b\\\\c\\nd λ\"} 3\n",
        "# HELP app_sent_bytes_total Sent.\n",
        "# TYPE app_sent_bytes_total counter\n",
        "app_sent_bytes_total 7\n",
        "# HELP app_depth Queue depth.\n",
        "# TYPE app_depth gauge\n",
        "app_depth -2\n",
        "# HELP app_latency_seconds Latency.\n",
        "# TYPE app_latency_seconds histogram\n",
        "app_latency_seconds_sum 3.25\n",
        "app_latency_seconds_count 2\n",
        "app_latency_seconds_bucket{le=\"0.5\"} 1\n",
        "app_latency_seconds_bucket{le=\"1.0\"} 1\n",
        "app_latency_seconds_bucket{le=\"+Inf\"} 2\n",
        "# HELP app_build_info Build.\n",
        "# TYPE app_build_info gauge\n",
        "app_build_info{version=\"1.2.3\"} 1\n",
        // An empty family is not written at all (so no metadata without samples).
    );
    assert_eq!(translate(&open), expected, "from:\n{open}");
}

#[test]
fn exemplars_created_and_timestamps_become_0_0_4() {
    let open = concat!(
        "bare_metric NaN\n",
        "# HELP jobs Jobs \\\"done\\\" \\\\ here\\nand there.\n",
        "# TYPE jobs counter\n",
        "jobs_total{kind=\"a # {b}\"} 2 1700000000.5 # {trace=\"x\"} 1.0 1700000000.1\n",
        "jobs_created{kind=\"a # {b}\"} 1699999999.0\n",
        "jobs_total{kind=\"c\"} 1 # {trace=\"y\"} 1\n",
        "# TYPE mystery unknown\n",
        "mystery 1e-7\n",
        "# EOF\n",
    );
    let expected = concat!(
        "bare_metric NaN\n",
        "# HELP jobs_total Jobs \"done\" \\\\ here\\nand there.\n",
        "# TYPE jobs_total counter\n",
        "jobs_total{kind=\"a # {b}\"} 2 1700000000500\n",
        "jobs_total{kind=\"c\"} 1\n",
        "# TYPE mystery untyped\n",
        "mystery 1e-7\n",
    );
    assert_eq!(translate(open), expected);
}

#[test]
fn what_it_does_not_understand_is_refused() {
    let cases = [
        ("# TYPE x counter\nx_total 1\n", "no # EOF"),
        ("# TYPE x counter\nx 1\n# EOF\n", "not of its family"),
        ("# TYPE x counter\ny_total 1\n# EOF\n", "not of its family"),
        ("# TYPE x gauge\nx_created 1\n# EOF\n", "not of its family"),
        ("# TYPE x gaugehistogram\n# EOF\n", "cannot express"),
        ("# TYPE x stateset\n# EOF\n", "cannot express"),
        ("# HELP x a\n# HELP x b\n# EOF\n", "two # HELP"),
        ("# HELP x a\n# TYPE y gauge\n# EOF\n", "another family"),
        ("# HELP x a\nx 1\n# EOF\n", "between # HELP and # TYPE"),
        ("# HELP x bad \\t escape\n# TYPE x gauge\n# EOF\n", "bad escape"),
        ("# EOF\nx 1\n", "after # EOF"),
        ("x 1\n\n# EOF\n", "not OpenMetrics"),
        ("# a comment\n# EOF\n", "not OpenMetrics"),
        ("x{a=\"1\" 1\n# EOF\n", "unterminated"),
        ("x{a=\"1\\t\"} 1\n# EOF\n", "unterminated"),
        ("x{a=\"1\",} 1\n# EOF\n", "unterminated"),
        ("x{a:b=\"1\"} 1\n# EOF\n", "unterminated"),
        ("x{a=1} 1\n# EOF\n", "unterminated"),
        ("x{a=\"1\"}1\n# EOF\n", "no space"),
        ("x inf\n# EOF\n", "bad value"),
        ("x 0x10\n# EOF\n", "bad value"),
        ("x\n# EOF\n", "without a value"),
        ("1x 1\n# EOF\n", "bad metric name"),
        ("x 1 2 3\n# EOF\n", "bad timestamp"),
        ("x 1 soon\n# EOF\n", "bad timestamp"),
        ("x 1 # trace\n# EOF\n", "bad exemplar"),
    ];
    for (open, why) in cases {
        match to_text004(open) {
            Ok(text) => panic!("{open:?} translated to {text:?}; expected an error with {why:?}"),
            Err(e) => assert!(e.contains(why), "{open:?}: {e:?} does not say {why:?}"),
        }
    }
}

#[test]
fn accept_picks_openmetrics_only_when_asked() {
    let cases: &[(Option<&str>, Format)] = &[
        (None, Format::Text004),
        (Some(""), Format::Text004),
        (Some("*/*"), Format::Text004),
        (Some("text/plain"), Format::Text004),
        (Some("text/plain;version=0.0.4"), Format::Text004),
        (Some("application/json"), Format::Text004),
        (Some("application/openmetrics-text"), Format::OpenMetrics),
        (Some("Application/OpenMetrics-Text; Version=1.0.0"), Format::OpenMetrics),
        // Prometheus 2.x and 3.x defaults.
        (
            Some("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
            Format::OpenMetrics,
        ),
        (
            Some("application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"),
            Format::OpenMetrics,
        ),
        // scrape_protocols with PrometheusText0.0.4 first.
        (Some("text/plain;version=0.0.4;q=0.5,application/openmetrics-text;version=1.0.0;q=0.4,*/*;q=0.1"), Format::Text004),
        (Some("application/openmetrics-text;q=0"), Format::Text004),
        (Some("application/openmetrics-text;q=bogus"), Format::Text004),
        (Some("application/openmetrics-text;q=0.3, text/*;q=0.9"), Format::Text004),
        (Some("text/plain, application/openmetrics-text"), Format::OpenMetrics),
        (Some("application/x;a=\"b,application/openmetrics-text\""), Format::Text004),
    ];
    for (accept, format) in cases {
        assert_eq!(Format::negotiate(*accept), *format, "{accept:?}");
    }
    assert_eq!(Format::Text004.content_type(), "text/plain; version=0.0.4; charset=utf-8");
}
