//! Property tests over every verifier: no header value — empty, huge,
//! non-UTF-8, repeated, or shaped like a real signature — panics `check`,
//! a handshake or identification, and random signatures never verify.

use super::hmac::{compile_template, Encoding, HmacSpec};
use super::identify::{identify, Field, Identify};
use super::standard::StandardKey;
use super::{check, handshake, Algorithm, Inbound, Scheme, Verifier};
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use std::time::{Duration, UNIX_EPOCH};

const NAMES: &[&str] = &[
    "stripe-signature",
    "x-hub-signature-256",
    "x-slack-signature",
    "x-slack-request-timestamp",
    "x-shopify-hmac-sha256",
    "x-twilio-signature",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "svix-id",
    "svix-timestamp",
    "svix-signature",
    "x-gitlab-token",
    "paddle-signature",
    "linear-signature",
    "x-square-hmacsha256-signature",
    "x-zm-signature",
    "x-zm-request-timestamp",
    "x-sig",
    "x-ts",
    "x-github-event",
];

fn verifiers() -> Vec<Verifier> {
    verifiers_within(Duration::ZERO)
}

/// Every scheme, with timestamps accepted within `tolerance`.
fn verifiers_within(tolerance: Duration) -> Vec<Verifier> {
    let hmac = HmacSpec {
        header: "x-sig".into(),
        algorithm: Algorithm::Sha256,
        encoding: Encoding::Hex,
        prefix: "sha256=".into(),
        timestamp_header: Some("x-ts".into()),
        id_header: None,
        payload: compile_template("{timestamp}.{body}").unwrap_or_default(),
    };
    let keys = StandardKey::parse_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").into_iter().collect();
    let schemes = [
        Scheme::Stripe,
        Scheme::Github,
        Scheme::Slack,
        Scheme::Shopify,
        Scheme::Twilio,
        Scheme::Standard(keys),
        Scheme::Gitlab,
        Scheme::Paddle,
        Scheme::Linear,
        Scheme::Square,
        Scheme::Zoom,
        Scheme::Hmac(hmac),
    ];
    let secrets = vec![b"secret-one".to_vec(), b"secret-two".to_vec()];
    schemes.into_iter().map(|scheme| Verifier { scheme, secrets: secrets.clone(), tolerance }).collect()
}

/// Arbitrary bytes (short or huge), or random values shaped like signatures.
fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        prop::collection::vec(any::<u8>(), 8_000..9_000),
        "v0=[0-9a-f]{64}".prop_map(String::into_bytes),
        "t=1[0-9]{9},v1=[0-9a-f]{64}".prop_map(String::into_bytes),
        "ts=1[0-9]{9};h1=[0-9a-f]{64}".prop_map(String::into_bytes),
        "(v1|v1a),[A-Za-z0-9+/]{43}= ?".prop_map(String::into_bytes),
        "sha256=[0-9a-f]{64}".prop_map(String::into_bytes),
        "[A-Za-z0-9+/]{27}=".prop_map(String::into_bytes),
        "[0-9]{0,20}".prop_map(String::into_bytes),
    ]
}

fn headers() -> impl Strategy<Value = HeaderMap> {
    prop::collection::vec((0..NAMES.len(), value()), 0..24).prop_map(|pairs| {
        let mut map = HeaderMap::new();
        for (i, v) in pairs {
            if let Ok(v) = HeaderValue::from_bytes(&v) {
                map.append(HeaderName::from_static(NAMES[i]), v);
            }
        }
        map
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..128),
        r#"\{"type":"(url_verification|event_callback)","challenge":"[a-z]{0,8}","webhookTimestamp":[0-9]{1,13}\}"#
            .prop_map(String::into_bytes),
        r#"\{"event":"endpoint.url_validation","payload":\{"plainToken":"[a-z]{0,8}"\}\}"#.prop_map(String::into_bytes),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn malformed_headers_never_panic_and_never_verify(headers in headers(), body in body(), now in 0u64..4_000_000_000) {
        let req = Inbound { headers: &headers, body: &body, url: "https://h.example/w?bodySHA256=00", now: UNIX_EPOCH + Duration::from_secs(now) };
        let rules = Identify { id: Field::AnyOf(vec![Field::Header("webhook-id".into()), Field::Param("MessageSid".into())]), ty: Field::JsonDotted("/type".into(), "/action".into()) };
        for v in verifiers() {
            prop_assert!(check(&v, &req).is_err(), "{:?} verified a random request", v.scheme);
            let _ = handshake::answer(&v, &req);
        }
        let _ = identify(&rules, &req);
    }

    /// With a tolerance of a century every timestamp-shaped value passes the
    /// freshness check, so the signature parsers and comparisons behind it
    /// run on hostile input too (the zero-tolerance case above stops early).
    #[test]
    fn past_the_timestamp_check_hostile_signatures_never_panic_or_verify(
        headers in headers(),
        body in body(),
        now in 1_000_000_000u64..2_000_000_000,
    ) {
        let century = Duration::from_secs(100 * 365 * 24 * 3600);
        let req = Inbound { headers: &headers, body: &body, url: "https://h.example/w", now: UNIX_EPOCH + Duration::from_secs(now) };
        for v in verifiers_within(century) {
            prop_assert!(check(&v, &req).is_err(), "{:?} verified a random request", v.scheme);
        }
    }
}
