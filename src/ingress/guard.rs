//! The checks around the signature: who the client is (the socket peer, or
//! `X-Forwarded-For` only when the peer is a trusted proxy), the source's
//! `allow_ips`, each client address's budget of failed verifications
//! (`[server] unverified_rate_limit`, a keyed `governor` limiter charged only
//! when a verification fails), and the source's `rate_limit` (one `governor`
//! limiter per source, counted over verified requests only). Also the URL as
//! received, for senders that sign it. Never logs header values; the keyed
//! state is pruned so it cannot grow without bound.

use crate::config::{Source, Sources};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use http::HeaderMap;
use ipnet::IpNet;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often the per-address state drops addresses that are back to a full budget.
const PRUNE_EVERY: Duration = Duration::from_secs(10);

/// Why a request was stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum Denied {
    /// 403: the client IP is outside `allow_ips`.
    Forbidden,
    /// 429: the client address spent its budget of failed verifications;
    /// retry after this many seconds (≥ 1).
    Unverified { retry_after: u64 },
    /// 429: over the source's `rate_limit`; retry after this many seconds (≥ 1).
    TooMany { retry_after: u64 },
}

pub struct Guards {
    trusted_proxies: Vec<IpNet>,
    limiters: BTreeMap<String, DefaultDirectRateLimiter>,
    unverified: Unverified,
}

type KeyedLimiter = RateLimiter<IpAddr, DefaultKeyedStateStore<IpAddr>, DefaultClock, StateInformationMiddleware>;

/// Each client address's budget of failed verifications.
struct Unverified {
    /// Charged once per failed verification.
    limiter: KeyedLimiter,
    /// Addresses whose budget is spent, until their next failure is allowed.
    refused: Mutex<HashMap<IpAddr, Instant>>,
    /// When both maps were last pruned.
    pruned: Mutex<Instant>,
}

impl Guards {
    /// `unverified`: each client address's budget of failed verifications.
    pub fn new(sources: &Sources, trusted_proxies: Vec<IpNet>, unverified: Quota) -> Guards {
        let limiters =
            sources.iter().filter_map(|(name, s)| Some((name.clone(), RateLimiter::direct(s.rate_limit?)))).collect();
        let unverified = Unverified {
            limiter: RateLimiter::keyed(unverified).with_middleware::<StateInformationMiddleware>(),
            refused: Mutex::new(HashMap::new()),
            pruned: Mutex::new(Instant::now()),
        };
        Guards { trusted_proxies, limiters, unverified }
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }

    /// The client: the peer, or — only when the peer is a trusted proxy — the
    /// right-most `X-Forwarded-For` hop that is not itself a trusted proxy.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusted(client) {
            return client;
        }
        let hops = forwarded_for(headers);
        for hop in hops.iter().rev() {
            let Ok(ip) = hop.parse::<IpAddr>() else { break };
            client = ip.to_canonical();
            if !self.trusted(client) {
                break;
            }
        }
        client
    }

    /// Before the signature: `allow_ips` (403), then the client address's
    /// budget of failed verifications (429). Charges nothing.
    pub fn admit(&self, source: &Source, client: IpAddr) -> Result<(), Denied> {
        if !source.allow_ips.is_empty() && !source.allow_ips.iter().any(|net| net.contains(&client)) {
            return Err(Denied::Forbidden);
        }
        let now = Instant::now();
        let mut refused = self.unverified.refused.lock().unwrap_or_else(|e| e.into_inner());
        match refused.get(&client) {
            Some(until) if *until > now => Err(Denied::Unverified { retry_after: seconds(*until - now) }),
            Some(_) => {
                refused.remove(&client);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// A verification from `client` failed: charge its budget. Once the
    /// budget is spent, `admit` refuses the address until the limiter would
    /// allow its next failure.
    pub fn verification_failed(&self, client: IpAddr) {
        let limiter = &self.unverified.limiter;
        let spent = match limiter.check_key(&client) {
            Ok(state) if state.remaining_burst_capacity() > 0 => None,
            // That was the last of the budget. A refused check changes no
            // state, so this asks when the next failure would be allowed.
            Ok(_) => limiter.check_key(&client).err(),
            Err(not_until) => Some(not_until),
        };
        let now = Instant::now();
        if let Some(not_until) = spent {
            let until = now + not_until.wait_time_from(limiter.clock().now());
            self.unverified.refused.lock().unwrap_or_else(|e| e.into_inner()).insert(client, until);
        }
        self.prune(now);
    }

    /// After the signature: the source's `rate_limit` (429), counted over
    /// verified requests only.
    pub fn admit_verified(&self, source: &Source) -> Result<(), Denied> {
        let Some(limiter) = self.limiters.get(&source.name) else { return Ok(()) };
        limiter.check().map_err(|not_until| Denied::TooMany {
            retry_after: seconds(not_until.wait_time_from(limiter.clock().now())),
        })
    }

    /// At most every `PRUNE_EVERY`: forget addresses whose budget is full
    /// again and refusals that ended, so a stream of new addresses cannot
    /// grow the maps for ever.
    fn prune(&self, now: Instant) {
        let Ok(mut last) = self.unverified.pruned.try_lock() else { return };
        if now.duration_since(*last) < PRUNE_EVERY {
            return;
        }
        *last = now;
        self.unverified.limiter.retain_recent();
        self.unverified.limiter.shrink_to_fit();
        let mut refused = self.unverified.refused.lock().unwrap_or_else(|e| e.into_inner());
        refused.retain(|_, until| *until > now);
        refused.shrink_to_fit();
    }

    /// How many addresses the per-address state holds (tests).
    #[cfg(test)]
    fn tracked(&self) -> (usize, usize) {
        let refused = self.unverified.refused.lock().unwrap_or_else(|e| e.into_inner()).len();
        (self.unverified.limiter.len(), refused)
    }

    /// The URL the sender posted to: scheme + host + path and query, with
    /// `X-Forwarded-Proto` / `X-Forwarded-Host` believed only from a trusted peer.
    pub fn received_url(&self, peer: IpAddr, headers: &HeaderMap, uri: &http::Uri) -> String {
        let forwarded = |name: &str| {
            let value = headers.get(name)?.to_str().ok()?;
            Some(value.split(',').next()?.trim().to_string()).filter(|v| !v.is_empty())
        };
        let trusted = self.trusted(peer);
        let proto = trusted.then(|| forwarded("x-forwarded-proto")).flatten();
        let proto = proto.filter(|p| p == "http" || p == "https").unwrap_or_else(|| "http".into());
        let host = trusted.then(|| forwarded("x-forwarded-host")).flatten();
        let host = host.or_else(|| headers.get(http::header::HOST)?.to_str().ok().map(str::to_string));
        let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        format!("{proto}://{}{path}", host.unwrap_or_else(|| "localhost".into()))
    }
}

/// Whole seconds for `Retry-After`, rounded up, at least 1.
fn seconds(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// Every `X-Forwarded-For` hop, in order, across repeated headers.
fn forwarded_for(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|hop| hop.trim().to_string())
        .filter(|hop| !hop.is_empty())
        .collect()
}

#[cfg(test)]
mod tests;
