//! What each source `kind` means in config: its name, default event id and
//! type, the verification scheme built from its keys, and which sender
//! headers reach handlers. Never keeps a header that carries a secret.

use super::raw::RawSource;
use super::Problems;
use crate::verify::hmac::{compile_template, Encoding, HmacSpec, Part};
use crate::verify::identify::{parse_field, Field, Identify};
use crate::verify::standard::StandardKey;
use crate::verify::{Algorithm, Scheme};

/// The SPEC §4 source kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Stripe,
    Github,
    Slack,
    Shopify,
    Twilio,
    Standard,
    Gitlab,
    Paddle,
    Linear,
    Square,
    Zoom,
    Hmac,
}

impl Kind {
    pub const ALL: [Kind; 12] = [
        Kind::Stripe,
        Kind::Github,
        Kind::Slack,
        Kind::Shopify,
        Kind::Twilio,
        Kind::Standard,
        Kind::Gitlab,
        Kind::Paddle,
        Kind::Linear,
        Kind::Square,
        Kind::Zoom,
        Kind::Hmac,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Stripe => "stripe",
            Kind::Github => "github",
            Kind::Slack => "slack",
            Kind::Shopify => "shopify",
            Kind::Twilio => "twilio",
            Kind::Standard => "standard",
            Kind::Gitlab => "gitlab",
            Kind::Paddle => "paddle",
            Kind::Linear => "linear",
            Kind::Square => "square",
            Kind::Zoom => "zoom",
            Kind::Hmac => "hmac",
        }
    }

    pub fn parse(s: &str) -> Result<Kind, String> {
        if s.is_empty() {
            return Err("missing".into());
        }
        Kind::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| {
            let names: Vec<_> = Kind::ALL.iter().map(|k| k.name()).collect();
            format!("unknown kind {s:?} (one of {})", names.join(", "))
        })
    }

    /// Whether the sender signs the URL it posts to (`public_url` matters).
    pub fn signs_url(self) -> bool {
        matches!(self, Kind::Twilio | Kind::Square)
    }
}

fn header(name: &str) -> Field {
    Field::Header(name.into())
}

fn json(ptr: &str) -> Field {
    Field::Json(ptr.into())
}

/// SPEC §4's default event id and event type of each kind.
fn defaults(kind: Kind) -> (Field, Field) {
    match kind {
        Kind::Stripe => (json("/id"), json("/type")),
        Kind::Github => (header("x-github-delivery"), Field::GithubEvent),
        // Events API JSON; slash commands (form bodies: `trigger_id`, unique
        // per invocation, and the command, e.g. `/deploy`); interactivity
        // (`payload=<json>`, read as that JSON: `trigger_id` and `type`).
        Kind::Slack => (
            Field::AnyOf(vec![json("/event_id"), Field::Param("trigger_id".into())]),
            Field::AnyOf(vec![json("/event/type"), json("/type"), Field::Param("command".into())]),
        ),
        Kind::Shopify => (header("x-shopify-webhook-id"), header("x-shopify-topic")),
        Kind::Twilio => (
            Field::AnyOf(vec![
                header("i-twilio-idempotency-token"),
                Field::Param("MessageSid".into()),
                Field::Param("CallSid".into()),
            ]),
            Field::AnyOf(vec![
                Field::Param("MessageStatus".into()),
                Field::Param("CallStatus".into()),
                Field::Fixed("twilio".into()),
            ]),
        ),
        Kind::Standard => (Field::AnyOf(vec![header("webhook-id"), header("svix-id")]), json("/type")),
        Kind::Gitlab => (header("x-gitlab-event-uuid"), header("x-gitlab-event")),
        Kind::Paddle => (json("/event_id"), json("/event_type")),
        Kind::Linear => (header("linear-delivery"), Field::JsonDotted("/type".into(), "/action".into())),
        Kind::Square => (json("/event_id"), json("/type")),
        Kind::Zoom => (Field::BodySha256, json("/event")),
        Kind::Hmac => (Field::BodySha256, Field::Fixed("event".into())),
    }
}

pub(super) fn identify(at: &str, kind: Kind, raw: &RawSource, p: &mut Problems) -> Option<Identify> {
    let (id, ty) = defaults(kind);
    let id = match &raw.event_id {
        Some(s) => p.take(format!("{at}.event_id"), parse_field(s)),
        None => Some(id),
    };
    let ty = match &raw.event_type {
        Some(s) => p.take(format!("{at}.event_type"), parse_field(s)),
        None => Some(ty),
    };
    Some(Identify { id: id?, ty: ty? })
}

/// The scheme of `kind`; `secrets` are the resolved secret values.
pub(super) fn scheme(
    at: &str,
    kind: Kind,
    raw: &RawSource,
    identify: Option<&Identify>,
    secrets: &[(String, Vec<u8>)],
    p: &mut Problems,
) -> Option<Scheme> {
    let hmac_keys =
        [&raw.header, &raw.algorithm, &raw.encoding, &raw.prefix, &raw.timestamp_header, &raw.signed_payload];
    if kind != Kind::Hmac && hmac_keys.iter().any(|k| k.is_some()) {
        p.push(at, "header/algorithm/encoding/prefix/timestamp_header/signed_payload apply only to kind = \"hmac\"");
    }
    if kind != Kind::Standard && raw.public_key.is_some() {
        p.push(format!("{at}.public_key"), "applies only to kind = \"standard\"");
    }
    Some(match kind {
        Kind::Stripe => Scheme::Stripe,
        Kind::Github => Scheme::Github,
        Kind::Slack => Scheme::Slack,
        Kind::Shopify => Scheme::Shopify,
        Kind::Twilio => Scheme::Twilio,
        Kind::Standard => Scheme::Standard(standard_keys(at, raw, secrets, p)?),
        Kind::Gitlab => Scheme::Gitlab,
        Kind::Paddle => Scheme::Paddle,
        Kind::Linear => Scheme::Linear,
        Kind::Square => Scheme::Square,
        Kind::Zoom => Scheme::Zoom,
        Kind::Hmac => Scheme::Hmac(hmac_spec(at, raw, identify, p)?),
    })
}

/// `whsec_` secrets (base64-decoded, unlike Stripe's) and `whpk_` public keys.
fn standard_keys(
    at: &str,
    raw: &RawSource,
    secrets: &[(String, Vec<u8>)],
    p: &mut Problems,
) -> Option<Vec<StandardKey>> {
    let mut keys = Vec::new();
    let mut ok = true;
    for (path, value) in secrets {
        let parsed =
            std::str::from_utf8(value).map_err(|_| "is not text".to_string()).and_then(StandardKey::parse_secret);
        ok &= p.take(path, parsed).map(|k| keys.push(k)).is_some();
    }
    for (i, s) in raw.public_key.iter().flat_map(|k| k.as_slice()).enumerate() {
        let parsed = StandardKey::parse_public_key(s);
        ok &= p.take(format!("{at}.public_key[{i}]"), parsed).map(|k| keys.push(k)).is_some();
    }
    ok.then_some(keys)
}

fn hmac_spec(at: &str, raw: &RawSource, identify: Option<&Identify>, p: &mut Problems) -> Option<HmacSpec> {
    let header = match &raw.header {
        Some(h) => p.take(format!("{at}.header"), header_name(h)),
        None => p.take(format!("{at}.header"), Err("missing (the header that carries the signature)".into())),
    };
    let algorithm = match raw.algorithm.as_deref().unwrap_or("sha256") {
        "sha1" => Some(Algorithm::Sha1),
        "sha256" => Some(Algorithm::Sha256),
        "sha512" => Some(Algorithm::Sha512),
        other => p.take(format!("{at}.algorithm"), Err(format!("unknown algorithm {other:?} (sha1, sha256, sha512)"))),
    };
    let encoding = match raw.encoding.as_deref().unwrap_or("hex") {
        "hex" => Some(Encoding::Hex),
        "base64" => Some(Encoding::Base64),
        other => p.take(format!("{at}.encoding"), Err(format!("unknown encoding {other:?} (hex, base64)"))),
    };
    let timestamp_header = match &raw.timestamp_header {
        Some(h) => Some(p.take(format!("{at}.timestamp_header"), header_name(h))?),
        None => None,
    };
    let payload =
        p.take(format!("{at}.signed_payload"), compile_template(raw.signed_payload.as_deref().unwrap_or("{body}")))?;
    let id_header = match identify.map(|i| &i.id) {
        Some(Field::Header(h)) => Some(h.clone()),
        _ => None,
    };
    if payload.contains(&Part::Id) && id_header.is_none() {
        p.push(format!("{at}.signed_payload"), "{id} needs event_id = \"header:NAME\"");
    }
    if payload.contains(&Part::Timestamp) && timestamp_header.is_none() {
        p.push(format!("{at}.signed_payload"), "{timestamp} needs timestamp_header");
    }
    Some(HmacSpec {
        header: header?,
        algorithm: algorithm?,
        encoding: encoding?,
        prefix: raw.prefix.clone().unwrap_or_default(),
        timestamp_header,
        id_header,
        payload,
    })
}

fn header_name(s: &str) -> Result<String, String> {
    http::HeaderName::from_bytes(s.as_bytes())
        .map(|h| h.as_str().to_string())
        .map_err(|_| format!("invalid header name {s:?}"))
}

/// Headers that carry a secret or a signature: never handed to handlers.
const NEVER_KEEP: [&str; 2] = ["x-gitlab-token", "authorization"];

/// Whether hookd refuses to keep `name` (lower-case) whatever asks for it.
pub(super) fn never_kept(name: &str) -> bool {
    NEVER_KEEP.contains(&name)
}

/// `keep_headers`, plus those the routes' templates read.
pub(super) fn keep_headers_for(kind: Kind, identify: Option<&Identify>, also: &[String]) -> Vec<String> {
    let mut keep = keep_headers(kind, identify);
    keep.extend(also.iter().filter(|h| !never_kept(h)).cloned());
    keep.sort();
    keep.dedup();
    keep
}

/// Sender headers handed to handlers as `HOOKD_HEADER_<NAME>`.
pub(super) fn keep_headers(kind: Kind, identify: Option<&Identify>) -> Vec<String> {
    let mut keep: Vec<String> = kind_headers(kind).iter().map(|h| h.to_string()).collect();
    keep.push("content-type".into());
    keep.push("user-agent".into());
    for field in identify.iter().flat_map(|i| [&i.id, &i.ty]) {
        collect_headers(field, &mut keep);
    }
    keep.retain(|h| !NEVER_KEEP.contains(&h.as_str()));
    keep.sort();
    keep.dedup();
    keep
}

fn collect_headers(field: &Field, keep: &mut Vec<String>) {
    match field {
        Field::Header(h) => keep.push(h.clone()),
        Field::AnyOf(fields) => fields.iter().for_each(|f| collect_headers(f, keep)),
        _ => {}
    }
}

fn kind_headers(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Github => &[
            "x-github-event",
            "x-github-delivery",
            "x-github-hook-id",
            "x-github-hook-installation-target-id",
            "x-github-hook-installation-target-type",
        ],
        Kind::Slack => &["x-slack-request-timestamp", "x-slack-retry-num", "x-slack-retry-reason"],
        Kind::Shopify => &[
            "x-shopify-topic",
            "x-shopify-webhook-id",
            "x-shopify-shop-domain",
            "x-shopify-api-version",
            "x-shopify-event-id",
            "x-shopify-triggered-at",
        ],
        Kind::Twilio => &["i-twilio-idempotency-token", "x-home-region"],
        Kind::Standard => &["webhook-id", "webhook-timestamp", "svix-id", "svix-timestamp"],
        Kind::Gitlab => &["x-gitlab-event", "x-gitlab-event-uuid", "x-gitlab-instance", "x-gitlab-webhook-uuid"],
        Kind::Linear => &["linear-delivery", "linear-event"],
        Kind::Zoom => &["x-zm-request-timestamp"],
        Kind::Stripe | Kind::Paddle | Kind::Square | Kind::Hmac => &[],
    }
}
