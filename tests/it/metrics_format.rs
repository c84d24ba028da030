//! SPEC §6 `GET /metrics` through the real binary: Prometheus text 0.0.4 by
//! default, OpenMetrics 1.0 when `Accept` asks for it, every family with
//! samples, both checked by `promtool check metrics` (Debian's `prometheus`
//! package; .ci/run installs it).

use crate::support::http::{post, request, Response};
use crate::support::sign::{stripe, stripe_event, unix_now};
use crate::support::{wait_until, Hookd};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

const TOKEN: &str = "metrics-format-token-0123456789ab";
const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// What Prometheus 2.x sends by default.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// `promtool check metrics` on `text`: (exit code, stdout + stderr).
fn promtool(text: &str) -> (Option<i32>, String) {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "promtool is not installed; this test needs it: apt-get install prometheus \
             (as root: apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus)"
        ),
        Err(e) => panic!("could not run promtool: {e}"),
    };
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("feed promtool");
    let out = child.wait_with_output().expect("promtool");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code(), said)
}

fn scrape(h: &Hookd, accept: Option<&str>) -> Response {
    let auth = format!("Bearer {TOKEN}");
    let mut headers = vec![("Authorization", auth.as_str())];
    if let Some(a) = accept {
        headers.push(("Accept", a));
    }
    let r = request(h.admin.as_deref().expect("admin"), "GET", "/metrics", &headers, b"").expect("metrics");
    assert_eq!(r.status, 200, "{}", r.body);
    r
}

/// The sum of the samples named `name` whose labels include all of `labels`.
fn value(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.split(['{', ' ']).next() == Some(name) && labels.iter().all(|lab| l.contains(lab)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn sorted_samples(text: &str) -> Vec<&str> {
    let mut s: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    s.sort_unstable();
    s
}

fn send(h: &Hookd, id: &str, ty: &str, secret: &str) -> u16 {
    let body = stripe_event(id, ty);
    post(&h.addr, "/webhooks/s", &[stripe(secret, unix_now(), &body)], &body).expect("answer").status
}

#[test]
fn metrics_are_prometheus_text_unless_openmetrics_is_asked_for_and_promtool_agrees() {
    let tokens = tempfile::tempdir().expect("tempdir");
    let token = tokens.path().join("token");
    std::fs::write(&token, format!("{TOKEN}\n")).expect("token");
    let h = Hookd::start(&format!(
        "[admin]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"{}\"\n\n\
         [sources.s]\nkind = \"stripe\"\nsecret = \"k\"\n\n\
         [[sources.s.routes]]\nname = \"ok\"\nevents = [\"ok.*\"]\ncommand = [\"true\"]\n\n\
         [[sources.s.routes]]\nname = \"flaky\"\nevents = [\"fail.*\"]\ncommand = [\"false\"]\n\
         retry = {{ attempts = 2, initial = \"10ms\", max = \"20ms\" }}\n",
        token.display()
    ));
    // Before any traffic: families without samples are left out, and no
    // counter has a sample yet, so promtool has nothing to say about either.
    for accept in [None, Some(PROMETHEUS_ACCEPT)] {
        let idle = scrape(&h, accept).body;
        assert_eq!(promtool(&idle), (Some(0), String::new()), "{accept:?}:\n{idle}");
    }
    // Accepted, duplicate, 401; delivered; a retry, then dead (the DLQ).
    assert_eq!(send(&h, "evt_ok", "ok.done", "k"), 202);
    assert_eq!(send(&h, "evt_ok", "ok.done", "k"), 200);
    assert_eq!(send(&h, "evt_forged", "ok.done", "not-the-secret"), 401);
    assert_eq!(send(&h, "evt_fail", "fail.always", "k"), 202);
    let text = wait_until(Duration::from_secs(15), "delivered, retry and dead attempts", || {
        let text = scrape(&h, None).body;
        let attempts = |o: &str| value(&text, "hookd_delivery_attempts_total", &[&format!("outcome=\"{o}\"")]);
        let settled = value(&text, "hookd_deliveries_running", &[]) == 0.0;
        (settled && attempts("delivered") == 1.0 && attempts("retry") == 1.0 && attempts("dead") == 1.0).then_some(text)
    });

    // Every family has samples.
    let received = |o: &str| value(&text, "hookd_received_total", &["source=\"s\"", &format!("outcome=\"{o}\"")]);
    assert_eq!((received("accepted"), received("duplicate"), received("bad_signature")), (2.0, 1.0, 1.0), "{text}");
    assert_eq!(value(&text, "hookd_ack_latency_seconds_count", &[]), 3.0, "{text}");
    assert_eq!(value(&text, "hookd_ack_latency_seconds_bucket", &["le=\"+Inf\""]), 3.0, "{text}");
    assert_eq!(value(&text, "hookd_signature_failures_total", &["reason=\"bad_signature\""]), 1.0, "{text}");
    assert_eq!(value(&text, "hookd_duplicates_total", &["source=\"s\""]), 1.0, "{text}");
    assert_eq!(value(&text, "hookd_dlq_size", &["source=\"s\""]), 1.0, "{text}");
    assert!(text.lines().any(|l| l.starts_with("hookd_queue_depth{source=\"s\"} 0")), "{text}");
    assert!(text.lines().any(|l| l == "hookd_deliveries_running 0"), "{text}");
    assert_eq!(value(&text, "hookd_delivery_duration_seconds_count", &[]), 3.0, "{text}");
    for family in ["hookd_received_total", "hookd_signature_failures_total", "hookd_delivery_attempts_total"] {
        assert!(text.lines().any(|l| l.starts_with(&format!("# HELP {family} "))), "{family}: {text}");
        assert!(text.lines().any(|l| l == format!("# TYPE {family} counter")), "{family}: {text}");
    }

    // The default, and what a Prometheus-text reader asks for: 0.0.4.
    for accept in [None, Some("text/plain;version=0.0.4"), Some("*/*")] {
        let r = scrape(&h, accept);
        assert_eq!(r.header("content-type"), Some(TEXT), "{accept:?}");
        assert_eq!(r.header("vary"), Some("Accept"));
        assert!(!r.body.contains("# EOF") && !r.body.contains("# UNIT"), "{}", r.body);
        assert_eq!(promtool(&r.body), (Some(0), String::new()), "{accept:?}:\n{}", r.body);
    }

    // OpenMetrics when asked for, as Prometheus does by default.
    for accept in [PROMETHEUS_ACCEPT, "application/openmetrics-text"] {
        let r = scrape(&h, Some(accept));
        assert_eq!(r.header("content-type"), Some(OPENMETRICS), "{accept}");
        let open = &r.body;
        assert!(open.ends_with("\n# EOF\n"), "{open}");
        assert!(open.lines().any(|l| l == "# TYPE hookd_received counter"), "{open}");
        // The same samples as the text promtool accepted above.
        assert_eq!(sorted_samples(open), sorted_samples(&text), "{open}");
        // promtool reads only the 0.0.4 format (prometheus/prometheus#8932):
        // OpenMetrics names a counter family `x` and its sample `x_total`,
        // which it reports as `x_total no help text`. That, once per
        // counter family, is the only complaint allowed.
        let counters: Vec<&str> =
            open.lines().filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter")).collect();
        assert_eq!(counters.len(), 4, "{open}");
        let (code, said) = promtool(open);
        let mut complaints: Vec<&str> = said.lines().collect();
        complaints.sort_unstable();
        let mut known: Vec<String> = counters.iter().map(|c| format!("{c}_total no help text")).collect();
        known.sort_unstable();
        if !(code == Some(0) && said.is_empty()) {
            assert_eq!(complaints, known, "promtool on OpenMetrics:\n{said}\n{open}");
            assert_eq!(code, Some(3), "promtool's exit for lint problems only:\n{said}");
        }
    }
}
