//! Client IP, allowlist, failed-verification budget and rate limit
//! decisions, without a server.

use super::*;
use crate::config;
use std::time::{Duration, Instant};

fn guards_and_sources(sources: &str, trusted: &[&str]) -> (Guards, Sources) {
    with_server("", sources, trusted)
}

fn with_server(server: &str, sources: &str, trusted: &[&str]) -> (Guards, Sources) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.toml");
    let text = format!("[server]\n{server}\n[storage]\npath = \"{}\"\n\n{sources}", dir.path().display());
    std::fs::write(&path, text).expect("write");
    let config = config::load(&path).unwrap_or_else(|e| panic!("config: {e}"));
    let trusted = trusted.iter().map(|s| s.parse().expect("cidr")).collect();
    (Guards::new(&config.sources, trusted, config.server.unverified_rate_limit), config.sources)
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    crate::verify::header_map(pairs)
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

#[test]
fn forwarded_for_is_believed_only_from_trusted_proxies() {
    let (g, _) = guards_and_sources("", &["127.0.0.1/32", "10.1.0.0/16"]);
    let xff = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9, 10.1.2.3")]);
    assert_eq!(g.client_ip(ip("127.0.0.1"), &xff), ip("203.0.113.9"));
    assert_eq!(g.client_ip(ip("192.0.2.1"), &xff), ip("192.0.2.1"), "spoofed from an untrusted peer");
    assert_eq!(g.client_ip(ip("::ffff:127.0.0.1"), &xff), ip("203.0.113.9"), "v4-mapped peer");
    let garbage = headers(&[("x-forwarded-for", "not-an-ip")]);
    assert_eq!(g.client_ip(ip("127.0.0.1"), &garbage), ip("127.0.0.1"));
    let repeated = headers(&[("x-forwarded-for", "198.51.100.7"), ("x-forwarded-for", "10.1.0.1")]);
    assert_eq!(g.client_ip(ip("127.0.0.1"), &repeated), ip("198.51.100.7"));
}

#[test]
fn allowlist_before_the_signature_rate_limit_after_it() {
    let (g, sources) = guards_and_sources(
        "[sources.s]\nkind = \"github\"\nsecret = \"x\"\nallow_ips = [\"10.0.0.0/8\"]\nrate_limit = \"2/m\"\n",
        &[],
    );
    let s = &sources["s"];
    assert_eq!(g.admit(s, ip("127.0.0.1")), Err(Denied::Forbidden));
    for _ in 0..5 {
        assert_eq!(g.admit(s, ip("10.9.9.9")), Ok(()), "admit charges nothing");
    }
    assert_eq!(g.admit_verified(s), Ok(()));
    assert_eq!(g.admit_verified(s), Ok(()));
    match g.admit_verified(s) {
        Err(Denied::TooMany { retry_after }) => assert!((1..=30).contains(&retry_after), "{retry_after}"),
        other => panic!("expected 429, got {other:?}"),
    }
    let (g, sources) = guards_and_sources("[sources.free]\nkind = \"github\"\nsecret = \"x\"\n", &[]);
    for _ in 0..100 {
        assert_eq!(g.admit_verified(&sources["free"]), Ok(()), "no rate_limit, no limit");
    }
}

const TWO_SOURCES: &str =
    "[sources.a]\nkind = \"github\"\nsecret = \"x\"\n[sources.b]\nkind = \"github\"\nsecret = \"y\"\n";

#[test]
fn failed_verifications_spend_only_their_own_address_budget() {
    let (g, sources) = with_server("unverified_rate_limit = \"3/h\"", TWO_SOURCES, &[]);
    let (a, b) = (&sources["a"], &sources["b"]);
    let flooder = ip("203.0.113.66");
    for n in 0..3 {
        assert_eq!(g.admit(a, flooder), Ok(()), "failure {n} is within the budget");
        g.verification_failed(flooder);
    }
    // The budget is per address, across sources, and only failures spend it.
    for s in [a, b] {
        match g.admit(s, flooder) {
            Err(Denied::Unverified { retry_after }) => {
                assert!((1..=1200).contains(&retry_after), "a 3/h budget refills in 20 min: {retry_after}")
            }
            other => panic!("expected 429 for the flooder, got {other:?}"),
        }
    }
    assert_eq!(g.admit(a, ip("198.51.100.7")), Ok(()), "another address is untouched");
    assert_eq!(g.admit(a, ip("::ffff:203.0.113.67")), Ok(()));
}

#[test]
fn the_budget_refills_at_its_rate() {
    // A burst of one: however long the sleep, one failure is allowed after it.
    let (g, sources) = with_server("unverified_rate_limit = \"1/s\"", TWO_SOURCES, &[]);
    let (a, client) = (&sources["a"], ip("192.0.2.9"));
    assert_eq!(g.admit(a, client), Ok(()));
    g.verification_failed(client);
    assert_eq!(g.admit(a, client), Err(Denied::Unverified { retry_after: 1 }));
    std::thread::sleep(Duration::from_millis(1050));
    assert_eq!(g.admit(a, client), Ok(()), "one failure allowed again after a second");
    g.verification_failed(client);
    assert!(matches!(g.admit(a, client), Err(Denied::Unverified { .. })), "and spent again at once");
}

#[test]
fn per_address_state_is_pruned() {
    let (g, _) = with_server("unverified_rate_limit = \"1000/s\"", TWO_SOURCES, &[]);
    for i in 0..50u8 {
        g.verification_failed(IpAddr::from([198, 51, 100, i]));
    }
    let spent = ip("192.0.2.1");
    for _ in 0..2000 {
        g.verification_failed(spent);
    }
    assert_eq!(g.tracked(), (51, 1));
    // Both budgets are full again well within 1 s.
    std::thread::sleep(Duration::from_millis(1100));
    g.prune(Instant::now() + PRUNE_EVERY);
    assert_eq!(g.tracked(), (0, 0));
}

#[test]
fn received_url_uses_forwarded_headers_only_from_trusted_peers() {
    let (g, _) = guards_and_sources("", &["127.0.0.1/32"]);
    let h = headers(&[
        ("host", "internal:8080"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "hooks.example.com"),
    ]);
    let uri: http::Uri = "/webhooks/t?a=1".parse().expect("uri");
    assert_eq!(g.received_url(ip("127.0.0.1"), &h, &uri), "https://hooks.example.com/webhooks/t?a=1");
    assert_eq!(g.received_url(ip("192.0.2.1"), &h, &uri), "http://internal:8080/webhooks/t?a=1");
}
