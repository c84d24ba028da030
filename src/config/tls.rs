//! The TLS keys: `[tls] ca_file`, a route's `ca_file`, `client_cert` and
//! `client_key` (a callback's or a nats target's, whose `tls_ca_file` adds
//! to them), and `[server] tls` (certificate files or ACME). Reads and
//! checks every PEM file now, so a bad one is a config error
//! (`path.to.key: reason`) at start and a refused reload on SIGHUP.
//! Validation only; never prints key material.

use super::raw::{RawAcme, RawServerTls, RawTls};
use super::Problems;
use crate::tls::client::{ClientTls, HttpsClient};
use crate::tls::{self, acme};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::RootCertStore;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `[server] tls`, validated.
#[derive(Debug, Clone)]
pub enum ServerTls {
    /// The files as read now; SIGHUP reads them again.
    Files {
        cert_file: PathBuf,
        key_file: PathBuf,
        key: Arc<CertifiedKey>,
    },
    Acme(acme::Settings),
}

/// What every https client of one config load starts from: the system's
/// roots plus `[tls] ca_file`, and the client built on them.
pub(super) struct Clients {
    roots: RootCertStore,
    /// `[tls] ca_file`'s certificates (part of `roots`).
    extra: Vec<CertificateDer<'static>>,
    pub default: HttpsClient,
}

/// `https`: the config names an https:// URL or ACME; without one the
/// system's roots are not read (a config load stays cheap, and so does
/// hookd's memory).
pub(super) fn clients(raw: &RawTls, https: bool, p: &mut Problems) -> Clients {
    let extra = raw.ca_file.as_deref().and_then(|f| p.take("tls.ca_file", ca_file(f)));
    let roots = if https { tls::client::system_roots() } else { RootCertStore::empty() };
    let (roots, extra) = match extra {
        Some(extra) => match p.take("tls.ca_file", tls::client::with_extra(roots.clone(), &extra)) {
            Some(with) => (with, extra),
            None => (roots, Vec::new()),
        },
        None => (roots, Vec::new()),
    };
    let default = tls::client::http_client(tls::client::verifying(roots.clone()));
    Clients { roots, extra, default }
}

fn ca_file(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    tls::read_certs(Path::new(path)).map_err(|e| format!("{path}: {e}"))
}

/// The client of a callback route: its own when it sets `ca_file` or a
/// client certificate, else the shared one. `at`: `sources.S.routes[i]`.
pub(super) fn route_client(
    at: &str,
    url: &str,
    keys: RouteTls<'_>,
    clients: &Clients,
    p: &mut Problems,
) -> Option<HttpsClient> {
    if keys.ca_file.is_none() && keys.client_cert.is_none() && keys.client_key.is_none() {
        return Some(clients.default.clone());
    }
    if !url.starts_with("https://") {
        let key = [("ca_file", keys.ca_file), ("client_cert", keys.client_cert), ("client_key", keys.client_key)]
            .into_iter()
            .find_map(|(k, v)| v.map(|_| k))
            .unwrap_or("ca_file");
        p.push(format!("{at}.{key}"), "applies only to an https:// url");
        return None;
    }
    let tls = route_config(at, keys, &[], clients, p)?;
    Some(tls::client::http_client(tls.config))
}

/// A route's client TLS: `clients`' roots (the system's + `[tls] ca_file`)
/// plus the route's `ca_file` and `more` (`(key path, file)`: a nats
/// target's `tls_ca_file`), added, never instead; and its client
/// certificate (mTLS). Every problem recorded under its key.
pub(super) fn route_config(
    at: &str,
    keys: RouteTls<'_>,
    more: &[(String, &str)],
    clients: &Clients,
    p: &mut Problems,
) -> Option<ClientTls> {
    // Every file is read and reported before giving up on any of them.
    let mut roots = Some(clients.roots.clone());
    let mut trusted = clients.extra.clone();
    let route_ca = keys.ca_file.map(|f| (format!("{at}.ca_file"), f));
    for (key, file) in route_ca.iter().chain(more) {
        let extra = p.take(key.clone(), ca_file(file));
        roots = match (roots, extra) {
            (Some(roots), Some(extra)) => {
                let with = p.take(key.clone(), tls::client::with_extra(roots, &extra));
                trusted.extend(extra);
                with
            }
            _ => None,
        };
    }
    let identity = identity(at, keys, p);
    let (roots, identity) = (roots?, identity?);
    let client_chain = identity.as_ref().map(|(chain, _)| chain.clone()).unwrap_or_default();
    let config = p.take(format!("{at}.client_cert"), tls::client::config(roots, identity))?;
    Some(ClientTls { config, trusted, client_chain })
}

/// A route's `client_cert` and `client_key`, read and checked to match
/// (`Some(None)`: neither is set).
fn identity(at: &str, keys: RouteTls<'_>, p: &mut Problems) -> Option<Option<Identity>> {
    match (keys.client_cert, keys.client_key) {
        (None, None) => Some(None),
        (Some(_), None) => p.take(format!("{at}.client_key"), Err("missing (client_cert is set)".into())),
        (None, Some(_)) => p.take(format!("{at}.client_cert"), Err("missing (client_key is set)".into())),
        (Some(cert), Some(key)) => {
            let chain = p.take(
                format!("{at}.client_cert"),
                tls::read_certs(Path::new(cert)).map_err(|e| format!("{cert}: {e}")),
            );
            let pkey =
                p.take(format!("{at}.client_key"), tls::read_key(Path::new(key)).map_err(|e| format!("{key}: {e}")));
            let (chain, pkey) = (chain?, pkey?);
            p.take(
                format!("{at}.client_key"),
                tls::certified_key(chain.clone(), pkey.clone_key()).map_err(|e| format!("{key}: {e}")),
            )?;
            Some(Some((chain, pkey)))
        }
    }
}

/// A client certificate chain and its key.
type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// A route's TLS keys.
#[derive(Clone, Copy)]
pub(super) struct RouteTls<'a> {
    pub ca_file: Option<&'a str>,
    pub client_cert: Option<&'a str>,
    pub client_key: Option<&'a str>,
}

/// Whether anything in `raw` may speak TLS as a client (see `clients`):
/// an https:// URL, ACME, or a nats route (a NATS server may ask for TLS
/// on a nats:// URL too).
pub(super) fn wanted(raw: &super::raw::RawConfig) -> bool {
    let https = |u: &Option<String>| u.as_deref().is_some_and(|u| u.starts_with("https://"));
    https(&raw.alerts.url)
        || raw.server.tls.as_ref().is_some_and(|t| t.acme.is_some())
        || raw.sources.values().flat_map(|s| &s.routes).any(|r| https(&r.url) || r.nats.is_some())
}

/// `[server] tls`; the ACME directory is verified with `clients`' roots.
pub(super) fn server(raw: Option<&RawServerTls>, clients: &Clients, p: &mut Problems) -> Option<Option<ServerTls>> {
    let Some(raw) = raw else { return Some(None) };
    match (&raw.acme, &raw.cert_file, &raw.key_file) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            p.take("server.tls", Err("set cert_file and key_file, or acme, not both".into()))
        }
        (Some(a), None, None) => acme(a, clients, p).map(|s| Some(ServerTls::Acme(s))),
        (None, None, None) => {
            p.take("server.tls", Err("set cert_file and key_file, or acme = { domains = [..] }".into()))
        }
        (None, None, Some(_)) => p.take("server.tls.cert_file", Err("missing (key_file is set)".into())),
        (None, Some(_), None) => p.take("server.tls.key_file", Err("missing (cert_file is set)".into())),
        (None, Some(cert), Some(key)) => {
            let (cert_file, key_file) = (PathBuf::from(cert), PathBuf::from(key));
            let loaded = files(&cert_file, &key_file, p)?;
            Some(Some(ServerTls::Files { cert_file, key_file, key: loaded }))
        }
    }
}

/// The certificate chain and key of `[server] tls`, checked to match.
fn files(cert: &Path, key: &Path, p: &mut Problems) -> Option<Arc<CertifiedKey>> {
    let chain = p.take("server.tls.cert_file", tls::read_certs(cert).map_err(|e| format!("{}: {e}", cert.display())));
    let pkey = p.take("server.tls.key_file", tls::read_key(key).map_err(|e| format!("{}: {e}", key.display())));
    p.take("server.tls.key_file", tls::certified_key(chain?, pkey?).map_err(|e| format!("{}: {e}", key.display())))
}

fn acme(raw: &RawAcme, clients: &Clients, p: &mut Problems) -> Option<acme::Settings> {
    let mut ok = true;
    if raw.domains.is_empty() {
        p.push("server.tls.acme.domains", "missing (the names to obtain a certificate for)");
        ok = false;
    }
    for (i, d) in raw.domains.iter().enumerate() {
        if d.is_empty() || d.contains(['*', '/', ':', ' ']) {
            p.push(
                format!("server.tls.acme.domains[{i}]"),
                format!("{d:?} is not a DNS name (wildcards need DNS-01, which hookd does not do)"),
            );
            ok = false;
        }
    }
    if let Some(e) = &raw.email {
        if !e.contains('@') || e.contains([' ', ':']) {
            p.push("server.tls.acme.email", format!("{e:?} is not an email address"));
            ok = false;
        }
    }
    let directory = raw.directory.clone().unwrap_or_else(|| acme::LETS_ENCRYPT.to_string());
    if !directory.starts_with("https://") {
        p.push("server.tls.acme.directory", format!("{directory:?} is not an https:// URL"));
        ok = false;
    }
    let roots = match &raw.ca_file {
        Some(f) => {
            let extra = p.take("server.tls.acme.ca_file", ca_file(f))?;
            p.take("server.tls.acme.ca_file", tls::client::with_extra(clients.roots.clone(), &extra))?
        }
        None => clients.roots.clone(),
    };
    ok.then(|| acme::Settings {
        domains: raw.domains.clone(),
        email: raw.email.clone(),
        directory,
        client: tls::client::verifying(roots),
    })
}
