//! Signature verification and event identification for every sender kind.
//! Pure: (source spec, headers, raw body, now) → verdict. No IO, no logging,
//! and no secret or expected signature ever appears in a `Rejection`.

pub mod github;
pub mod gitlab;
pub mod handshake;
pub mod hmac;
pub mod identify;
pub mod linear;
pub mod paddle;
pub mod pointer;
#[cfg(test)]
mod proptests;
pub mod sample;
pub mod shopify;
pub mod sign;
pub mod slack;
pub mod square;
pub mod standard;
pub mod stripe;
pub mod twilio;
pub mod zoom;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ::hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use subtle::ConstantTimeEq;

/// How a source proves a request is genuine: the closed set of SPEC §4 kinds,
/// matched in one place, [`check`].
#[derive(Debug, Clone)]
pub enum Scheme {
    Stripe,
    Github,
    Slack,
    Shopify,
    Twilio,
    /// Standard Webhooks keys: decoded `whsec_` secrets and `whpk_` public keys.
    Standard(Vec<standard::StandardKey>),
    Gitlab,
    Paddle,
    Linear,
    Square,
    Zoom,
    Hmac(hmac::HmacSpec),
    /// `insecure = true`: no signature at all (should be paired with `allow_ips`).
    Insecure,
}

/// Everything needed to verify one source's requests, built once at config load.
#[derive(Clone)]
pub struct Verifier {
    pub scheme: Scheme,
    pub secrets: Vec<Vec<u8>>,
    pub tolerance: Duration,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("scheme", &self.scheme)
            .field("secrets", &format_args!("[{} redacted]", self.secrets.len()))
            .field("tolerance", &self.tolerance)
            .finish()
    }
}

/// Verify one request's signature over its raw bytes, before any parsing.
pub fn check(v: &Verifier, req: &Inbound) -> Result<(), Rejection> {
    match &v.scheme {
        Scheme::Stripe => stripe::verify(&v.secrets, v.tolerance, req),
        Scheme::Github => github::verify(&v.secrets, req),
        Scheme::Slack => slack::verify(&v.secrets, v.tolerance, req),
        Scheme::Shopify => shopify::verify(&v.secrets, req),
        Scheme::Twilio => twilio::verify(&v.secrets, req),
        Scheme::Standard(keys) => standard::verify(keys, v.tolerance, req),
        Scheme::Gitlab => gitlab::verify(&v.secrets, req),
        Scheme::Paddle => paddle::verify(&v.secrets, v.tolerance, req),
        Scheme::Linear => linear::verify(&v.secrets, v.tolerance, req),
        Scheme::Square => square::verify(&v.secrets, req),
        Scheme::Zoom => zoom::verify(&v.secrets, v.tolerance, req),
        Scheme::Hmac(spec) => hmac::verify(spec, &v.secrets, v.tolerance, req),
        Scheme::Insecure => Ok(()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

/// HMAC of `msg` under `key`. HMAC takes keys of any length, so the
/// constructor cannot fail; an empty result never matches (see [`ct_eq`]).
pub fn mac(alg: Algorithm, key: &[u8], msg: &[u8]) -> Vec<u8> {
    fn run<M: Mac + KeyInit>(key: &[u8], msg: &[u8]) -> Vec<u8> {
        match <M as KeyInit>::new_from_slice(key) {
            Ok(mut m) => {
                m.update(msg);
                m.finalize().into_bytes().to_vec()
            }
            Err(_) => Vec::new(),
        }
    }
    match alg {
        Algorithm::Sha1 => run::<Hmac<sha1::Sha1>>(key, msg),
        Algorithm::Sha256 => run::<Hmac<sha2::Sha256>>(key, msg),
        Algorithm::Sha512 => run::<Hmac<sha2::Sha512>>(key, msg),
    }
}

pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    mac(Algorithm::Sha256, key, msg)
}

/// What a verifier sees of one inbound request. `url` is the URL the sender
/// signed (only twilio and square sign it): `public_url`, else scheme + Host +
/// path as received.
pub struct Inbound<'a> {
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub url: &'a str,
    pub now: SystemTime,
}

impl Inbound<'_> {
    /// A header as UTF-8 text; a header that is absent or not text is `None`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn now_unix(&self) -> i64 {
        self.now.duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
    }
}

/// The URL a sender signed: `public_url` when configured (with the query
/// string of the received URL, e.g. Twilio's `bodySHA256`, when `public_url`
/// has none), else the URL as received.
pub fn signed_url(public_url: Option<&str>, received: &str) -> String {
    let Some(public) = public_url else { return received.to_string() };
    match received.split_once('?') {
        Some((_, query)) if !public.contains('?') => format!("{public}?{query}"),
        _ => public.to_string(),
    }
}

/// Why a request was refused with 401. The `code` goes into the JSON error
/// body and the metrics label; it never carries secret material.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// The signature header (or a required timestamp header) is absent.
    MissingSignature,
    /// The header is present but cannot be parsed.
    MalformedSignature,
    /// Parsed fine, matched no configured secret.
    BadSignature,
    /// The signed timestamp is outside the tolerance window: `age_secs`
    /// old (negative: that far in the future). For the log, never the answer.
    StaleTimestamp { age_secs: i64 },
}

impl Rejection {
    /// What the log may add to the code: how stale a timestamp was and in
    /// which direction (the answer never says).
    pub fn log_detail(self) -> Option<String> {
        match self {
            Rejection::StaleTimestamp { age_secs } if age_secs >= 0 => Some(format!("signed {age_secs}s ago")),
            Rejection::StaleTimestamp { age_secs } => {
                Some(format!("signed {}s in the future (check this host's clock)", age_secs.unsigned_abs()))
            }
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Rejection::MissingSignature => "missing_signature",
            Rejection::MalformedSignature => "malformed_signature",
            Rejection::BadSignature => "bad_signature",
            Rejection::StaleTimestamp { .. } => "stale_timestamp",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Rejection::MissingSignature => "the signature header is missing",
            Rejection::MalformedSignature => "the signature header could not be parsed",
            Rejection::BadSignature => "the signature does not match",
            Rejection::StaleTimestamp { .. } => "the signed timestamp is outside the tolerance",
        }
    }
}

/// Constant-time equality of two byte strings (length is not secret).
/// Empty never matches, so a failed MAC or an empty header cannot verify.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    !a.is_empty() && a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// The check of schemes that send several signatures and a timestamp
/// (Stripe's `v1=`, Paddle's `h1=`): any of `sigs` is HMAC-SHA256 of
/// `payload` under any secret, and only then is `ts` checked against the
/// tolerance — so an unsigned request learns nothing about our clock.
pub fn any_hmac_sha256_then_fresh(
    secrets: &[Vec<u8>],
    payload: &[u8],
    sigs: &[Vec<u8>],
    ts: i64,
    tolerance: Duration,
    req: &Inbound,
) -> Result<(), Rejection> {
    let matched = secrets.iter().any(|secret| {
        let expected = hmac_sha256(secret, payload);
        sigs.iter().any(|sig| ct_eq(&expected, sig))
    });
    if !matched {
        return Err(Rejection::BadSignature);
    }
    fresh(req.now_unix(), ts, tolerance)?;
    Ok(())
}

/// `|now - ts| <= tolerance`, both ways (a clock ahead of ours is as suspect
/// as one behind), else the rejection that says by how much; a zero
/// tolerance disables the check.
pub fn fresh(now_unix: i64, ts_unix: i64, tolerance: Duration) -> Result<(), Rejection> {
    match tolerance.is_zero() || now_unix.abs_diff(ts_unix) <= tolerance.as_secs() {
        true => Ok(()),
        false => Err(Rejection::StaleTimestamp { age_secs: now_unix.saturating_sub(ts_unix) }),
    }
}

/// Test helper: a header map from `(name, value)` pairs.
#[cfg(test)]
pub fn header_map(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        let name = http::HeaderName::from_bytes(k.as_bytes()).expect("test header name");
        map.append(name, v.parse().expect("test header value"));
    }
    map
}
