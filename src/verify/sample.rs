//! A realistic sample event per kind, for `hookd send` and tests: the shape
//! each sender documents, with a fresh id on every call and current times.
//! Never holds a secret.

use crate::config::Kind;
use serde_json::json;
use std::time::{SystemTime, UNIX_EPOCH};

/// A sample body of `kind`, of `event_type` when given (else a typical one).
pub fn sample_body(kind: Kind, event_type: Option<&str>) -> Vec<u8> {
    let id = ulid::Ulid::generate().to_string();
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let rfc3339 = humantime::format_rfc3339_seconds(now).to_string();
    let ty = |default: &'static str| event_type.unwrap_or(default).to_string();
    let value = match kind {
        Kind::Twilio => return twilio(&id, &ty("delivered")),
        Kind::Stripe => json!({
            "id": format!("evt_{id}"), "object": "event", "type": ty("payment_intent.succeeded"),
            "created": secs, "livemode": false,
            "data": {"object": {"id": format!("pi_{id}"), "object": "payment_intent", "amount": 2000, "currency": "usd", "customer": "cus_demo"}},
        }),
        Kind::Github => {
            let action = event_type.and_then(|t| t.split_once('.')).map(|(_, a)| a).unwrap_or("opened");
            json!({"action": action, "number": 1, "repository": {"id": 1, "full_name": "demo/repo"}, "sender": {"login": "octocat"}, "hookd_sample": id})
        }
        Kind::Slack => json!({
            "token": "demo", "team_id": "T0001", "api_app_id": "A0001", "type": "event_callback",
            "event": {"type": ty("app_mention"), "user": "U0001", "text": "hello", "ts": format!("{secs}.000100"), "channel": "C0001"},
            "event_id": format!("Ev{id}"), "event_time": secs,
        }),
        Kind::Shopify => {
            json!({"id": secs, "admin_graphql_api_id": format!("gid://shopify/Order/{id}"), "email": "customer@example.com", "created_at": rfc3339, "total_price": "19.99", "currency": "USD"})
        }
        Kind::Standard => {
            json!({"type": ty("user.created"), "timestamp": rfc3339, "data": {"id": format!("user_{id}"), "email": "user@example.com"}})
        }
        Kind::Gitlab => {
            json!({"object_kind": "push", "event_name": "push", "ref": "refs/heads/main", "checkout_sha": id, "project": {"id": 1, "path_with_namespace": "demo/repo"}})
        }
        Kind::Paddle => json!({
            "event_id": format!("evt_{id}"), "event_type": ty("transaction.completed"), "occurred_at": rfc3339,
            "notification_id": format!("ntf_{id}"), "data": {"id": format!("txn_{id}"), "status": "completed"},
        }),
        Kind::Linear => {
            let t = ty("Issue.create");
            let (model, action) = t.split_once('.').unwrap_or((t.as_str(), "create"));
            json!({"action": action, "type": model, "createdAt": rfc3339, "data": {"id": id, "title": "Demo issue"}, "url": "https://linear.app/demo/issue/DEMO-1", "webhookTimestamp": secs * 1000, "webhookId": "demo"})
        }
        Kind::Square => json!({
            "merchant_id": "MLEFBHHSJGVHD", "type": ty("payment.created"), "event_id": id.to_lowercase(),
            "created_at": rfc3339, "data": {"type": "payment", "id": format!("pay_{id}")},
        }),
        Kind::Zoom => json!({
            "event": ty("meeting.started"), "event_ts": secs * 1000,
            "payload": {"account_id": "demo", "object": {"id": "85746065432", "uuid": id, "topic": "Demo meeting"}},
        }),
        Kind::Hmac => json!({"id": id, "type": ty("event"), "created_at": rfc3339}),
    };
    value.to_string().into_bytes()
}

/// Twilio posts form bodies: a message status callback.
fn twilio(id: &str, status: &str) -> Vec<u8> {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("AccountSid", "AC00000000000000000000000000000000")
        .append_pair("From", "+15005550006")
        .append_pair("MessageSid", &format!("SM{id}"))
        .append_pair("MessageStatus", status)
        .append_pair("To", "+15005550001")
        .finish()
        .into_bytes()
}
