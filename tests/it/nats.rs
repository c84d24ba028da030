//! SPEC §5 "NATS JetStream target" and §8 through the real binary, against
//! a real nats-server: the message and its headers, a duplicate ack counted
//! as delivered, an ack that timed out retried with the same msg id (one
//! copy kept), a reload that moves a route to another server, TLS verified
//! against the system's roots plus `[tls] ca_file` and the route's CA files
//! (added, never instead), mTLS, a missing stream retried, `order_by` kept through the
//! target, and — by `Nats-Msg-Id` — every acknowledged event in the stream
//! exactly once across a `kill -9` of hookd, a nats-server outage, two hookd
//! instances taking the same events, and a node of an R3 cluster killed.

use crate::cli::check_config;
use crate::support::http::post;
use crate::support::nats::{Js, NatsServer, Stored};
use crate::support::sign::{stripe, unix_now};
use crate::support::tls::Ca;
use crate::support::{wait_until, Hookd};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
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

/// A TLS-only nats-server with a certificate for 127.0.0.1 from `ca`
/// (and, with `clients`, requiring a client certificate from that CA),
/// with stream `name` on `name.>`; and its `tls://` URL.
fn tls_server(dir: &Path, ca: &Ca, name: &str, clients: Option<&Ca>) -> (NatsServer, Js, String) {
    let (cert, key) = ca.leaf(&["127.0.0.1"]).write(dir, name);
    let ca_file = ca.write(dir, &format!("{name}-ca.pem"));
    let client_ca = clients.map(|c| c.write(dir, &format!("{name}-clients.pem")));
    let nats = NatsServer::start_tls(&cert, &key, client_ca.as_deref());
    let url = format!("tls://127.0.0.1:{}", nats.port);
    let client = clients.map(|c| c.leaf(&["test"]).write(dir, &format!("{name}-test-client")));
    let js = Js::connect_tls(&url, &ca_file, client.as_ref().map(|(c, k)| (c.as_path(), k.as_path())));
    js.create_stream(name, &[&format!("{name}.>")], 1);
    (nats, js, url)
}

/// A route to `url` publishing on `subject`, with `tls` (TOML keys) inside
/// its `nats = { … }` and `route_keys` beside it.
fn tls_route(name: &str, url: &str, subject: &str, tls: &str, route_keys: &str) -> String {
    let with = format!("subject = \"{subject}\"{tls} }}");
    route(name, url, subject, route_keys).replace(&format!("subject = \"{subject}\" }}"), &with)
}

#[test]
fn a_routes_tls_ca_file_adds_to_the_system_roots_and_tls_ca_file_never_replacing_them() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    // Three CAs: one stands for the system's roots (SSL_CERT_FILE), one is
    // `[tls] ca_file`, one the route's `tls_ca_file`; each signs a server.
    let (system, global, own) = (Ca::new("system CA"), Ca::new("[tls] CA"), Ca::new("route CA"));
    let (_s1, sys_js, sys_url) = tls_server(d, &system, "SYS", None);
    let (_s2, global_js, global_url) = tls_server(d, &global, "GLOBAL", None);
    let (_s3, own_js, own_url) = tls_server(d, &own, "OWN", None);
    let own_ca = format!(", tls_ca_file = \"{}\"", own.write(d, "own.pem").display());
    let routes = [
        // A route with its own CA file still trusts the system's roots
        // and `[tls] ca_file` (async-nats' own CA option would drop them).
        tls_route("own-to-system", &sys_url, "SYS.a", &own_ca, ""),
        tls_route("own-to-global", &global_url, "GLOBAL.a", &own_ca, ""),
        tls_route("own-to-own", &own_url, "OWN.a", &own_ca, ""),
        // The same CA as the route's `ca_file`, the key callbacks use.
        route("route-ca-file", &own_url, "OWN.b", &format!("ca_file = \"{}\"", own.write(d, "own2.pem").display())),
        // No route CA: the server signed by it is not trusted.
        route("untrusted", &own_url, "OWN.c", ""),
        route("system-only", &sys_url, "SYS.b", ""),
    ];
    let global_ca = global.write(d, "global.pem").display().to_string();
    let cfg = format!("[tls]\nca_file = \"{global_ca}\"\n\n{}", config(&routes.concat()));
    let system_ca = system.write(d, "system.pem").display().to_string();
    let h = Hookd::start_with(&cfg, &[("SSL_CERT_FILE", &system_ca)]);

    let (_, id) = send(&h.addr, "evt_tls", "cus_1").expect("answer");
    let v = wait_until(DRAIN, "five routes delivered, the untrusted one retried", || {
        let v = show(&h, &id);
        let ds = v["deliveries"].as_array().cloned().unwrap_or_default();
        let delivered = ds.iter().filter(|d| d["state"] == "delivered").count();
        let untrusted = ds.iter().find(|d| d["route"] == "untrusted")?;
        (delivered == 5 && untrusted["attempts"][1].is_object()).then_some(v)
    });
    let untrusted = v["deliveries"].as_array().and_then(|ds| ds.iter().find(|d| d["route"] == "untrusted")).cloned();
    let untrusted = untrusted.unwrap_or_default();
    assert_eq!(untrusted["state"], "retrying", "{v}");
    let reason = untrusted["attempts"][0]["outcome"].as_str().unwrap_or("");
    assert!(reason.starts_with("cannot connect to NATS: TLS: certificate not trusted: unknown issuer"), "{v}");
    let state = |route: &str| {
        let ds = v["deliveries"].as_array().cloned().unwrap_or_default();
        ds.iter().find(|d| d["route"] == route).map(|d| d["state"].clone()).unwrap_or_default()
    };
    for route in ["own-to-system", "own-to-global", "own-to-own", "route-ca-file", "system-only"] {
        assert_eq!(state(route), "delivered", "{route}: {v}");
    }
    // Routes of one event share its Nats-Msg-Id, so a stream keeps the
    // first copy and acks the others as duplicates: one message each.
    for (js, name) in [(&sys_js, "SYS"), (&global_js, "GLOBAL"), (&own_js, "OWN")] {
        assert_eq!(js.count(name), 1, "{name}");
    }
}

#[test]
fn mtls_presents_the_routes_client_certificate_and_a_route_without_one_is_retried() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let (server_ca, client_ca) = (Ca::new("nats CA"), Ca::new("client CA"));
    let (_server, js, url) = tls_server(d, &server_ca, "MTLS", Some(&client_ca));
    let (cert, key) = client_ca.leaf(&["hookd"]).write(d, "hookd-client");
    let ca = format!(", tls_ca_file = \"{}\"", server_ca.write(d, "server-ca.pem").display());
    let identity = format!("client_cert = \"{}\"\nclient_key = \"{}\"", cert.display(), key.display());
    let routes = [tls_route("mtls", &url, "MTLS.a", &ca, &identity), tls_route("no-cert", &url, "MTLS.b", &ca, "")];
    let h = Hookd::start(&config(&routes.concat()));
    let (_, id) = send(&h.addr, "evt_mtls", "cus_1").expect("answer");
    let v = wait_until(DRAIN, "the mtls route delivered, the other retried", || {
        let v = show(&h, &id);
        (v["deliveries"][0]["state"] == "delivered" && v["deliveries"][1]["attempts"][1].is_object()).then_some(v)
    });
    assert_eq!(v["deliveries"][1]["state"], "retrying", "{v}");
    assert!(
        v["deliveries"][1]["attempts"][0]["outcome"].as_str().unwrap_or("").starts_with("cannot connect to NATS"),
        "{v}"
    );
    assert_eq!(js.messages("MTLS").iter().map(|m| m.subject.as_str()).collect::<Vec<_>>(), ["MTLS.a"]);
    assert!(!h.logs().contains("BEGIN"), "no key material in the log");
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
[[sources.s.routes]]
events = ["*"]
nats = {{ url = "tls://127.0.0.1:4222", subject = "a" }}
ca_file = "{ca}"
client_cert = "{ca}"
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
        // The route's TLS keys apply to a nats target as to a callback.
        "sources.s.routes[4].ca_file: ",
        "sources.s.routes[4].client_key: missing (client_cert is set)",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?} in:\n{stderr}");
    }
    assert!(!stderr.contains("hello"), "a file's content is never printed: {stderr}");
}
