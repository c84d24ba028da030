//! SPEC §5 through the real binary: handler outcomes, retries, the dead
//! state, the handler environment and HTTP callbacks.

use crate::support::http::{post, Receiver};
use crate::support::sign::{hmac256_hex, stripe, stripe_event, unix_now};
use crate::support::{lines, recorder, wait_until, Hookd};
use base64::Engine;
use std::time::Duration;

const FAST_RETRY: &str = "retry = { attempts = 3, initial = \"10ms\", max = \"50ms\" }";

fn hookd_with_route(route: &str) -> Hookd {
    Hookd::start(&format!(
        "[sources.s]\nkind = \"stripe\"\nsecret = \"k\"\n\n[[sources.s.routes]]\nevents = [\"*\"]\n{route}\n"
    ))
}

fn send(h: &Hookd, id: &str) -> String {
    let body = stripe_event(id, "invoice.paid");
    let r = post(&h.addr, "/webhooks/s", &[stripe("k", unix_now(), &body)], &body).expect("response");
    assert_eq!(r.status, 202, "{}", r.body);
    r.json()["id"].as_str().expect("id").to_string()
}

fn final_delivery(h: &mut Hookd) -> hookd::store::records::Delivery {
    let store = h.stop_and_open();
    let mut events = store.all_events().expect("events");
    assert_eq!(events.len(), 1);
    events.remove(0).deliveries.remove(0)
}

#[test]
fn fails_twice_then_succeeds_in_exactly_three_attempts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("runs");
    // Exit 75 on attempts 1 and 2, 0 on the third.
    let script = format!("echo \"$HOOKD_ATTEMPT\" >> {}; [ \"$HOOKD_ATTEMPT\" -ge 3 ] || exit 75", out.display());
    let mut h = hookd_with_route(&format!("command = [\"/bin/sh\", \"-c\", {script:?}]\n{FAST_RETRY}"));
    send(&h, "evt_flaky");
    wait_until(Duration::from_secs(10), "three attempts", || (lines(&out).len() >= 3).then_some(()));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(lines(&out), ["1", "2", "3"]);
    let d = final_delivery(&mut h);
    assert_eq!(d.state.as_str(), "delivered");
    let outcomes: Vec<_> = d.attempts.iter().map(|a| (a.number, a.exit_code)).collect();
    assert_eq!(outcomes, [(1, Some(75)), (2, Some(75)), (3, Some(0))]);
}

#[test]
fn always_failing_goes_dead_after_the_configured_attempts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("runs");
    let mut h = hookd_with_route(&format!("command = {}\n{FAST_RETRY}", recorder(&out, 1)));
    send(&h, "evt_doomed");
    wait_until(Duration::from_secs(10), "three attempts", || (lines(&out).len() >= 3).then_some(()));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(lines(&out).len(), 3);
    let d = final_delivery(&mut h);
    assert_eq!(d.state.as_str(), "dead");
    assert_eq!(d.attempts.len(), 3);
    assert!(d.dead_reason.as_deref().unwrap_or("").contains("after 3 attempts"), "{:?}", d.dead_reason);
}

#[test]
fn permanent_exit_code_is_dead_after_one_attempt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("runs");
    let mut h = hookd_with_route(&format!("command = {}\n{FAST_RETRY}", recorder(&out, 65)));
    send(&h, "evt_baddata");
    wait_until(Duration::from_secs(10), "one attempt", || (!lines(&out).is_empty()).then_some(()));
    std::thread::sleep(Duration::from_millis(300));
    let d = final_delivery(&mut h);
    assert_eq!((d.state.as_str(), d.attempts.len()), ("dead", 1));
    assert_eq!(lines(&out).len(), 1);
}

#[test]
fn handler_gets_the_body_on_stdin_and_the_hookd_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("env");
    let body_out = dir.path().join("body");
    let script = format!(
        "cat > {}; env | grep '^HOOKD_' | sort > {}.tmp; mv {}.tmp {}; echo handled; echo oops >&2",
        body_out.display(),
        out.display(),
        out.display(),
        out.display()
    );
    // The source's secret comes from the environment; handlers must not see it.
    let mut h = Hookd::start_with(
        &format!("[sources.s]\nkind = \"stripe\"\nsecret_env = \"HOOKD_IT_SECRET\"\n[[sources.s.routes]]\nevents = [\"*\"]\ncommand = [\"/bin/sh\", \"-c\", {script:?}]\n"),
        &[("HOOKD_IT_SECRET", "k")],
    );
    let id = send(&h, "evt_env");
    let env = wait_until(Duration::from_secs(10), "handler env", || {
        let l = lines(&out);
        (!l.is_empty()).then_some(l)
    });
    let get = |k: &str| env.iter().find_map(|l| l.strip_prefix(&format!("{k}="))).map(str::to_string);
    assert_eq!(get("HOOKD_SOURCE").as_deref(), Some("s"));
    assert_eq!(get("HOOKD_EVENT_ID").as_deref(), Some("evt_env"));
    assert_eq!(get("HOOKD_EVENT_TYPE").as_deref(), Some("invoice.paid"));
    assert_eq!(get("HOOKD_ID").as_deref(), Some(id.as_str()));
    assert_eq!(get("HOOKD_ATTEMPT").as_deref(), Some("1"));
    assert_eq!(get("HOOKD_HEADER_CONTENT_TYPE").as_deref(), Some("application/json"));
    assert_eq!(get("HOOKD_IT_SECRET"), None, "a secret's variable reached the handler");
    let received = get("HOOKD_RECEIVED_AT").expect("received at");
    assert!(humantime::parse_rfc3339(&received).is_ok(), "{received}");
    assert_eq!(std::fs::read(&body_out).expect("body"), stripe_event("evt_env", "invoice.paid"));
    std::thread::sleep(Duration::from_millis(300));
    let d = final_delivery(&mut h);
    assert!(d.attempts[0].output_tail.contains("handled"), "{:?}", d.attempts[0].output_tail);
    assert!(d.attempts[0].output_tail.contains("oops"));
}

#[test]
fn a_handler_that_hangs_is_killed_at_its_timeout_and_retried() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("runs");
    let script = format!("echo \"$HOOKD_ATTEMPT\" >> {}; [ \"$HOOKD_ATTEMPT\" -ge 2 ] || sleep 60", out.display());
    let mut h =
        hookd_with_route(&format!("command = [\"/bin/sh\", \"-c\", {script:?}]\ntimeout = \"300ms\"\n{FAST_RETRY}"));
    send(&h, "evt_slow");
    wait_until(Duration::from_secs(10), "second attempt", || (lines(&out).len() >= 2).then_some(()));
    std::thread::sleep(Duration::from_millis(300));
    let d = final_delivery(&mut h);
    assert_eq!(d.state.as_str(), "delivered");
    assert!(d.attempts[0].outcome.starts_with("timed out"), "{}", d.attempts[0].outcome);
}

/// `whsec_` + base64 of 24 bytes; the callback must be signed with the
/// decoded bytes per Standard Webhooks.
const CALLBACK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[test]
fn callback_500_is_retried_then_200_delivers_with_a_valid_signature() {
    let receiver = Receiver::start(vec![500, 200]);
    let mut h = hookd_with_route(&format!(
        "url = \"{}\"\nsigning_secret = \"{CALLBACK_SECRET}\"\n{FAST_RETRY}",
        receiver.url("/hook")
    ));
    let id = send(&h, "evt_cb");
    wait_until(Duration::from_secs(10), "two callbacks", || (receiver.count() >= 2).then_some(()));
    std::thread::sleep(Duration::from_millis(300));
    let seen = receiver.seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 2);
    let req = &seen[1];
    assert_eq!(req.body, stripe_event("evt_cb", "invoice.paid"));
    assert_eq!(req.header("webhook-id"), Some(id.as_str()));
    assert_eq!(req.header("x-hookd-source"), Some("s"));
    assert_eq!(req.header("x-hookd-event-type"), Some("invoice.paid"));
    assert_eq!(req.header("x-hookd-attempt"), Some("2"));
    let ts = req.header("webhook-timestamp").expect("timestamp");
    let key = base64::engine::general_purpose::STANDARD.decode(&CALLBACK_SECRET[6..]).expect("base64");
    let mut signed = format!("{id}.{ts}.").into_bytes();
    signed.extend_from_slice(&req.body);
    let expected =
        base64::engine::general_purpose::STANDARD.encode(hex::decode(hmac256_hex(&key, &signed)).expect("hex"));
    let sigs = req.header("webhook-signature").expect("signature");
    assert!(sigs.split(' ').any(|s| s == format!("v1,{expected}")), "{sigs}");
    let d = final_delivery(&mut h);
    assert_eq!(d.state.as_str(), "delivered");
    let statuses: Vec<_> = d.attempts.iter().map(|a| a.http_status).collect();
    assert_eq!(statuses, [Some(500), Some(200)]);
}

#[test]
fn callback_400_is_dead_at_once() {
    let receiver = Receiver::start(vec![400]);
    let mut h = hookd_with_route(&format!("url = \"{}\"\n{FAST_RETRY}", receiver.url("/hook")));
    send(&h, "evt_cb400");
    wait_until(Duration::from_secs(10), "one callback", || (receiver.count() >= 1).then_some(()));
    std::thread::sleep(Duration::from_millis(300));
    let d = final_delivery(&mut h);
    assert_eq!((d.state.as_str(), d.attempts.len()), ("dead", 1));
    assert_eq!(receiver.count(), 1);
}

#[test]
fn a_slow_handler_does_not_stop_ingest() {
    let mut h = Hookd::start(
        "[dispatch]\nconcurrency = 1\n[sources.s]\nkind = \"stripe\"\nsecret = \"k\"\n[[sources.s.routes]]\nevents = [\"*\"]\ncommand = [\"/bin/sleep\", \"5\"]\n",
    );
    for i in 0..20 {
        send(&h, &format!("evt_{i}"));
    }
    h.kill9();
}
