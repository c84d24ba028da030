//! Standard Webhooks (and Svix's `svix-*` spelling): `whsec_`/`whpk_` keys,
//! `v1` (HMAC-SHA256) and `v1a` (ed25519) signatures over `{id}.{ts}.{body}`.
//! Must never panic on header bytes, and never put a secret or an expected
//! signature into a `Rejection` or an error string.

use std::fmt;
use std::time::Duration;

use base64::alphabet::STANDARD as STANDARD_ALPHABET;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use ed25519_dalek::{Signature, VerifyingKey};

use super::{ct_eq, fresh, hmac_sha256, Inbound, Rejection};

const SECRET_PREFIX: &str = "whsec_";
const PUBLIC_PREFIX: &str = "whpk_";
const SIGNING_KEY_PREFIX: &str = "whsk_";

const ID: [&str; 2] = ["webhook-id", "svix-id"];
const TIMESTAMP: [&str; 2] = ["webhook-timestamp", "svix-timestamp"];
const SIGNATURE: [&str; 2] = ["webhook-signature", "svix-signature"];

/// Signature entries looked at per request: bounds the ed25519 work a hostile
/// header can cause (a rotation sends two or three, never dozens).
const MAX_ENTRIES: usize = 16;

/// Standard base64, padding optional (secrets are shown both ways).
const B64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD_ALPHABET,
    GeneralPurposeConfig::new().with_encode_padding(true).with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// One trusted key of a source: an HMAC secret or an ed25519 public key.
#[derive(Clone)]
pub struct StandardKey(Key);

#[derive(Clone)]
enum Key {
    Hmac(Vec<u8>),
    Ed25519(VerifyingKey),
}

impl fmt::Debug for StandardKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Key::Hmac(_) => f.write_str("StandardKey::Hmac(redacted)"),
            Key::Ed25519(_) => f.write_str("StandardKey::Ed25519"),
        }
    }
}

impl StandardKey {
    /// `whsec_<base64>` or the bare base64; the decoded bytes are the HMAC key.
    pub fn parse_secret(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.starts_with(PUBLIC_PREFIX) || s.starts_with(SIGNING_KEY_PREFIX) {
            return Err("an ed25519 key is not an HMAC secret; use a public key (whpk_…)".into());
        }
        let b64 = s.strip_prefix(SECRET_PREFIX).unwrap_or(s);
        match B64.decode(b64) {
            Ok(key) if !key.is_empty() => Ok(Self(Key::Hmac(key))),
            Ok(_) => Err("the secret is empty".into()),
            Err(_) => Err("a secret is \"whsec_\" followed by base64".into()),
        }
    }

    /// The HMAC key of a `whsec_` secret (for signing); `None` for a public key.
    pub fn hmac_key(&self) -> Option<&[u8]> {
        match &self.0 {
            Key::Hmac(k) => Some(k),
            Key::Ed25519(_) => None,
        }
    }

    /// `whpk_<base64>` (or the bare base64) of a raw 32-byte ed25519 public key.
    pub fn parse_public_key(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.starts_with(SIGNING_KEY_PREFIX) {
            return Err("whsk_ is the sender's private key; configure its whpk_ public key".into());
        }
        let b64 = s.strip_prefix(PUBLIC_PREFIX).unwrap_or(s);
        let bytes = B64.decode(b64).map_err(|_| "a public key is \"whpk_\" followed by base64".to_string())?;
        let raw: [u8; 32] = bytes.try_into().map_err(|_| "an ed25519 public key is 32 bytes".to_string())?;
        VerifyingKey::from_bytes(&raw)
            .map(|k| Self(Key::Ed25519(k)))
            .map_err(|_| "not a valid ed25519 public key".into())
    }
}

/// Verify one request: headers present and parsable, any signature entry
/// matching any key, then the timestamp fresh (the order `stripe` uses, so an
/// unsigned request learns nothing about our clock).
pub fn verify(keys: &[StandardKey], tolerance: Duration, req: &Inbound) -> Result<(), Rejection> {
    let id = header(req, ID)?;
    let timestamp = header(req, TIMESTAMP)?;
    let signatures = header(req, SIGNATURE)?;
    let ts = parse_timestamp(timestamp).ok_or(Rejection::MalformedSignature)?;
    let content = signed_content(id, timestamp, req.body);
    let macs: Vec<Vec<u8>> = keys
        .iter()
        .filter_map(|k| match &k.0 {
            Key::Hmac(secret) => Some(hmac_sha256(secret, &content)),
            Key::Ed25519(_) => None,
        })
        .collect();
    let matched = signatures
        .split(' ')
        .filter(|e| !e.is_empty())
        .take(MAX_ENTRIES)
        .any(|entry| entry_matches(entry, keys, &macs, &content));
    if !matched {
        return Err(Rejection::BadSignature);
    }
    fresh(req.now_unix(), ts, tolerance)?;
    Ok(())
}

/// The `webhook-signature` value a sender holding `secret` would send.
pub fn sign_v1(secret: &[u8], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let content = signed_content(msg_id, &timestamp.to_string(), body);
    format!("v1,{}", B64.encode(hmac_sha256(secret, &content)))
}

/// The sender's message id (stable across retries): `webhook-id`, else `svix-id`.
pub fn event_id(req: &Inbound) -> Option<String> {
    ID.iter().find_map(|name| req.header(name)).filter(|id| !id.is_empty()).map(str::to_string)
}

/// First spelling present wins; present but empty counts as missing, present
/// but not text is malformed.
fn header<'a>(req: &Inbound<'a>, names: [&str; 2]) -> Result<&'a str, Rejection> {
    let value = names.iter().find_map(|name| req.headers.get(*name)).ok_or(Rejection::MissingSignature)?;
    match value.to_str() {
        Ok("") => Err(Rejection::MissingSignature),
        Ok(text) => Ok(text),
        Err(_) => Err(Rejection::MalformedSignature),
    }
}

/// Integer seconds, digits only (no sign, no spaces, no fraction).
fn parse_timestamp(s: &str) -> Option<i64> {
    if s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// `{id}.{timestamp}.{body}`, the timestamp exactly as the header carried it.
fn signed_content(id: &str, timestamp: &str, body: &[u8]) -> Vec<u8> {
    let mut content = Vec::with_capacity(id.len() + timestamp.len() + body.len() + 2);
    content.extend_from_slice(id.as_bytes());
    content.push(b'.');
    content.extend_from_slice(timestamp.as_bytes());
    content.push(b'.');
    content.extend_from_slice(body);
    content
}

/// One `<version>,<base64>` entry; unknown versions never match.
fn entry_matches(entry: &str, keys: &[StandardKey], macs: &[Vec<u8>], content: &[u8]) -> bool {
    let Some((version, b64)) = entry.split_once(',') else {
        return false;
    };
    let Ok(sig) = B64.decode(b64) else {
        return false;
    };
    match version {
        "v1" => macs.iter().any(|mac| ct_eq(mac, &sig)),
        "v1a" => ed25519_matches(keys, content, &sig),
        _ => false,
    }
}

fn ed25519_matches(keys: &[StandardKey], content: &[u8], sig: &[u8]) -> bool {
    let Ok(sig) = Signature::from_slice(sig) else {
        return false;
    };
    keys.iter().any(|k| match &k.0 {
        Key::Ed25519(public) => public.verify_strict(content, &sig).is_ok(),
        Key::Hmac(_) => false,
    })
}

#[cfg(test)]
mod tests;
