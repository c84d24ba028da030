//! When a stored ACME certificate is used and when it is renewed, with
//! certificates made by rcgen.

use super::*;

fn store(dir: &Path, names: &[&str], from: (i32, u8, u8), to: (i32, u8, u8)) {
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).expect("params");
    params.not_before = rcgen::date_time_ymd(from.0, from.1, from.2);
    params.not_after = rcgen::date_time_ymd(to.0, to.1, to.2);
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("cert");
    create_dir(dir).expect("dir");
    write_private(&dir.join(CERT), cert.pem().as_bytes()).expect("cert");
    write_private(&dir.join(KEY), key.serialize_pem().as_bytes()).expect("key");
}

fn at(rfc3339: &str) -> SystemTime {
    humantime::parse_rfc3339(rfc3339).expect("time")
}

#[test]
fn nothing_stored_means_an_order() {
    let dir = tempfile::tempdir().expect("dir");
    assert!(stored(&dir.path().join("acme"), &["a.test".into()]).expect("read").is_none());
}

#[test]
fn a_stored_certificate_is_renewed_when_a_third_of_its_lifetime_is_left() {
    let dir = tempfile::tempdir().expect("dir");
    // 90 days, as Let's Encrypt issues: renewed 30 days before the end.
    store(dir.path(), &["a.test", "b.test"], (2040, 1, 1), (2040, 3, 31));
    let held = stored(dir.path(), &["B.test".into(), "a.test".into()]).expect("read").expect("held");
    assert_eq!(held.renew_at, at("2040-03-01T00:00:00Z"));
}

#[test]
fn a_certificate_for_other_domains_or_expired_is_not_used() {
    let dir = tempfile::tempdir().expect("dir");
    store(dir.path(), &["a.test"], (2040, 1, 1), (2040, 3, 31));
    assert!(stored(dir.path(), &["a.test".into(), "b.test".into()]).expect("read").is_none());
    // Every configured domain named is enough (a duplicate changes nothing).
    assert!(stored(dir.path(), &["a.test".into(), "A.test".into()]).expect("read").is_some());
    store(dir.path(), &["a.test"], (2020, 1, 1), (2020, 3, 31));
    assert!(stored(dir.path(), &["a.test".into()]).expect("read").is_none());
}

#[test]
fn stored_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("dir");
    let acme = dir.path().join("tls/acme");
    store(&acme, &["a.test"], (2040, 1, 1), (2040, 3, 31));
    let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!((mode(&acme), mode(&acme.join(CERT)), mode(&acme.join(KEY))), (0o700, 0o600, 0o600));
}

#[test]
fn a_challenge_certificate_answers_for_its_domain() {
    let key = challenge_cert("a.test", &[7u8; 32]).expect("challenge cert");
    let (_, cert) = x509_parser::parse_x509_certificate(&key.cert[0]).expect("x509");
    let acme_id =
        cert.extensions().iter().find(|e| e.oid.to_id_string() == "1.3.6.1.5.5.7.1.31").expect("acmeIdentifier");
    assert!(acme_id.critical);
    assert!(acme_id.value.ends_with(&[7u8; 32]));
}
