//! Slack: `X-Slack-Signature: v0=<hex>`, HMAC-SHA256 of `"v0:{ts}:{body}"`
//! with `X-Slack-Request-Timestamp`, within the tolerance both ways. Zoom
//! signs the same way under other header names and reuses [`verify_v0`].
//! Never logs or returns the expected signature.

use super::{ct_eq, fresh, hmac_sha256, Inbound, Rejection};
use std::time::Duration;

pub const HEADER: &str = "x-slack-signature";
pub const TIMESTAMP: &str = "x-slack-request-timestamp";

pub fn verify(secrets: &[Vec<u8>], tolerance: Duration, req: &Inbound) -> Result<(), Rejection> {
    verify_v0(HEADER, TIMESTAMP, secrets, tolerance, req)
}

/// The `v0=` scheme under the given header names (Slack's and Zoom's).
pub fn verify_v0(
    header: &str,
    ts_header: &str,
    secrets: &[Vec<u8>],
    tolerance: Duration,
    req: &Inbound,
) -> Result<(), Rejection> {
    let sig = req.header(header).ok_or(Rejection::MissingSignature)?;
    let ts_text = req.header(ts_header).ok_or(Rejection::MissingSignature)?.trim();
    let sig = sig.trim().strip_prefix("v0=").and_then(|h| hex::decode(h).ok());
    let sig = sig.ok_or(Rejection::MalformedSignature)?;
    let ts = parse_timestamp(ts_text).ok_or(Rejection::MalformedSignature)?;
    let base = base_string(ts_text, req.body);
    if !secrets.iter().any(|s| ct_eq(&hmac_sha256(s, &base), &sig)) {
        return Err(Rejection::BadSignature);
    }
    fresh(req.now_unix(), ts, tolerance)?;
    Ok(())
}

/// The `X-Slack-Signature` (or `x-zm-signature`) value for `body` at `ts`.
pub fn sign(secret: &[u8], ts: i64, body: &[u8]) -> String {
    format!("v0={}", hex::encode(hmac_sha256(secret, &base_string(&ts.to_string(), body))))
}

/// `v0:{ts}:{body}`, the timestamp exactly as the header carried it.
fn base_string(ts: &str, body: &[u8]) -> Vec<u8> {
    let mut base = format!("v0:{ts}:").into_bytes();
    base.extend_from_slice(body);
    base
}

/// Seconds since the epoch (digits only); over 10^11 is taken as milliseconds.
fn parse_timestamp(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = s.parse().ok()?;
    Some(if n > 100_000_000_000 { n / 1000 } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::header_map;
    use std::time::UNIX_EPOCH;

    // Slack's published example ("Verifying requests from Slack",
    // docs.slack.dev/authentication/verifying-requests-from-slack), also the
    // fixture of slackapi/python-slack-sdk
    // tests/slack_sdk/signature/test_signature_verifier.py.
    const SECRET: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";
    const TS: i64 = 1531420618;
    const BODY: &[u8] = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIG: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn check(sig: &str, ts: &str, body: &[u8], now: i64) -> Result<(), Rejection> {
        let headers = header_map(&[(HEADER, sig), (TIMESTAMP, ts)]);
        let req = Inbound { headers: &headers, body, url: "", now: UNIX_EPOCH + Duration::from_secs(now as u64) };
        verify(&[b"other".to_vec(), SECRET.to_vec()], Duration::from_secs(300), &req)
    }

    #[test]
    fn slacks_published_example() {
        assert_eq!(sign(SECRET, TS, BODY), SIG);
        assert_eq!(check(SIG, "1531420618", BODY, TS), Ok(()));
    }

    #[test]
    fn rejects_tampered_stale_and_garbage() {
        let ts = "1531420618";
        assert_eq!(check(SIG, ts, b"token=x", TS), Err(Rejection::BadSignature));
        assert!(matches!(check(SIG, ts, BODY, TS + 301), Err(Rejection::StaleTimestamp { .. })));
        assert!(matches!(check(SIG, ts, BODY, TS - 301), Err(Rejection::StaleTimestamp { .. })));
        assert_eq!(check(&SIG[3..], ts, BODY, TS), Err(Rejection::MalformedSignature));
        assert_eq!(check(SIG, "-1", BODY, TS), Err(Rejection::MalformedSignature));
        assert_eq!(check(SIG, "", BODY, TS), Err(Rejection::MalformedSignature));
    }
}
