//! SPEC §2 and §6 through the real binary: the admin API and its token,
//! `hookd events`/`dlq`/`stats`/`send`, metrics, retention, alerts,
//! `order_by` and SIGHUP reload.

use crate::support::http::{post, request};
use crate::support::sign::{stripe, stripe_event, unix_now};
use crate::support::{lines, recorder, wait_until, Hookd};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

pub(crate) const TOKEN: &str = "admin-token-for-tests-0123456789";
pub(crate) const FAST_RETRY: &str = "retry = { attempts = 2, initial = \"10ms\", max = \"20ms\" }";

/// A token file in its own temp dir (it must exist before hookd starts).
pub(crate) fn token_file() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("token");
    std::fs::write(&path, format!("{TOKEN}\n")).expect("token");
    let shown = path.display().to_string();
    (dir, shown)
}

pub(crate) fn admin_tcp(token: &str) -> String {
    format!("[admin]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"{token}\"\n\n")
}

pub(crate) fn stripe_source(name: &str, route: &str) -> String {
    format!("[sources.{name}]\nkind = \"stripe\"\nsecret = \"k\"\n\n[[sources.{name}.routes]]\nevents = [\"*\"]\n{route}\n\n")
}

pub(crate) fn send(h: &Hookd, source: &str, id: &str, ty: &str) -> (u16, Value) {
    let body = stripe_event(id, ty);
    let r = post(&h.addr, &format!("/webhooks/{source}"), &[stripe("k", unix_now(), &body)], &body).expect("answer");
    let json = r.json();
    (r.status, json)
}

pub(crate) fn admin_get(h: &Hookd, path: &str) -> (u16, Value) {
    let addr = h.admin.as_deref().expect("admin listener");
    let auth = format!("Bearer {TOKEN}");
    let r = request(addr, "GET", path, &[("Authorization", &auth)], b"").expect("admin answer");
    let json = serde_json::from_str(&r.body).unwrap_or(Value::Null);
    (r.status, json)
}

/// Wait until `hookd events show ID` says the event's status is `status`.
pub(crate) fn wait_status(h: &Hookd, id: &str, status: &str) -> Value {
    wait_until(Duration::from_secs(15), &format!("{id} {status}"), || {
        let v = h.cli_json(&["events", "show", id]);
        (v["status"] == status).then_some(v)
    })
}

#[test]
fn every_admin_path_needs_the_token_in_constant_time() {
    let (_t, token) = token_file();
    let h = Hookd::start(&format!("{}{}", admin_tcp(&token), stripe_source("s", "command = [\"true\"]")));
    let addr = h.admin.clone().expect("admin addr");
    for path in ["/v1/events", "/v1/stats", "/v1/dlq", "/metrics"] {
        let none = request(&addr, "GET", path, &[], b"").expect("answer");
        assert_eq!(none.status, 401, "{path} without a token");
        assert_eq!(none.json()["error"], "unauthorized");
        let wrong = request(&addr, "GET", path, &[("Authorization", "Bearer nope")], b"").expect("answer");
        assert_eq!(wrong.status, 401, "{path} with a wrong token");
        assert!(!wrong.body.contains(TOKEN));
        assert_eq!(admin_get(&h, path).0, 200, "{path} with the token");
    }
    // The CLI with a wrong token: one line, exit 1.
    let (_t2, bad) = {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("token");
        std::fs::write(&path, "wrong").expect("token");
        let shown = path.display().to_string();
        (dir, shown)
    };
    let out = std::process::Command::new(crate::support::BIN)
        .args(["stats", "--config"])
        .arg(&h.config)
        .env("HOOKD_ADMIN__LISTEN", &addr)
        .env("HOOKD_ADMIN__TOKEN_FILE", &bad)
        .output()
        .expect("cli");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("refused the token"));
}

#[test]
fn a_tcp_admin_listener_without_a_token_is_refused_at_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!("[admin]\nlisten = \"127.0.0.1:0\"\n\n[storage]\npath = \"{}\"\n", dir.path().display()),
    )
    .expect("config");
    let out = std::process::Command::new(crate::support::BIN)
        .args(["check-config", "--config"])
        .arg(&config)
        .output()
        .expect("cli");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("admin.token_file: missing"));
}

#[test]
fn events_list_pages_with_a_cursor_and_filters() {
    let (_t, token) = token_file();
    let sources = format!(
        "{}{}{}",
        admin_tcp(&token),
        stripe_source("a", "command = [\"true\"]"),
        "[sources.b]\nkind = \"stripe\"\nsecret = \"k\"\n"
    );
    let h = Hookd::start(&sources);
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(send(&h, "a", &format!("evt_page_{i}"), "invoice.paid").1["id"].as_str().expect("id").to_string());
    }
    send(&h, "b", "evt_unrouted", "customer.created");
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut args = vec!["events", "list", "--source", "a", "--limit", "2"];
        if let Some(c) = &cursor {
            args.extend(["--cursor", c.as_str()]);
        }
        let page = h.cli_json(&args);
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|i| i["id"].as_str().expect("id").to_string()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids, "every event once, newest first");
    let unrouted = h.cli_json(&["events", "list", "--status", "unrouted"]);
    assert_eq!(unrouted["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(unrouted["items"][0]["event_id"], "evt_unrouted");
    let typed = h.cli_json(&["events", "list", "--type", "customer.*"]);
    assert_eq!(typed["items"].as_array().map(Vec::len), Some(1));
    let (code, table, _) = h.cli(&["events", "list", "--source", "a"]);
    assert_eq!(code, 0);
    assert!(
        table.starts_with("ID") && table.contains("evt_page_4") && table.contains("delivered")
            || table.contains("pending")
    );
    let (status, bad) = admin_get(&h, "/v1/events?status=bogus");
    assert_eq!((status, bad["error"].as_str()), (400, Some("bad_request")));
}

#[test]
fn show_then_replay_runs_the_handler_again_with_the_next_attempt() {
    let (_t, token) = token_file();
    let dir = tempfile::tempdir().expect("tempdir");
    let runs = dir.path().join("runs");
    let h = Hookd::start(&format!(
        "{}{}",
        admin_tcp(&token),
        stripe_source("s", &format!("command = {}", recorder(&runs, 0)))
    ));
    let id = send(&h, "s", "evt_replay", "invoice.paid").1["id"].as_str().expect("id").to_string();
    let shown = wait_status(&h, &id, "delivered");
    assert_eq!(shown["deliveries"][0]["attempts"][0]["exit_code"], 0);
    let replayed = h.cli_json(&["events", "replay", &id]);
    assert_eq!(replayed["replayed"], 1);
    wait_until(Duration::from_secs(10), "second run", || (lines(&runs).len() == 2).then_some(()));
    assert_eq!(lines(&runs), ["evt_replay 1 invoice.paid", "evt_replay 2 invoice.paid"]);
    let shown = wait_status(&h, &id, "delivered");
    assert_eq!(shown["deliveries"][0]["attempts"].as_array().map(Vec::len), Some(2));
    let (code, _, err) = h.cli(&["events", "show", "01ARZ3NDEKTSV4RRFFQ69G5FAV"]);
    assert_eq!(code, 1);
    assert!(err.contains("no event"), "{err}");
    let (code, _, _) = h.cli(&["events", "show", "not-an-id"]);
    assert_eq!(code, 1);
}

/// A handler that fails permanently until `fixed` exists.
fn fixable(dir: &Path, runs: &Path) -> String {
    let script = format!(
        "echo \"$HOOKD_EVENT_ID $HOOKD_ATTEMPT\" >> {}; [ -e {} ] || exit 65",
        runs.display(),
        dir.join("fixed").display()
    );
    format!("command = [\"/bin/sh\", \"-c\", {script:?}]\n{FAST_RETRY}")
}

#[test]
fn dead_deliveries_are_listed_replayed_after_a_fix_and_purged() {
    let (_t, token) = token_file();
    let dir = tempfile::tempdir().expect("tempdir");
    let runs = dir.path().join("runs");
    let h = Hookd::start(&format!("{}{}", admin_tcp(&token), stripe_source("s", &fixable(dir.path(), &runs))));
    let mut ids = Vec::new();
    for (n, ty) in ["invoice.paid", "invoice.paid", "customer.created"].iter().enumerate() {
        ids.push(send(&h, "s", &format!("evt_dead_{n}"), ty).1["id"].as_str().expect("id").to_string());
    }
    for id in &ids {
        wait_status(&h, id, "dead");
    }
    let dlq = h.cli_json(&["dlq", "list"]);
    assert_eq!(dlq["items"].as_array().map(Vec::len), Some(3));
    assert!(dlq["items"][0]["dead_reason"].as_str().expect("reason").contains("exit 65"));
    let stats = h.cli_json(&["stats"]);
    assert_eq!((stats["dlq_size"].as_u64(), stats["sources"]["s"]["dead"].as_u64()), (Some(3), Some(3)));

    std::fs::write(dir.path().join("fixed"), "").expect("fix the handler");
    let one = h.cli_json(&["dlq", "replay", &ids[0]]);
    assert_eq!(one["replayed"], 1);
    wait_status(&h, &ids[0], "delivered");
    // Bulk replay by filter takes only the matching type.
    let bulk = h.cli_json(&["dlq", "replay", "--all", "--type", "invoice.*"]);
    assert_eq!((bulk["replayed"].as_u64(), bulk["events"].as_u64()), (Some(1), Some(1)));
    wait_status(&h, &ids[1], "delivered");
    assert_eq!(h.cli_json(&["events", "show", &ids[2]])["status"], "dead");

    // Purge the last one: gone from the DLQ and the events, dedup still holds.
    let (code, out, _) = h.cli(&["dlq", "purge", &ids[2]]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(h.cli_json(&["dlq", "list"])["items"].as_array().map(Vec::len), Some(0));
    assert_eq!(h.cli(&["events", "show", &ids[2]]).0, 1);
    let (status, again) = send(&h, "s", "evt_dead_2", "customer.created");
    assert_eq!((status, again["deduped"].as_bool()), (200, Some(true)));
    let stats = h.cli_json(&["stats"]);
    assert_eq!(stats["dlq_size"], 0);
    assert_eq!(stats["sources"]["s"]["delivered"], 2);
}

#[test]
fn purge_older_than_keeps_recent_dead_events() {
    let (_t, token) = token_file();
    let dir = tempfile::tempdir().expect("tempdir");
    let h = Hookd::start(&format!(
        "{}{}",
        admin_tcp(&token),
        stripe_source("s", "command = [\"/bin/sh\", \"-c\", \"exit 65\"]")
    ));
    let id = send(&h, "s", "evt_recent", "x").1["id"].as_str().expect("id").to_string();
    wait_status(&h, &id, "dead");
    assert_eq!(h.cli_json(&["dlq", "purge", "--older-than", "1h"])["purged"], 0);
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(h.cli_json(&["dlq", "purge", "--older-than", "1s"])["purged"], 1);
    assert_eq!(h.cli_json(&["dlq", "list"])["items"].as_array().map(Vec::len), Some(0));
    drop(dir);
}

fn metric(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|lab| l.contains(lab)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn metrics_move_by_the_right_amounts() {
    let (_t, token) = token_file();
    let h = Hookd::start(&format!("{}{}", admin_tcp(&token), stripe_source("s", "command = [\"true\"]")));
    for i in 0..3 {
        send(&h, "s", &format!("evt_m{i}"), "invoice.paid");
    }
    send(&h, "s", "evt_m0", "invoice.paid");
    let body = stripe_event("evt_bad", "invoice.paid");
    post(&h.addr, "/webhooks/s", &[stripe("other", unix_now(), &body)], &body).expect("answer");
    wait_until(Duration::from_secs(10), "3 deliveries", || {
        let text = admin_get_text(&h, "/metrics");
        (metric(&text, "hookd_delivery_attempts_total", &["outcome=\"delivered\""]) == 3.0).then_some(())
    });
    let text = admin_get_text(&h, "/metrics");
    let received =
        |outcome: &str| metric(&text, "hookd_received_total", &["source=\"s\"", &format!("outcome=\"{outcome}\"")]);
    assert_eq!(received("accepted"), 3.0, "{text}");
    assert_eq!(received("duplicate"), 1.0);
    assert_eq!(received("bad_signature"), 1.0);
    assert_eq!(metric(&text, "hookd_signature_failures_total", &["reason=\"bad_signature\""]), 1.0);
    assert_eq!(metric(&text, "hookd_duplicates_total", &["source=\"s\""]), 1.0);
    assert_eq!(metric(&text, "hookd_ack_latency_seconds_count", &[]), 4.0);
    assert_eq!(metric(&text, "hookd_queue_depth", &["source=\"s\""]), 0.0);
    assert_eq!(metric(&text, "hookd_delivery_duration_seconds_count", &["route=\"0\""]), 3.0);
}

fn admin_get_text(h: &Hookd, path: &str) -> String {
    let auth = format!("Bearer {TOKEN}");
    request(h.admin.as_deref().expect("admin"), "GET", path, &[("Authorization", &auth)], b"").expect("answer").body
}

#[test]
fn retention_removes_delivered_events_and_dedup_keys_after_their_time() {
    let (_t, token) = token_file();
    let storage = "retain_delivered = \"1s\"\nretain_dead = \"1h\"\ndedup_window = \"3s\"";
    let h =
        Hookd::start_storage(storage, &format!("{}{}", admin_tcp(&token), stripe_source("s", "command = [\"true\"]")));
    let id = send(&h, "s", "evt_old", "x").1["id"].as_str().expect("id").to_string();
    wait_status(&h, &id, "delivered");
    wait_until(Duration::from_secs(10), "retention", || (h.cli(&["events", "show", &id]).0 == 1).then_some(()));
    // Gone from the store, but the dedup window still holds…
    let (status, again) = send(&h, "s", "evt_old", "x");
    assert_eq!((status, again["id"].as_str()), (200, Some(id.as_str())));
    // …until it ends: then the same event id is new again.
    wait_until(Duration::from_secs(15), "dedup expiry", || (send(&h, "s", "evt_old", "x").0 == 202).then_some(()));
    assert!(h.logs().contains("retention removed"));
}

#[test]
fn on_dead_alert_fires_exactly_once_with_the_reason() {
    let (_t, token) = token_file();
    let dir = tempfile::tempdir().expect("tempdir");
    let alerts = dir.path().join("alerts");
    let alert = format!("echo \"$HOOKD_EVENT_ID|$HOOKD_DEAD_REASON\" >> {}", alerts.display());
    let config = format!(
        "{}[alerts]\non_dead = [\"/bin/sh\", \"-c\", {alert:?}]\n\n{}",
        admin_tcp(&token),
        stripe_source("s", &format!("command = [\"/bin/sh\", \"-c\", \"exit 3\"]\n{FAST_RETRY}"))
    );
    let h = Hookd::start(&config);
    let id = send(&h, "s", "evt_alert", "x").1["id"].as_str().expect("id").to_string();
    wait_status(&h, &id, "dead");
    wait_until(Duration::from_secs(10), "alert", || (!lines(&alerts).is_empty()).then_some(()));
    std::thread::sleep(Duration::from_millis(500));
    let got = lines(&alerts);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with("evt_alert|gave up after 2 attempts: exit 3"), "{got:?}");
}

#[test]
fn order_by_serialises_one_key_while_other_keys_run() {
    let (_t, token) = token_file();
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("order");
    // Logs start and end around a pause; the first event of cus_a fails once.
    let script = format!(
        "k=$(grep -o 'cus_[a-z]*' | head -1); echo \"start $k $HOOKD_EVENT_ID\" >> {l}; sleep 0.3; \
         echo \"end $k $HOOKD_EVENT_ID\" >> {l}; [ \"$HOOKD_EVENT_ID-$HOOKD_ATTEMPT\" != evt_a0-1 ] || exit 75",
        l = log.display()
    );
    let route = format!(
        "command = [\"/bin/sh\", \"-c\", {script:?}]\norder_by = \"/data/object/customer\"\nretry = {{ attempts = 5, initial = \"200ms\", max = \"200ms\" }}"
    );
    let h = Hookd::start(&format!("{}{}", admin_tcp(&token), stripe_source("s", &route)));
    let event = |id: &str, customer: &str| {
        format!(r#"{{"id":"{id}","type":"x","data":{{"object":{{"customer":"{customer}"}}}}}}"#).into_bytes()
    };
    let mut sent = Vec::new();
    for (id, cus) in [("evt_a0", "cus_a"), ("evt_a1", "cus_a"), ("evt_a2", "cus_a"), ("evt_b0", "cus_b")] {
        let body = event(id, cus);
        let r = post(&h.addr, "/webhooks/s", &[stripe("k", unix_now(), &body)], &body).expect("answer");
        assert_eq!(r.status, 202);
        sent.push(r.json()["id"].as_str().expect("id").to_string());
    }
    for id in &sent {
        wait_status(&h, id, "delivered");
    }
    let got = lines(&log);
    let a: Vec<&String> = got.iter().filter(|l| l.contains("cus_a")).collect();
    let expected = [
        "start cus_a evt_a0",
        "end cus_a evt_a0",
        "start cus_a evt_a0",
        "end cus_a evt_a0",
        "start cus_a evt_a1",
        "end cus_a evt_a1",
        "start cus_a evt_a2",
        "end cus_a evt_a2",
    ];
    assert_eq!(a, expected, "cus_a ran one at a time, in arrival order, the failing one holding the rest:\n{got:#?}");
    let b_start = got.iter().position(|l| l == "start cus_b evt_b0").expect("b ran");
    let last_a_end = got.iter().rposition(|l| l.starts_with("end cus_a")).expect("a ended");
    assert!(b_start < last_a_end, "cus_b did not wait for cus_a:\n{got:#?}");
}

#[test]
fn sighup_adds_a_route_and_a_broken_config_keeps_the_old_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runs = dir.path().join("runs");
    let source = |events: &str| {
        format!("[sources.s]\nkind = \"stripe\"\nsecret = \"k\"\n\n[[sources.s.routes]]\nevents = [{events}]\ncommand = {}\n", recorder(&runs, 0))
    };
    let h = Hookd::start(&source("\"invoice.*\""));
    assert_eq!(send(&h, "s", "evt_before", "customer.created").0, 202);
    std::thread::sleep(Duration::from_millis(300));
    assert!(lines(&runs).is_empty(), "customer.created had no route yet");
    let original = std::fs::read_to_string(&h.config).expect("config");
    std::fs::write(&h.config, original.replace("\"invoice.*\"", "\"invoice.*\", \"customer.*\"")).expect("config");
    h.hangup();
    wait_until(Duration::from_secs(10), "reload", || h.logs().contains("configuration reloaded").then_some(()));
    assert_eq!(send(&h, "s", "evt_after", "customer.created").0, 202);
    wait_until(Duration::from_secs(10), "new route runs", || (!lines(&runs).is_empty()).then_some(()));
    assert_eq!(lines(&runs), ["evt_after 1 customer.created"]);

    std::fs::write(&h.config, "[sources.s]\nkind = \"nope\"\n").expect("break the config");
    h.hangup();
    wait_until(Duration::from_secs(10), "refusal", || h.logs().contains("reload refused").then_some(()));
    assert!(h.logs().contains("sources.s.kind"), "the reason is logged with its key path");
    assert_eq!(send(&h, "s", "evt_still", "customer.created").0, 202, "the old config keeps serving");
    wait_until(Duration::from_secs(10), "old routes still run", || (lines(&runs).len() == 2).then_some(()));
}

/// A hookd with its admin API on a unix socket (no token) and one stripe
/// source `s` whose route records each run in `runs` and exits `code`.
fn on_unix_socket(code: i32) -> (Hookd, tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let runs = dir.path().join("runs");
    let sock = dir.path().join("admin.sock");
    let config = format!(
        "[admin]\nlisten = \"unix:{}\"\n\n{}",
        sock.display(),
        stripe_source("s", &format!("command = {}", recorder(&runs, code)))
    );
    (Hookd::start(&config), dir, runs, sock)
}

#[test]
fn the_unix_socket_admin_needs_no_token_and_send_signs_like_the_sender() {
    let (h, _dir, runs, _sock) = on_unix_socket(0);
    let (code, out, err) = h.cli(&["send", "--source", "s", "--type", "invoice.paid"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("202 "), "{out}");
    wait_until(Duration::from_secs(10), "handler", || (!lines(&runs).is_empty()).then_some(()));
    assert!(lines(&runs)[0].ends_with("1 invoice.paid"), "{:?}", lines(&runs));
    let sent = h.cli_json(&["send", "--source", "s", "--type", "invoice.paid"]);
    assert_eq!(sent["status"], 202, "{sent}");
    assert_eq!(sent["answer"]["received"], true, "{sent}");
    wait_until(Duration::from_secs(10), "second handler", || (lines(&runs).len() == 2).then_some(()));
    let stats = h.cli_json(&["stats"]);
    assert_eq!(stats["sources"]["s"]["delivered"], 2);
    let (code, out, _) = h.cli(&["stats"]);
    assert_eq!(code, 0);
    assert!(out.contains("SOURCE") && out.contains("queue depth 0"), "{out}");
    let (code, _, err) = h.cli(&["send", "--source", "nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("sources.nope"), "{err}");
}

#[test]
fn the_cli_says_so_when_the_daemon_is_not_running() {
    let (_t, token) = token_file();
    let mut h = Hookd::start(&format!("{}{}", admin_tcp(&token), stripe_source("s", "command = [\"true\"]")));
    let admin = h.admin.clone().expect("admin");
    h.terminate();
    let text = std::fs::read_to_string(&h.config).expect("config").replace("127.0.0.1:0", &admin);
    std::fs::write(&h.config, text).expect("config");
    let (code, _, err) = h.cli(&["events", "list"]);
    assert_eq!(code, 1);
    assert!(err.contains("is `hookd serve` running?"), "{err}");
    assert_eq!(err.trim().lines().count(), 1);
}

#[test]
fn on_dead_url_alert_carries_the_reason() {
    let receiver = crate::support::http::Receiver::start(vec![200]);
    let config = format!(
        "[alerts]\nurl = \"{}\"\n\n{}",
        receiver.url("/alert"),
        stripe_source("s", "command = [\"/bin/sh\", \"-c\", \"exit 65\"]")
    );
    let h = Hookd::start(&config);
    let (_, answer) = send(&h, "s", "evt_url_alert", "invoice.paid");
    wait_until(Duration::from_secs(10), "alert", || (receiver.count() == 1).then_some(()));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(receiver.count(), 1);
    let seen = receiver.seen.lock().expect("lock")[0].clone();
    assert_eq!(seen.header("x-hookd-dead-reason"), Some("exit 65 (permanent)"));
    // The default format is a JSON summary, never the customer's body.
    assert_eq!(seen.header("content-type"), Some("application/json"));
    let v: Value = serde_json::from_slice(&seen.body).expect("a JSON summary");
    assert_eq!(v["source"], "s");
    assert_eq!(v["event_id"], "evt_url_alert");
    assert_eq!(v["event_type"], "invoice.paid");
    assert_eq!(v["id"], answer["id"]);
    assert_eq!(v["route"], "0");
    assert_eq!(v["reason"], "exit 65 (permanent)");
    assert_eq!(v["attempts"], 1);
    assert!(v["received_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{v}");
    assert!(!String::from_utf8_lossy(&seen.body).contains("\"object\""), "the body stays out: {v}");
}

/// `format = "slack"` posts `{"text": …}` (markup escaped); `"raw"` the
/// body itself; with a signing secret every alert carries Standard
/// Webhooks headers that verify with it.
#[test]
fn alert_formats_slack_and_raw_and_signed_alerts() {
    let whsec = crate::support::sign::whsec("alert-signing-key-0123456789");
    for format in ["slack", "raw"] {
        let receiver = crate::support::http::Receiver::start(vec![200]);
        let config = format!(
            "[alerts]\nurl = \"{}\"\nformat = \"{format}\"\nsigning_secret = \"{whsec}\"\n\n{}",
            receiver.url("/alert"),
            stripe_source("s", "command = [\"/bin/sh\", \"-c\", \"exit 65\"]")
        );
        let h = Hookd::start(&config);
        send(&h, "s", "evt_<!channel>", "invoice.paid");
        wait_until(Duration::from_secs(10), "alert", || (receiver.count() == 1).then_some(()));
        let seen = receiver.seen.lock().expect("lock")[0].clone();
        let body = String::from_utf8_lossy(&seen.body).to_string();
        if format == "slack" {
            let v: Value = serde_json::from_str(&body).expect("json");
            let text = v["text"].as_str().expect("text");
            assert!(text.contains("a delivery is dead: s route 0") && text.contains("exit 65 (permanent)"), "{text}");
            assert!(text.contains("evt_&lt;!channel&gt;") && !text.contains("<!channel>"), "escaped: {text}");
        } else {
            assert_eq!(seen.body, stripe_event("evt_<!channel>", "invoice.paid"));
        }
        let (id, ts) = (seen.header("webhook-id").expect("id"), seen.header("webhook-timestamp").expect("ts"));
        let ts: i64 = ts.parse().expect("a unix timestamp");
        let signed = crate::support::sign::standard(&whsec, "webhook", id, ts, &seen.body);
        let want = signed[2].1.clone();
        assert_eq!(seen.header("webhook-signature"), Some(want.as_str()), "{format}");
    }
    let (code, _, err) = crate::cli::check_config("[alerts]\nurl = \"http://127.0.0.1:1/\"\nformat = \"xml\"\n");
    assert_eq!(code, 2);
    assert!(err.contains("alerts.format: \"xml\" is not one of \"json\", \"slack\", \"raw\""), "{err}");
}

#[test]
fn route_concurrency_caps_one_route_and_not_the_others() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("runs");
    let script = |tag: &str| {
        format!(
            "command = [\"/bin/sh\", \"-c\", \"echo start {tag} >> {l}; sleep 0.2; echo end {tag} >> {l}\"]",
            l = log.display()
        )
    };
    let config = format!(
        "[sources.s]\nkind = \"stripe\"\nsecret = \"k\"\n\n[[sources.s.routes]]\nname = \"one\"\nevents = [\"*\"]\nconcurrency = 1\n{}\n\n[[sources.s.routes]]\nname = \"many\"\nevents = [\"*\"]\n{}\n",
        script("one"),
        script("many")
    );
    let h = Hookd::start(&config);
    for i in 0..3 {
        assert_eq!(send(&h, "s", &format!("evt_c{i}"), "x").0, 202);
    }
    wait_until(Duration::from_secs(15), "all runs", || (lines(&log).len() == 12).then_some(()));
    let got = lines(&log);
    let one: Vec<&String> = got.iter().filter(|l| l.ends_with(" one")).collect();
    assert_eq!(one, ["start one", "end one", "start one", "end one", "start one", "end one"], "{got:#?}");
    let mut running = 0;
    let mut most = 0;
    for l in got.iter().filter(|l| l.ends_with(" many")) {
        running += if l.starts_with("start") { 1 } else { -1 };
        most = most.max(running);
    }
    assert!(most >= 2, "the unlimited route ran in parallel: {got:#?}");
}

/// The operator's shell has neither the service's credentials nor its
/// secrets: the admin commands need only `[admin]`, and a relative
/// `token_file` is read next to the config file.
#[test]
fn admin_commands_need_only_the_admin_section() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("admin.token"), format!("{TOKEN}\n")).expect("token");
    let h = Hookd::start(&format!(
        "[admin]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"{}/admin.token\"\n\n{}",
        dir.path().display(),
        stripe_source("s", "command = [\"true\"]")
    ));
    let config = dir.path().join("ops.toml");
    std::fs::write(
        &config,
        "[admin]\nlisten = \"127.0.0.1:1\"\ntoken_file = \"admin.token\"\n\n[sources.s]\nkind = \"stripe\"\nsecret_file = \"/nonexistent/secret\"\n",
    )
    .expect("config");
    let out = std::process::Command::new(crate::support::BIN)
        .args(["stats", "--json", "--config"])
        .arg(&config)
        .current_dir("/")
        .env_remove("CREDENTIALS_DIRECTORY")
        .env("HOOKD_ADMIN__LISTEN", h.admin.as_deref().expect("admin"))
        .output()
        .expect("cli");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stats: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(stats["queue_depth"], 0);
}

/// An event that matched no route is replayed against today's routes.
#[test]
fn replaying_an_unrouted_event_routes_it_with_todays_config() {
    let (_t, token) = token_file();
    let dir = tempfile::tempdir().expect("tempdir");
    let runs = dir.path().join("runs");
    let source = |events: &str| {
        format!(
            "{}[sources.s]\nkind = \"stripe\"\nsecret = \"k\"\n\n[[sources.s.routes]]\nevents = [{events}]\ncommand = {}\n",
            admin_tcp(&token),
            recorder(&runs, 0)
        )
    };
    let h = Hookd::start(&source("\"invoice.*\""));
    let id = send(&h, "s", "evt_late_route", "customer.created").1["id"].as_str().expect("id").to_string();
    assert_eq!(h.cli_json(&["events", "show", &id])["status"], "unrouted");
    // Nothing to replay is not success: the reason, exit 1 (issue 14).
    let (code, out, err) = h.cli(&["events", "replay", &id, "--json"]);
    assert_eq!(code, 1, "{out}{err}");
    let answer: Value = serde_json::from_str(out.trim()).expect("one JSON document");
    assert_eq!(answer["replayed"], 0, "still no route for it");
    assert_eq!(answer["reason"], "the event still matches no route of today's configuration");
    assert!(err.contains("nothing replayed: the event still matches no route"), "{err}");
    let text = std::fs::read_to_string(&h.config).expect("config").replace("\"invoice.*\"", "\"customer.*\"");
    std::fs::write(&h.config, text).expect("config");
    h.hangup();
    wait_until(Duration::from_secs(10), "reload", || h.logs().contains("configuration reloaded").then_some(()));
    assert_eq!(h.cli_json(&["events", "replay", &id])["replayed"], 1);
    let shown = wait_status(&h, &id, "delivered");
    assert_eq!(shown["deliveries"][0]["route"], "0");
    assert_eq!(lines(&runs), ["evt_late_route 1 customer.created"]);
    let stats = h.cli_json(&["stats"]);
    assert_eq!(
        (stats["sources"]["s"]["unrouted"].as_u64(), stats["sources"]["s"]["delivered"].as_u64()),
        (Some(0), Some(1))
    );
}

/// `--json` means stdout is exactly one JSON document, for every command
/// that prints one (`cli_json` parses the whole of stdout, not a line).
#[test]
fn every_command_with_json_prints_exactly_one_document() {
    let (mut h, _dir, runs, _sock) = on_unix_socket(0);
    assert_eq!(h.cli_json(&["send", "--source", "s", "--type", "invoice.paid"])["status"], 202);
    wait_until(Duration::from_secs(10), "handler", || (!lines(&runs).is_empty()).then_some(()));
    let listed = h.cli_json(&["events", "list"]);
    let id = listed["items"][0]["id"].as_str().expect("an id").to_string();
    for args in [
        vec!["version"],
        vec!["check-config"],
        vec!["stats"],
        vec!["events", "show", &id],
        vec!["events", "replay", &id],
        vec!["dlq", "list"],
        vec!["dlq", "replay", "--all"],
        vec!["dlq", "purge", "--older-than", "1h"],
    ] {
        let doc = h.cli_json(&args);
        assert!(doc.is_object(), "hookd {args:?} --json: {doc}");
    }
    h.terminate();
    let check = h.cli_json(&["store", "check"]);
    assert!(check.is_object(), "{check}");
}

/// Tables for people: "no events" for an empty list, `-q` ids only, plural
/// words that agree with their numbers, the dead state in red on a
/// terminal (a pty from `script`) and never with `NO_COLOR` or in a pipe;
/// usage errors the daemon would refuse are refused first, exit 2.
#[test]
fn cli_tables_read_right_for_people_and_scripts() {
    let (h, _dir, _runs, sock) = on_unix_socket(65);
    let (code, out, _) = h.cli(&["events", "list"]);
    assert_eq!((code, out.as_str()), (0, "no events\n"));
    let (_, out, _) = h.cli(&["dlq", "list"]);
    assert_eq!(out, "no dead deliveries\n");

    let ids: Vec<String> = ["evt_q1", "evt_q2"]
        .iter()
        .map(|e| send(&h, "s", e, "invoice.paid").1["id"].as_str().expect("id").to_string())
        .collect();
    for id in &ids {
        wait_status(&h, id, "dead");
    }
    let (code, out, _) = h.cli(&["events", "list", "-q"]);
    assert_eq!(code, 0);
    let mut listed: Vec<&str> = out.lines().collect();
    listed.sort();
    let mut want: Vec<&str> = ids.iter().map(String::as_str).collect();
    want.sort();
    assert_eq!(listed, want, "-q prints ids only");
    let (_, out, _) = h.cli(&["dlq", "list"]);
    assert!(!out.contains('\x1b'), "no colour into a pipe: {out:?}");

    let (_, out, _) = h.cli(&["dlq", "replay", &ids[0], "--dry-run"]);
    assert_eq!(out.trim(), "would replay 1 dead delivery of 1 event (dry run)");
    let (_, out, _) = h.cli(&["dlq", "replay", "--all", "--dry-run"]);
    assert_eq!(out.trim(), "would replay 2 dead deliveries of 2 events (dry run)");

    // On a terminal: colour, unless NO_COLOR says otherwise.
    let on_tty = |no_color: Option<&str>| {
        let line = format!("{} --config {} events list", crate::support::BIN, h.config.display());
        let mut cmd = std::process::Command::new("script");
        cmd.args(["-qec", &line, "/dev/null"]).env("HOOKD_ADMIN__LISTEN", format!("unix:{}", sock.display()));
        match no_color {
            Some(v) => cmd.env("NO_COLOR", v),
            None => cmd.env_remove("NO_COLOR"),
        };
        String::from_utf8_lossy(&cmd.output().expect("run script").stdout).to_string()
    };
    assert!(on_tty(None).contains("\x1b[31mdead\x1b[0m"), "{:?}", on_tty(None));
    assert!(!on_tty(Some("1")).contains('\x1b'), "NO_COLOR=1 turns colour off");

    let (code, _, err) = h.cli(&["events", "list", "--limit", "0"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("a number from 1 to 1000"), "{err}");
    let (code, _, err) = h.cli(&["dlq", "purge", "--older-than", "soon"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("a duration like"), "{err}");
    let (_, help, _) = h.cli(&["--help"]);
    assert!(help.contains("EXAMPLES:") && help.contains("hookd dlq list -q"), "{help}");
}
