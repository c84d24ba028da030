//! PEM reading and key checks with throwaway certificates from rcgen.

use super::*;

fn pair(name: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec![name.to_string()]).expect("params").self_signed(&key).expect("cert");
    (cert.pem(), key.serialize_pem())
}

#[test]
fn a_chain_and_its_key_belong_together() {
    let (cert, key) = pair("a.test");
    let chain = parse_certs(cert.as_bytes()).expect("certs");
    assert!(certified_key(chain, parse_key(key.as_bytes()).expect("key")).is_ok());
}

#[test]
fn a_key_of_another_certificate_is_refused() {
    let (cert, _) = pair("a.test");
    let (_, other) = pair("b.test");
    let chain = parse_certs(cert.as_bytes()).expect("certs");
    let got = certified_key(chain, parse_key(other.as_bytes()).expect("key"));
    assert_eq!(got.err(), Some(PemError::Mismatch));
}

#[test]
fn files_without_the_wanted_item_say_so() {
    let (cert, key) = pair("a.test");
    assert_eq!(parse_certs(key.as_bytes()).err(), Some(PemError::NoCertificate));
    assert_eq!(parse_key(cert.as_bytes()).err(), Some(PemError::NoKey));
    assert_eq!(parse_certs(b"not pem at all").err(), Some(PemError::NoCertificate));
    let missing = read_certs(Path::new("/nonexistent/cert.pem")).expect_err("missing file");
    assert!(missing.to_string().contains("/nonexistent/cert.pem"), "{missing}");
}

#[test]
fn a_key_is_never_quoted_in_an_error() {
    let (_, key) = pair("a.test");
    let broken = key.replace("PRIVATE KEY-----\n", "PRIVATE KEY-----\n!!");
    if let Err(e) = parse_key(broken.as_bytes()) {
        let body: String = key.lines().nth(1).unwrap_or_default().chars().take(16).collect();
        assert!(!e.to_string().contains(&body), "{e}");
    }
}
