//! ACME (RFC 8555) for the ingress certificate, with instant-acme over
//! hookd's own hyper client: an account and a certificate kept under
//! `<storage.path>/tls/acme/` (directory 0700, files 0600, written whole
//! then renamed), reused across restarts; a new order only when none is
//! stored for the configured domains or a third of its lifetime is left
//! (30 days of Let's Encrypt's 90); TLS-ALPN-01 answered on the listen
//! port. A failure is logged and kept for `/readyz` while no certificate is
//! held, and the order is tried again after a backoff (1 min, doubling, at
//! most 1 h). Never logs a key; never touches the store's own files.

use super::ingress::Certs;
use bytes::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, BodyWrapper, BytesResponse, ChallengeType, HttpClient,
    Identifier, NewAccount, NewOrder, OrderStatus, RetryPolicy,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::ClientConfig;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;

/// Let's Encrypt's production directory: the default `directory`.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// Where under `[storage] path` the account and certificate live.
pub const SUBDIR: &str = "tls/acme";
const ACCOUNT: &str = "account.json";
const CERT: &str = "cert.pem";
const KEY: &str = "key.pem";
/// One request to the CA.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the CA may take to validate and to issue.
const ORDER_TIMEOUT: Duration = Duration::from_secs(120);
/// The longest sleep before the stored certificate is looked at again.
const RECHECK: Duration = Duration::from_secs(12 * 3600);
const BACKOFF_FIRST: Duration = Duration::from_secs(60);
const BACKOFF_MAX: Duration = Duration::from_secs(3600);

/// `[server] tls = { acme = { … } }`, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub domains: Vec<String>,
    pub email: Option<String>,
    pub directory: String,
    /// Verifies the directory: the system's roots plus `acme.ca_file`.
    pub client: Arc<ClientConfig>,
}

/// A certificate we hold, and when to renew it.
struct Held {
    key: Arc<CertifiedKey>,
    renew_at: SystemTime,
}

/// Keep a certificate for `settings.domains` in `certs` until `shutdown`.
pub async fn run(settings: Settings, storage: PathBuf, certs: Arc<Certs>, shutdown: CancellationToken) {
    let dir = storage.join(SUBDIR);
    let mut failures = 0u32;
    let mut announced = false;
    // The certificate just obtained (so a store that reads back differently
    // cannot make a loop of orders).
    let mut fresh: Option<Held> = None;
    loop {
        let held = match fresh.take().map(|h| Ok(Some(h))).unwrap_or_else(|| stored(&dir, &settings.domains)) {
            Ok(held) => held,
            Err(why) => {
                tracing::warn!(dir = %dir.display(), why, "ACME: the stored certificate cannot be used; ordering a new one");
                None
            }
        };
        let now = SystemTime::now();
        if let Some(h) = &held {
            certs.set(h.key.clone());
            if !announced {
                let renew_at = humantime::format_rfc3339_seconds(h.renew_at);
                tracing::info!(domains = ?settings.domains, %renew_at, "ACME: using the stored certificate");
                announced = true;
            }
        }
        if let Some(wait) = held.as_ref().and_then(|h| h.renew_at.duration_since(now).ok()) {
            if pause(wait.min(RECHECK), &shutdown).await {
                return;
            }
            continue;
        }
        tracing::info!(domains = ?settings.domains, directory = %settings.directory, "ACME: ordering a certificate");
        let result = tokio::select! {
            r = obtain(&settings, &dir, &certs) => r,
            _ = shutdown.cancelled() => return,
        };
        certs.clear_challenges();
        let result = result.and_then(|h| match h.renew_at > SystemTime::now() {
            true => Ok(h),
            false => Err("the CA issued a certificate that is already due for renewal".to_string()),
        });
        match result {
            Ok(h) => {
                failures = 0;
                announced = true;
                certs.set(h.key.clone());
                tracing::info!(domains = ?settings.domains, "ACME: certificate obtained and in use");
                fresh = Some(h);
            }
            Err(why) => {
                failures = failures.saturating_add(1);
                let backoff = BACKOFF_FIRST.saturating_mul(1 << failures.min(6).saturating_sub(1)).min(BACKOFF_MAX);
                let retry_in = humantime::format_duration(backoff).to_string();
                tracing::error!(why = %why, retry_in, "ACME: no certificate obtained");
                certs.failed(format!("ACME: {why}"));
                if pause(backoff, &shutdown).await {
                    return;
                }
            }
        }
    }
}

/// Sleep `d`; true when shut down meanwhile.
async fn pause(d: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => false,
        _ = shutdown.cancelled() => true,
    }
}

/// The stored certificate, when it is there, names every one of `domains`
/// and has not expired.
fn stored(dir: &Path, domains: &[String]) -> Result<Option<Held>, String> {
    let (chain_pem, key_pem) = match (std::fs::read(dir.join(CERT)), std::fs::read(dir.join(KEY))) {
        (Ok(c), Ok(k)) => (c, k),
        (Err(e), _) | (_, Err(e)) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        (Err(e), _) | (_, Err(e)) => return Err(e.to_string()),
    };
    let chain = super::parse_certs(&chain_pem).map_err(|e| format!("{CERT} {e}"))?;
    let key = super::parse_key(&key_pem).map_err(|e| format!("{KEY} {e}"))?;
    let (names, _, not_after) = facts(&chain[0])?;
    let names: Vec<String> = names.into_iter().map(|d| d.to_ascii_lowercase()).collect();
    let missing: Vec<&String> = domains.iter().filter(|d| !names.contains(&d.to_ascii_lowercase())).collect();
    if !missing.is_empty() {
        tracing::info!(stored = ?names, ?missing, "ACME: the stored certificate does not name every configured domain");
        return Ok(None);
    }
    if not_after <= SystemTime::now() {
        return Ok(None);
    }
    held(chain, key).map(Some)
}

/// A chain and key to serve, due for renewal when a third of its lifetime is left.
fn held(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Result<Held, String> {
    let (_, not_before, not_after) = facts(&chain[0])?;
    let lifetime = not_after.duration_since(not_before).unwrap_or_default();
    let key = super::certified_key(chain, key).map_err(|e| format!("{KEY} {e}"))?;
    Ok(Held { key, renew_at: not_after - lifetime / 3 })
}

/// The DNS names and validity of a certificate.
fn facts(cert: &CertificateDer<'_>) -> Result<(Vec<String>, SystemTime, SystemTime), String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert).map_err(|e| format!("{CERT}: {e}"))?;
    let at = |t: i64| UNIX_EPOCH + Duration::from_secs(u64::try_from(t).unwrap_or(0));
    let validity = parsed.validity();
    let names = match parsed.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_string()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    Ok((names, at(validity.not_before.timestamp()), at(validity.not_after.timestamp())))
}

/// One order, start to end: account, TLS-ALPN-01 for every domain, CSR,
/// the chain; stored before it is returned.
async fn obtain(settings: &Settings, dir: &Path, certs: &Certs) -> Result<Held, String> {
    create_dir(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let account = account(settings, dir).await?;
    let ids: Vec<Identifier> = settings.domains.iter().map(|d| Identifier::Dns(d.clone())).collect();
    let mut order = account.new_order(&NewOrder::new(&ids)).await.map_err(|e| format!("new order: {e}"))?;
    let mut authorizations = order.authorizations();
    while let Some(next) = authorizations.next().await {
        let mut authz = next.map_err(|e| format!("authorization: {e}"))?;
        match authz.status {
            AuthorizationStatus::Pending => {}
            AuthorizationStatus::Valid => continue,
            other => return Err(format!("authorization for {} is {other:?}", authz.identifier())),
        }
        let mut challenge = authz
            .challenge(ChallengeType::TlsAlpn01)
            .ok_or_else(|| "the CA offers no tls-alpn-01 challenge".to_string())?;
        let domain = challenge.identifier().to_string();
        let answer = challenge_cert(&domain, challenge.key_authorization().digest().as_ref())?;
        certs.add_challenge(&domain, answer);
        challenge.set_ready().await.map_err(|e| format!("challenge for {domain}: {e}"))?;
    }
    let policy = RetryPolicy::new().timeout(ORDER_TIMEOUT);
    let status = order.poll_ready(&policy).await.map_err(|e| format!("waiting for validation: {e}"))?;
    if status != OrderStatus::Ready {
        let why = order.state().error.as_ref().map_or_else(|| format!("order is {status:?}"), |p| p.to_string());
        return Err(format!("validation failed: {why}"));
    }
    let key_pem = order.finalize().await.map_err(|e| format!("finalize: {e}"))?;
    let chain_pem = order.poll_certificate(&policy).await.map_err(|e| format!("certificate: {e}"))?;
    let chain = super::parse_certs(chain_pem.as_bytes()).map_err(|e| format!("the CA's certificate {e}"))?;
    let key = super::parse_key(key_pem.as_bytes()).map_err(|e| format!("the new key {e}"))?;
    let fresh = held(chain, key)?;
    write_private(&dir.join(KEY), key_pem.as_bytes()).map_err(|e| format!("cannot store {KEY}: {e}"))?;
    write_private(&dir.join(CERT), chain_pem.as_bytes()).map_err(|e| format!("cannot store {CERT}: {e}"))?;
    Ok(fresh)
}

/// `account.json`: the directory it belongs to and instant-acme's credentials.
#[derive(Serialize, Deserialize)]
struct StoredAccount {
    directory: String,
    credentials: AccountCredentials,
}

/// The stored account for this directory, else a new one (stored).
async fn account(settings: &Settings, dir: &Path) -> Result<Account, String> {
    let path = dir.join(ACCOUNT);
    let stored = std::fs::read(&path).ok().and_then(|b| serde_json::from_slice::<StoredAccount>(&b).ok());
    if let Some(stored) = stored.filter(|s| s.directory == settings.directory) {
        let builder = Account::builder_with_http(Box::new(Http::new(settings.client.clone())));
        return builder.from_credentials(stored.credentials).await.map_err(|e| format!("account: {e}"));
    }
    let contact: Vec<String> = settings.email.iter().map(|e| format!("mailto:{e}")).collect();
    let contact: Vec<&str> = contact.iter().map(String::as_str).collect();
    let new = NewAccount { contact: &contact, terms_of_service_agreed: true, only_return_existing: false };
    let builder = Account::builder_with_http(Box::new(Http::new(settings.client.clone())));
    let (account, credentials) = builder
        .create(&new, settings.directory.clone(), None)
        .await
        .map_err(|e| format!("new account at {}: {e}", settings.directory))?;
    let text = serde_json::to_vec(&StoredAccount { directory: settings.directory.clone(), credentials })
        .map_err(|e| e.to_string())?;
    write_private(&path, &text).map_err(|e| format!("cannot store {ACCOUNT}: {e}"))?;
    tracing::info!(directory = %settings.directory, "ACME: account created");
    Ok(account)
}

/// RFC 8737's answer: self-signed for `domain`, carrying the key
/// authorization's digest in a critical acmeIdentifier extension.
fn challenge_cert(domain: &str, digest: &[u8]) -> Result<Arc<CertifiedKey>, String> {
    let mut params = rcgen::CertificateParams::new(vec![domain.to_string()]).map_err(|e| e.to_string())?;
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(digest)];
    self_signed(params)
}

/// Presented while no certificate is held: self-signed for the domains,
/// trusted by nobody, so senders retry and an operator can `curl -k /readyz`.
pub fn placeholder(domains: &[String]) -> Result<Arc<CertifiedKey>, String> {
    self_signed(rcgen::CertificateParams::new(domains.to_vec()).map_err(|e| e.to_string())?)
}

fn self_signed(params: rcgen::CertificateParams) -> Result<Arc<CertifiedKey>, String> {
    let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    let der = PrivateKeyDer::Pkcs8(key.serialize_der().into());
    // Not `certified_key`: its check parses the certificate with webpki,
    // which refuses the critical acmeIdentifier extension; both halves
    // were made right here.
    let signing = super::provider().key_provider.load_private_key(der).map_err(|e| e.to_string())?;
    Ok(Arc::new(CertifiedKey::new(vec![cert.der().clone()], signing)))
}

fn create_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Write `bytes` to `path` owner-only: a temp file, fsynced, renamed over.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(parent) = path.parent() {
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

/// instant-acme's transport: hookd's hyper client, verifying the directory
/// with `Settings::client`.
struct Http(hyper_util::client::legacy::Client<HttpsConnector<HttpConnector>, BodyWrapper<Bytes>>);

impl Http {
    fn new(tls: Arc<ClientConfig>) -> Http {
        Http(super::client::http_client(tls))
    }
}

impl HttpClient for Http {
    fn request(
        &self,
        req: http::Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let sent = tokio::time::timeout(REQUEST_TIMEOUT, self.0.request(req));
        Box::pin(async move {
            match sent.await {
                Err(_) => Err(instant_acme::Error::Other(format!("no answer within {REQUEST_TIMEOUT:?}").into())),
                Ok(Err(e)) => {
                    let why = super::client::failure(&e).unwrap_or_else(|| crate::dispatch::callback::describe(&e));
                    Err(instant_acme::Error::Other(why.into()))
                }
                Ok(Ok(rsp)) => Ok(BytesResponse::from(rsp)),
            }
        })
    }
}

#[cfg(test)]
mod tests;
