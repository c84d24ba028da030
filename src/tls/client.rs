//! The client side of TLS (https callbacks, `alerts.url`, the ACME
//! directory, NATS connections): a root store of the system's roots (Debian's
//! ca-certificates, read through rustls-native-certs) plus `ca_file`s, an
//! optional client certificate for mTLS, the hyper client that speaks
//! http:// and https:// with it, and a certificate failure named in words.
//! Never builds a verifier that accepts what the roots do not.

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{CertificateError, ClientConfig, RootCertStore};
use std::sync::Arc;
use std::time::Duration;

/// http:// and https://, HTTP/1.1 only, idle pooled connections dropped after ~30 s.
pub type HttpsClient = hyper_util::client::legacy::Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

const POOL_IDLE: Duration = Duration::from_secs(30);

/// The system's roots: what `SSL_CERT_FILE`/`SSL_CERT_DIR` name, else the
/// distribution's bundle (`/etc/ssl/certs` on Debian). Unreadable entries
/// are skipped (and logged at debug); none at all leaves only `ca_file`s.
pub fn system_roots() -> RootCertStore {
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::debug!(error = %e, "a system root certificate could not be read");
    }
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    if ignored > 0 {
        tracing::debug!(added, ignored, "system root certificates rustls cannot use were skipped");
    }
    roots
}

/// `roots` plus the certificates of extra `ca_file`s.
pub fn with_extra(mut roots: RootCertStore, extra: &[CertificateDer<'static>]) -> Result<RootCertStore, String> {
    for cert in extra {
        roots.add(cert.clone()).map_err(|e| format!("holds a certificate that cannot be a root: {e}"))?;
    }
    Ok(roots)
}

/// A client configuration: verification against `roots` (always), and the
/// client certificate when `identity` is set (mTLS). hyper-rustls offers
/// HTTP/1.1 in ALPN itself.
pub fn config(
    roots: RootCertStore,
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> Result<Arc<ClientConfig>, String> {
    let builder = ClientConfig::builder_with_provider(super::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let config = match identity {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key).map_err(|e| e.to_string())?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// A route's client TLS configuration, and what tells two apart without
/// comparing configs: the roots added to the system's, and the client
/// certificate (never the key).
#[derive(Debug, Clone)]
pub struct ClientTls {
    pub config: Arc<ClientConfig>,
    pub trusted: Vec<CertificateDer<'static>>,
    pub client_chain: Vec<CertificateDer<'static>>,
}

impl PartialEq for ClientTls {
    fn eq(&self, other: &Self) -> bool {
        self.trusted == other.trusted && self.client_chain == other.client_chain
    }
}

impl Eq for ClientTls {}

/// `config` without a client certificate, which cannot fail.
pub fn verifying(roots: RootCertStore) -> Arc<ClientConfig> {
    let config = ClientConfig::builder_with_provider(super::provider())
        .with_protocol_versions(rustls::DEFAULT_VERSIONS)
        .unwrap_or_else(|_| ClientConfig::builder())
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// The hyper client for callbacks, alerts and ACME: `http://` as before,
/// and `https://` verified with `tls`.
pub fn http_client<B>(tls: Arc<ClientConfig>) -> hyper_util::client::legacy::Client<HttpsConnector<HttpConnector>, B>
where
    B: hyper::body::Body + Send,
    B::Data: Send,
{
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.enforce_http(false);
    let connector = HttpsConnectorBuilder::new()
        .with_tls_config(Arc::unwrap_or_clone(tls))
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE)
        .pool_timer(TokioTimer::new())
        .build(connector)
}

/// A TLS failure somewhere in `err`'s chain, named for an attempt's reason:
/// `TLS: certificate not trusted (unknown issuer)`, `TLS: certificate
/// expired …`, `TLS: certificate not valid for name …`, or what the server
/// said (e.g. that it wants a client certificate).
pub fn failure(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    // An io::Error hides what it wraps from `source()` (it skips to the
    // inner error's source), and connectors wrap io::Errors in io::Errors:
    // look inside each one too.
    let mut pending = vec![err];
    let mut looked = 0;
    while let Some(e) = pending.pop() {
        looked += 1;
        if looked > 32 {
            break;
        }
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(format!("TLS: {}", describe(tls)));
        }
        if let Some(inner) = e.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            pending.push(inner);
        }
        if let Some(next) = e.source() {
            pending.push(next);
        }
    }
    None
}

fn describe(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InvalidCertificate(c) => certificate(c),
        rustls::Error::AlertReceived(alert) => {
            let hint = match alert {
                rustls::AlertDescription::CertificateRequired | rustls::AlertDescription::HandshakeFailure => {
                    " (does it require a client certificate? set client_cert and client_key)"
                }
                rustls::AlertDescription::UnknownCA | rustls::AlertDescription::BadCertificate => {
                    " (the server did not accept our client certificate)"
                }
                _ => "",
            };
            format!("the server refused the handshake: {alert:?}{hint}")
        }
        other => other.to_string(),
    }
}

fn certificate(c: &CertificateError) -> String {
    match c {
        CertificateError::UnknownIssuer => {
            "certificate not trusted: unknown issuer (its CA is neither a system root nor in a ca_file)".into()
        }
        CertificateError::Expired => "certificate expired".into(),
        CertificateError::NotValidForName => "certificate name mismatch: not valid for this host".into(),
        CertificateError::NotValidForNameContext { .. } => format!("certificate name mismatch: {c}"),
        other => other.to_string(),
    }
}
