//! Signatures computed from each sender's documented algorithm, written
//! independently of hookd's verifiers.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub fn hmac256_hex(key: &[u8], msg: &[u8]) -> String {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
    m.update(msg);
    hex::encode(m.finalize().into_bytes())
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64
}

/// Stripe: `Stripe-Signature: t=<ts>,v1=hex(HMAC-SHA256(secret, "<ts>.<body>"))`.
pub fn stripe(secret: &str, ts: i64, body: &[u8]) -> (String, String) {
    let mut payload = format!("{ts}.").into_bytes();
    payload.extend_from_slice(body);
    ("Stripe-Signature".into(), format!("t={ts},v1={}", hmac256_hex(secret.as_bytes(), &payload)))
}

/// GitHub: `X-Hub-Signature-256: sha256=hex(HMAC-SHA256(secret, body))`.
pub fn github(secret: &str, body: &[u8]) -> (String, String) {
    ("X-Hub-Signature-256".into(), format!("sha256={}", hmac256_hex(secret.as_bytes(), body)))
}

pub fn stripe_event(id: &str, ty: &str) -> Vec<u8> {
    format!(r#"{{"id":"{id}","object":"event","type":"{ty}","data":{{"object":{{"id":"pi_1","amount":2000,"currency":"usd","customer":"cus_1"}}}}}}"#)
        .into_bytes()
}
