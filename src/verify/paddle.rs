//! Paddle Billing: `Paddle-Signature: ts=<unix>;h1=<hex>[;h1=<hex>…]`,
//! HMAC-SHA256 of `"{ts}:{body}"` with the notification secret as-is. Any
//! `h1` may match any configured secret; then the timestamp must be fresh.

use super::{any_hmac_sha256_then_fresh, hmac_sha256, Inbound, Rejection};
use std::time::Duration;

pub const HEADER: &str = "paddle-signature";

/// `h1` entries looked at per request (rotation sends two, never dozens).
const MAX_ENTRIES: usize = 16;

pub fn verify(secrets: &[Vec<u8>], tolerance: Duration, req: &Inbound) -> Result<(), Rejection> {
    let header = req.header(HEADER).ok_or(Rejection::MissingSignature)?;
    let (ts_text, sigs) = parse(header)?;
    let ts: i64 = ts_text.parse().map_err(|_| Rejection::MalformedSignature)?;
    let payload = signed_payload(ts_text, req.body);
    any_hmac_sha256_then_fresh(secrets, &payload, &sigs, ts, tolerance, req)
}

/// The `Paddle-Signature` value Paddle would send for `body` at `ts`.
pub fn sign(secret: &[u8], ts: i64, body: &[u8]) -> String {
    let sig = hmac_sha256(secret, &signed_payload(&ts.to_string(), body));
    format!("ts={ts};h1={}", hex::encode(sig))
}

fn signed_payload(ts: &str, body: &[u8]) -> Vec<u8> {
    let mut payload = format!("{ts}:").into_bytes();
    payload.extend_from_slice(body);
    payload
}

/// `ts=` once, any number of `h1=`; undecodable `h1` values never match.
fn parse(header: &str) -> Result<(&str, Vec<Vec<u8>>), Rejection> {
    let mut ts = None;
    let mut sigs = Vec::new();
    for part in header.split(';').take(MAX_ENTRIES) {
        match part.trim().split_once('=') {
            Some(("ts", v)) if v.bytes().all(|b| b.is_ascii_digit()) && !v.is_empty() => ts = Some(v),
            Some(("h1", v)) => sigs.extend(hex::decode(v).ok()),
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
    use crate::verify::header_map;
    use std::time::UNIX_EPOCH;

    // PaddleHQ/paddle-python-sdk, tests/Unit/Notification/test_Verifier.py,
    // `test_validate_paddle_signature_header_integrity`: a decoy `h1=dummy`,
    // then the valid one; only the third secret matches.
    const HEADER_VALUE: &str =
        "ts=1696195954;h1=dummy;h1=d96299976a6eb066f484d7fde011ac56fc32b38fc9940bc419d6e537fdc6ef02";
    const SECRETS: [&str; 3] = [
        "pdl_ntf_01hbpjmytsa32fhr36nqgc3kgb_TjIG2BXbm83HPXqNfziwe506sBEdqL/4",
        "pdl_ntf_01hbpjmytsa32fhr36nqgc3kgb_vB/yIOnTOCWIvpBadM5jzBZPHc7OmdSo",
        "pdl_ntf_01hbpjmytsa32fhr36nqgc3kgb_WvRO0eL4Bj9rgYYIBZY6wZhG4EHy9jzh",
    ];

    fn check(secrets: &[&str], header: &str, body: &[u8], now: i64) -> Result<(), Rejection> {
        let headers = header_map(&[(HEADER, header)]);
        let req = Inbound { headers: &headers, body, url: "", now: UNIX_EPOCH + Duration::from_secs(now as u64) };
        let secrets: Vec<Vec<u8>> = secrets.iter().map(|s| s.as_bytes().to_vec()).collect();
        verify(&secrets, Duration::from_secs(5), &req)
    }

    #[test]
    fn paddles_published_vector() {
        assert_eq!(check(&SECRETS, HEADER_VALUE, b"hello-world", 1_696_195_954), Ok(()));
        assert_eq!(check(&SECRETS[..2], HEADER_VALUE, b"hello-world", 1_696_195_954), Err(Rejection::BadSignature));
        let signed = sign(SECRETS[2].as_bytes(), 1_696_195_954, b"hello-world");
        assert!(HEADER_VALUE.ends_with(&signed[signed.find("h1=").expect("h1")..]));
    }

    #[test]
    fn rejects_tampered_stale_and_garbage() {
        assert_eq!(check(&SECRETS, HEADER_VALUE, b"hello-world!", 1_696_195_954), Err(Rejection::BadSignature));
        assert!(matches!(
            check(&SECRETS, HEADER_VALUE, b"hello-world", 1_696_195_960),
            Err(Rejection::StaleTimestamp { .. })
        ));
        assert_eq!(check(&SECRETS, "h1=00", b"x", 0), Err(Rejection::MalformedSignature));
        assert_eq!(check(&SECRETS, "ts=1;h1=zz", b"x", 0), Err(Rejection::MalformedSignature));
    }
}
