//! Console sessions: a random id (256 bits from the kernel) per login, kept
//! in memory for `LIFETIME` (a restart logs everyone out), at most
//! `LOGINS_PER_MINUTE` login attempts, and the same-origin rule for requests
//! a browser could be tricked into sending. Never stores or compares the
//! admin token itself.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The session cookie's name.
pub const COOKIE: &str = "hookd_session";
/// A session ends this long after its login.
const LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at most; a login past it ends the oldest.
const MAX_SESSIONS: usize = 256;
/// Login attempts allowed per minute (all together: a person needs one).
const LOGINS_PER_MINUTE: u32 = 10;

pub struct Sessions {
    live: Mutex<HashMap<String, Instant>>,
    logins: governor::DefaultDirectRateLimiter,
}

impl Default for Sessions {
    fn default() -> Self {
        let per_minute = std::num::NonZeroU32::new(LOGINS_PER_MINUTE).unwrap_or(std::num::NonZeroU32::MIN);
        let logins = governor::RateLimiter::direct(governor::Quota::per_minute(per_minute));
        Sessions { live: Mutex::default(), logins }
    }
}

impl Sessions {
    /// Spend one login attempt; `Err(wait)` when they are used up.
    pub fn may_try_login(&self) -> Result<(), Duration> {
        use governor::clock::{Clock, DefaultClock};
        self.logins.check().map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// A new session's id, or `None` when the kernel gave no randomness.
    pub fn open(&self) -> Option<String> {
        let mut raw = [0u8; 32];
        std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut raw)).ok()?;
        let id = hex::encode(raw);
        let mut map = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        map.retain(|_, started| now.duration_since(*started) < LIFETIME);
        if map.len() >= MAX_SESSIONS {
            if let Some(oldest) = map.iter().min_by_key(|(_, t)| **t).map(|(k, _)| k.clone()) {
                map.remove(&oldest);
            }
        }
        map.insert(id.clone(), now);
        Some(id)
    }

    /// Whether the request's cookie names a live session.
    pub fn valid(&self, headers: &http::HeaderMap) -> bool {
        let Some(id) = cookie(headers) else { return false };
        let map = self.live.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&id).is_some_and(|started| started.elapsed() < LIFETIME)
    }

    pub fn close(&self, headers: &http::HeaderMap) {
        if let Some(id) = cookie(headers) {
            self.live.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
        }
    }
}

/// The session id in the request's `Cookie` header(s).
fn cookie(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
}

/// A request's `Origin` against its `Host`: `Some(true)` same origin,
/// `Some(false)` another one (or an opaque `null`), `None` no `Origin`
/// (not sent by a browser's form or script for these methods).
pub fn same_origin(headers: &http::HeaderMap) -> Option<bool> {
    let origin = headers.get(http::header::ORIGIN)?.to_str().unwrap_or("null");
    let host = headers.get(http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    let authority = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://"));
    Some(!host.is_empty() && authority.is_some_and(|a| a.eq_ignore_ascii_case(host)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().expect("header value"));
        }
        h
    }

    #[test]
    fn a_session_is_found_by_its_cookie_and_ends_at_logout() {
        let sessions = Sessions::default();
        let id = sessions.open().expect("randomness");
        assert_eq!(id.len(), 64);
        let h = headers(&[("cookie", &format!("a=b; {COOKIE}={id}; c=d"))]);
        assert!(sessions.valid(&h));
        assert!(!sessions.valid(&headers(&[("cookie", &format!("{COOKIE}=nope"))])));
        sessions.close(&h);
        assert!(!sessions.valid(&h));
    }

    #[test]
    fn login_attempts_are_limited() {
        let sessions = Sessions::default();
        for _ in 0..LOGINS_PER_MINUTE {
            assert!(sessions.may_try_login().is_ok());
        }
        let wait = sessions.may_try_login().expect_err("used up");
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(6), "{wait:?}");
    }

    #[test]
    fn origin_must_name_the_host() {
        let host = ("host", "127.0.0.1:9091");
        assert_eq!(same_origin(&headers(&[host, ("origin", "http://127.0.0.1:9091")])), Some(true));
        assert_eq!(same_origin(&headers(&[host, ("origin", "http://evil.example")])), Some(false));
        assert_eq!(same_origin(&headers(&[host, ("origin", "null")])), Some(false));
        assert_eq!(same_origin(&headers(&[("origin", "http://127.0.0.1:9091")])), Some(false));
        assert_eq!(same_origin(&headers(&[host])), None);
    }
}
