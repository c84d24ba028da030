//! Sender handshakes, answered in place (200) once the signature verified:
//! Slack's `url_verification` (echo the challenge) and Zoom's
//! `endpoint.url_validation` (`plainToken` + its HMAC). Pure: the answer is
//! never stored nor dispatched, and carries no secret.

use super::{hmac_sha256, zoom, Inbound, Scheme, Verifier};
use serde_json::{json, Value};

/// The 200 answer when `req` is a handshake of its source's kind.
pub fn answer(v: &Verifier, req: &Inbound) -> Option<Value> {
    match v.scheme {
        Scheme::Slack => slack(req.body),
        Scheme::Zoom => zoom_validation(v, req),
        _ => None,
    }
}

/// `{"type":"url_verification","challenge":"…"}` → `{"challenge":"…"}`.
fn slack(body: &[u8]) -> Option<Value> {
    let v = parse(body, b"url_verification")?;
    if v.get("type")?.as_str()? != "url_verification" {
        return None;
    }
    let challenge = v.get("challenge")?.as_str()?;
    Some(json!({ "challenge": challenge }))
}

/// `{"event":"endpoint.url_validation","payload":{"plainToken":"…"}}` →
/// `{"plainToken":"…","encryptedToken":hex(HMAC-SHA256(secret, plainToken))}`,
/// with the secret that signed the request (rotation).
fn zoom_validation(v: &Verifier, req: &Inbound) -> Option<Value> {
    let body = parse(req.body, b"endpoint.url_validation")?;
    if body.get("event")?.as_str()? != "endpoint.url_validation" {
        return None;
    }
    let plain = body.pointer("/payload/plainToken")?.as_str()?;
    let secret = v
        .secrets
        .iter()
        .find(|s| zoom::verify(std::slice::from_ref(s), v.tolerance, req).is_ok())
        .or(v.secrets.first())?;
    Some(json!({ "plainToken": plain, "encryptedToken": encrypted_token(secret, plain) }))
}

pub fn encrypted_token(secret: &[u8], plain_token: &str) -> String {
    hex::encode(hmac_sha256(secret, plain_token.as_bytes()))
}

/// The body as JSON, only when it may be a handshake (ordinary events skip
/// a second parse).
fn parse(body: &[u8], marker: &[u8]) -> Option<Value> {
    if body.trim_ascii_start().first() != Some(&b'{') || !body.windows(marker.len()).any(|w| w == marker) {
        return None;
    }
    serde_json::from_slice(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::header_map;
    use std::time::{Duration, SystemTime};

    fn verifier(scheme: Scheme) -> Verifier {
        Verifier { scheme, secrets: vec![b"zoom_secret".to_vec()], tolerance: Duration::ZERO }
    }

    fn run(scheme: Scheme, body: &[u8]) -> Option<Value> {
        let headers = header_map(&[]);
        answer(&verifier(scheme), &Inbound { headers: &headers, body, url: "", now: SystemTime::now() })
    }

    /// Slack's documented challenge (docs.slack.dev, "url_verification event").
    #[test]
    fn slack_echoes_the_challenge() {
        let body = br#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
        let got = run(Scheme::Slack, body).expect("handshake");
        assert_eq!(got, json!({"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}));
        assert_eq!(run(Scheme::Slack, br#"{"type":"event_callback"}"#), None);
        assert_eq!(run(Scheme::Slack, b"token=x&type=url_verification"), None);
    }

    /// Zoom publishes the algorithm, not a vector (developers.zoom.us/docs/api/webhooks,
    /// "Validate your webhook endpoint"). Cross-checked outside hookd:
    /// `printf qgg8vlvZRS6UYooatFL8Aw | openssl dgst -sha256 -hmac zoom_secret`.
    #[test]
    fn zoom_answers_plain_and_encrypted_token() {
        let body = br#"{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}"#;
        let got = run(Scheme::Zoom, body).expect("handshake");
        assert_eq!(got["plainToken"], "qgg8vlvZRS6UYooatFL8Aw");
        assert_eq!(got["encryptedToken"], "46a324cfb7c2ec760e4cd561586a53aadb6fc7561eb8d626d6ee1b71d808b3c0");
        assert_eq!(run(Scheme::Zoom, br#"{"event":"meeting.started"}"#), None);
        assert_eq!(run(Scheme::Stripe, body), None);
    }
}
