//! Routes: event-type globs compiled once, and the handler each route runs.
//! Pure: which routes an event type matches; no IO.

use crate::config::secret::Secret;
use crate::retry::RetryPolicy;
use globset::{Glob, GlobSet, GlobSetBuilder};
use std::time::Duration;

#[derive(Debug, Clone)]
pub enum Handler {
    /// argv, executed directly (no shell).
    Command { argv: Vec<String> },
    /// HTTP POST, signed per Standard Webhooks when a secret is set.
    Callback { url: String, signing_secret: Option<Secret> },
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
        Ok(Route { name, events, matcher, handler, timeout, retry, permanent_exit_codes })
    }

    pub fn matches(&self, event_type: &str) -> bool {
        self.matcher.is_match(event_type)
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
}
