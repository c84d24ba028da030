//! Reply routes through the real binary (SPEC §5): the first attempt's
//! output answers the sender when it succeeds within `reply_within` — with
//! the content type rules —, else 202 and the delivery goes on (one attempt
//! recorded once, retries as usual); duplicates are answered as always;
//! callbacks reply with their response body; one reply route per source.

use crate::support::http::{post, Receiver, Response};
use crate::support::sign::{stripe, stripe_event, unix_now};
use crate::support::{lines, wait_until, Hookd};
use std::path::Path;
use std::time::{Duration, Instant};

/// A secret as long as real ones (answers are scrubbed of secrets).
const SECRET: &str = "whsec_reply_test_secret";

/// A stripe source `name` whose one route replies; `route` is the rest of
/// the route's table (`command = …`, `reply_within = …`).
fn source(name: &str, route: &str) -> String {
    format!("[sources.{name}]\nkind = \"stripe\"\nsecret = \"{SECRET}\"\n\n[[sources.{name}.routes]]\nname = \"answer\"\nevents = [\"invoice.*\"]\nreply = true\n{route}\n\n")
}

/// `sh -c SCRIPT` as a TOML command, the script recording each run in `runs`.
fn sh(runs: &Path, script: &str) -> String {
    let script = format!("echo \"$HOOKD_EVENT_ID $HOOKD_ATTEMPT\" >> {}; {script}", runs.display());
    format!("command = [\"/bin/sh\", \"-c\", {}]", toml_string(&script))
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn with_admin(dir: &Path, sources: &str) -> Hookd {
    Hookd::start(&format!("[admin]\nlisten = \"unix:{}\"\n\n{sources}", dir.join("admin.sock").display()))
}

fn send(h: &Hookd, source: &str, id: &str, ty: &str) -> (Response, Duration) {
    let body = stripe_event(id, ty);
    let started = Instant::now();
    let r = post(&h.addr, &format!("/webhooks/{source}"), &[stripe(SECRET, unix_now(), &body)], &body).expect("answer");
    (r, started.elapsed())
}

/// `events show` of the sender's id `event_id` once its delivery is `state`.
fn shown_when(h: &Hookd, event_id: &str, state: &str) -> serde_json::Value {
    wait_until(Duration::from_secs(15), &format!("{event_id} {state}"), || {
        let (code, out, _) = h.cli(&["events", "show", event_id, "--json"]);
        let v: serde_json::Value = serde_json::from_str(&out).ok().filter(|_| code == 0)?;
        (v["deliveries"][0]["state"] == state).then_some(v)
    })
}

fn attempts(shown: &serde_json::Value) -> usize {
    shown["deliveries"][0]["attempts"].as_array().map_or(0, Vec::len)
}

#[test]
fn reply_in_time_answers_200_with_stdout_and_its_content_type() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runs = dir.path().join("runs");
    let sources = [
        // Braces in a command are template syntax: a literal one is doubled.
        source("json", &sh(&runs, r#"printf '{{"ok":true,"event":"%s"}}' "$HOOKD_EVENT_ID""#)),
        source("text", &sh(&runs, "echo hello; echo not-in-the-answer >&2")),
        source("xml", &format!("reply_content_type = \"text/xml\"\n{}", sh(&runs, "printf '<Response/>'"))),
        source("big", &sh(&runs, "head -c 70000 /dev/zero | tr '\\0' a")),
        source("leak", &sh(&runs, &format!("printf 'key={SECRET}'"))),
    ]
    .concat();
    let h = with_admin(dir.path(), &sources);

    let (r, _) = send(&h, "json", "evt_json", "invoice.paid");
    assert_eq!((r.status, r.header("content-type")), (200, Some("application/json")), "{r:?}");
    assert_eq!(r.json(), serde_json::json!({"ok": true, "event": "evt_json"}));
    let (r, _) = send(&h, "text", "evt_text", "invoice.paid");
    assert_eq!((r.status, r.header("content-type"), r.body.as_str()), (200, Some("text/plain"), "hello\n"));
    let (r, _) = send(&h, "xml", "evt_xml", "invoice.paid");
    assert_eq!((r.status, r.header("content-type"), r.body.as_str()), (200, Some("text/xml"), "<Response/>"));

    let (r, _) = send(&h, "leak", "evt_leak", "invoice.paid");
    assert_eq!((r.status, r.body.as_str()), (200, "key=[redacted]"), "an answer never carries a secret");

    let (r, _) = send(&h, "big", "evt_big", "invoice.paid");
    assert_eq!(r.status, 202, "output over the 64 KiB reply limit is no answer: {}", &r.body[..r.body.len().min(200)]);
    shown_when(&h, "evt_big", "delivered");
    let warned = wait_until(Duration::from_secs(5), "the warning", || {
        h.logs().lines().find(|l| l.contains("over the reply limit")).map(str::to_string)
    });
    assert!(warned.contains("WARN"), "{warned}");

    let (r, _) = send(&h, "json", "evt_other", "customer.created");
    assert_eq!(r.status, 202, "an event the reply route does not take is answered as usual");

    for event in ["evt_json", "evt_text", "evt_xml"] {
        let shown = shown_when(&h, event, "delivered");
        assert_eq!(attempts(&shown), 1, "{shown}");
    }
    assert_eq!(lines(&runs).len(), 5, "each handler ran once: {:?}", lines(&runs));
}

#[test]
fn a_duplicate_of_a_replied_event_is_answered_200_deduped_and_runs_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runs = dir.path().join("runs");
    let h = with_admin(dir.path(), &source("s", &sh(&runs, "printf replied")));
    let (first, _) = send(&h, "s", "evt_dup", "invoice.paid");
    assert_eq!((first.status, first.body.as_str()), (200, "replied"));
    let (again, _) = send(&h, "s", "evt_dup", "invoice.paid");
    assert_eq!(again.status, 200);
    let answer = again.json();
    assert_eq!((answer["deduped"].as_bool(), answer["event_id"].as_str()), (Some(true), Some("evt_dup")), "{answer}");
    let shown = shown_when(&h, "evt_dup", "delivered");
    assert_eq!(answer["id"], shown["id"], "the first event's hookd id");
    assert_eq!(attempts(&shown), 1);
    assert_eq!(lines(&runs), ["evt_dup 1"]);
}

#[test]
fn a_reply_too_slow_is_202_and_the_attempt_still_counts_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runs = dir.path().join("runs");
    let slow = format!("reply_within = \"300ms\"\n{}", sh(&runs, "sleep 1; printf late"));
    let h = with_admin(dir.path(), &source("s", &slow));
    let (r, took) = send(&h, "s", "evt_slow", "invoice.paid");
    assert_eq!(r.status, 202, "{r:?}");
    assert_eq!(r.json()["deduped"], false);
    assert!(took >= Duration::from_millis(300), "waited reply_within first: {took:?}");
    let shown = shown_when(&h, "evt_slow", "delivered");
    assert_eq!(attempts(&shown), 1, "the attempt that was too slow for the reply is the delivery: {shown}");
    assert_eq!(lines(&runs), ["evt_slow 1"]);
}

#[test]
fn a_failing_reply_is_202_at_once_and_retried() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runs = dir.path().join("runs");
    let route = format!(
        "reply_within = \"10s\"\nretry = {{ attempts = 3, initial = \"50ms\", max = \"100ms\" }}\n{}",
        sh(&runs, "[ \"$HOOKD_ATTEMPT\" = 1 ] && exit 75; printf second")
    );
    let h = with_admin(dir.path(), &source("s", &route));
    let (r, took) = send(&h, "s", "evt_fail", "invoice.paid");
    assert_eq!(r.status, 202, "{r:?}");
    assert!(took < Duration::from_secs(5), "a failed first attempt answers at once, not after reply_within: {took:?}");
    let shown = shown_when(&h, "evt_fail", "delivered");
    assert_eq!(attempts(&shown), 2, "{shown}");
    assert_eq!(lines(&runs), ["evt_fail 1", "evt_fail 2"]);
}

#[test]
fn a_callback_reply_route_answers_with_the_response_body() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ok = Receiver::start(vec![200]);
    let flaky = Receiver::start(vec![503, 200]);
    let sources = [
        source("cb", &format!("url = \"{}\"", ok.url("/reply"))),
        source("flaky", &format!("url = \"{}\"\nretry = {{ initial = \"50ms\", max = \"100ms\" }}", flaky.url("/x"))),
    ]
    .concat();
    let h = with_admin(dir.path(), &sources);
    let (r, _) = send(&h, "cb", "evt_cb", "invoice.paid");
    assert_eq!((r.status, r.header("content-type"), r.body.as_str()), (200, Some("text/plain"), "ok"), "{r:?}");
    assert_eq!(attempts(&shown_when(&h, "evt_cb", "delivered")), 1);
    assert_eq!(ok.count(), 1);
    let (r, _) = send(&h, "flaky", "evt_flaky", "invoice.paid");
    assert_eq!(r.status, 202, "a 503 is no answer: {r:?}");
    assert_eq!(attempts(&shown_when(&h, "evt_flaky", "delivered")), 2);
}

#[test]
fn one_reply_route_per_source_and_reply_keys_need_reply() {
    let (code, _, err) = crate::cli::check_config(
        "[sources.tw]\nkind = \"twilio\"\nsecret = \"t\"\n\n\
         [[sources.tw.routes]]\nname = \"sms\"\nevents = [\"*\"]\nreply = true\ncommand = [\"/bin/true\"]\n\n\
         [[sources.tw.routes]]\nname = \"log\"\nevents = [\"*\"]\ncommand = [\"/bin/true\"]\nreply_within = \"1s\"\n\n\
         [[sources.tw.routes]]\nname = \"also\"\nevents = [\"*\"]\nreply = true\nreply_content_type = \"xml\"\ncommand = [\"/bin/true\"]\n\n\
         [sources.sl]\nkind = \"slack\"\nsecret = \"s\"\n\n\
         [[sources.sl.routes]]\nevents = [\"/*\"]\nreply = true\nreply_within = \"5m\"\ncommand = [\"/bin/true\"]\n\n\
         [sources.st]\nkind = \"stripe\"\nsecret = \"s\"\n\n\
         [[sources.st.routes]]\nevents = [\"*\"]\nreply = true\nnats = { url = \"nats://127.0.0.1:4222\", subject = \"hooks.{source}\" }\n",
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(
            "sources.tw.routes[2].reply: sources.tw.routes[0] already replies; at most one route per source may"
        ),
        "{err}"
    );
    assert!(err.contains("sources.tw.routes[1].reply_within: applies only with reply = true"), "{err}");
    assert!(err.contains("sources.tw.routes[2].reply_content_type: \"xml\" is not a media type"), "{err}");
    assert!(err.contains("sources.sl.routes[0].reply_within: must be more than 0 and at most 60s"), "{err}");
    assert!(err.contains("sources.st.routes[0].reply: applies to command and url routes only"), "{err}");
}
