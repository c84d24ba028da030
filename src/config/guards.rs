//! Parsing of the request guards' settings: `allow_ips` and
//! `[server] trusted_proxies` (CIDR lists, via `ipnet`), a source's
//! `rate_limit` and `[server] unverified_rate_limit` (`"100/s"`, `/m`, `/h`,
//! as a `governor` quota) and `public_url`.
//! Parsing only; the guards themselves live in `ingress/guard.rs`.

use governor::Quota;
use ipnet::IpNet;
use std::net::IpAddr;
use std::num::NonZeroU32;

/// CIDRs, or bare addresses taken as a single host (`/32`, `/128`).
pub fn cidrs(list: &[String]) -> Result<Vec<IpNet>, String> {
    list.iter().map(|s| cidr(s)).collect()
}

fn cidr(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{s:?} is not an IP address or CIDR (e.g. \"10.0.0.0/8\")"))
}

/// `"<n>/s"`, `"<n>/m"` or `"<n>/h"`, n ≥ 1; bursts up to n.
pub fn rate_limit(s: &str) -> Result<Quota, String> {
    let bad = || format!("{s:?} is not a rate like \"100/s\", \"600/m\" or \"1000/h\"");
    let (n, unit) = s.trim().split_once('/').ok_or_else(bad)?;
    let n: NonZeroU32 = n.trim().parse().map_err(|_| bad())?;
    match unit.trim() {
        "s" => Ok(Quota::per_second(n)),
        "m" => Ok(Quota::per_minute(n)),
        "h" => Ok(Quota::per_hour(n)),
        _ => Err(bad()),
    }
}

/// An absolute `http://` or `https://` URL with a host.
pub fn public_url(s: &str) -> Result<String, String> {
    match s.parse::<http::Uri>() {
        Ok(u) if matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some() => Ok(s.to_string()),
        _ => Err(format!("{s:?} is not an absolute http(s) URL")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_and_bare_addresses() {
        let got = cidrs(&["10.0.0.0/8".into(), "127.0.0.1".into(), "::1".into()]).expect("valid");
        assert_eq!(got.iter().map(|n| n.to_string()).collect::<Vec<_>>(), ["10.0.0.0/8", "127.0.0.1/32", "::1/128"]);
        assert!(cidrs(&["10.0.0.0/33".into()]).is_err());
        assert!(cidrs(&["example.com".into()]).is_err());
    }

    #[test]
    fn rates_per_second_minute_hour() {
        assert_eq!(rate_limit("100/s"), Ok(Quota::per_second(NonZeroU32::new(100).expect("nonzero"))));
        assert_eq!(rate_limit("6/m"), Ok(Quota::per_minute(NonZeroU32::new(6).expect("nonzero"))));
        assert!(rate_limit("1/h").is_ok());
        for bad in ["0/s", "100", "100/d", "x/s", "-1/s"] {
            assert!(rate_limit(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn public_urls_are_absolute() {
        assert!(public_url("https://hooks.example.com/webhooks/twilio").is_ok());
        assert!(public_url("/webhooks/twilio").is_err());
        assert!(public_url("ftp://x/y").is_err());
    }
}
