//! Unit tests of the Standard Webhooks verifier. Vectors are copied from the
//! published sources named at each constant, never computed here.

use super::*;
use crate::verify::header_map;
use ed25519_dalek::{Signer, SigningKey};
use std::time::UNIX_EPOCH;

// Vector A: standard-webhooks/standard-webhooks, libraries/rust/src/lib.rs,
// `test_sign`.
const A_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const A_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
const A_TS: i64 = 1649367553;
const A_BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
const A_SIG: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

// Vector B: standard-webhooks/standard-webhooks,
// libraries/python/tests/test_webhooks.py, `test_sign_function`; the same
// values, sent as `svix-*` headers, are Svix's example in "How to Verify
// Webhooks with the Svix Libraries" (docs.svix.com/receiving/verifying-payloads/how).
const B_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const B_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const B_TS: i64 = 1614265330;
const B_BODY: &[u8] = br#"{"test": 2432232314}"#;
const B_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
// Same file, `test_invalid_signature_raises_error` (last character differs).
const B_BAD_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=";
// Same file, `test_multi_sig_payload_is_valid`: decoys around the valid one.
const DECOY_V1: &str = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";
const DECOY_V2: &str = "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";

// Vector C: standard-webhooks/standard-webhooks,
// libraries/go/webhook_asymmetric_test.go, `TestAsymmetricWebhookSign`: the
// ed25519 seed (Go's `NewKeyFromSeed`) and its signature over vector B's
// id, timestamp and body.
const C_SEED: &str = "VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk=";
const C_SIG: &str = "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8Ag==";

const TOLERANCE: Duration = Duration::from_secs(300);

fn secret(s: &str) -> StandardKey {
    StandardKey::parse_secret(s).expect("test secret")
}

fn run(keys: &[StandardKey], pairs: &[(&str, &str)], body: &[u8], now: i64) -> Result<(), Rejection> {
    let headers = header_map(pairs);
    let req = Inbound { headers: &headers, body, url: "", now: UNIX_EPOCH + Duration::from_secs(now as u64) };
    verify(keys, TOLERANCE, &req)
}

fn std_headers<'a>(id: &'a str, ts: &'a str, sig: &'a str) -> [(&'static str, &'a str); 3] {
    [("webhook-id", id), ("webhook-timestamp", ts), ("webhook-signature", sig)]
}

fn check_b(sig: &str, body: &[u8], now: i64) -> Result<(), Rejection> {
    let ts = B_TS.to_string();
    run(&[secret(B_SECRET)], &std_headers(B_ID, &ts, sig), body, now)
}

fn seed_key(seed: &[u8; 32]) -> (SigningKey, StandardKey) {
    let signing = SigningKey::from_bytes(seed);
    let public = format!("whpk_{}", B64.encode(signing.verifying_key().as_bytes()));
    (signing, StandardKey::parse_public_key(&public).expect("test public key"))
}

#[test]
fn published_hmac_vectors_sign_and_verify() {
    let a = StandardKey::parse_secret(A_SECRET).expect("a");
    let Key::Hmac(a_bytes) = &a.0 else { panic!("hmac key") };
    assert_eq!(sign_v1(a_bytes, A_ID, A_TS, A_BODY), A_SIG);
    let ts = A_TS.to_string();
    assert_eq!(run(&[a], &std_headers(A_ID, &ts, A_SIG), A_BODY, A_TS), Ok(()));

    let b = StandardKey::parse_secret(B_SECRET).expect("b");
    let Key::Hmac(b_bytes) = &b.0 else { panic!("hmac key") };
    assert_eq!(sign_v1(b_bytes, B_ID, B_TS, B_BODY), B_SIG);
    assert_eq!(check_b(B_SIG, B_BODY, B_TS), Ok(()));
}

#[test]
fn bare_base64_secret_is_the_same_key() {
    let bare = B_SECRET.trim_start_matches("whsec_");
    let ts = B_TS.to_string();
    let pairs = std_headers(B_ID, &ts, B_SIG);
    assert_eq!(run(&[secret(bare)], &pairs, B_BODY, B_TS), Ok(()));
}

#[test]
fn svix_spelling_verifies() {
    let ts = B_TS.to_string();
    let pairs = [("svix-id", B_ID), ("svix-timestamp", ts.as_str()), ("svix-signature", B_SIG)];
    assert_eq!(run(&[secret(B_SECRET)], &pairs, B_BODY, B_TS), Ok(()));
    let req_headers = header_map(&pairs);
    let req = Inbound { headers: &req_headers, body: B_BODY, url: "", now: UNIX_EPOCH };
    assert_eq!(event_id(&req).as_deref(), Some(B_ID));
}

#[test]
fn tampered_body_and_wrong_signature_fail() {
    assert_eq!(check_b(B_SIG, br#"{"test": 2432232315}"#, B_TS), Err(Rejection::BadSignature));
    assert_eq!(check_b(B_BAD_SIG, B_BODY, B_TS), Err(Rejection::BadSignature));
    assert_eq!(check_b("v1a,", B_BODY, B_TS), Err(Rejection::BadSignature));
}

#[test]
fn stale_either_way_fails() {
    let limit = TOLERANCE.as_secs() as i64;
    assert_eq!(check_b(B_SIG, B_BODY, B_TS + limit), Ok(()));
    // `now` is the third argument: later than the stamp means an old one.
    let old = Rejection::StaleTimestamp { age_secs: limit + 1 };
    let ahead = Rejection::StaleTimestamp { age_secs: -(limit + 1) };
    assert_eq!(check_b(B_SIG, B_BODY, B_TS + limit + 1), Err(old));
    assert_eq!(check_b(B_SIG, B_BODY, B_TS - limit - 1), Err(ahead));
    assert_eq!(old.log_detail().as_deref(), Some(format!("signed {}s ago", limit + 1).as_str()));
    assert!(ahead.log_detail().is_some_and(|d| d.contains("in the future")));
    // A forged request hears "bad signature", never about our clock.
    assert_eq!(check_b(B_BAD_SIG, B_BODY, B_TS + limit + 1), Err(Rejection::BadSignature));
}

#[test]
fn one_valid_among_several_passes() {
    let multi = format!("{DECOY_V1} {DECOY_V2} {B_SIG} {DECOY_V1}");
    assert_eq!(check_b(&multi, B_BODY, B_TS), Ok(()));
    let none = format!("{DECOY_V1} {DECOY_V2} {DECOY_V1}");
    assert_eq!(check_b(&none, B_BODY, B_TS), Err(Rejection::BadSignature));
    // Several keys (rotation): the right one is second.
    let keys = [secret(A_SECRET), secret(B_SECRET)];
    let ts = B_TS.to_string();
    assert_eq!(run(&keys, &std_headers(B_ID, &ts, B_SIG), B_BODY, B_TS), Ok(()));
}

#[test]
fn missing_and_malformed_headers() {
    let ts = B_TS.to_string();
    let full = std_headers(B_ID, &ts, B_SIG);
    for skip in 0..3 {
        let pairs: Vec<_> = full.iter().enumerate().filter(|(i, _)| *i != skip).map(|(_, p)| *p).collect();
        assert_eq!(run(&[secret(B_SECRET)], &pairs, B_BODY, B_TS), Err(Rejection::MissingSignature));
    }
    // `test_invalid_timestamp_raises_error` (Python library) uses "hello".
    for bad in ["hello", "-1", "+1614265330", "1614265330.5", "99999999999999999999"] {
        let pairs = std_headers(B_ID, bad, B_SIG);
        assert_eq!(run(&[secret(B_SECRET)], &pairs, B_BODY, B_TS), Err(Rejection::MalformedSignature));
    }
}

#[test]
fn published_ed25519_vector_verifies() {
    let seed: [u8; 32] = B64.decode(C_SEED).expect("seed").try_into().expect("32 bytes");
    let (signing, public) = seed_key(&seed);
    let content = signed_content(B_ID, &B_TS.to_string(), B_BODY);
    let ours = format!("v1a,{}", B64.encode(signing.sign(&content).to_bytes()));
    assert_eq!(ours, C_SIG, "ed25519 is deterministic: same seed, same signature");
    let ts = B_TS.to_string();
    assert_eq!(run(&[public], &std_headers(B_ID, &ts, C_SIG), B_BODY, B_TS), Ok(()));
}

#[test]
fn ed25519_round_trip_with_fixed_seed() {
    let (signing, public) = seed_key(&[7; 32]);
    let (_, other) = seed_key(&[8; 32]);
    let ts = "1700000000";
    let body = br#"{"type":"user.created"}"#;
    let sig = B64.encode(signing.sign(&signed_content("msg_1", ts, body)).to_bytes());
    let header = format!("{DECOY_V1} v1a,{sig}");
    let pairs = std_headers("msg_1", ts, &header);
    let keys = [secret(B_SECRET), other.clone(), public];
    assert_eq!(run(&keys, &pairs, body, 1_700_000_000), Ok(()));
    assert_eq!(run(&keys, &pairs, b"{}", 1_700_000_000), Err(Rejection::BadSignature));
    assert_eq!(run(&[other], &pairs, body, 1_700_000_000), Err(Rejection::BadSignature));
    // A v1a signature is not accepted under the v1 label.
    let relabelled = format!("v1,{sig}");
    let pairs = std_headers("msg_1", ts, &relabelled);
    assert_eq!(run(&keys, &pairs, body, 1_700_000_000), Err(Rejection::BadSignature));
}

#[test]
fn key_parsing() {
    assert!(StandardKey::parse_secret("whsec_!!!").is_err());
    assert!(StandardKey::parse_secret("whsec_").is_err());
    assert!(StandardKey::parse_secret("whpk_AAAA").is_err());
    assert!(StandardKey::parse_public_key(&format!("whsk_{C_SEED}")).is_err());
    assert!(StandardKey::parse_public_key("whpk_AAAA").is_err());
    let err = StandardKey::parse_secret("whsec_s3cr3t!").expect_err("bad base64");
    assert!(!err.contains("s3cr3t"), "errors never echo the secret");
    assert_eq!(format!("{:?}", secret(B_SECRET)), "StandardKey::Hmac(redacted)");
}

#[test]
fn arbitrary_header_bytes_never_panic() {
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let keys = [secret(B_SECRET), seed_key(&[7; 32]).1];
    for _ in 0..500 {
        let mut headers = http::HeaderMap::new();
        for name in ["webhook-id", "webhook-timestamp", "webhook-signature", "svix-signature"] {
            if let Ok(value) = http::HeaderValue::from_bytes(&random_value(&mut rng)) {
                headers.insert(name, value);
            }
        }
        let body: Vec<u8> = (0..rng.usize(0..64)).map(|_| rng.u8(..)).collect();
        let req = Inbound { headers: &headers, body: &body, url: "", now: UNIX_EPOCH };
        assert!(verify(&keys, Duration::ZERO, &req).is_err());
        let _ = event_id(&req);
    }
}

/// Raw bytes, or something shaped like a signature list or a timestamp.
fn random_value(rng: &mut fastrand::Rng) -> Vec<u8> {
    match rng.u8(0..4) {
        0 => (0..rng.usize(0..200)).map(|_| rng.u8(..)).collect(),
        1 => rng.u64(..).to_string().into_bytes(),
        _ => {
            let entries: Vec<String> = (0..rng.usize(0..40))
                .map(|_| {
                    let raw: Vec<u8> = (0..rng.usize(0..70)).map(|_| rng.u8(..)).collect();
                    let label = ["v1", "v1a", "v2", ""][rng.usize(0..4)];
                    format!("{label},{}", B64.encode(raw))
                })
                .collect();
            entries.join(" ").into_bytes()
        }
    }
}
