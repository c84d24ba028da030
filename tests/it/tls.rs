//! SPEC §5 "HTTPS" and §4 "TLS on ingress" through the real binary, with a
//! throwaway CA (rcgen) and TLS targets run by the test: https callbacks
//! and alerts verified against `[tls] ca_file` or a route's `ca_file`,
//! certificate failures as retryable attempts that name the problem, mTLS,
//! HTTPS ingress from files and their re-reading on SIGHUP.

use crate::callbacks::{finished, send};
use crate::cli::check_config;
use crate::support::http::get;
use crate::support::sign::{stripe, stripe_event, unix_now};
use crate::support::tls::{Ca, TlsClient, TlsReceiver};
use crate::support::{wait_until, Hookd};
use std::time::Duration;

/// A stripe source whose one route POSTs to `url`, with `extra` route keys.
fn source(name: &str, url: &str, extra: &str) -> String {
    format!(
        "[sources.{name}]\nkind = \"stripe\"\nsecret = \"k\"\n\n[[sources.{name}.routes]]\nevents = [\"*\"]\n\
         url = \"{url}\"\ntimeout = \"5s\"\nretry = {{ attempts = 2, initial = \"10ms\", max = \"20ms\" }}\n{extra}\n\n"
    )
}

const ADMIN: &str = "[admin]\nlisten = \"unix:{dir}/admin.sock\"\n\n";

#[test]
fn https_callbacks_verify_the_target_and_name_what_failed() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Ca::new("hookd test CA");
    let ca_file = ca.write(dir.path(), "ca.pem");
    let stranger = Ca::new("nobody trusts this");
    let good = TlsReceiver::start(&ca.leaf(&["localhost"]), None);
    let unknown = TlsReceiver::start(&stranger.leaf(&["localhost"]), None);
    let expired = TlsReceiver::start(&ca.expired(&["localhost"]), None);
    let mismatch = TlsReceiver::start(&ca.leaf(&["elsewhere.test"]), None);
    let route_ca = format!("ca_file = \"{}\"", ca_file.display());
    let config = format!(
        "{ADMIN}{}{}{}{}{}",
        // The global [tls] ca_file is not set: this route brings its own.
        source("own", &good.url("localhost", "/own"), &route_ca),
        source("unknown", &unknown.url("localhost", "/x"), &route_ca),
        source("expired", &expired.url("localhost", "/x"), &route_ca),
        source("mismatch", &mismatch.url("localhost", "/x"), &route_ca),
        source("system", &good.url("localhost", "/system"), ""),
    );
    let h = Hookd::start(&config);

    let v = finished(&h, &send(&h, "own", "evt_tls_own"));
    assert_eq!(v["status"], "delivered", "{v}");
    assert_eq!(v["deliveries"][0]["attempts"][0]["outcome"], "http 200", "{v}");
    let seen = good.seen.lock().expect("lock")[0].clone();
    assert!(seen.header("webhook-signature").is_none(), "no signing secret, no signature");
    assert_eq!(seen.header("x-hookd-source"), Some("own"));
    assert_eq!(seen.body, stripe_event("evt_tls_own", "invoice.paid"));

    for (name, why) in [
        ("unknown", "certificate not trusted: unknown issuer"),
        ("expired", "certificate expired"),
        ("mismatch", "certificate name mismatch"),
        // Our CA is no system root, and this route has no ca_file.
        ("system", "certificate not trusted: unknown issuer"),
    ] {
        let v = finished(&h, &send(&h, name, &format!("evt_tls_{name}")));
        let d = &v["deliveries"][0];
        assert_eq!(v["status"], "dead", "{name}: {v}");
        // Retried (a permanent failure would be dead after one attempt).
        assert_eq!(d["attempt_count"], 2, "{name}: {v}");
        for attempt in d["attempts"].as_array().expect("attempts") {
            let outcome = attempt["outcome"].as_str().expect("outcome");
            assert!(outcome.starts_with("TLS: ") && outcome.contains(why), "{name}: {outcome:?}");
            assert!(attempt["http_status"].is_null(), "{name}: no HTTP status without a handshake");
        }
    }
    assert_eq!(good.count(), 1, "only the verified route reached the target");
    assert_eq!(
        (unknown.count(), expired.count(), mismatch.count()),
        (0, 0, 0),
        "nothing sent over an unverified connection"
    );
}

#[test]
fn mtls_targets_get_the_routes_client_certificate() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Ca::new("server CA");
    let clients = Ca::new("client CA");
    let ca_file = ca.write(dir.path(), "ca.pem");
    let (cert, key) = clients.leaf(&["hookd-client"]).write(dir.path(), "client");
    let target = TlsReceiver::start(&ca.leaf(&["localhost"]), Some(&clients));
    let identity = format!("client_cert = \"{}\"\nclient_key = \"{}\"", cert.display(), key.display());
    let config = format!(
        "{ADMIN}[tls]\nca_file = \"{}\"\n\n{}{}",
        ca_file.display(),
        source("with", &target.url("localhost", "/with"), &identity),
        source("without", &target.url("localhost", "/without"), ""),
    );
    let h = Hookd::start(&config);

    let v = finished(&h, &send(&h, "with", "evt_mtls_with"));
    assert_eq!(v["status"], "delivered", "{v}");
    let v = finished(&h, &send(&h, "without", "evt_mtls_without"));
    let d = &v["deliveries"][0];
    assert_eq!((v["status"].as_str(), d["attempt_count"].as_u64()), (Some("dead"), Some(2)), "{v}");
    let outcome = d["attempts"][0]["outcome"].as_str().expect("outcome");
    assert!(outcome.starts_with("TLS: "), "the failure is named as TLS: {outcome:?}");
    assert!(outcome.contains("client certificate") || outcome.contains("CertificateRequired"), "{outcome:?}");
    let seen = target.seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 1, "only the request with a client certificate got through");
    assert_eq!(seen[0].header("x-hookd-source"), Some("with"));
}

#[test]
fn alerts_go_to_https_urls_verified_by_the_tls_ca_file() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Ca::new("alerts CA");
    let ca_file = ca.write(dir.path(), "ca.pem");
    let pager = TlsReceiver::start(&ca.leaf(&["localhost"]), None);
    let config = format!(
        "{ADMIN}[tls]\nca_file = \"{}\"\n\n[alerts]\nurl = \"{}\"\nformat = \"raw\"\n\n\
         [sources.s]\nkind = \"stripe\"\nsecret = \"k\"\n\n[[sources.s.routes]]\nevents = [\"*\"]\ncommand = [\"/bin/sh\", \"-c\", \"exit 65\"]\n",
        ca_file.display(),
        pager.url("localhost", "/page")
    );
    let h = Hookd::start(&config);
    let v = finished(&h, &send(&h, "s", "evt_alert_https"));
    assert_eq!(v["status"], "dead", "{v}");
    wait_until(Duration::from_secs(15), "the alert", || (pager.count() == 1).then_some(()));
    let seen = pager.seen.lock().expect("lock")[0].clone();
    assert_eq!(seen.header("x-hookd-dead-reason"), Some("exit 65 (permanent)"));
    assert_eq!(seen.body, stripe_event("evt_alert_https", "invoice.paid"));
    wait_until(Duration::from_secs(10), "the alert logged as sent", || {
        h.logs().contains("dead-delivery alert sent").then_some(())
    });
}

#[test]
fn tls_keys_are_checked_at_load() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Ca::new("CA");
    let (cert, key) = ca.leaf(&["localhost"]).write(dir.path(), "a");
    let (_, other_key) = ca.leaf(&["localhost"]).write(dir.path(), "b");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").expect("write");
    let d = dir.path().display();
    let cases = [
        (format!("[server]\ntls = {{ cert_file = \"{}\" }}\n", cert.display()), "server.tls.key_file: missing (cert_file is set)"),
        (
            format!("[server]\ntls = {{ cert_file = \"{}\", key_file = \"{}\" }}\n", cert.display(), other_key.display()),
            "server.tls.key_file: ",
        ),
        (format!("[server]\ntls = {{ cert_file = \"{}\", key_file = \"{}\" }}\n", garbage.display(), key.display()), "server.tls.cert_file: "),
        (format!("[tls]\nca_file = \"{d}/nope.pem\"\n"), "tls.ca_file: "),
        (
            format!("[server]\ntls = {{ cert_file = \"{}\", key_file = \"{}\", acme = {{ domains = [\"a.test\"] }} }}\n", cert.display(), key.display()),
            "server.tls: set cert_file and key_file, or acme, not both",
        ),
        ("[server]\ntls = { acme = { domains = [] } }\n".to_string(), "server.tls.acme.domains: missing"),
        (
            format!("[sources.s]\nkind = \"stripe\"\nsecret = \"k\"\n[[sources.s.routes]]\nevents = [\"*\"]\nurl = \"https://localhost/\"\nclient_cert = \"{}\"\n", cert.display()),
            "sources.s.routes[0].client_key: missing (client_cert is set)",
        ),
        (
            "[sources.s]\nkind = \"stripe\"\nsecret = \"k\"\n[[sources.s.routes]]\nevents = [\"*\"]\nurl = \"http://localhost/\"\nca_file = \"/x.pem\"\n".to_string(),
            "sources.s.routes[0].ca_file: applies only to an https:// url",
        ),
    ];
    for (toml, want) in cases {
        let (code, _, err) = check_config(&format!("[storage]\npath = \"{d}/data\"\n{toml}"));
        assert_eq!(code, 2, "{toml}\n{err}");
        assert!(err.lines().any(|l| l.starts_with(want)), "want {want:?} in:\n{err}");
    }
    let mismatch = check_config(&format!(
        "[storage]\npath = \"{d}/data\"\n[server]\ntls = {{ cert_file = \"{}\", key_file = \"{}\" }}\n",
        cert.display(),
        other_key.display()
    ));
    assert!(mismatch.2.contains("does not match the certificate"), "{}", mismatch.2);
    let secret_line = std::fs::read_to_string(&other_key).expect("key").lines().nth(1).unwrap_or_default().to_string();
    assert!(!mismatch.2.contains(&secret_line), "a key's content in an error");
    let ok = check_config(&format!(
        "[storage]\npath = \"{d}/data\"\n[server]\ntls = {{ cert_file = \"{}\", key_file = \"{}\" }}\n",
        cert.display(),
        key.display()
    ));
    assert_eq!(ok.0, 0, "{}", ok.2);
}

#[test]
fn ingress_serves_https_from_files_and_rereads_them_on_sighup() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Ca::new("ingress CA");
    let first = ca.leaf(&["localhost"]);
    let (cert, key) = first.write(dir.path(), "ingress");
    let server = format!("tls = {{ cert_file = \"{}\", key_file = \"{}\" }}", cert.display(), key.display());
    let sources = "[sources.s]\nkind = \"stripe\"\nsecret = \"k\"\n";
    // `hookd send` reads the system's roots; SSL_CERT_FILE names ours.
    let ca_file = ca.write(dir.path(), "ca.pem");
    let ca_env = ca_file.display().to_string();
    let mut h = Hookd::configure(&server, sources, &[("SSL_CERT_FILE", &ca_env)]);
    h.spawn();
    assert!(h.logs().contains("scheme=\"https\"") || h.logs().contains("scheme=https"), "{}", h.logs());

    // A keep-alive connection made with the first certificate.
    let mut kept = TlsClient::connect(&h.addr, "localhost", ca.roots()).expect("TLS to hookd");
    assert_eq!(kept.peer_leaf(), Some(first.der()));
    let ready = kept.request("GET", "/readyz", &[], b"").expect("readyz");
    assert_eq!(ready.status, 200, "{}", ready.body);
    let body = stripe_event("evt_ingress_tls_1", "invoice.paid");
    let r = kept.request("POST", "/webhooks/s", &[stripe("k", unix_now(), &body)], &body).expect("answer");
    assert_eq!(r.status, 202, "{}", r.body);
    // `hookd send` over https (it needs the URL: the certificate's name).
    let port = h.addr.rsplit(':').next().unwrap_or_default().to_string();
    let (code, out, err) = h.cli(&["send", "--source", "s", "--url", &format!("https://localhost:{port}/webhooks/s")]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("202 "), "{out}");
    let (code, _, err) = h.cli(&["send", "--source", "s"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("server.tls is set: pass --url https://"), "{err}");
    // Plain HTTP is not spoken on a TLS port.
    assert!(get(&h.addr, "/healthz").is_none_or(|r| r.status != 200), "plain HTTP answered on the TLS port");

    // Renewed files, SIGHUP: new handshakes get the new certificate …
    let second = ca.leaf(&["localhost"]);
    second.write(dir.path(), "ingress");
    h.hangup();
    wait_until(Duration::from_secs(10), "the new certificate", || {
        let c = TlsClient::connect(&h.addr, "localhost", ca.roots()).ok()?;
        (c.peer_leaf() == Some(second.der())).then_some(())
    });
    wait_until(Duration::from_secs(10), "the reload logged", || {
        h.logs().contains("certificate files re-read").then_some(())
    });
    // … and the connection opened before goes on.
    let body = stripe_event("evt_ingress_tls_2", "invoice.paid");
    let r = kept.request("POST", "/webhooks/s", &[stripe("k", unix_now(), &body)], &body).expect("kept connection");
    assert_eq!(r.status, 202, "{}", r.body);

    // A broken file on reload: refused, logged, the certificate in force stays.
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n").expect("break");
    h.hangup();
    wait_until(Duration::from_secs(10), "the refusal", || h.logs().contains("server.tls.cert_file").then_some(()));
    assert!(h.logs().contains("reload refused"), "{}", h.logs());
    let c = TlsClient::connect(&h.addr, "localhost", ca.roots()).expect("still serving");
    assert_eq!(c.peer_leaf(), Some(second.der()));
    let r = kept.request("GET", "/readyz", &[], b"").expect("kept connection");
    assert_eq!(r.status, 200);
}
