//! The checks before any signature work: who the client is (the socket peer,
//! or `X-Forwarded-For` only when the peer is a trusted proxy), the source's
//! `allow_ips`, and its rate limit (one `governor` limiter per source). Also
//! the URL as received, for senders that sign it. Never logs header values.

use crate::config::{Source, Sources};
use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, RateLimiter};
use http::HeaderMap;
use ipnet::IpNet;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Why a request was stopped before its signature was looked at.
#[derive(Debug, PartialEq, Eq)]
pub enum Denied {
    /// 403: the client IP is outside `allow_ips`.
    Forbidden,
    /// 429: over `rate_limit`; retry after this many seconds (≥ 1).
    TooMany { retry_after: u64 },
}

pub struct Guards {
    trusted_proxies: Vec<IpNet>,
    limiters: BTreeMap<String, DefaultDirectRateLimiter>,
}

impl Guards {
    pub fn new(sources: &Sources, trusted_proxies: Vec<IpNet>) -> Guards {
        let limiters =
            sources.iter().filter_map(|(name, s)| Some((name.clone(), RateLimiter::direct(s.rate_limit?)))).collect();
        Guards { trusted_proxies, limiters }
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

    /// `allow_ips` (403), then the rate limit (429).
    pub fn admit(&self, source: &Source, client: IpAddr) -> Result<(), Denied> {
        if !source.allow_ips.is_empty() && !source.allow_ips.iter().any(|net| net.contains(&client)) {
            return Err(Denied::Forbidden);
        }
        let Some(limiter) = self.limiters.get(&source.name) else { return Ok(()) };
        limiter.check().map_err(|not_until| {
            let wait = not_until.wait_time_from(limiter.clock().now());
            Denied::TooMany { retry_after: (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1) }
        })
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
