//! A route's `nats = { url, subject, credentials_file, token_file,
//! tls_ca_file }` (SPEC §5) → a validated `NatsTarget`: servers parsed, the
//! subject template compiled, secrets read from their files, the client TLS
//! built by `tls.rs` like a callback's. Every problem as
//! `sources.NAME.routes[i].nats.key: reason`; never prints a secret.

use super::raw::RawNats;
use super::secret::{resolve, Secret, SecretSource};
use super::tls::{route_config, Clients, RouteTls};
use super::Problems;
use crate::dispatch::nats::{subject, Auth, NatsTarget, Server};

/// `route`: `sources.S.routes[i]`, whose `ca_file`, `client_cert` and
/// `client_key` (`keys`) apply to the connection too. `redact` gets the
/// token's or the credentials' text (scrubbed from tails).
pub(super) fn target(
    route: &str,
    raw: &RawNats,
    keys: RouteTls<'_>,
    clients: &Clients,
    redact: &mut Vec<Secret>,
    p: &mut Problems,
) -> Option<NatsTarget> {
    let at = format!("{route}.nats");
    let urls = p.take(format!("{at}.url"), urls(&raw.url));
    let subject = p.take(format!("{at}.subject"), subject::Subject::compile(&raw.subject));
    let auth = auth(&at, raw, p);
    // TLS whenever it happens (a server may ask for it on nats:// too) is
    // verified against the system's roots + `[tls] ca_file` + the route's
    // CA files; a CA file or a client certificate also makes it required.
    let more: Vec<(String, &str)> = raw.tls_ca_file.iter().map(|f| (format!("{at}.tls_ca_file"), f.as_str())).collect();
    let tls = route_config(route, keys, &more, clients, p);
    let require_tls = !more.is_empty() || keys.ca_file.is_some() || keys.client_cert.is_some();
    if let Some(Auth::Token(s) | Auth::Credentials(s)) = &auth {
        redact.push(s.clone());
    }
    let urls = urls?;
    let require_tls = require_tls || urls.iter().any(|u| u.starts_with("tls://"));
    Some(NatsTarget { server: Server { urls, auth: auth?, tls: tls?, require_tls }, subject: subject? })
}

/// One server or several, comma-separated; `nats://` or `tls://`, no
/// credentials in the URL (they would be printed; use `token_file`).
fn urls(text: &str) -> Result<Vec<String>, String> {
    if text.trim().is_empty() {
        return Err("missing (e.g. \"nats://127.0.0.1:4222\")".into());
    }
    let mut out = Vec::new();
    for url in text.split(',').map(str::trim) {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| format!("{url:?} is not a nats:// or tls:// URL"))?;
        if scheme != "nats" && scheme != "tls" {
            return Err(format!("{url:?}: the scheme must be nats:// or tls://"));
        }
        if rest.split('/').next().is_some_and(|authority| authority.contains('@')) {
            return Err("has credentials in it; use token_file or credentials_file".into());
        }
        let parsed = url.parse::<async_nats::ServerAddr>().map_err(|e| format!("{url:?}: {e}"))?;
        if parsed.host().is_empty() {
            return Err(format!("{url:?} has no host"));
        }
        out.push(url.to_string());
    }
    Ok(out)
}

fn auth(at: &str, raw: &RawNats, p: &mut Problems) -> Option<Auth> {
    match (&raw.credentials_file, &raw.token_file) {
        (Some(_), Some(_)) => p.take(at, Err("has both credentials_file and token_file; give one".into())),
        (None, None) => Some(Auth::None),
        (None, Some(path)) => p.take(format!("{at}.token_file"), resolve(SecretSource::File(path))).map(Auth::Token),
        (Some(path), None) => {
            let creds = resolve(SecretSource::File(path)).and_then(|s| {
                let text = std::str::from_utf8(s.expose()).map_err(|_| "is not text".to_string())?;
                async_nats::ConnectOptions::with_credentials(text)
                    .map_err(|_| "is not a NATS credentials file (a user JWT and an nkey seed)".to_string())?;
                Ok(s)
            });
            p.take(format!("{at}.credentials_file"), creds).map(Auth::Credentials)
        }
    }
}
