//! The sending side, for `hookd send` and tests: the headers a real sender
//! of a source's kind would put on `body`, signed with the source's first
//! secret, and a realistic sample body per kind. Shares each kind's signing
//! definition with its verifier.

use super::{github, hmac, stripe, Scheme};
use crate::config::{Kind, Source};
use std::time::{SystemTime, UNIX_EPOCH};

/// Headers for `body` as the source's sender would sign it at `now`.
pub fn sign_request(
    source: &Source,
    body: &[u8],
    _url: &str,
    now: SystemTime,
    event_type: Option<&str>,
) -> Vec<(String, String)> {
    let secret = source.verifier.secrets.first().map(Vec::as_slice).unwrap_or_default();
    let ts = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let id = ulid::Ulid::generate().to_string();
    match &source.verifier.scheme {
        Scheme::Stripe => vec![(stripe::HEADER.into(), stripe::sign(secret, ts, body))],
        Scheme::Github => vec![
            (github::HEADER.into(), github::sign(secret, body)),
            ("x-github-event".into(), event_type.unwrap_or("ping").into()),
            ("x-github-delivery".into(), id),
        ],
        Scheme::Hmac(spec) => {
            let mut h = vec![(spec.header.clone(), hmac::sign(spec, secret, &ts.to_string(), &id, body))];
            h.extend(spec.timestamp_header.clone().map(|t| (t, ts.to_string())));
            h.extend(spec.id_header.clone().map(|i| (i, id.clone())));
            h
        }
        Scheme::Insecure => Vec::new(),
    }
}

/// A realistic sample event for `kind`, with a fresh id.
pub fn sample_body(kind: Kind, event_type: Option<&str>) -> Vec<u8> {
    let id = ulid::Ulid::generate().to_string().to_lowercase();
    let body = match kind {
        Kind::Stripe => serde_json::json!({
            "id": format!("evt_{id}"),
            "object": "event",
            "type": event_type.unwrap_or("payment_intent.succeeded"),
            "created": SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
            "data": {"object": {"id": format!("pi_{id}"), "object": "payment_intent", "amount": 2000, "currency": "usd", "customer": "cus_hookd_test"}},
            "livemode": false,
        }),
        Kind::Github => serde_json::json!({"zen": "Keep it logically awesome.", "hook_id": 1}),
        Kind::Hmac => serde_json::json!({"id": id, "type": event_type.unwrap_or("test.event")}),
    };
    body.to_string().into_bytes()
}
