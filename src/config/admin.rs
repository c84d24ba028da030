//! The operator-facing sections: `[admin]` (where the admin API listens and
//! its bearer token) and `[alerts]` (what runs when a delivery goes dead).
//! Validation only; never prints the token.

use super::raw::{RawAdmin, RawAlerts};
use super::secret::{resolve, Secret, SecretSource};
use super::{units, Problems};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Admin {
    pub listen: AdminListen,
    /// Required on TCP; optional on a unix socket (file permissions guard it).
    pub token: Option<Secret>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminListen {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl std::fmt::Display for AdminListen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdminListen::Tcp(a) => write!(f, "{a}"),
            AdminListen::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Alerts {
    pub on_dead: AlertTarget,
    pub timeout: Duration,
    /// What a `url` alert carries (SPEC §5 "Alerts").
    pub format: AlertFormat,
    /// Decoded `whsec_` key: `url` alerts are signed like callbacks.
    pub signing_secret: Option<Secret>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertFormat {
    /// A summary as JSON, never the customer's body.
    Json,
    /// `{"text": "<one line>"}`: Slack, Mattermost, Discord-compatible webhooks.
    Slack,
    /// The event's body, with `X-Hookd-Dead-Reason`.
    Raw,
}

#[derive(Debug, Clone)]
pub enum AlertTarget {
    Command(Vec<String>),
    Url(String),
}

/// A relative `token_file` is a systemd credential when
/// `$CREDENTIALS_DIRECTORY` is set (the unit), else `paths.rs` made it
/// absolute beside the config file — so the operator's `hookd events` as
/// root and the service read the same `/etc/hookd/admin.token`.
pub(super) fn admin(raw: &RawAdmin, p: &mut Problems) -> Option<Admin> {
    let listen = match raw.listen.as_deref() {
        None => {
            if raw.token_file.is_some() {
                p.push("admin.listen", "missing (token_file is set, but the admin API has no address)");
            }
            return None;
        }
        Some(l) => match l.strip_prefix("unix:") {
            Some("") => p.take("admin.listen", Err("unix: needs a socket path".into()))?,
            Some(path) => AdminListen::Unix(PathBuf::from(path)),
            None => AdminListen::Tcp(
                p.take("admin.listen", l.parse().map_err(|e| format!("{e} (use host:port or unix:/path/to/socket)")))?,
            ),
        },
    };
    let token = match (&raw.token_file, &listen) {
        (Some(f), _) => Some(p.take("admin.token_file", resolve(SecretSource::File(f)))?),
        (None, AdminListen::Tcp(_)) => {
            p.push("admin.token_file", "missing (a TCP admin listener requires a bearer token)");
            return None;
        }
        (None, AdminListen::Unix(_)) => None,
    };
    Some(Admin { listen, token })
}

pub(super) fn alerts(raw: &RawAlerts, p: &mut Problems) -> Option<Alerts> {
    let timeout = p.take("alerts.timeout", units::duration(raw.timeout.as_deref().unwrap_or("30s")))?;
    let on_dead = match (&raw.on_dead, &raw.url) {
        (None, None) => return None,
        (Some(_), Some(_)) => return p.take("alerts", Err("set on_dead (a command) or url, not both".into())),
        (Some(argv), None) if argv.first().is_none_or(|a| a.is_empty()) => {
            return p.take("alerts.on_dead", Err("must name a program: [\"/path/to/alert\", \"arg\"…]".into()))
        }
        (Some(argv), None) => AlertTarget::Command(argv.clone()),
        (None, Some(url)) => match url.parse::<http::Uri>() {
            Ok(u) if matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some() => {
                AlertTarget::Url(url.clone())
            }
            _ => return p.take("alerts.url", Err(format!("not an http:// or https:// URL: {url:?}"))),
        },
    };
    let format = match raw.format.as_deref() {
        None | Some("json") => AlertFormat::Json,
        Some("slack") => AlertFormat::Slack,
        Some("raw") => AlertFormat::Raw,
        Some(other) => {
            return p.take("alerts.format", Err(format!("{other:?} is not one of \"json\", \"slack\", \"raw\"")))
        }
    };
    if raw.format.is_some() && matches!(on_dead, AlertTarget::Command(_)) {
        p.push("alerts.format", "applies to url alerts (a command gets the body on stdin and HOOKD_* variables)");
    }
    let forms = [
        (raw.signing_secret.as_deref().map(SecretSource::Literal), "signing_secret"),
        (raw.signing_secret_env.as_deref().map(SecretSource::Env), "signing_secret_env"),
        (raw.signing_secret_file.as_deref().map(SecretSource::File), "signing_secret_file"),
    ];
    let mut signing_secret = None;
    for (form, key) in forms {
        let Some(form) = form else { continue };
        if signing_secret.is_some() {
            return p.take(format!("alerts.{key}"), Err("set one of signing_secret, _env, _file".into()));
        }
        let decoded = resolve(form).and_then(|s| super::routes::decode_whsec(&s));
        signing_secret = Some(p.take(format!("alerts.{key}"), decoded)?);
    }
    Some(Alerts { on_dead, timeout, format, signing_secret })
}
