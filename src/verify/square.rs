//! Square: `x-square-hmacsha256-signature: <base64>`, HMAC-SHA256 of the
//! notification URL followed by the raw body, with the subscription's
//! signature key as-is. The URL is `public_url`, else the URL as received.

use super::{ct_eq, hmac_sha256, Inbound, Rejection};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

pub const HEADER: &str = "x-square-hmacsha256-signature";

pub fn verify(secrets: &[Vec<u8>], req: &Inbound) -> Result<(), Rejection> {
    let header = req.header(HEADER).ok_or(Rejection::MissingSignature)?;
    let sig = STANDARD.decode(header.trim()).map_err(|_| Rejection::MalformedSignature)?;
    let payload = signed_payload(req.url, req.body);
    let matched = secrets.iter().any(|s| ct_eq(&hmac_sha256(s, &payload), &sig));
    matched.then_some(()).ok_or(Rejection::BadSignature)
}

/// The signature header value Square would send for `body` posted to `url`.
pub fn sign(secret: &[u8], url: &str, body: &[u8]) -> String {
    STANDARD.encode(hmac_sha256(secret, &signed_payload(url, body)))
}

fn signed_payload(url: &str, body: &[u8]) -> Vec<u8> {
    let mut payload = url.as_bytes().to_vec();
    payload.extend_from_slice(body);
    payload
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::header_map;
    use std::time::SystemTime;

    // square/square-python-sdk, tests/utilities/test_webhooks_helper.py.
    const BODY: &[u8] = br#"{"merchant_id":"MLEFBHHSJGVHD","type":"webhooks.test_notification","event_id":"ac3ac95b-f97d-458c-a6e6-18981597e05f","created_at":"2022-07-13T20:30:59.037339943Z","data":{"type":"webhooks","id":"bc368e64-01aa-407e-b46e-3231809b1129"}}"#;
    const SIG: &str = "GF4YkrJgGBDZ9NIYbNXBnMzqb2HoL4RW/S6vkZ9/2N4=";
    const KEY: &[u8] = b"Ibxx_5AKakO-3qeNVR61Dw";
    const URL: &str = "https://webhook.site/679a4f3a-dcfa-49ee-bac5-9d0edad886b9";

    fn check(key: &[u8], url: &str, body: &[u8]) -> Result<(), Rejection> {
        let headers = header_map(&[(HEADER, SIG)]);
        let req = Inbound { headers: &headers, body, url, now: SystemTime::now() };
        verify(&[key.to_vec()], &req)
    }

    #[test]
    fn squares_published_vector() {
        assert_eq!(sign(KEY, URL, BODY), SIG);
        assert_eq!(check(KEY, URL, BODY), Ok(()));
        // Same file: url mismatch, wrong key, body mismatch all fail.
        let other_url = "https://webhook.site/79a4f3a-dcfa-49ee-bac5-9d0edad886b9";
        assert_eq!(check(KEY, other_url, BODY), Err(Rejection::BadSignature));
        assert_eq!(check(b"MCmhFRxGX82xMwg5FsaoQA", URL, BODY), Err(Rejection::BadSignature));
        assert_eq!(check(KEY, URL, &BODY[1..]), Err(Rejection::BadSignature));
    }
}
