//! A realistic sample event per kind and common type, for `hookd send` and
//! tests: the body each sender documents (`samples/*.json`, compiled in),
//! with fresh ids and current times on every call. Never holds a secret.
//!
//! A sample file is JSON whose strings may hold tokens: `{id}` (a new
//! ULID), `{id_lower}`, `{uuid}`, `{hex}` (32 hex digits), `{sha}` (40),
//! `{now}` (RFC 3339), `{rfc2822}`, `{type}` and its parts around the first
//! dot, `{type_head}` and `{type_tail}`. A string that is only `{unix}` or
//! `{unix_ms}` becomes that number; a member whose value is only a token
//! that renders empty is left out (GitHub's `action` of a plain `push`).
//! Form senders' samples (Twilio, Slack slash commands and interactivity)
//! are one JSON object, sent as form fields (an object as its JSON text).

use crate::config::Kind;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::time::{SystemTime, UNIX_EPOCH};

/// How a sample is sent.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Json,
    Form,
}

/// (kind, types it stands for, shape, file): the first of a kind that
/// matches wins. Types: exact names, `a|b|c`, or a `prefix*`.
const SAMPLES: &[(Kind, &str, Shape, &str)] = {
    use Kind::*;
    use Shape::{Form, Json};
    &[
        (Stripe, "payment_intent.succeeded", Json, include_str!("samples/stripe/payment_intent.succeeded.json")),
        (Stripe, "invoice.paid", Json, include_str!("samples/stripe/invoice.paid.json")),
        (Stripe, "checkout.session.completed", Json, include_str!("samples/stripe/checkout.session.completed.json")),
        (
            Stripe,
            "customer.subscription.created",
            Json,
            include_str!("samples/stripe/customer.subscription.created.json"),
        ),
        (
            Stripe,
            "customer.subscription.updated",
            Json,
            include_str!("samples/stripe/customer.subscription.updated.json"),
        ),
        (
            Stripe,
            "customer.subscription.deleted",
            Json,
            include_str!("samples/stripe/customer.subscription.deleted.json"),
        ),
        (Stripe, "charge.dispute.created", Json, include_str!("samples/stripe/charge.dispute.created.json")),
        (Stripe, "*", Json, include_str!("samples/stripe/event.json")),
        (Github, "push", Json, include_str!("samples/github/push.json")),
        (Github, "ping", Json, include_str!("samples/github/ping.json")),
        (Github, "pull_request.opened", Json, include_str!("samples/github/pull_request.opened.json")),
        (Github, "workflow_run.completed", Json, include_str!("samples/github/workflow_run.completed.json")),
        (Github, "release.published", Json, include_str!("samples/github/release.published.json")),
        (Github, "*", Json, include_str!("samples/github/event.json")),
        (Slack, "app_mention", Json, include_str!("samples/slack/app_mention.json")),
        (Slack, "/*", Form, include_str!("samples/slack/slash_command.json")),
        (
            Slack,
            "block_actions|view_submission|shortcut|message_action",
            Form,
            include_str!("samples/slack/interaction.json"),
        ),
        (Slack, "*", Json, include_str!("samples/slack/event_callback.json")),
        (Twilio, "twilio", Form, include_str!("samples/twilio/sms.json")),
        (
            Twilio,
            "initiated|ringing|in-progress|answered|completed|busy|no-answer",
            Form,
            include_str!("samples/twilio/call_status.json"),
        ),
        (Twilio, "*", Form, include_str!("samples/twilio/message_status.json")),
        (Shopify, "*", Json, include_str!("samples/shopify.json")),
        (Standard, "*", Json, include_str!("samples/standard.json")),
        (Gitlab, "*", Json, include_str!("samples/gitlab.json")),
        (Paddle, "*", Json, include_str!("samples/paddle.json")),
        (Linear, "*", Json, include_str!("samples/linear.json")),
        (Square, "*", Json, include_str!("samples/square.json")),
        (Zoom, "*", Json, include_str!("samples/zoom.json")),
        (Hmac, "*", Json, include_str!("samples/hmac.json")),
    ]
};

/// The type `send` sends when none is given: the kind's most common one.
pub fn default_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Stripe => "payment_intent.succeeded",
        Kind::Github => "push",
        Kind::Slack => "app_mention",
        Kind::Shopify => "orders/create",
        // An incoming SMS: the kind's type for a request without a status.
        Kind::Twilio => "twilio",
        Kind::Standard => "user.created",
        Kind::Gitlab => "Push Hook",
        Kind::Paddle => "transaction.completed",
        Kind::Linear => "Issue.create",
        Kind::Square => "payment.created",
        Kind::Zoom => "meeting.started",
        Kind::Hmac => "event",
    }
}

/// The types with a sample of their own (the rest get the kind's generic
/// one), for `--help` and tests.
pub fn known_types(kind: Kind) -> impl Iterator<Item = &'static str> {
    SAMPLES.iter().filter(move |s| s.0 == kind && !s.1.contains('*')).flat_map(|s| s.1.split('|'))
}

/// A sample body of `kind`, of `event_type` when given (else the kind's
/// default type).
pub fn sample_body(kind: Kind, event_type: Option<&str>) -> Vec<u8> {
    let ty = event_type.unwrap_or(default_type(kind));
    let Some(&(_, _, shape, file)) = SAMPLES.iter().find(|s| s.0 == kind && stands_for(s.1, ty)) else {
        return Vec::new();
    };
    let tokens = Tokens::new(ty);
    let value = serde_json::from_str(file).map(|v| tokens.fill(v)).unwrap_or_default();
    match (shape, value) {
        (Shape::Form, Value::Object(fields)) => form(&fields).into_bytes(),
        (_, value) => value.to_string().into_bytes(),
    }
}

fn stands_for(pattern: &str, ty: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => ty.starts_with(prefix),
        None => pattern.split('|').any(|p| p == ty),
    }
}

/// Top-level members as form fields; an object or array as its JSON text.
fn form(fields: &Map<String, Value>) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        match v {
            Value::String(s) => out.append_pair(k, s),
            other => out.append_pair(k, &other.to_string()),
        };
    }
    out.finish()
}

/// What the tokens of one sample render as.
struct Tokens {
    words: Vec<(&'static str, String)>,
    unix: u64,
    unix_ms: u64,
}

impl Tokens {
    fn new(ty: &str) -> Tokens {
        let id = ulid::Ulid::generate();
        let now = SystemTime::now();
        let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        let hex = format!("{:032x}", u128::from(id));
        let sha = hex::encode(Sha256::digest(id.to_string()))[..40].to_string();
        let uuid = format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..]);
        let (head, tail) = ty.split_once('.').unwrap_or((ty, ""));
        let words = vec![
            ("{id}", id.to_string()),
            ("{id_lower}", id.to_string().to_lowercase()),
            ("{uuid}", uuid),
            ("{hex}", hex),
            ("{sha}", sha),
            ("{now}", humantime::format_rfc3339_millis(now).to_string()),
            ("{rfc2822}", httpdate::fmt_http_date(now).replace("GMT", "+0000")),
            ("{type}", ty.to_string()),
            ("{type_head}", head.to_string()),
            ("{type_tail}", tail.to_string()),
        ];
        Tokens { words, unix: since.as_secs(), unix_ms: since.as_millis() as u64 }
    }

    fn fill(&self, v: Value) -> Value {
        match v {
            Value::String(s) if s == "{unix}" => self.unix.into(),
            Value::String(s) if s == "{unix_ms}" => self.unix_ms.into(),
            Value::String(s) => Value::String(self.text(&s)),
            Value::Array(items) => items.into_iter().map(|i| self.fill(i)).collect(),
            Value::Object(members) => members
                .into_iter()
                .filter(|(_, v)| !self.renders_empty(v))
                .map(|(k, v)| (k, self.fill(v)))
                .collect::<Map<_, _>>()
                .into(),
            other => other,
        }
    }

    fn text(&self, s: &str) -> String {
        let mut out = s.replace("{unix}", &self.unix.to_string()).replace("{unix_ms}", &self.unix_ms.to_string());
        for (token, value) in &self.words {
            out = out.replace(token, value);
        }
        out
    }

    /// A value that is one token and nothing else, rendering empty.
    fn renders_empty(&self, v: &Value) -> bool {
        v.as_str().is_some_and(|s| self.words.iter().any(|(t, w)| *t == s && w.is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(kind: Kind, ty: Option<&str>) -> Value {
        serde_json::from_slice(&sample_body(kind, ty)).expect("a JSON sample")
    }

    fn fields(kind: Kind, ty: Option<&str>) -> std::collections::HashMap<String, String> {
        form_urlencoded::parse(&sample_body(kind, ty)).into_owned().collect()
    }

    #[test]
    fn every_sample_file_parses_and_renders_without_tokens() {
        for (kind, types, _, file) in SAMPLES {
            assert!(serde_json::from_str::<Value>(file).is_ok(), "{} {types}", kind.name());
            let ty = types.split('|').next().unwrap_or_default().replace('*', "x.y");
            let body = String::from_utf8(sample_body(*kind, Some(&ty))).expect("text");
            assert!(!body.contains("{id") && !body.contains("{type") && !body.contains("{unix"), "{body}");
        }
    }

    #[test]
    fn stripe_types_have_their_own_objects() {
        let pi = json(Kind::Stripe, None);
        assert_eq!(
            (pi["type"].as_str(), pi["data"]["object"]["object"].as_str()),
            (Some("payment_intent.succeeded"), Some("payment_intent"))
        );
        assert!(pi["created"].is_u64() && pi["id"].as_str().is_some_and(|id| id.starts_with("evt_")));
        assert_ne!(pi["id"], json(Kind::Stripe, None)["id"], "a fresh id each time");
        let deleted = json(Kind::Stripe, Some("customer.subscription.deleted"));
        assert_eq!(deleted["data"]["object"]["status"], "canceled");
        let updated = json(Kind::Stripe, Some("customer.subscription.updated"));
        assert_eq!(updated["data"]["previous_attributes"]["cancel_at_period_end"], false);
        let other = json(Kind::Stripe, Some("customer.created"));
        assert_eq!(
            (other["type"].as_str(), other["data"]["object"]["object"].as_str()),
            (Some("customer.created"), Some("customer"))
        );
    }

    #[test]
    fn a_github_push_has_no_action_and_other_events_do() {
        let push = json(Kind::Github, Some("push"));
        assert!(push.get("action").is_none(), "{push}");
        assert_eq!(push["after"].as_str().map(str::len), Some(40));
        assert_eq!(json(Kind::Github, Some("pull_request.opened"))["pull_request"]["state"], "open");
        assert_eq!(json(Kind::Github, Some("issues.closed"))["action"], "closed");
        assert!(json(Kind::Github, Some("star")).get("action").is_none());
    }

    #[test]
    fn form_senders_send_forms() {
        let slash = fields(Kind::Slack, Some("/deploy"));
        assert_eq!(slash.get("command").map(String::as_str), Some("/deploy"));
        assert!(slash.contains_key("trigger_id") && slash.contains_key("response_url"));
        let action = fields(Kind::Slack, Some("block_actions"));
        let payload: Value = serde_json::from_str(&action["payload"]).expect("payload JSON");
        assert_eq!(payload["type"], "block_actions");
        let sms = fields(Kind::Twilio, None);
        assert_eq!((sms["SmsStatus"].as_str(), sms["MessageSid"].len()), ("received", 34));
        assert_eq!(fields(Kind::Twilio, Some("delivered"))["MessageStatus"], "delivered");
        assert_eq!(fields(Kind::Twilio, Some("completed"))["CallStatus"], "completed");
    }

    #[test]
    fn types_in_bodies_follow_the_type_asked_for() {
        assert_eq!(json(Kind::Slack, Some("reaction_added"))["event"]["type"], "reaction_added");
        let linear = json(Kind::Linear, Some("Comment.update"));
        assert_eq!((linear["type"].as_str(), linear["action"].as_str()), (Some("Comment"), Some("update")));
        assert!(linear["webhookTimestamp"].is_u64());
        assert_eq!(json(Kind::Paddle, None)["event_type"], "transaction.completed");
        assert_eq!(json(Kind::Zoom, Some("meeting.ended"))["event"], "meeting.ended");
        assert_eq!(json(Kind::Square, None)["event_id"].as_str().map(str::len), Some(36));
    }
}
