//! The sending side, for `hookd send` and tests: the headers a real sender of
//! each kind would attach, built from the same per-kind `sign` functions the
//! verifiers are checked against. Pure: the caller supplies the clock.

use super::{github, gitlab, hmac, linear, paddle, shopify, slack, square, standard, stripe, twilio, zoom};
use super::{Scheme, Verifier};
use crate::config::{Kind, Source};
use std::time::{SystemTime, UNIX_EPOCH};

pub use super::sample::{default_type, known_types, sample_body};

type Headers = Vec<(String, String)>;

/// Headers for `body` POSTed to `url` at `now`, signed with the source's first
/// secret, as its kind's sender would send them (signature, timestamp, id,
/// topic/event headers, content type). Types carried in headers (GitHub,
/// Shopify, GitLab) get a typical default; see [`sign_request_typed`].
pub fn sign_request(source: &Source, body: &[u8], url: &str, now: SystemTime) -> Headers {
    sign_request_typed(source, None, body, url, now)
}

/// [`sign_request`], with the event type for kinds that send it in a header.
pub fn sign_request_typed(source: &Source, ty: Option<&str>, body: &[u8], url: &str, now: SystemTime) -> Headers {
    let url = super::signed_url(source.public_url.as_deref(), &request_url(source, body, url));
    let url = url.as_str();
    let ts = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let secret = source.verifier.secrets.first().map(Vec::as_slice).unwrap_or_default();
    let id = ulid::Ulid::generate().to_string().to_lowercase();
    let ty = ty.unwrap_or(super::sample::default_type(source.kind));
    let mut h: Headers = vec![("Content-Type".into(), content_type(source.kind, body).into())];
    let mut add = |k: &str, v: String| h.push((k.to_string(), v));
    if matches!(source.verifier.scheme, Scheme::Insecure) {
        return h;
    }
    match source.kind {
        Kind::Stripe => add("Stripe-Signature", stripe::sign(secret, ts, body)),
        Kind::Github => {
            add("X-Hub-Signature-256", github::sign(secret, body));
            add("X-GitHub-Event", ty.split('.').next().unwrap_or(ty).into());
            add("X-GitHub-Delivery", id);
            add("X-GitHub-Hook-ID", "109948940".into());
            add("X-GitHub-Hook-Installation-Target-Type", "repository".into());
            add("X-GitHub-Hook-Installation-Target-ID", "35129377".into());
        }
        Kind::Slack => {
            add("X-Slack-Signature", slack::sign(secret, ts, body));
            add("X-Slack-Request-Timestamp", ts.to_string());
        }
        Kind::Shopify => {
            add("X-Shopify-Hmac-Sha256", shopify::sign(secret, body));
            add("X-Shopify-Topic", ty.into());
            add("X-Shopify-Webhook-Id", id);
            add("X-Shopify-Shop-Domain", "demo.myshopify.com".into());
        }
        Kind::Twilio => {
            add("X-Twilio-Signature", twilio::sign(secret, url, body));
            add("I-Twilio-Idempotency-Token", id);
        }
        Kind::Standard => standard_headers(&source.verifier, &id, ts, body, &mut add),
        Kind::Gitlab => {
            add("X-Gitlab-Token", gitlab::sign(secret));
            add("X-Gitlab-Event", ty.into());
            add("X-Gitlab-Event-UUID", id);
        }
        Kind::Paddle => add("Paddle-Signature", paddle::sign(secret, ts, body)),
        Kind::Linear => {
            add("Linear-Signature", linear::sign(secret, body));
            add("Linear-Delivery", id);
            add("Linear-Event", ty.split('.').next().unwrap_or(ty).into());
        }
        Kind::Square => add("x-square-hmacsha256-signature", square::sign(secret, url, body)),
        Kind::Zoom => {
            add("x-zm-signature", zoom::sign(secret, ts, body));
            add("x-zm-request-timestamp", ts.to_string());
        }
        Kind::Hmac => hmac_headers(&source.verifier, secret, &id, ts, body, &mut add),
    }
    h
}

/// The URL to POST `body` to: Twilio posts JSON bodies to `url` plus
/// `bodySHA256=<hex>`; every other kind to `url` as is.
pub fn request_url(source: &Source, body: &[u8], url: &str) -> String {
    match source.kind {
        Kind::Twilio if is_json(body) => twilio::url_for_json(url, body),
        _ => url.to_string(),
    }
}

fn standard_headers(v: &Verifier, id: &str, ts: i64, body: &[u8], add: &mut impl FnMut(&str, String)) {
    let id = format!("msg_{id}");
    let key = match &v.scheme {
        Scheme::Standard(keys) => keys.iter().find_map(|k| k.hmac_key()),
        _ => None,
    };
    if let Some(key) = key {
        add("webhook-signature", standard::sign_v1(key, &id, ts, body));
    }
    add("webhook-id", id);
    add("webhook-timestamp", ts.to_string());
}

fn hmac_headers(v: &Verifier, secret: &[u8], id: &str, ts: i64, body: &[u8], add: &mut impl FnMut(&str, String)) {
    let Scheme::Hmac(spec) = &v.scheme else { return };
    add(&spec.header, hmac::sign(spec, secret, &ts.to_string(), id, body));
    if let Some(name) = &spec.timestamp_header {
        add(name, ts.to_string());
    }
    if let Some(name) = &spec.id_header {
        add(name, id.to_string());
    }
}

fn is_json(body: &[u8]) -> bool {
    matches!(body.trim_ascii_start().first(), Some(b'{' | b'['))
}

/// Twilio and Slack (slash commands, interactivity) post forms.
fn content_type(kind: Kind, body: &[u8]) -> &'static str {
    match kind {
        Kind::Twilio | Kind::Slack if !is_json(body) => "application/x-www-form-urlencoded",
        _ => "application/json",
    }
}

#[cfg(test)]
mod tests;
