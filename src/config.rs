//! Configuration: figment (TOML file ⊕ `HOOKD_<SECTION>__<KEY>`) → `RawConfig`
//! → a validated `Config` with compiled globs, resolved secrets and parsed
//! units. Every problem is reported at once as `path.to.key: reason`.
//! Never prints or returns a secret's value.

pub mod admin;
mod child_env;
pub mod guards;
pub mod kinds;
mod nats;
mod paths;
pub mod raw;
mod routes;
pub mod secret;
pub mod tls;
pub mod units;

pub use child_env::BASELINE as BASELINE_ENV;
pub use kinds::Kind;
pub use routes::decode_whsec;

use crate::route::Route;
use crate::verify::identify::Identify;
use crate::verify::{Scheme, Verifier};
use figment::providers::{Env, Format, Toml};
use figment::Figment;
use raw::{RawConfig, RawSource};
use secret::{resolve, SecretSource};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub server: Server,
    pub storage: Storage,
    pub dispatch: Dispatch,
    /// `None`: no admin API (no `[admin] listen`).
    pub admin: Option<admin::Admin>,
    pub alerts: Option<admin::Alerts>,
    pub sources: Sources,
    /// The https client of alerts (and of callbacks without TLS keys of
    /// their own): the system's roots plus `[tls] ca_file`.
    pub https: crate::tls::client::HttpsClient,
    /// Problems that do not stop hookd, each `path.to.key: reason`
    /// (`check-config` prints them, `serve` logs them at WARN).
    pub warnings: Vec<String>,
    raw: RawConfig,
}

/// Every configured source by name.
pub type Sources = BTreeMap<String, Arc<Source>>;

/// The sources in force, swapped whole on reload (SIGHUP).
pub type SharedSources = Arc<arc_swap::ArcSwap<Sources>>;

#[derive(Debug, Clone)]
pub struct Server {
    pub listen: SocketAddr,
    pub max_body: usize,
    pub read_timeout: Duration,
    pub max_connections: usize,
    /// Peers whose `X-Forwarded-For` / `-Proto` / `-Host` are believed;
    /// also exempt from `max_connections_per_address`.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// All request header lines together; over it, 431.
    pub max_header_bytes: usize,
    /// Failed verifications allowed per client address; over it, 429.
    pub unverified_rate_limit: governor::Quota,
    /// Open connections per peer address.
    pub max_connections_per_address: usize,
    /// HTTPS on the listen port; `None`: plain HTTP.
    pub tls: Option<tls::ServerTls>,
}

/// hyper's smallest read buffer: a header limit below it cannot be enforced.
pub const MIN_HEADER_BYTES: u64 = 8192;

#[derive(Debug, Clone)]
pub struct Storage {
    pub path: PathBuf,
    pub dedup_window: Duration,
    pub retain_delivered: Duration,
    pub retain_dead: Duration,
    pub cache_capacity: u64,
    /// Each log segment is preallocated to this; it also bounds `max_body`.
    pub segment_size: u64,
}

#[derive(Debug, Clone)]
pub struct Dispatch {
    pub concurrency: usize,
    pub output_tail: usize,
    /// Names of hookd's environment every handler and alert command sees.
    pub inherit_env: Vec<String>,
    /// Handlers and alert commands run at this nice value (0: hookd's own).
    pub nice: i32,
}

#[derive(Debug)]
pub struct Source {
    pub name: String,
    pub kind: Kind,
    pub verifier: Verifier,
    pub identify: Identify,
    pub dedup_window: Duration,
    pub routes: Vec<Route>,
    /// Sender headers handed to handlers as `HOOKD_HEADER_<NAME>`.
    pub keep_headers: Vec<String>,
    /// Environment variables that hold this source's secrets (its own and
    /// its routes' signing secrets): never inheritable by a child.
    pub secret_env: Vec<String>,
    /// The text of every secret of this source and of its routes: scrubbed
    /// from stored output tails.
    pub redact: Vec<secret::Secret>,
    /// The URL the sender signs (twilio, square); `None`: as received.
    pub public_url: Option<String>,
    /// Client IPs allowed to post (empty: any).
    pub allow_ips: Vec<ipnet::IpNet>,
    /// Requests allowed per period; over it, 429.
    pub rate_limit: Option<governor::Quota>,
}

/// Every problem found, each `path.to.key: reason`.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<String>);

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

/// `--config`, else `$HOOKD_CONFIG`, else `./config.toml`, else
/// `/etc/hookd/config.toml`.
pub fn locate(cli: Option<&Path>) -> Result<PathBuf, ConfigErrors> {
    let explicit = cli.map(Path::to_path_buf).or_else(|| std::env::var_os("HOOKD_CONFIG").map(PathBuf::from));
    let candidates = match explicit {
        Some(p) => vec![p],
        None => vec![PathBuf::from("config.toml"), PathBuf::from("/etc/hookd/config.toml")],
    };
    let found = candidates.iter().find(|p| p.is_file()).cloned();
    found.ok_or_else(|| {
        let tried: Vec<_> = candidates.iter().map(|p| p.display().to_string()).collect();
        ConfigErrors(vec![format!("config: no config file at {}", tried.join(" or "))])
    })
}

pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let raw = load_raw(path)?;
    let mut p = Problems::default();
    let config = validate(path, raw, &mut p);
    match config {
        Some(c) if p.0.is_empty() => Ok(c),
        _ => Err(ConfigErrors(p.0)),
    }
}

/// Only the `[admin]` section, for the CLI's admin commands: they must work
/// where the sources' secrets cannot be read (an operator's shell, not the
/// service's credentials). `None`: no admin API configured.
pub fn load_admin(path: &Path) -> Result<Option<admin::Admin>, ConfigErrors> {
    let raw = load_raw(path)?;
    let mut p = Problems::default();
    let admin = admin::admin(&raw.admin, &mut p);
    match p.0.is_empty() {
        true => Ok(admin),
        false => Err(ConfigErrors(p.0)),
    }
}

/// Only `[storage]`, for `hookd store check|export`: they run where the
/// sources' secrets may not be readable.
pub fn load_storage(path: &Path) -> Result<Storage, ConfigErrors> {
    let raw = load_raw(path)?;
    let mut p = Problems::default();
    // `segment_size` stays 0 when the file does not set it (only `validate`
    // knows `max_body`): the store commands read each segment's own size.
    match storage(&raw.storage, &mut p) {
        Some(s) if p.0.is_empty() => Ok(s),
        _ => Err(ConfigErrors(p.0)),
    }
}

fn load_raw(path: &Path) -> Result<RawConfig, ConfigErrors> {
    let figment = Figment::new()
        .merge(Toml::file_exact(path))
        .merge(Env::prefixed("HOOKD_").filter(|k| k.as_str().contains("__")).split("__"));
    let mut raw: RawConfig = figment.extract().map_err(figment_errors)?;
    paths::absolutize(&mut raw, &paths::base_of(path));
    Ok(raw)
}

impl Config {
    /// How the store is opened.
    pub fn storage_options(&self) -> crate::store::Options {
        crate::store::Options { cache_capacity: self.storage.cache_capacity, segment_size: self.storage.segment_size }
    }

    /// The effective configuration as TOML, with every secret value
    /// redacted and each route's defaults written out (its name, timeout,
    /// retry policy, permanent exit codes, concurrency).
    pub fn redacted_toml(&self) -> String {
        toml::to_string_pretty(&self.effective()).unwrap_or_default()
    }

    /// What `redacted_toml` prints, as a value (`check-config --json`).
    pub fn effective(&self) -> toml::Value {
        let mut raw = toml::Value::try_from(&self.raw).unwrap_or(toml::Value::String(String::new()));
        redact(&mut raw);
        self.fill_route_defaults(&mut raw);
        raw
    }

    fn fill_route_defaults(&self, raw: &mut toml::Value) {
        let Some(sources) = raw.get_mut("sources").and_then(toml::Value::as_table_mut) else { return };
        for (name, source) in sources.iter_mut() {
            let Some(valid) = self.sources.get(name) else { continue };
            let Some(routes) = source.get_mut("routes").and_then(toml::Value::as_array_mut) else { continue };
            for (table, route) in routes.iter_mut().zip(&valid.routes) {
                let Some(t) = table.as_table_mut() else { continue };
                let text = |d: Duration| toml::Value::String(humantime::format_duration(d).to_string());
                t.insert("name".into(), toml::Value::String(route.name.clone()));
                t.insert("timeout".into(), text(route.timeout));
                let mut retry = toml::map::Map::new();
                retry.insert("attempts".into(), toml::Value::Integer(route.retry.attempts.into()));
                retry.insert("initial".into(), text(route.retry.initial));
                retry.insert("max".into(), text(route.retry.max));
                t.insert("retry".into(), toml::Value::Table(retry));
                let codes = route.permanent_exit_codes.iter().map(|c| toml::Value::Integer((*c).into())).collect();
                t.insert("permanent_exit_codes".into(), toml::Value::Array(codes));
                let concurrency = route.limits.concurrency.unwrap_or(self.dispatch.concurrency);
                t.insert("concurrency".into(), toml::Value::Integer(concurrency as i64));
                t.insert("priority".into(), toml::Value::Integer(route.limits.priority.into()));
                if let Some(b) = &route.limits.breaker {
                    let mut breaker = toml::map::Map::new();
                    breaker.insert("failures".into(), toml::Value::Integer(b.failures.into()));
                    breaker.insert("cool_down".into(), text(b.cool_down));
                    t.insert("breaker".into(), toml::Value::Table(breaker));
                }
            }
        }
    }

    /// One line for the end of `check-config`: what this config runs.
    pub fn summary(&self) -> String {
        let routes: usize = self.sources.values().map(|s| s.routes.len()).sum();
        let admin = match &self.admin {
            Some(a) => format!("admin API on {}", a.listen),
            None => "no admin API".to_string(),
        };
        format!(
            "{}: ok: {} {}, {} {}, listening on {}, store at {}, {}, {} {}",
            self.path.display(),
            self.sources.len(),
            plural(self.sources.len(), "source", "sources"),
            routes,
            plural(routes, "route", "routes"),
            self.server.listen,
            self.storage.path.display(),
            admin,
            self.warnings.len(),
            plural(self.warnings.len(), "warning", "warnings"),
        )
    }
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

fn redact(v: &mut toml::Value) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t.iter_mut() {
                if matches!(k.as_str(), "secret" | "secrets" | "signing_secret" | "token") {
                    *v = redacted_like(v);
                } else {
                    redact(v);
                }
            }
        }
        toml::Value::Array(a) => a.iter_mut().for_each(redact),
        _ => {}
    }
}

fn redacted_like(v: &toml::Value) -> toml::Value {
    match v {
        toml::Value::Array(a) => toml::Value::Array(a.iter().map(redacted_like).collect()),
        _ => toml::Value::String("<redacted>".into()),
    }
}

fn figment_errors(err: figment::Error) -> ConfigErrors {
    ConfigErrors(
        err.into_iter()
            .map(|e| {
                let mut path = e.path.clone();
                let reason = match &e.kind {
                    figment::error::Kind::UnknownField(field, expected) => {
                        if path.last() != Some(field) {
                            path.push(field.clone());
                        }
                        match nearest(field, expected) {
                            Some(near) => format!("unknown key; did you mean {near:?}?"),
                            None => "unknown key".to_string(),
                        }
                    }
                    figment::error::Kind::InvalidType(found, _) if path.last().is_some_and(|k| is_duration_key(k)) => {
                        format!("found {found}, expected a duration string like \"30s\", \"5m\" or \"7d\"")
                    }
                    // Never echo what was written under a secret's key.
                    figment::error::Kind::InvalidType(_, expected) if holds_secret(&path) => {
                        format!("invalid type: expected {expected}")
                    }
                    figment::error::Kind::InvalidValue(_, expected) if holds_secret(&path) => {
                        format!("invalid value: expected {expected}")
                    }
                    figment::error::Kind::Message(m) => without_source_lines(m),
                    kind => kind.to_string(),
                };
                format!("{}: {reason}", key_path(&path))
            })
            .collect(),
    )
}

/// figment's key path in the spelling validation uses:
/// `sources.s.routes[0].command`, not `sources.s.routes.0.command`.
fn key_path(path: &[String]) -> String {
    let mut out = String::new();
    for key in path {
        if key.bytes().all(|b| b.is_ascii_digit()) && !out.is_empty() {
            out.push_str(&format!("[{key}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(key);
        }
    }
    if out.is_empty() {
        "config".to_string()
    } else {
        out
    }
}

/// The expected key closest to a misspelt one, when it is close enough to
/// be the likely intent.
fn nearest<'a>(field: &str, expected: &[&'a str]) -> Option<&'a str> {
    expected
        .iter()
        .map(|e| (strsim::damerau_levenshtein(field, e), *e))
        .filter(|(d, e)| *d <= 2.max(e.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, e)| e)
}

/// Keys whose value is a duration string.
fn is_duration_key(key: &str) -> bool {
    matches!(
        key,
        "timeout"
            | "read_timeout"
            | "tolerance"
            | "dedup_window"
            | "retain_delivered"
            | "retain_dead"
            | "initial"
            | "max"
    )
}

/// A key whose value may be a secret (`secret`, `secrets`, `signing_secret`,
/// their `_env`/`_file` forms, a token, a public key).
fn holds_secret(path: &[String]) -> bool {
    path.iter().any(|p| p.contains("secret") || p.contains("token") || p.contains("key"))
}

/// A TOML parse error without the excerpt of the file it quotes (which may
/// be a secret's line): `TOML parse error at line L, column C: reason`.
fn without_source_lines(message: &str) -> String {
    let quoted = |l: &str| {
        let t = l.trim_start();
        t.starts_with('|') || t.split_once(" |").is_some_and(|(n, _)| n.chars().all(|c| c.is_ascii_digit()))
    };
    let kept: Vec<&str> = message.lines().map(str::trim_end).filter(|l| !l.is_empty() && !quoted(l)).collect();
    kept.join(": ")
}

#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn push(&mut self, path: impl std::fmt::Display, reason: impl std::fmt::Display) {
        self.0.push(format!("{path}: {reason}"));
    }

    /// Keep `Ok` values; record `Err` under `path` and return `None`.
    fn take<T>(&mut self, path: impl std::fmt::Display, r: Result<T, String>) -> Option<T> {
        r.map_err(|e| self.push(path, e)).ok()
    }
}

fn validate(path: &Path, raw: RawConfig, p: &mut Problems) -> Option<Config> {
    let listen = p.take("server.listen", socket_addr(&raw.server.listen));
    let max_body = p.take("server.max_body", units::size(&raw.server.max_body));
    let read_timeout = p.take("server.read_timeout", units::duration(&raw.server.read_timeout));
    let trusted_proxies = p.take("server.trusted_proxies", guards::cidrs(&raw.server.trusted_proxies));
    let max_header_bytes = p.take("server.max_header_bytes", header_limit(&raw.server.max_header_bytes));
    let unverified_rate_limit =
        p.take("server.unverified_rate_limit", guards::rate_limit(&raw.server.unverified_rate_limit));
    if raw.server.max_connections_per_address == 0 {
        p.push("server.max_connections_per_address", "must be at least 1");
    }
    let admin = admin::admin(&raw.admin, p);
    let alerts = admin::alerts(&raw.alerts, p);
    let clients = tls::clients(&raw.tls, tls::wanted(&raw), p);
    let server_tls = tls::server(raw.server.tls.as_ref(), &clients, p);
    let mut storage = storage(&raw.storage, p);
    if let (Some(body), Some(st)) = (max_body, storage.as_mut()) {
        if st.segment_size == 0 {
            let default = crate::store::wal::WalConfig::default().segment_size;
            st.segment_size = default.max(body.saturating_mul(2).saturating_add(1 << 20));
        } else if body > (st.segment_size / 2).saturating_sub(64 * 1024) {
            let why = format!(
                "must stay below half of storage.segment_size ({} bytes): an event and its body are one log record",
                st.segment_size
            );
            p.push("server.max_body", why);
        }
    }
    let output_tail = p.take("dispatch.output_tail", units::size(&raw.dispatch.output_tail));
    if raw.dispatch.concurrency == 0 {
        p.push("dispatch.concurrency", "must be at least 1");
    }
    if !(0..=19).contains(&raw.dispatch.nice) {
        p.push("dispatch.nice", format!("{} is not a nice value from 0 (off) to 19", raw.dispatch.nice));
    }
    let secret_names = secret_env_names(&raw);
    let rules = child_env::Rules { secret_names: &secret_names };
    rules.inherit("dispatch.inherit_env", &raw.dispatch.inherit_env, p);
    let mut sources = BTreeMap::new();
    for (name, s) in &raw.sources {
        let dedup = storage.as_ref().map(|s| s.dedup_window).unwrap_or_default();
        for (i, r) in s.routes.iter().enumerate() {
            rules.inherit(&format!("sources.{name}.routes[{i}].inherit_env"), &r.inherit_env, p);
            rules.env(&format!("sources.{name}.routes[{i}].env"), &r.env, p);
        }
        if let Some(src) = source(name, s, dedup, &raw.dispatch.inherit_env, &clients, p) {
            sources.insert(name.clone(), Arc::new(src));
        }
    }
    let mut warnings = command_warnings(&raw);
    warnings.extend(shape_warnings(&raw));
    Some(Config {
        path: path.to_path_buf(),
        warnings,
        server: Server {
            listen: listen?,
            max_body: usize::try_from(max_body?).unwrap_or(usize::MAX),
            read_timeout: read_timeout?,
            max_connections: raw.server.max_connections.max(1),
            trusted_proxies: trusted_proxies?,
            max_header_bytes: max_header_bytes?,
            unverified_rate_limit: unverified_rate_limit?,
            max_connections_per_address: raw.server.max_connections_per_address.max(1),
            tls: server_tls?,
        },
        storage: storage?,
        dispatch: Dispatch {
            concurrency: raw.dispatch.concurrency.max(1),
            output_tail: usize::try_from(output_tail?).unwrap_or(usize::MAX),
            inherit_env: raw.dispatch.inherit_env.clone(),
            nice: raw.dispatch.nice.clamp(0, 19),
        },
        admin,
        alerts,
        sources,
        https: clients.default,
        raw,
    })
}

/// `[server] max_header_bytes`: a size, at least hyper's smallest buffer.
fn header_limit(raw: &raw::RawSize) -> Result<usize, String> {
    let n = units::size(raw)?;
    if n < MIN_HEADER_BYTES {
        return Err(format!(
            "{n} bytes is below the smallest limit hyper can enforce, {MIN_HEADER_BYTES} bytes (8KiB)"
        ));
    }
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

/// An `IP:port` listen address; a host name is not one (hookd binds,
/// it does not resolve).
pub(crate) fn socket_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| {
        format!("{text:?} is not an IP address and port, e.g. \"127.0.0.1:8080\" (loopback only) or \"0.0.0.0:8080\" (every interface)")
    })
}

fn storage(raw: &raw::RawStorage, p: &mut Problems) -> Option<Storage> {
    let dedup_window = p.take("storage.dedup_window", units::duration(&raw.dedup_window));
    let retain_delivered = p.take("storage.retain_delivered", units::duration(&raw.retain_delivered));
    let retain_dead = p.take("storage.retain_dead", units::duration(&raw.retain_dead));
    let cache_capacity = p.take("storage.cache_capacity", units::size(&raw.cache_capacity));
    let segment_size = match &raw.segment_size {
        Some(size) => p.take("storage.segment_size", units::size(size)),
        None => Some(0), // filled in from max_body by `validate`
    };
    if segment_size.is_some_and(|s| s != 0 && s < 1 << 20) {
        p.push("storage.segment_size", "must be at least 1MiB");
    }
    if raw.path.trim().is_empty() {
        p.push("storage.path", "missing");
    } else if Path::new(&raw.path).exists() && !Path::new(&raw.path).is_dir() {
        p.push("storage.path", format!("{} is not a directory", raw.path));
    }
    Some(Storage {
        path: PathBuf::from(&raw.path),
        dedup_window: dedup_window?,
        retain_delivered: retain_delivered?,
        retain_dead: retain_dead?,
        cache_capacity: cache_capacity?,
        segment_size: segment_size?,
    })
}

/// Commands that will not start as written: each route's `command[0]` and
/// `alerts.on_dead[0]` must name an executable file (a bare name is looked
/// up in `PATH`; a relative path was made absolute, beside the config file, by `paths.rs`).
fn command_warnings(raw: &RawConfig) -> Vec<String> {
    let mut commands: Vec<(String, &str)> = Vec::new();
    for (name, s) in &raw.sources {
        for (i, r) in s.routes.iter().enumerate() {
            if let Some(program) = r.command.as_ref().and_then(|c| c.first()) {
                commands.push((format!("sources.{name}.routes[{i}].command"), program));
            }
        }
    }
    if let Some(program) = raw.alerts.on_dead.as_ref().and_then(|c| c.first()) {
        commands.push(("alerts.on_dead".into(), program));
    }
    commands
        .into_iter()
        .filter(|(_, program)| !program.is_empty())
        .filter_map(|(at, program)| child_env::executable(program).err().map(|why| format!("{at}: {why}")))
        .collect()
}

/// A config that runs but likely not as meant: no sources at all, a
/// source whose events nothing handles, an unsigned source open to anyone.
fn shape_warnings(raw: &RawConfig) -> Vec<String> {
    let mut out = Vec::new();
    if raw.sources.is_empty() {
        out.push("sources: none configured; every request will be answered 404".to_string());
    }
    for (name, s) in &raw.sources {
        if s.routes.is_empty() {
            out.push(format!("sources.{name}.routes: none; its events will be stored as unrouted"));
        }
        if s.insecure && s.allow_ips.is_empty() {
            out.push(format!(
                "sources.{name}.insecure: no signature is checked and allow_ips is not set, so anyone who can reach the listener can post events"
            ));
        }
    }
    out
}

/// Every environment variable hookd reads a secret from, with its key.
fn secret_env_names(raw: &RawConfig) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    if let Some(var) = &raw.alerts.signing_secret_env {
        names.insert(var.clone(), "alerts.signing_secret_env".to_string());
    }
    for (name, s) in &raw.sources {
        if let Some(var) = &s.secret_env {
            names.insert(var.clone(), format!("sources.{name}.secret_env"));
        }
        for (i, r) in s.routes.iter().enumerate() {
            if let Some(var) = &r.signing_secret_env {
                names.insert(var.clone(), format!("sources.{name}.routes[{i}].signing_secret_env"));
            }
        }
    }
    names
}

fn source(
    name: &str,
    raw: &RawSource,
    default_dedup: Duration,
    inherit_env: &[String],
    clients: &tls::Clients,
    p: &mut Problems,
) -> Option<Source> {
    let at = format!("sources.{name}");
    let kind = p.take(format!("{at}.kind"), Kind::parse(&raw.kind));
    let secrets = secrets(&at, raw, p);
    let tolerance = p.take(format!("{at}.tolerance"), units::duration(raw.tolerance.as_deref().unwrap_or("5m")));
    let dedup_window = match &raw.dedup_window {
        Some(d) => p.take(format!("{at}.dedup_window"), units::duration(d)),
        None => Some(default_dedup),
    };
    let (public_url, allow_ips, rate_limit) = source_guards(&at, kind?, raw, p);
    let identify = kinds::identify(&at, kind?, raw, p);
    // An insecure source checks no signature, so it needs none of the
    // signature's settings (`header` and the rest).
    let scheme = match raw.insecure {
        true => Some(Scheme::Insecure),
        false => kinds::scheme(&at, kind?, raw, identify.as_ref(), secrets.as_deref().unwrap_or_default(), p),
    };
    let routes = routes::routes(&at, &raw.routes, inherit_env, clients, p);
    let mut secret_env: Vec<String> = raw.secret_env.iter().cloned().collect();
    secret_env.extend(raw.routes.iter().filter_map(|r| r.signing_secret_env.clone()));
    let secrets: Vec<Vec<u8>> = secrets?.into_iter().map(|(_, s)| s).collect();
    let mut redact: Vec<secret::Secret> = secrets.iter().flat_map(|s| secret::text_forms(s)).collect();
    redact.extend(routes.iter().flatten().flat_map(|r| r.redact.iter().cloned()));
    Some(Source {
        name: name.to_string(),
        kind: kind?,
        verifier: Verifier { scheme: scheme?, secrets, tolerance: tolerance? },
        keep_headers: kinds::keep_headers_for(kind?, identify.as_ref(), &template_headers(&at, routes.as_deref(), p)),
        identify: identify?,
        dedup_window: dedup_window?,
        routes: routes?,
        secret_env,
        redact,
        public_url: public_url?,
        allow_ips: allow_ips?,
        rate_limit: rate_limit?,
    })
}

type Guards = (Option<Option<String>>, Option<Vec<ipnet::IpNet>>, Option<Option<governor::Quota>>);

/// The sender headers the routes' templates read (kept so they can);
/// one hookd never keeps is a config error rather than an empty value.
fn template_headers(at: &str, routes: Option<&[crate::route::Route]>, p: &mut Problems) -> Vec<String> {
    let mut names = Vec::new();
    for (i, r) in routes.unwrap_or_default().iter().enumerate() {
        let from_templates = r.argv.iter().chain(r.env.iter().map(|(_, t)| t)).flat_map(|t| t.headers());
        let from_subject = match &r.handler {
            crate::route::Handler::Nats(target) => target.subject.headers().collect(),
            _ => Vec::new(),
        };
        let from_conditions = r.conditions.iter().filter_map(|c| c.header());
        for name in from_templates.chain(from_subject).chain(from_conditions) {
            if kinds::never_kept(&name) {
                p.push(format!("{at}.routes[{i}]"), format!("{{header:{name}}}: hookd never keeps that header"));
            } else {
                names.push(name);
            }
        }
    }
    names
}

/// `public_url`, `allow_ips` and `rate_limit` of one source.
fn source_guards(at: &str, kind: Kind, raw: &RawSource, p: &mut Problems) -> Guards {
    let public_url = match &raw.public_url {
        Some(_) if !kind.signs_url() => {
            p.push(format!("{at}.public_url"), "applies only to kinds that sign the URL (twilio, square)");
            None
        }
        Some(u) => p.take(format!("{at}.public_url"), guards::public_url(u)).map(Some),
        None => Some(None),
    };
    let allow_ips = p.take(format!("{at}.allow_ips"), guards::cidrs(&raw.allow_ips));
    let rate_limit = match &raw.rate_limit {
        Some(r) => p.take(format!("{at}.rate_limit"), guards::rate_limit(r)).map(Some),
        None => Some(None),
    };
    (public_url, allow_ips, rate_limit)
}

/// Every secret of a source, each with the config key that named it.
fn secrets(at: &str, raw: &RawSource, p: &mut Problems) -> Option<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut ok = true;
    let mut add = |key: String, src: SecretSource| match resolve(src) {
        Ok(s) => out.push((key, s.expose().to_vec())),
        Err(e) => {
            p.push(key, e);
            ok = false;
        }
    };
    if let Some(s) = &raw.secret {
        add(format!("{at}.secret"), SecretSource::Literal(s));
    }
    if let Some(s) = &raw.secret_env {
        add(format!("{at}.secret_env"), SecretSource::Env(s));
    }
    if let Some(s) = &raw.secret_file {
        add(format!("{at}.secret_file"), SecretSource::File(s));
    }
    for (i, s) in raw.secrets.iter().enumerate() {
        add(format!("{at}.secrets[{i}]"), SecretSource::Literal(s));
    }
    if ok && out.is_empty() && !raw.insecure && raw.public_key.is_none() {
        p.push(format!("{at}.secret"), "missing (set secret, secret_env, secret_file or secrets; or insecure = true)");
        return None;
    }
    ok.then_some(out)
}
