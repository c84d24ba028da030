//! Routes: event-type globs compiled once, and the handler each route runs.
//! Pure: which routes an event type matches, and each match's `order_by`
//! key; no IO.

pub mod condition;
pub mod payload;
pub mod template;

use crate::config::secret::Secret;
use crate::dispatch::nats::NatsTarget;
use crate::retry::RetryPolicy;
use crate::store::NewDelivery;
use globset::{Glob, GlobSet, GlobSetBuilder};
use std::time::Duration;

#[derive(Debug, Clone)]
pub enum Handler {
    /// argv, executed directly (no shell).
    Command { argv: Vec<String> },
    /// HTTP POST, signed per Standard Webhooks when a secret is set; over
    /// `client` (https:// verified with the route's TLS settings).
    Callback { url: String, signing_secret: Option<Secret>, client: crate::tls::client::HttpsClient },
    /// JetStream publish, delivered on the stream's ack (`dispatch/nats.rs`).
    Nats(Box<NatsTarget>),
}

#[derive(Debug, Clone)]
pub struct Route {
    /// Stable within its source: `name = ".."` in the config, else its index.
    pub name: String,
    pub events: Vec<String>,
    matcher: GlobSet,
    pub handler: Handler,
    pub timeout: Duration,
    pub retry: RetryPolicy,
    pub permanent_exit_codes: Vec<i32>,
    /// JSON pointer into the body: deliveries with the same value run one
    /// at a time, in arrival order.
    pub order_by: Option<String>,
    /// `priority`, `rate`, `breaker`, `concurrency` (the `flow` module).
    pub limits: crate::flow::Limits,
    /// Names of hookd's environment its handler sees: `[dispatch]
    /// inherit_env` followed by the route's own (SPEC §5).
    pub inherit_env: Vec<String>,
    /// The route's `env` table, set for its handler after the inherited
    /// names: each value a template, rendered per attempt.
    pub env: Vec<(String, template::Template)>,
    /// A command's argv as templates, rendered per attempt (empty for a callback).
    pub argv: Vec<template::Template>,
    /// A command's working directory (`None`: hookd's own).
    pub cwd: Option<std::path::PathBuf>,
    /// `match`: all must hold, after `events`, for the route to take an event.
    pub conditions: Vec<condition::Condition>,
    /// Text forms of the route's signing secret: scrubbed from output tails.
    pub redact: Vec<Secret>,
}

impl Route {
    pub fn new(
        name: String,
        events: Vec<String>,
        handler: Handler,
        timeout: Duration,
        retry: RetryPolicy,
        permanent_exit_codes: Vec<i32>,
    ) -> Result<Self, String> {
        let matcher = compile(&events)?;
        Ok(Route {
            name,
            events,
            matcher,
            handler,
            timeout,
            retry,
            permanent_exit_codes,
            order_by: None,
            limits: Default::default(),
            inherit_env: Vec::new(),
            env: Vec::new(),
            argv: Vec::new(),
            cwd: None,
            conditions: Vec::new(),
            redact: Vec::new(),
        })
    }

    pub fn matches(&self, event_type: &str) -> bool {
        self.matcher.is_match(event_type)
    }

    /// `None` when the route takes the event; else why not, in words.
    pub fn why_not(&self, event_type: &str, subject: &mut condition::Subject) -> Option<String> {
        if !self.matches(event_type) {
            return Some(format!("event type {event_type:?} is not in {:?}", self.events));
        }
        self.conditions.iter().find_map(|c| c.check(subject).err())
    }
}

/// Compile event-type globs: `*` matches any run of characters, dots included.
pub fn compile(patterns: &[String]) -> Result<GlobSet, String> {
    let mut set = GlobSetBuilder::new();
    for p in patterns {
        let glob = Glob::new(p).map_err(|e| format!("bad glob {p:?}: {}", e.kind()))?;
        set.add(glob);
    }
    set.build().map_err(|e| e.to_string())
}

/// The deliveries a new event gets: one per matching route, with its
/// `order_by` key read from the body. A pointer that finds no string or
/// number gives no key: that delivery is not ordered.
/// `subject`: what `match` conditions read (the sender's kept headers and
/// the raw body).
pub fn deliveries(
    routes: &[Route],
    event_type: &str,
    body: &[u8],
    subject: &mut condition::Subject,
) -> Vec<NewDelivery> {
    let matched: Vec<&Route> =
        matching(routes, event_type).filter(|r| r.conditions.iter().all(|c| c.check(subject).is_ok())).collect();
    // Every route's `order_by` read in one pass over the body.
    let pointers: Vec<&str> = matched.iter().filter_map(|r| r.order_by.as_deref()).collect();
    let mut keys = match pointers.is_empty() {
        true => Vec::new(),
        false => crate::verify::pointer::lookup_all(body, &pointers).unwrap_or_default(),
    }
    .into_iter();
    matched
        .into_iter()
        .map(|r| {
            let found = r.order_by.as_ref().and_then(|_| keys.next().flatten());
            let order_key = match found {
                Some(serde_json::Value::String(s)) => Some(s),
                Some(serde_json::Value::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            NewDelivery { route: r.name.clone(), order_key }
        })
        .collect()
}

/// `deliveries` for an event as stored: its kept headers and raw body (a
/// form body's `payload=` JSON read for `order_by`, SPEC §5).
pub fn deliveries_for(
    routes: &[Route],
    event_type: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Vec<NewDelivery> {
    let mut subject = condition::Subject::new(headers, body);
    let view = payload::json_bytes(body, subject.content_type);
    deliveries(routes, event_type, &view, &mut subject)
}

/// The routes an event type matches, in config order.
pub fn matching<'a>(routes: &'a [Route], event_type: &'a str) -> impl Iterator<Item = &'a Route> + 'a {
    routes.iter().filter(move |r| r.matches(event_type))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(name: &str, events: &[&str]) -> Route {
        let events = events.iter().map(|s| s.to_string()).collect();
        let handler = Handler::Command { argv: vec!["true".into()] };
        Route::new(name.into(), events, handler, Duration::from_secs(1), RetryPolicy::default(), vec![65])
            .expect("valid route")
    }

    #[test]
    fn globs_match_event_types() {
        let routes = [route("pay", &["payment_intent.succeeded", "invoice.*"]), route("all", &["*"])];
        let names = |t| matching(&routes, t).map(|r| r.name.as_str()).collect::<Vec<_>>();
        assert_eq!(names("invoice.payment.failed"), ["pay", "all"]);
        assert_eq!(names("payment_intent.succeeded"), ["pay", "all"]);
        assert_eq!(names("customer.created"), ["all"]);
        assert!(compile(&["[".to_string()]).is_err());
    }

    #[test]
    fn order_keys_come_from_the_body() {
        let mut ordered = route("per-customer", &["*"]);
        ordered.order_by = Some("/data/object/customer".into());
        let routes = [ordered, route("all", &["*"])];
        let body = br#"{"data":{"object":{"customer":"cus_1"}}}"#;
        let got = deliveries_for(&routes, "x", &[], body);
        assert_eq!(got[0], NewDelivery { route: "per-customer".into(), order_key: Some("cus_1".into()) });
        assert_eq!(got[1], NewDelivery { route: "all".into(), order_key: None });
        assert_eq!(deliveries_for(&routes, "x", &[], b"not json")[0].order_key, None);
        // Several ordered routes, read in one pass: each gets its own key.
        let mut by_n = route("per-n", &["*"]);
        by_n.order_by = Some("/n".into());
        let routes = [by_n, route("all", &["*"]), routes[0].clone()];
        let got = deliveries_for(&routes, "x", &[], br#"{"n":7,"data":{"object":{"customer":"cus_2"}}}"#);
        let keys: Vec<_> = got.iter().map(|d| d.order_key.as_deref()).collect();
        assert_eq!(keys, [Some("7"), None, Some("cus_2")]);
    }
}
