//! SPEC §4 "TLS on ingress" with ACME, against Debian's `pebble` (Let's
//! Encrypt's test CA, installed by .ci/test): hookd creates an account,
//! answers TLS-ALPN-01 on its listen port, serves the issued certificate,
//! keeps it under `[storage] path` owner-only, and after a restart serves
//! the stored one without a new order. And while no certificate can be had,
//! `/readyz` says why.

use crate::support::sign::{stripe, stripe_event, unix_now};
use crate::support::tls::{Ca, TlsClient};
use crate::support::{wait_until, Hookd};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const PEBBLE: &str = "/usr/bin/pebble";

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A pebble validating TLS-ALPN-01 on `tls_port`; killed on drop.
struct Pebble {
    child: Child,
    /// The directory URL.
    directory: String,
    /// The management API (`/roots/0`: the root pebble signs with).
    management: String,
}

impl Pebble {
    fn start(dir: &Path, ca: &Ca, tls_port: u16) -> Pebble {
        assert!(Path::new(PEBBLE).exists(), "{PEBBLE} is missing: .ci/test installs Debian's pebble package");
        let (cert, key) = ca.leaf(&["localhost"]).write(dir, "pebble");
        let (api, management) = (free_port(), free_port());
        let config = serde_json::json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{api}"),
            "managementListenAddress": format!("127.0.0.1:{management}"),
            "certificate": cert, "privateKey": key,
            "httpPort": free_port(), "tlsPort": tls_port,
            "ocspResponderURL": "", "externalAccountBindingRequired": false,
        }});
        let path = dir.join("pebble.json");
        std::fs::write(&path, config.to_string()).expect("pebble config");
        let log = std::fs::File::create(dir.join("pebble.log")).expect("pebble log");
        let child = Command::new(PEBBLE)
            .arg("-config")
            .arg(&path)
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("start pebble");
        wait_until(Duration::from_secs(20), "pebble listening", || {
            TcpStream::connect(("127.0.0.1", api)).ok().map(|_| ())
        });
        Pebble {
            child,
            directory: format!("https://localhost:{api}/dir"),
            management: format!("127.0.0.1:{management}"),
        }
    }

    /// The root pebble signs certificates with (made at its start).
    fn root(&self, ca: &Ca) -> rustls::RootCertStore {
        let mut c = TlsClient::connect(&self.management, "localhost", ca.roots()).expect("pebble management");
        let r = c.request("GET", "/roots/0", &[], b"").expect("roots");
        assert_eq!(r.status, 200, "{}", r.body);
        let mut roots = rustls::RootCertStore::empty();
        use rustls::pki_types::pem::PemObject;
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(r.body.as_bytes()) {
            roots.add(cert.expect("pem")).expect("root");
        }
        roots
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn acme_server(pebble_directory: &str, ca_file: &Path) -> String {
    format!(
        "tls = {{ acme = {{ domains = [\"localhost\"], email = \"ops@example.com\", directory = \"{pebble_directory}\", ca_file = \"{}\" }} }}",
        ca_file.display()
    )
}

#[test]
fn acme_issues_serves_stores_and_reuses_a_certificate() {
    let work = tempfile::tempdir().expect("dir");
    let ca = Ca::new("pebble's listener CA");
    let ca_file = ca.write(work.path(), "pebble-ca.pem");
    let port = free_port();
    let pebble = Pebble::start(work.path(), &ca, port);
    let listen = format!("127.0.0.1:{port}");
    let sources = "[sources.s]\nkind = \"stripe\"\nsecret = \"k\"\n";
    let mut h =
        Hookd::configure(&acme_server(&pebble.directory, &ca_file), sources, &[("HOOKD_SERVER__LISTEN", &listen)]);
    h.spawn();
    let roots = pebble.root(&ca);

    // Issued via TLS-ALPN-01 on the listen port, then served.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut client = loop {
        if let Ok(c) = TlsClient::connect(&h.addr, "localhost", roots.clone()) {
            break c;
        }
        let pebble_log = std::fs::read_to_string(work.path().join("pebble.log")).unwrap_or_default();
        assert!(std::time::Instant::now() < deadline, "no certificate issued:\n{}\npebble:\n{pebble_log}", h.logs());
        std::thread::sleep(Duration::from_millis(100));
    };
    let served = client.peer_leaf().expect("leaf");
    let ready = client.request("GET", "/readyz", &[], b"").expect("readyz");
    assert_eq!(ready.status, 200, "{}", ready.body);
    let body = stripe_event("evt_acme_1", "invoice.paid");
    let r = client.request("POST", "/webhooks/s", &[stripe("k", unix_now(), &body)], &body).expect("answer");
    assert_eq!(r.status, 202, "{}", r.body);
    // (hookd writes its log from a thread of its own: wait for the lines.)
    let logged = |what: &str| wait_until(Duration::from_secs(10), what, || h.logs().contains(what).then_some(()));
    logged("ACME: account created");
    logged("answered an ACME TLS-ALPN-01 validation");
    logged("ACME: certificate obtained and in use");

    // Kept owner-only under [storage] path, in its own folder.
    let stored = h.dir.path().join("data/tls/acme");
    for (name, mode) in [("", 0o700), ("account.json", 0o600), ("cert.pem", 0o600), ("key.pem", 0o600)] {
        let meta = std::fs::metadata(stored.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(meta.permissions().mode() & 0o777, mode, "{name}");
    }
    let on_disk = std::fs::read_to_string(stored.join("cert.pem")).expect("cert.pem");
    assert!(on_disk.contains("BEGIN CERTIFICATE"));

    // Restarted: the stored certificate, no new order.
    h.restart();
    let client = TlsClient::connect(&h.addr, "localhost", roots.clone()).expect("TLS after restart");
    assert_eq!(client.peer_leaf(), Some(served), "the same certificate is served after a restart");
    wait_until(Duration::from_secs(10), "the stored certificate logged", || {
        h.logs().contains("ACME: using the stored certificate").then_some(())
    });
    let logs = h.logs();
    assert_eq!(logs.matches("ACME: ordering a certificate").count(), 1, "{logs}");
    assert_eq!(logs.matches("ACME: account created").count(), 1, "{logs}");
}

#[test]
fn without_a_certificate_readyz_says_why() {
    let work = tempfile::tempdir().expect("dir");
    let ca = Ca::new("unused");
    let ca_file = ca.write(work.path(), "ca.pem");
    // Nothing listens there: the account cannot be created.
    let nowhere = format!("https://localhost:{}/dir", free_port());
    let sources = "[sources.s]\nkind = \"stripe\"\nsecret = \"k\"\n";
    let h = Hookd::start_server(&acme_server(&nowhere, &ca_file), sources);
    wait_until(Duration::from_secs(20), "the failure logged", || {
        h.logs().contains("ACME: no certificate obtained").then_some(())
    });
    // The placeholder certificate is trusted by nobody …
    assert!(TlsClient::connect(&h.addr, "localhost", ca.roots()).is_err(), "a placeholder must not verify");
    // … but lets an operator read why (curl -k).
    let mut c = TlsClient::connect_unverified(&h.addr, "localhost").expect("handshake with the placeholder");
    let r = c.request("GET", "/readyz", &[], b"").expect("readyz");
    assert_eq!(r.status, 503, "{}", r.body);
    let v = r.json();
    assert_eq!(v["error"], "tls_certificate_missing", "{v}");
    let why = v["message"].as_str().expect("message");
    assert!(why.starts_with("ACME: new account at") && why.contains("connect"), "{why}");
}
