//! Signatures computed from each sender's documented algorithm, written
//! independently of hookd's verifiers.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub fn hmac256_hex(key: &[u8], msg: &[u8]) -> String {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
    m.update(msg);
    hex::encode(m.finalize().into_bytes())
}

pub fn hmac_sha1_hex(key: &[u8], msg: &[u8]) -> String {
    hex::encode(mac::<Hmac<sha1::Sha1>>(key, msg))
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

fn mac<M: Mac + KeyInit>(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut m = <M as KeyInit>::new_from_slice(key).expect("any key length");
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

fn b64(bytes: &[u8]) -> String {
    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes)
}

fn h(name: &str, value: String) -> (String, String) {
    (name.to_string(), value)
}

/// Slack (docs.slack.dev, "Verifying requests from Slack"):
/// `v0=hex(HMAC-SHA256(secret, "v0:{ts}:{body}"))`.
pub fn slack(secret: &str, ts: i64, body: &[u8]) -> Vec<(String, String)> {
    let base = [format!("v0:{ts}:").as_bytes(), body].concat();
    vec![
        h("X-Slack-Signature", format!("v0={}", hmac256_hex(secret.as_bytes(), &base))),
        h("X-Slack-Request-Timestamp", ts.to_string()),
    ]
}

/// Zoom ("Verify webhook events"): Slack's scheme under `x-zm-*` names.
pub fn zoom(secret: &str, ts: i64, body: &[u8]) -> Vec<(String, String)> {
    let base = [format!("v0:{ts}:").as_bytes(), body].concat();
    vec![
        h("x-zm-signature", format!("v0={}", hmac256_hex(secret.as_bytes(), &base))),
        h("x-zm-request-timestamp", ts.to_string()),
    ]
}

/// Zoom's `endpoint.url_validation` answer: hex(HMAC-SHA256(secret, plainToken)).
pub fn zoom_encrypted_token(secret: &str, plain: &str) -> String {
    hmac256_hex(secret.as_bytes(), plain.as_bytes())
}

/// Shopify: `X-Shopify-Hmac-Sha256: base64(HMAC-SHA256(secret, body))`.
pub fn shopify(secret: &str, body: &[u8]) -> (String, String) {
    h("X-Shopify-Hmac-Sha256", b64(&mac::<Hmac<Sha256>>(secret.as_bytes(), body)))
}

/// Twilio: `base64(HMAC-SHA1(token, url + sorted form params as key+value))`;
/// a JSON body posted to `url` (which carries `bodySHA256`) signs the URL alone.
pub fn twilio(token: &str, url: &str, form: &[(&str, &str)]) -> (String, String) {
    let mut pairs = form.to_vec();
    pairs.sort();
    let mut data = url.to_string();
    for (k, v) in pairs {
        data.push_str(k);
        data.push_str(v);
    }
    h("X-Twilio-Signature", b64(&mac::<Hmac<sha1::Sha1>>(token.as_bytes(), data.as_bytes())))
}

/// Twilio's `bodySHA256` query parameter: hex SHA-256 of the JSON body.
pub fn sha256_hex(body: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(Sha256::digest(body))
}

/// Standard Webhooks v1: `v1,base64(HMAC-SHA256(base64decode(whsec), "{id}.{ts}.{body}"))`,
/// under the `webhook-*` or `svix-*` header names.
pub fn standard(whsec: &str, prefix: &str, id: &str, ts: i64, body: &[u8]) -> Vec<(String, String)> {
    let key = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &whsec["whsec_".len()..])
        .expect("whsec base64");
    let content = [format!("{id}.{ts}.").as_bytes(), body].concat();
    vec![
        h(&format!("{prefix}-id"), id.to_string()),
        h(&format!("{prefix}-timestamp"), ts.to_string()),
        h(&format!("{prefix}-signature"), format!("v1,{}", b64(&mac::<Hmac<Sha256>>(&key, &content)))),
    ]
}

/// `whsec_` + base64 of `key`, as Standard Webhooks senders show secrets.
pub fn whsec(key: &str) -> String {
    format!("whsec_{}", b64(key.as_bytes()))
}

/// Paddle: `Paddle-Signature: ts={ts};h1=hex(HMAC-SHA256(secret, "{ts}:{body}"))`.
pub fn paddle(secret: &str, ts: i64, body: &[u8]) -> (String, String) {
    let payload = [format!("{ts}:").as_bytes(), body].concat();
    h("Paddle-Signature", format!("ts={ts};h1={}", hmac256_hex(secret.as_bytes(), &payload)))
}

/// Linear: `Linear-Signature: hex(HMAC-SHA256(secret, body))`.
pub fn linear(secret: &str, body: &[u8]) -> (String, String) {
    h("Linear-Signature", hmac256_hex(secret.as_bytes(), body))
}

/// Square: `x-square-hmacsha256-signature: base64(HMAC-SHA256(key, url + body))`.
pub fn square(key: &str, url: &str, body: &[u8]) -> (String, String) {
    let payload = [url.as_bytes(), body].concat();
    h("x-square-hmacsha256-signature", b64(&mac::<Hmac<Sha256>>(key.as_bytes(), &payload)))
}
