//! The server side of TLS on the ingress listener: the certificate in
//! force (from files, swapped on SIGHUP, or from ACME), the TLS-ALPN-01
//! challenge certificates ACME asks for, and the handshake, under a time
//! bound. HTTP/1.1 only. A swap never touches open connections: each keeps
//! the certificate it shook hands with. Never answers a handshake with a
//! certificate of another name than the one asked for by ACME.

use arc_swap::ArcSwapOption;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// RFC 8737's protocol name: a handshake offering it is the CA validating.
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";
const HTTP11: &[u8] = b"http/1.1";

/// The certificates the listener can present.
#[derive(Debug, Default)]
pub struct Certs {
    current: ArcSwapOption<CertifiedKey>,
    /// Presented while `current` is empty (ACME, before the first
    /// certificate): self-signed, so `curl -k …/readyz` can read why.
    placeholder: Option<Arc<CertifiedKey>>,
    /// TLS-ALPN-01 answers by domain, while an order is pending.
    challenges: Mutex<HashMap<String, Arc<CertifiedKey>>>,
    /// Why no certificate is held (the last ACME failure).
    problem: ArcSwapOption<String>,
}

impl Certs {
    /// From files: a certificate is held from the start.
    pub fn with(key: Arc<CertifiedKey>) -> Certs {
        Certs { current: ArcSwapOption::from(Some(key)), ..Certs::default() }
    }

    /// For ACME: nothing held yet; `placeholder` presented meanwhile.
    pub fn pending(placeholder: Option<Arc<CertifiedKey>>) -> Certs {
        let problem = ArcSwapOption::from_pointee("no certificate obtained yet".to_string());
        Certs { placeholder, problem, ..Certs::default() }
    }

    /// Present `key` to every handshake from now on.
    pub fn set(&self, key: Arc<CertifiedKey>) {
        self.current.store(Some(key));
        self.problem.store(None);
    }

    /// Record why no certificate could be had (kept while none is held).
    pub fn failed(&self, why: String) {
        if self.current.load().is_none() {
            self.problem.store(Some(Arc::new(why)));
        }
    }

    /// `None` when a certificate is held; else why not (for `/readyz`).
    pub fn missing(&self) -> Option<String> {
        match self.current.load().is_some() {
            true => None,
            false => Some(self.problem.load_full().map_or_else(|| "no certificate".into(), |p| (*p).clone())),
        }
    }

    pub fn add_challenge(&self, domain: &str, key: Arc<CertifiedKey>) {
        self.lock().insert(domain.to_ascii_lowercase(), key);
    }

    pub fn clear_challenges(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<CertifiedKey>>> {
        self.challenges.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl ResolvesServerCert for Certs {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let validating = hello.alpn().is_some_and(|mut offered| offered.any(|p| p == ACME_TLS_ALPN));
        if validating {
            let name = hello.server_name()?.to_ascii_lowercase();
            return self.lock().get(&name).cloned();
        }
        self.current.load_full().or_else(|| self.placeholder.clone())
    }
}

/// The handshake of the ingress listener.
#[derive(Clone)]
pub struct Acceptor {
    inner: tokio_rustls::TlsAcceptor,
    certs: Arc<Certs>,
}

impl std::fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acceptor").field("certs", &self.certs).finish()
    }
}

/// What a handshake gave.
pub enum Handshake {
    /// A client to serve HTTP/1.1 to.
    Http(Box<TlsStream<TcpStream>>),
    /// The CA checked a TLS-ALPN-01 answer; nothing more is spoken.
    Challenge,
}

impl Acceptor {
    /// `acme`: also answer `acme-tls/1` handshakes.
    pub fn new(certs: Arc<Certs>, acme: bool) -> Result<Acceptor, rustls::Error> {
        let mut config = ServerConfig::builder_with_provider(super::provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(certs.clone());
        config.alpn_protocols = vec![HTTP11.to_vec()];
        if acme {
            config.alpn_protocols.push(ACME_TLS_ALPN.to_vec());
        }
        Ok(Acceptor { inner: tokio_rustls::TlsAcceptor::from(Arc::new(config)), certs })
    }

    pub fn certs(&self) -> &Arc<Certs> {
        &self.certs
    }

    /// The handshake on `stream`, within `within`.
    pub async fn accept(&self, stream: TcpStream, within: Duration) -> Result<Handshake, String> {
        let tls = match tokio::time::timeout(within, self.inner.accept(stream)).await {
            Err(_) => return Err(format!("no TLS handshake within {within:?}")),
            Ok(Err(e)) => return Err(e.to_string()),
            Ok(Ok(tls)) => tls,
        };
        match tls.get_ref().1.alpn_protocol() == Some(ACME_TLS_ALPN) {
            true => Ok(Handshake::Challenge),
            false => Ok(Handshake::Http(Box::new(tls))),
        }
    }
}
