//! Client IP, allowlist and rate limit decisions, without a server.

use super::*;
use crate::config;

fn guards_and_sources(sources: &str, trusted: &[&str]) -> (Guards, Sources) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.toml");
    std::fs::write(&path, format!("[storage]\npath = \"{}\"\n\n{sources}", dir.path().display())).expect("write");
    let config = config::load(&path).unwrap_or_else(|e| panic!("config: {e}"));
    let trusted = trusted.iter().map(|s| s.parse().expect("cidr")).collect();
    (Guards::new(&config.sources, trusted), config.sources)
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
fn allowlist_then_rate_limit() {
    let (g, sources) = guards_and_sources(
        "[sources.s]\nkind = \"github\"\nsecret = \"x\"\nallow_ips = [\"10.0.0.0/8\"]\nrate_limit = \"2/m\"\n",
        &[],
    );
    let s = &sources["s"];
    assert_eq!(g.admit(s, ip("127.0.0.1")), Err(Denied::Forbidden));
    assert_eq!(g.admit(s, ip("10.9.9.9")), Ok(()));
    assert_eq!(g.admit(s, ip("10.9.9.9")), Ok(()));
    match g.admit(s, ip("10.9.9.9")) {
        Err(Denied::TooMany { retry_after }) => assert!((1..=30).contains(&retry_after), "{retry_after}"),
        other => panic!("expected 429, got {other:?}"),
    }
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
