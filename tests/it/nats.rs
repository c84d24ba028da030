//! SPEC §5 "NATS JetStream target" and §8 through the real binary, against
//! a real nats-server: the message and its headers, a duplicate ack counted
//! as delivered, an ack that timed out retried with the same msg id (one
//! copy kept), a reload that moves a route to another server, TLS against
//! `tls_ca_file`, a missing stream retried, `order_by` kept through the
//! target, and — by `Nats-Msg-Id` — every acknowledged event in the stream
//! exactly once across a `kill -9` of hookd, a nats-server outage, two hookd
//! instances taking the same events, and a node of an R3 cluster killed.

use crate::cli::check_config;
use crate::support::http::post;
use crate::support::nats::{test_certificates, Js, NatsServer, Stored};
use crate::support::sign::{stripe, unix_now};
use crate::support::{wait_until, Hookd};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

const DRAIN: Duration = Duration::from_secs(60);

/// A `nats` route; retries come fast so the tests stay short.
fn route(name: &str, url: &str, subject: &str, extra: &str) -> String {
    format!(
        "[[sources.s.routes]]\nname = \"{name}\"\nevents = [\"*\"]\nnats = {{ url = \"{url}\", subject = \"{subject}\" }}\n\
         timeout = \"2s\"\nretry = {{ attempts = 1000, initial = \"20ms\", max = \"300ms\" }}\n{extra}\n"
    )
}

fn config(routes: &str) -> String {
    format!(
        "[admin]\nlisten = \"unix:{{dir}}/admin.sock\"\n\n[dispatch]\nconcurrency = 32\n\n\
         [sources.s]\nkind = \"stripe\"\nsecret = \"k\"\n\n{routes}"
    )
}

fn body(id: &str, customer: &str) -> Vec<u8> {
    format!(r#"{{"id":"{id}","object":"event","type":"invoice.paid","data":{{"object":{{"customer":"{customer}"}}}}}}"#)
        .into_bytes()
}

/// Post one event; its status and hookd id when answered.
fn send(addr: &str, id: &str, customer: &str) -> Option<(u16, String)> {
    let body = body(id, customer);
    let r = post(addr, "/webhooks/s", &[stripe("k", unix_now(), &body)], &body)?;
    let v: Value = serde_json::from_str(&r.body).ok()?;
    Some((r.status, v["id"].as_str().unwrap_or("").to_string()))
}

fn evt(n: usize) -> String {
    format!("evt_{n:05}")
}

/// A sender that, like a real one, posts `evt_0..evt_n` in order and
/// re-posts each until it is answered 2xx, following hookd to wherever it
/// listens now (a restart binds a new port).
struct Sender {
    acked: Arc<AtomicUsize>,
    thread: JoinHandle<()>,
}

impl Sender {
    fn start(addr: Arc<RwLock<String>>, n: usize) -> Sender {
        let acked = Arc::new(AtomicUsize::new(0));
        let count = acked.clone();
        let thread = std::thread::spawn(move || {
            for i in 0..n {
                let deadline = std::time::Instant::now() + DRAIN;
                loop {
                    let to = addr.read().expect("addr").clone();
                    if let Some((200 | 202, _)) = send(&to, &evt(i), &format!("cus_{}", i % 7)) {
                        break;
                    }
                    assert!(std::time::Instant::now() < deadline, "{} never acknowledged", evt(i));
                    std::thread::sleep(Duration::from_millis(10));
                }
                count.fetch_add(1, Ordering::SeqCst);
            }
        });
        Sender { acked, thread }
    }

    fn acked(&self) -> usize {
        self.acked.load(Ordering::SeqCst)
    }

    fn finish(self) {
        self.thread.join().expect("sender");
    }
}

/// Wait until stream `name` holds `n` messages, then check they are
/// exactly `s:evt_0..` once each (by `Nats-Msg-Id`).
fn exactly_once(js: &Js, name: &str, n: usize) -> Vec<Stored> {
    wait_until(DRAIN, &format!("{n} messages in {name}"), || (js.count(name) >= n as u64).then_some(()));
    let msgs = js.messages(name);
    let ids: Vec<&str> = msgs.iter().map(|m| m.header("Nats-Msg-Id")).collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    let wanted: BTreeSet<String> = (0..n).map(|i| format!("s:{}", evt(i))).collect();
    assert_eq!(ids.len(), unique.len(), "a copy reached the stream twice");
    assert_eq!(unique, wanted.iter().map(String::as_str).collect(), "the stream holds other events than were acked");
    msgs
}

/// `n` deliveries delivered, and none waiting, as hookd itself says.
fn all_delivered(h: &Hookd, n: usize) {
    wait_until(DRAIN, "every delivery delivered", || {
        let stats = h.cli_json(&["stats"]);
        let s = &stats["sources"]["s"];
        (s["delivered"].as_u64() == Some(n as u64) && stats["queue_depth"] == 0).then_some(())
    });
}

fn show(h: &Hookd, id: &str) -> Value {
    h.cli_json(&["events", "show", id])
}

#[test]
fn an_event_is_published_raw_with_its_headers_and_a_duplicate_ack_is_delivered() {
    let nats = NatsServer::start();
    let js = Js::connect(&nats.url());
    js.create_stream("HOOKS", &["webhooks.>"], 1);
    let subject = "webhooks.{source}.{event_type}.{json:/data/object/customer}.{header:X-Tenant}";
    let h = Hookd::start(&config(&route("js", &nats.url(), subject, "")));

    // A header the subject reads is kept for it (the stripe kind keeps no
    // X-Tenant of its own).
    let sent = body("evt_one", "cus.1 x");
    let tenant = ("X-Tenant".to_string(), "acme eu>".to_string());
    let r = post(&h.addr, "/webhooks/s", &[stripe("k", unix_now(), &sent), tenant], &sent).expect("answer");
    assert_eq!(r.status, 202, "{}", r.body);
    let answer: Value = serde_json::from_str(&r.body).expect("json");
    let id = answer["id"].as_str().expect("id").to_string();
    let v = wait_until(DRAIN, "delivered", || Some(show(&h, &id)).filter(|v| v["status"] == "delivered"));
    assert_eq!(v["deliveries"][0]["attempts"][0]["outcome"], "nats ack", "{v}");
    let msgs = js.messages("HOOKS");
    assert_eq!(msgs.len(), 1);
    let m = &msgs[0];
    assert_eq!(m.subject, "webhooks.s.invoice_paid.cus_1_x.acme_eu_", "placeholder values are sanitised");
    assert_eq!(m.payload, body("evt_one", "cus.1 x"), "the raw body");
    let headers: BTreeMap<&str, &str> = m.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let want = BTreeMap::from([
        ("Nats-Msg-Id", "s:evt_one"),
        ("Hookd-Id", id.as_str()),
        ("Hookd-Source", "s"),
        ("Hookd-Event-Type", "invoice.paid"),
        ("Hookd-Attempt", "1"),
        ("Content-Type", "application/json"),
    ]);
    assert_eq!(headers, want);

    // A replay publishes the same msg id again: JetStream answers a
    // duplicate ack, which is a delivery, and keeps one copy.
    let (code, out, err) = h.cli(&["events", "replay", &id]);
    assert_eq!(code, 0, "{out}{err}");
    let v = wait_until(DRAIN, "replayed and delivered", || {
        Some(show(&h, &id)).filter(|v| v["status"] == "delivered" && v["deliveries"][0]["attempts"][1].is_object())
    });
    let second = &v["deliveries"][0]["attempts"][1];
    assert_eq!(second["outcome"], "nats ack (duplicate)", "{v}");
    assert_eq!(js.count("HOOKS"), 1);
}

#[test]
fn an_ack_that_timed_out_is_retried_with_the_same_msg_id_and_the_stream_keeps_one_copy() {
    let nats = NatsServer::start();
    let js = Js::connect(&nats.url());
    js.create_stream("HOOKS", &["hooks.>"], 1);
    let r = route("js", &nats.url(), "hooks.{source}", "").replace("timeout = \"2s\"", "timeout = \"500ms\"");
    let h = Hookd::start(&config(&r));
    // One event first, so hookd's connection is up (it opens on first use).
    let (_, warm) = send(&h.addr, "evt_warm", "cus_1").expect("answer");
    wait_until(DRAIN, "the first event delivered", || Some(show(&h, &warm)).filter(|v| v["status"] == "delivered"));
    // The server stops answering: the publish goes out, its ack never comes.
    nats.pause();
    let (_, id) = send(&h.addr, "evt_slow", "cus_1").expect("answer");
    let v = wait_until(DRAIN, "an attempt without an ack", || {
        Some(show(&h, &id)).filter(|v| v["deliveries"][0]["attempts"][0]["ended_at"].is_string())
    });
    assert_eq!(v["deliveries"][0]["attempts"][0]["outcome"], "no ack within 500ms", "{v}");
    assert_eq!(v["deliveries"][0]["state"], "retrying", "{v}");
    // Back: it stores the first copy, then sees the same msg id again.
    nats.resume();
    let v = wait_until(DRAIN, "delivered", || Some(show(&h, &id)).filter(|v| v["status"] == "delivered"));
    let attempts = v["deliveries"][0]["attempts"].as_array().cloned().unwrap_or_default();
    assert!(attempts.len() >= 2, "{v}");
    assert_eq!(attempts[attempts.len() - 1]["outcome"], "nats ack (duplicate)", "{v}");
    let msgs: Vec<Stored> =
        js.messages("HOOKS").into_iter().filter(|m| m.header("Nats-Msg-Id") != "s:evt_warm").collect();
    assert_eq!(msgs.len(), 1, "one copy of the event");
    assert_eq!(msgs[0].header("Nats-Msg-Id"), "s:evt_slow");
    assert_eq!(msgs[0].header("Hookd-Attempt"), "1", "the copy kept is the first publish");
}

#[test]
fn a_missing_stream_is_retried_and_order_by_keys_keep_their_order_through_it() {
    let nats = NatsServer::start();
    let url = nats.url();
    let routes = format!(
        "{}{}",
        route("ordered", &url, "ordered.{json:/data/object/customer}", "order_by = \"/data/object/customer\""),
        route("plain", &url, "plain.{event_type}", "")
    );
    let h = Hookd::start(&config(&routes));
    let n = 16;
    let mut sent: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for i in 0..n {
        let customer = ["cus_a", "cus_b"][i % 2];
        let (status, _) = send(&h.addr, &evt(i), customer).expect("answer");
        assert_eq!(status, 202);
        sent.entry(customer.to_string()).or_default().push(format!("s:{}", evt(i)));
    }
    // No stream takes these subjects yet: every attempt fails and retries.
    let retried = wait_until(DRAIN, "retries against the missing stream", || {
        let events = h.cli_json(&["events", "list", "--status", "retrying", "--limit", "100"]);
        let items = events["items"].as_array().cloned().unwrap_or_default();
        (items.len() == n).then_some(items)
    });
    let first = retried[0]["id"].as_str().expect("id");
    let v = wait_until(DRAIN, "a second failed attempt", || {
        let v = show(&h, first);
        v["deliveries"][1]["attempts"][1].is_object().then_some(v)
    });
    let reason = v["deliveries"][1]["attempts"][0]["outcome"].as_str().unwrap_or("");
    assert!(reason.contains("no JetStream stream takes subject \"plain.invoice_paid\""), "{v}");

    let js = Js::connect(&url);
    js.create_stream("ORDERED", &["ordered.*"], 1);
    js.create_stream("PLAIN", &["plain.*"], 1);
    exactly_once(&js, "PLAIN", n);
    let ordered = exactly_once(&js, "ORDERED", n);
    all_delivered(&h, 2 * n);
    for (customer, want) in &sent {
        let got: Vec<&str> = ordered
            .iter()
            .filter(|m| m.subject == format!("ordered.{customer}"))
            .map(|m| m.header("Nats-Msg-Id"))
            .collect();
        assert_eq!(got, want.iter().map(String::as_str).collect::<Vec<_>>(), "{customer}: arrival order");
    }
}

#[test]
fn kill9_of_hookd_mid_publish_leaves_every_acked_event_in_the_stream_once() {
    let nats = NatsServer::start();
    let js = Js::connect(&nats.url());
    js.create_stream("HOOKS", &["hooks.>"], 1);
    let mut h = Hookd::start(&config(&route("js", &nats.url(), "hooks.{source}", "")));
    let n = 400;
    let addr = Arc::new(RwLock::new(h.addr.clone()));
    let sender = Sender::start(addr.clone(), n);
    wait_until(DRAIN, "publishing under way", || (js.count("HOOKS") >= 80).then_some(()));
    h.kill9();
    let published = js.count("HOOKS") as usize;
    assert!(published < n && sender.acked() < n, "the kill came after the last publish");
    h.spawn();
    *addr.write().expect("addr") = h.addr.clone();
    sender.finish();
    exactly_once(&js, "HOOKS", n);
    all_delivered(&h, n);
}

#[test]
fn a_nats_server_outage_under_load_delays_events_but_loses_and_doubles_none() {
    let mut nats = NatsServer::start();
    let js = Js::connect(&nats.url());
    js.create_stream("HOOKS", &["hooks.>"], 1);
    let h = Hookd::start(&config(&route("js", &nats.url(), "hooks.{source}", "")));
    let n = 300;
    let sender = Sender::start(Arc::new(RwLock::new(h.addr.clone())), n);
    wait_until(DRAIN, "publishing under way", || (js.count("HOOKS") >= 50).then_some(()));
    let published = js.count("HOOKS") as usize;
    nats.stop();
    assert!(published < n, "the outage came after the last publish");
    // hookd keeps acknowledging while the stream is away.
    let before = sender.acked();
    wait_until(DRAIN, "acks during the outage", || (sender.acked() >= (before + 60).min(n)).then_some(()));
    nats.spawn();
    sender.finish();
    let js = Js::connect(&nats.url());
    exactly_once(&js, "HOOKS", n);
    all_delivered(&h, n);
    assert!(h.logs().contains("not connected to NATS") || h.logs().contains("NATS connection lost"), "{}", nats.logs());
}

#[test]
fn two_hookd_instances_taking_the_same_events_leave_one_copy_each() {
    let nats = NatsServer::start();
    let js = Js::connect(&nats.url());
    js.create_stream("HOOKS", &["hooks.>"], 1);
    let cfg = config(&route("js", &nats.url(), "hooks.{event_type}", ""));
    let (a, b) = (Hookd::start(&cfg), Hookd::start(&cfg));
    let n = 60;
    for i in 0..n {
        for h in [&a, &b] {
            assert_eq!(send(&h.addr, &evt(i), "cus_1").expect("answer").0, 202);
        }
    }
    all_delivered(&a, n);
    all_delivered(&b, n);
    exactly_once(&js, "HOOKS", n);
    assert_eq!(js.count("HOOKS"), n as u64, "both delivered, one copy each");
}

#[test]
fn an_r3_stream_takes_every_event_while_one_of_its_three_nodes_is_killed() {
    let mut nodes = NatsServer::cluster();
    let urls: Vec<String> = nodes.iter().map(NatsServer::url).collect();
    let urls = urls.join(",");
    let js = Js::connect(&urls);
    js.create_stream("HOOKS", &["hooks.>"], 3);
    let h = Hookd::start(&config(&route("js", &urls, "hooks.{source}", "")));
    let n = 300;
    let sender = Sender::start(Arc::new(RwLock::new(h.addr.clone())), n);
    wait_until(DRAIN, "publishing under way", || (js.count("HOOKS") >= 60).then_some(()));
    nodes[0].kill9();
    assert!(sender.acked() < n, "the kill came after the last event");
    sender.finish();
    exactly_once(&js, "HOOKS", n);
    all_delivered(&h, n);
}

#[test]
fn a_reload_moves_a_route_to_another_server_and_lets_the_old_connection_go() {
    let (a, b) = (NatsServer::start(), NatsServer::start());
    let (ja, jb) = (Js::connect(&a.url()), Js::connect(&b.url()));
    ja.create_stream("HOOKS", &["hooks.>"], 1);
    jb.create_stream("HOOKS", &["hooks.>"], 1);
    let h = Hookd::start(&config(&route("js", &a.url(), "hooks.{source}", "")));
    let hookd_on = |s: &NatsServer| s.clients().iter().any(|n| n.starts_with("hookd/"));
    assert_eq!(send(&h.addr, &evt(0), "cus_1").expect("answer").0, 202);
    exactly_once(&ja, "HOOKS", 1);
    assert!(hookd_on(&a), "{:?}", a.clients());

    let text = std::fs::read_to_string(&h.config).expect("config");
    std::fs::write(&h.config, text.replace(&a.url(), &b.url())).expect("rewrite config");
    h.hangup();
    wait_until(DRAIN, "the reload", || h.logs().contains("configuration reloaded").then_some(()));
    assert_eq!(send(&h.addr, &evt(1), "cus_1").expect("answer").0, 202);
    wait_until(DRAIN, "the next event on the new server", || (jb.count("HOOKS") == 1).then_some(()));
    assert_eq!(jb.messages("HOOKS")[0].header("Nats-Msg-Id"), "s:evt_00001");
    wait_until(DRAIN, "the old connection closed", || (!hookd_on(&a)).then_some(()));
    assert_eq!(ja.count("HOOKS"), 1);
}

#[test]
fn tls_is_verified_against_tls_ca_file_and_an_unverified_server_is_retried() {
    let dir = tempfile::tempdir().expect("dir");
    let (ca, cert, key) = test_certificates(dir.path());
    let nats = NatsServer::start_tls(&cert, &key);
    let url = format!("tls://127.0.0.1:{}", nats.port);
    let js = Js::connect_tls(&url, &ca);
    js.create_stream("TLS", &["tls.>"], 1);
    // The same server: one route trusts the test CA, the other only the
    // system's roots.
    let ca_key = format!("subject = \"tls.ok\", tls_ca_file = \"{}\" }}", ca.display());
    let trusted = route("trusted", &url, "tls.ok", "").replace("subject = \"tls.ok\" }", &ca_key);
    let routes = format!("{trusted}{}", route("untrusted", &url, "tls.bad", ""));
    let h = Hookd::start(&config(&routes));
    let (_, id) = send(&h.addr, "evt_tls", "cus_1").expect("answer");
    let v = wait_until(DRAIN, "the trusted route delivered, the other retried", || {
        let v = show(&h, &id);
        let ok = v["deliveries"][0]["state"] == "delivered";
        (ok && v["deliveries"][1]["attempts"][1].is_object()).then_some(v)
    });
    assert_eq!(v["deliveries"][1]["state"], "retrying", "{v}");
    let reason = v["deliveries"][1]["attempts"][0]["outcome"].as_str().unwrap_or("");
    assert!(reason.starts_with("cannot connect to NATS"), "{v}");
    let msgs = js.messages("TLS");
    assert_eq!(msgs.iter().map(|m| m.subject.as_str()).collect::<Vec<_>>(), ["tls.ok"]);
}

#[test]
fn nats_route_problems_are_reported_together() {
    let dir = tempfile::tempdir().expect("dir");
    let not_pem = dir.path().join("ca.txt");
    std::fs::write(&not_pem, "hello").expect("write");
    let toml = format!(
        r#"
[storage]
path = "/tmp/x"
[sources.s]
kind = "stripe"
secret = "k"
[[sources.s.routes]]
events = ["*"]
command = ["/bin/true"]
nats = {{ url = "nats://127.0.0.1:4222", subject = "a.b" }}
[[sources.s.routes]]
events = ["*"]
nats = {{ url = "nats://user:pw@127.0.0.1:4222", subject = "a.*.{{nope}}", token_file = "/nonexistent/token" }}
[[sources.s.routes]]
events = ["*"]
nats = {{ url = "http://x", subject = "a..b", credentials_file = "{ca}", tls_ca_file = "{ca}" }}
[[sources.s.routes]]
events = ["*"]
nats = {{ url = "nats://127.0.0.1:4222", subject = "a", credentials_file = "x", token_file = "y" }}
"#,
        ca = not_pem.display()
    );
    let (code, _, stderr) = check_config(&toml);
    assert_eq!(code, 2, "{stderr}");
    for expected in [
        "sources.s.routes[0]: has both nats and command; a route has exactly one target",
        "sources.s.routes[1].nats.url: has credentials in it; use token_file or credentials_file",
        "sources.s.routes[1].nats.subject: unknown placeholder {nope}",
        "sources.s.routes[1].nats.token_file: cannot read /nonexistent/token",
        "sources.s.routes[2].nats.url: \"http://x\": the scheme must be nats:// or tls://",
        "sources.s.routes[2].nats.subject: \"a..b\" has an empty token",
        "sources.s.routes[2].nats.credentials_file: is not a NATS credentials file",
        "sources.s.routes[2].nats.tls_ca_file: ",
        "sources.s.routes[3].nats: has both credentials_file and token_file; give one",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?} in:\n{stderr}");
    }
    assert!(!stderr.contains("hello"), "a file's content is never printed: {stderr}");
}
