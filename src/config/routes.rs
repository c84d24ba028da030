//! `[[sources.NAME.routes]]`: event globs, the handler (a command, a
//! callback with its Standard Webhooks signing secret, or a `nats` target,
//! `nats.rs`), timeout, retry policy, `order_by`, flow control
//! (`concurrency`, `priority`, `rate`, `breaker`). Validation only; every
//! problem is recorded as `sources.NAME.routes[i].key: reason`.

use super::raw::{self, RawRoute};
use super::secret::{resolve, Secret, SecretSource};
use super::tls::{self, Clients, RouteTls};
use super::{guards, units, Problems};
use crate::flow::{breaker, Limits};
use crate::retry::RetryPolicy;
use crate::route::condition::{Condition, Spec};
use crate::route::template::Template;
use crate::route::{Handler, Route};

/// `inherit_env`: `[dispatch] inherit_env`, which every route's handler gets.
/// `clients`: the https clients of this load (`[tls]`).
pub(super) fn routes(
    at: &str,
    raw: &[RawRoute],
    inherit_env: &[String],
    clients: &Clients,
    p: &mut Problems,
) -> Option<Vec<Route>> {
    let mut out = Vec::new();
    let mut ok = true;
    for (i, r) in raw.iter().enumerate() {
        match route(&format!("{at}.routes[{i}]"), i, r, inherit_env, clients, p) {
            Some(route) if out.iter().any(|o: &Route| o.name == route.name) => {
                p.push(format!("{at}.routes[{i}].name"), format!("duplicate route name {:?}", route.name));
                ok = false;
            }
            Some(route) => out.push(route),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn route(
    at: &str,
    index: usize,
    raw: &RawRoute,
    inherit_env: &[String],
    clients: &Clients,
    p: &mut Problems,
) -> Option<Route> {
    if raw.events.is_empty() {
        p.push(format!("{at}.events"), "missing (a list of event-type globs; \"*\" for all)");
    }
    let mut redact = Vec::new();
    let handler = handler(at, raw, &mut redact, clients, p);
    let timeout = p.take(format!("{at}.timeout"), units::duration(raw.timeout.as_deref().unwrap_or("30s")));
    let retry = retry_policy(at, raw.retry.as_ref(), p);
    let name = raw.name.clone().unwrap_or_else(|| index.to_string());
    let codes = raw.permanent_exit_codes.clone().unwrap_or_else(|| vec![65]);
    let order_by = match raw.order_by.as_deref() {
        Some(ptr) if !ptr.starts_with('/') => p.take(
            format!("{at}.order_by"),
            Err(format!("{ptr:?} is not a JSON pointer (e.g. \"/data/object/customer\")")),
        ),
        other => Some(other.map(str::to_string)),
    };
    let events = raw.events.clone();
    let route = Route::new(name, events, handler?, timeout?, retry?, codes);
    if raw.events.is_empty() {
        return None;
    }
    let mut route = p.take(format!("{at}.events"), route)?;
    route.order_by = order_by?;
    route.limits = limits(at, raw, p)?;
    route.inherit_env = inherit_env.to_vec();
    for name in &raw.inherit_env {
        if !route.inherit_env.contains(name) {
            route.inherit_env.push(name.clone());
        }
    }
    let mut templates_ok = true;
    for (k, v) in &raw.env {
        match p.take(format!("{at}.env.{k}"), Template::parse(v)) {
            Some(t) => route.env.push((k.clone(), t)),
            None => templates_ok = false,
        }
    }
    if let Handler::Command { argv } = &route.handler {
        for (i, arg) in argv.iter().enumerate() {
            match p.take(format!("{at}.command[{i}]"), Template::parse(arg)) {
                Some(t) => route.argv.push(t),
                None => templates_ok = false,
            }
        }
        if route.argv.first().is_some_and(|t| !t.is_literal()) {
            p.push(format!("{at}.command[0]"), "the program must be a plain path, not a template");
            templates_ok = false;
        }
    }
    match raw.cwd.as_deref() {
        Some(dir) if !std::path::Path::new(dir).is_dir() => {
            p.push(format!("{at}.cwd"), format!("{dir} is not a directory"));
            templates_ok = false;
        }
        Some(_) if raw.command.is_none() => {
            p.push(format!("{at}.cwd"), "applies to command routes only");
            templates_ok = false;
        }
        dir => route.cwd = dir.map(std::path::PathBuf::from),
    }
    for (i, c) in raw.conditions.iter().enumerate() {
        let spec = Spec {
            field: &c.field,
            equals: c.equals.as_ref(),
            one_of: c.one_of.as_deref(),
            glob: c.glob.as_deref(),
            regex: c.regex.as_deref(),
            exists: c.exists,
            not: c.not,
        };
        match p.take(format!("{at}.match[{i}]"), Condition::compile(&spec)) {
            Some(c) => route.conditions.push(c),
            None => templates_ok = false,
        }
    }
    if !templates_ok {
        return None;
    }
    route.redact = redact;
    Some(route)
}

/// `redact` gets the text forms of a callback's signing secret.
fn handler(at: &str, raw: &RawRoute, redact: &mut Vec<Secret>, clients: &Clients, p: &mut Problems) -> Option<Handler> {
    // A `nats` target (issue 17): the only target of its route.
    if let Some(nats) = &raw.nats {
        let others: Vec<&str> = [("command", raw.command.is_some()), ("url", raw.url.is_some())]
            .into_iter()
            .filter_map(|(k, set)| set.then_some(k))
            .collect();
        if !others.is_empty() {
            let why = format!("has both nats and {}; a route has exactly one target", others.join(" and "));
            return p.take(at, Err(why));
        }
        let keys = route_tls(raw);
        return super::nats::target(at, nats, keys, clients, redact, p).map(|t| Handler::Nats(Box::new(t)));
    }
    match (&raw.command, &raw.url) {
        (Some(argv), None) if argv.is_empty() || argv[0].is_empty() => {
            p.take(format!("{at}.command"), Err("must name a program: [\"/path/to/handler\", \"arg\"…]".into()))
        }
        (Some(_), None) if raw.ca_file.is_some() || raw.client_cert.is_some() || raw.client_key.is_some() => p.take(
            format!("{at}.ca_file"),
            Err("ca_file, client_cert and client_key apply only to an https:// url".into()),
        ),
        (Some(argv), None) => Some(Handler::Command { argv: argv.clone() }),
        (None, Some(url)) => callback(at, url, raw, redact, clients, p),
        (Some(_), Some(_)) => p.take(at, Err("has both command and url; a route runs exactly one handler".into())),
        (None, None) => p.take(at, Err("has no target: command, url or nats".into())),
    }
}

fn callback(
    at: &str,
    url: &str,
    raw: &RawRoute,
    redact: &mut Vec<Secret>,
    clients: &Clients,
    p: &mut Problems,
) -> Option<Handler> {
    match url.parse::<http::Uri>() {
        Ok(u) if matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some() => {}
        _ => return p.take(format!("{at}.url"), Err(format!("not an http:// or https:// URL: {url:?}"))),
    }
    let client = tls::route_client(at, url, route_tls(raw), clients, p);
    let sources = [
        (raw.signing_secret.as_deref().map(SecretSource::Literal), "signing_secret"),
        (raw.signing_secret_env.as_deref().map(SecretSource::Env), "signing_secret_env"),
        (raw.signing_secret_file.as_deref().map(SecretSource::File), "signing_secret_file"),
    ];
    let mut secret = None;
    for (src, key) in sources {
        let Some(src) = src else { continue };
        let decoded = resolve(src).and_then(|s| {
            redact.extend(super::secret::text_forms(s.expose()));
            decode_whsec(&s)
        });
        secret = Some(p.take(format!("{at}.{key}"), decoded)?);
    }
    Some(Handler::Callback { url: url.to_string(), signing_secret: secret, client: client? })
}

/// A route's TLS keys (a callback's or a nats target's).
fn route_tls(raw: &RawRoute) -> RouteTls<'_> {
    RouteTls {
        ca_file: raw.ca_file.as_deref(),
        client_cert: raw.client_cert.as_deref(),
        client_key: raw.client_key.as_deref(),
    }
}

/// A Standard Webhooks secret: `whsec_<base64>`, base64-decoded.
pub fn decode_whsec(s: &Secret) -> Result<Secret, String> {
    use base64::Engine;
    let text = std::str::from_utf8(s.expose()).map_err(|_| "is not text".to_string())?;
    let b64 = text.strip_prefix("whsec_").unwrap_or(text);
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map(Secret::new)
        .map_err(|_| "is not a whsec_<base64> secret".into())
}

fn retry_policy(at: &str, raw: Option<&raw::RawRetry>, p: &mut Problems) -> Option<RetryPolicy> {
    let d = RetryPolicy::default();
    let Some(raw) = raw else { return Some(d) };
    let initial = raw.initial.as_deref().map(|s| p.take(format!("{at}.retry.initial"), units::duration(s)));
    let max = raw.max.as_deref().map(|s| p.take(format!("{at}.retry.max"), units::duration(s)));
    let attempts = raw.attempts.unwrap_or(d.attempts);
    if attempts == 0 {
        p.push(format!("{at}.retry.attempts"), "must be at least 1");
    }
    Some(RetryPolicy {
        attempts: attempts.max(1),
        initial: initial.unwrap_or(Some(d.initial))?,
        max: max.unwrap_or(Some(d.max))?,
    })
}

/// `priority`, `rate`, `breaker` and `concurrency` (SPEC §5 flow control).
fn limits(at: &str, raw: &RawRoute, p: &mut Problems) -> Option<Limits> {
    let mut ok = true;
    if raw.concurrency == Some(0) {
        p.push(format!("{at}.concurrency"), "must be at least 1");
        ok = false;
    }
    let rate = match raw.rate.as_deref() {
        Some(r) => {
            let quota = p.take(format!("{at}.rate"), guards::rate_limit(r));
            ok &= quota.is_some();
            quota
        }
        None => None,
    };
    let breaker = match &raw.breaker {
        Some(b) => {
            let d = breaker::Policy::default();
            if b.failures == Some(0) {
                p.push(format!("{at}.breaker.failures"), "must be at least 1");
                ok = false;
            }
            let cool_down = match b.cool_down.as_deref() {
                Some(c) => p.take(format!("{at}.breaker.cool_down"), units::duration(c)),
                None => Some(d.cool_down),
            };
            ok &= cool_down.is_some();
            cool_down.map(|cool_down| breaker::Policy { failures: b.failures.unwrap_or(d.failures).max(1), cool_down })
        }
        None => None,
    };
    let concurrency = raw.concurrency.filter(|c| *c > 0);
    let rate_text = raw.rate.clone();
    ok.then_some(Limits { priority: raw.priority.unwrap_or(0), rate, rate_text, breaker, concurrency })
}
