//! Throwaway PKI for the TLS tests: a CA made in-process with rcgen, leaf
//! certificates written as PEM files, a TLS callback target (rustls on a
//! std thread, optionally requiring a client certificate), and a TLS client
//! that keeps one connection open across requests.

use super::http::{parse, read_request, Response, Seen};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A CA that signs leaves; `pem` is its certificate (a `ca_file`).
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pub pem: String,
    pub der: CertificateDer<'static>,
}

/// A leaf certificate and its key, as PEM text.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("ca key");
        let cert = params.self_signed(&key).expect("ca cert");
        Ca { pem: cert.pem(), der: cert.der().clone(), issuer: Issuer::new(params, key) }
    }

    /// A leaf for `names`, valid from 1975 to 4096.
    pub fn leaf(&self, names: &[&str]) -> Leaf {
        self.leaf_with(names, |_| {})
    }

    /// A leaf for `names` that expired in 2021.
    pub fn expired(&self, names: &[&str]) -> Leaf {
        self.leaf_with(names, |p| {
            p.not_before = rcgen::date_time_ymd(2020, 1, 1);
            p.not_after = rcgen::date_time_ymd(2021, 1, 1);
        })
    }

    fn leaf_with(&self, names: &[&str], tweak: impl FnOnce(&mut CertificateParams)) -> Leaf {
        let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).expect("leaf");
        params.distinguished_name.push(DnType::CommonName, names.first().copied().unwrap_or("client"));
        tweak(&mut params);
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign leaf");
        Leaf { cert_pem: cert.pem(), key_pem: key.serialize_pem() }
    }

    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, &self.pem).expect("write ca");
        path
    }

    pub fn roots(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots.add(self.der.clone()).expect("root");
        roots
    }
}

impl Leaf {
    /// Write `<stem>.crt` and `<stem>.key` into `dir`.
    pub fn write(&self, dir: &Path, stem: &str) -> (PathBuf, PathBuf) {
        let (cert, key) = (dir.join(format!("{stem}.crt")), dir.join(format!("{stem}.key")));
        std::fs::write(&cert, &self.cert_pem).expect("write cert");
        std::fs::write(&key, &self.key_pem).expect("write key");
        (cert, key)
    }

    fn chain(&self) -> Vec<CertificateDer<'static>> {
        use rustls::pki_types::pem::PemObject;
        CertificateDer::pem_slice_iter(self.cert_pem.as_bytes()).collect::<Result<_, _>>().expect("chain")
    }

    fn key(&self) -> PrivateKeyDer<'static> {
        use rustls::pki_types::pem::PemObject;
        PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).expect("key")
    }

    pub fn der(&self) -> CertificateDer<'static> {
        self.chain().remove(0)
    }
}

/// An https callback target: answers every request 200 over TLS with
/// `leaf`, recording what it received; `clients` set: a client
/// certificate signed by that CA is required.
pub struct TlsReceiver {
    pub addr: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl TlsReceiver {
    pub fn start(leaf: &Leaf, clients: Option<&Ca>) -> TlsReceiver {
        let builder =
            ServerConfig::builder_with_provider(provider()).with_safe_default_protocol_versions().expect("tls");
        let builder = match clients {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let verifier =
                    rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(ca.roots()), provider())
                        .build()
                        .expect("client verifier");
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config = Arc::new(builder.with_single_cert(leaf.chain(), leaf.key()).expect("server cert"));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(tcp) = stream else { continue };
                let (config, log) = (config.clone(), log.clone());
                std::thread::spawn(move || serve_one(tcp, config, &log));
            }
        });
        TlsReceiver { addr, seen }
    }

    /// `https://localhost:<port><path>`: the name the leaf was made for.
    pub fn url(&self, host: &str, path: &str) -> String {
        let port = self.addr.rsplit(':').next().unwrap_or_default();
        format!("https://{host}:{port}{path}")
    }

    pub fn count(&self) -> usize {
        self.seen.lock().expect("lock").len()
    }
}

/// Serve one connection; a failed handshake just ends it.
fn serve_one(tcp: TcpStream, config: Arc<ServerConfig>, log: &Mutex<Vec<Seen>>) {
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(conn) = rustls::ServerConnection::new(config) else { return };
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    // Requests on one keep-alive connection, until the client closes it.
    loop {
        match read_request(&mut tls) {
            Ok(Some(seen)) => {
                log.lock().expect("lock").push(seen);
                let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                if tls.write_all(reply).and_then(|_| tls.flush()).is_err() {
                    return;
                }
            }
            Ok(None) | Err(_) => return,
        }
    }
}

/// A TLS client on one connection to hookd's ingress: requests go one
/// after another over it (keep-alive), and the certificate hookd presented
/// in the handshake can be read.
pub struct TlsClient {
    tls: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
}

impl TlsClient {
    /// Connect to `addr`, verifying the server as `name` with `roots`.
    pub fn connect(addr: &str, name: &str, roots: RootCertStore) -> Result<TlsClient, String> {
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("tls")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Self::connect_with(addr, name, config)
    }

    /// Connect without verifying the server, as `curl -k` does: only to
    /// read `/readyz` behind the placeholder ACME serves while it has no
    /// certificate (hookd itself never skips verification).
    pub fn connect_unverified(addr: &str, name: &str) -> Result<TlsClient, String> {
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("tls")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServer))
            .with_no_client_auth();
        Self::connect_with(addr, name, config)
    }

    fn connect_with(addr: &str, name: &str, mut config: ClientConfig) -> Result<TlsClient, String> {
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let name = ServerName::try_from(name.to_string()).map_err(|e| e.to_string())?;
        let conn = rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
        let tcp = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock).map_err(|e| e.to_string())?;
        }
        Ok(TlsClient { tls })
    }

    /// The leaf certificate hookd presented.
    pub fn peer_leaf(&self) -> Option<CertificateDer<'static>> {
        self.tls.conn.peer_certificates().and_then(|c| c.first()).map(|c| c.clone().into_owned())
    }

    /// One request on this connection; the answer is read by its Content-Length.
    pub fn request(&mut self, method: &str, path: &str, headers: &[(String, String)], body: &[u8]) -> Option<Response> {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: hookd\r\nContent-Length: {}\r\n", body.len());
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        self.tls.write_all(req.as_bytes()).ok()?;
        self.tls.write_all(body).ok()?;
        self.tls.flush().ok()?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = self.tls.read(&mut chunk).ok()?;
            if n == 0 {
                return parse(&buf);
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..pos]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if buf.len() >= pos + 4 + len {
                    return parse(&buf);
                }
            }
        }
    }
}

/// Accepts any server certificate (signatures still checked): `curl -k`.
#[derive(Debug)]
struct AnyServer;

impl rustls::client::danger::ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        let algs = provider().signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, &algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        let algs = provider().signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, &algs)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        provider().signature_verification_algorithms.supported_schemes()
    }
}
