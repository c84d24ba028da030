//! Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`, HMAC-SHA256 of
//! `"{t}.{body}"` with the endpoint secret used as-is (`whsec_…` is not
//! decoded). Any `v1` may match any configured secret. Never logs or returns
//! the expected signature.

use super::{any_hmac_sha256_then_fresh, hmac_sha256, Inbound, Rejection};
use std::time::Duration;

pub const HEADER: &str = "stripe-signature";

pub fn verify(secrets: &[Vec<u8>], tolerance: Duration, req: &Inbound) -> Result<(), Rejection> {
    let header = req.header(HEADER).ok_or(Rejection::MissingSignature)?;
    let (ts, sigs) = parse(header)?;
    let payload = signed_payload(ts, req.body);
    any_hmac_sha256_then_fresh(secrets, &payload, &sigs, ts, tolerance, req)
}

/// The header value Stripe would send for `body` at `ts` (for `hookd send`).
pub fn sign(secret: &[u8], ts: i64, body: &[u8]) -> String {
    let sig = hmac_sha256(secret, &signed_payload(ts, body));
    format!("t={ts},v1={}", hex::encode(sig))
}

fn signed_payload(ts: i64, body: &[u8]) -> Vec<u8> {
    let mut payload = format!("{ts}.").into_bytes();
    payload.extend_from_slice(body);
    payload
}

/// `t=` once, any number of `v1=`; other schemes (`v0=`) are ignored.
fn parse(header: &str) -> Result<(i64, Vec<Vec<u8>>), Rejection> {
    let mut ts = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        let Some((key, value)) = part.trim().split_once('=') else {
            continue;
        };
        match key {
            "t" => ts = value.parse::<i64>().ok(),
            "v1" => sigs.extend(hex::decode(value).ok()),
            _ => {}
        }
    }
    match (ts, sigs.is_empty()) {
        (Some(ts), false) => Ok((ts, sigs)),
        _ => Err(Rejection::MalformedSignature),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;
    use std::time::{SystemTime, UNIX_EPOCH};

    const SECRET: &[u8] = b"whsec_test_secret";
    const BODY: &[u8] = br#"{"id":"evt_1","type":"invoice.paid"}"#;

    fn check(header: &str, now: i64) -> Result<(), Rejection> {
        let mut headers = HeaderMap::new();
        headers.insert(HEADER, header.parse().expect("ascii header"));
        let req = Inbound { headers: &headers, body: BODY, url: "", now: UNIX_EPOCH + Duration::from_secs(now as u64) };
        verify(&[SECRET.to_vec()], Duration::from_secs(300), &req)
    }

    /// Stripe's documented scheme, computed outside hookd:
    /// `printf '1700000000.%s' "$BODY" | openssl dgst -sha256 -hmac whsec_test_secret`.
    #[test]
    fn accepts_documented_scheme() {
        let header = "t=1700000000,v1=46dc069361a7691082640523fa33fe5d6c8c88d5f5e257cdf8cf11539d166595";
        assert_eq!(sign(SECRET, 1_700_000_000, BODY), header);
        assert_eq!(check(header, 1_700_000_100), Ok(()));
    }

    #[test]
    fn any_v1_may_match() {
        let good = sign(SECRET, 1_700_000_000, BODY);
        let header = format!("t=1700000000,v1={},{}", "00".repeat(32), &good[13..]);
        assert_eq!(check(&header, 1_700_000_000), Ok(()));
    }

    #[test]
    fn rejects_tampered_stale_missing_and_garbage() {
        let good = sign(SECRET, 1_700_000_000, BODY);
        let tampered = good.replace("v1=", "v1=00");
        assert_eq!(check(&tampered, 1_700_000_000), Err(Rejection::BadSignature));
        assert!(matches!(check(&good, 1_700_000_301), Err(Rejection::StaleTimestamp { .. })));
        assert!(matches!(check(&good, 1_699_999_699), Err(Rejection::StaleTimestamp { .. })));
        assert_eq!(check("v1=abc", 1), Err(Rejection::MalformedSignature));
        assert_eq!(check("t=1", 1), Err(Rejection::MalformedSignature));
        let headers = HeaderMap::new();
        let req = Inbound { headers: &headers, body: BODY, url: "", now: SystemTime::now() };
        assert_eq!(verify(&[SECRET.to_vec()], Duration::ZERO, &req), Err(Rejection::MissingSignature));
    }
}
