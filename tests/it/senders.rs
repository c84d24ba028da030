//! Every sender kind through the real binary, signed by the independent
//! signers in `support/sign.rs`: valid → 202 with the right event id and
//! type handed to the handler; tampered, stale, wrong secret → 401; two
//! secrets at once; Slack and Zoom handshakes; allowlist and rate limit.

use crate::support::http::{post, post_as, Response};
use crate::support::sign::{self, unix_now};
use crate::support::{lines, recorder, wait_until, Hookd};
use std::path::Path;
use std::time::Duration;

/// One signed request and what hookd should make of it.
struct Sent {
    path: String,
    form: bool,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    id: String,
    ty: String,
}

impl Sent {
    fn json(source: &str, headers: Vec<(String, String)>, body: String, id: String, ty: &str) -> Sent {
        let path = format!("/webhooks/{source}");
        Sent { path, form: false, headers, body: body.into_bytes(), id, ty: ty.into() }
    }

    fn post(&self, addr: &str) -> Response {
        let ct = if self.form { "application/x-www-form-urlencoded" } else { "application/json" };
        post_as(addr, &self.path, ct, &self.headers, &self.body).expect("response")
    }
}

/// Builds request number `n` of a source, signed with `secret` at `ts`.
type Signer = fn(addr: &str, secret: &str, n: u32, ts: i64) -> Sent;

/// (source name, kind, extra config, signer, has a signed timestamp)
const SENDERS: &[(&str, &str, &str, Signer, bool)] = &[
    ("slack", "slack", "", slack, true),
    ("shopify", "shopify", "", shopify, false),
    ("twilio", "twilio", "", twilio_form, false),
    ("twilio_json", "twilio", "", twilio_json, false),
    ("twilio_pub", "twilio", "public_url = \"https://hooks.example.com/webhooks/twilio\"\n", twilio_public, false),
    ("standard", "standard", "", standard, true),
    ("svix", "standard", "", svix, true),
    ("gitlab", "gitlab", "", gitlab, false),
    ("paddle", "paddle", "", paddle, true),
    ("linear", "linear", "", linear, true),
    ("square", "square", "", square, false),
    ("zoom", "zoom", "", zoom, true),
];

fn secret(source: &str, which: &str) -> String {
    match source {
        "standard" | "svix" => sign::whsec(&format!("{source}-{which}")),
        _ => format!("{source}-{which}"),
    }
}

fn source_toml(name: &str, kind: &str, extra: &str, out: &Path) -> String {
    let (old, new) = (secret(name, "old"), secret(name, "new"));
    format!(
        "[sources.{name}]\nkind = \"{kind}\"\nsecrets = [\"{old}\", \"{new}\"]\n{extra}\n[[sources.{name}.routes]]\nevents = [\"*\"]\ncommand = {}\n\n",
        recorder(&out.join(name), 0)
    )
}

#[test]
fn every_sender_kind_verifies_identifies_and_rotates() {
    let out = tempfile::tempdir().expect("tempdir");
    let config: String =
        SENDERS.iter().map(|(name, kind, extra, ..)| source_toml(name, kind, extra, out.path())).collect();
    // Dozens of deliberately bad signatures from one address in a second:
    // above the default budget of failed verifications (20/s).
    let h = Hookd::start_server("unverified_rate_limit = \"1000/s\"", &config);
    let now = unix_now();
    for (name, _, _, signer, timestamped) in SENDERS {
        let valid = signer(&h.addr, &secret(name, "new"), 1, now);
        let r = valid.post(&h.addr);
        assert_eq!(r.status, 202, "{name}: {}", r.body);
        assert_eq!(r.json()["event_id"].as_str(), Some(valid.id.as_str()), "{name}");
        let rotated = signer(&h.addr, &secret(name, "old"), 2, now);
        assert_eq!(rotated.post(&h.addr).status, 202, "{name}: the older secret still verifies");
        let wrong = signer(&h.addr, &secret(name, "wrong"), 3, now).post(&h.addr);
        assert_eq!((wrong.status, wrong.json()["error"].as_str()), (401, Some("bad_signature")), "{name}");
        if *name != "gitlab" {
            let mut tampered = signer(&h.addr, &secret(name, "new"), 4, now);
            tampered.body.push(b' ');
            assert_eq!(tampered.post(&h.addr).status, 401, "{name}: tampered body");
        }
        if *timestamped {
            let stale = signer(&h.addr, &secret(name, "new"), 5, now - 3600).post(&h.addr);
            assert_eq!(stale.status, 401, "{name}: stale timestamp: {}", stale.body);
        }
        let want = [format!("{} 1 {}", valid.id, valid.ty), format!("{} 1 {}", rotated.id, rotated.ty)];
        let file = out.path().join(name);
        wait_until(Duration::from_secs(10), &format!("{name} handler runs"), || {
            let got = lines(&file);
            want.iter().all(|w| got.contains(w)).then_some(())
        });
    }
}

#[test]
fn slack_and_zoom_handshakes_are_answered_in_place_and_not_stored() {
    let out = tempfile::tempdir().expect("tempdir");
    let config = source_toml("slack", "slack", "", out.path()) + &source_toml("zoom", "zoom", "", out.path());
    let mut h = Hookd::start(&config);
    let now = unix_now();
    let challenge = br#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let r = post(&h.addr, "/webhooks/slack", &sign::slack(&secret("slack", "new"), now, challenge), challenge)
        .expect("response");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["challenge"], "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P");
    let unsigned = post(&h.addr, "/webhooks/slack", &[], challenge).expect("response");
    assert_eq!(unsigned.status, 401, "the Slack handshake is signed too");

    let validation = br#"{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}"#;
    let old = secret("zoom", "old");
    let r = post(&h.addr, "/webhooks/zoom", &sign::zoom(&old, now, validation), validation).expect("response");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["plainToken"], "qgg8vlvZRS6UYooatFL8Aw");
    assert_eq!(r.json()["encryptedToken"], sign::zoom_encrypted_token(&old, "qgg8vlvZRS6UYooatFL8Aw"));
    let forged = sign::zoom("not-the-secret", now, validation);
    assert_eq!(post(&h.addr, "/webhooks/zoom", &forged, validation).expect("response").status, 401);

    let store = h.stop_and_open();
    assert!(store.all_events().expect("events").is_empty(), "handshakes are never stored");
    assert!(lines(&out.path().join("slack")).is_empty() && lines(&out.path().join("zoom")).is_empty());
}

/// One slack source takes the Events API, slash commands (a form: id
/// `trigger_id`, type the command) and interactivity (`payload=<json>`: its
/// `trigger_id` and `type`), all signed alike; a route reads form fields.
#[test]
fn slack_slash_commands_and_interactivity_are_identified_from_their_forms() {
    let out = tempfile::tempdir().expect("tempdir");
    let texts = out.path().join("texts");
    let config = format!(
        "{}[[sources.slack.routes]]\nname = \"deploy\"\nevents = [\"/deploy\"]\n\
         command = [\"/bin/sh\", \"-c\", \"echo \\\"$1 $2\\\" >> {}\", \"sh\", \"{{form:text}}\", \"{{form:user_id}}\"]\n",
        source_toml("slack", "slack", "", out.path()),
        texts.display()
    );
    let h = Hookd::start(&config);
    let key = secret("slack", "new");
    let form = "application/x-www-form-urlencoded";
    let slash = "token=gIkuvaNzQIHg97ATvDxqgjtO&team_id=T0001&team_domain=acme&channel_id=C2147483705\
                 &channel_name=ops&user_id=U2147483697&user_name=ana&command=%2Fdeploy&text=api+v2\
                 &api_app_id=A0001&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT0001%2F1%2Fx\
                 &trigger_id=13345224609.738474920.8088930838d88f008e0";
    let r =
        post_as(&h.addr, "/webhooks/slack", form, &sign::slack(&key, unix_now(), slash.as_bytes()), slash.as_bytes())
            .expect("response");
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.json()["event_id"], "13345224609.738474920.8088930838d88f008e0");
    let payload = r#"{"type":"block_actions","trigger_id":"9.8.abc","user":{"id":"U1"},"actions":[{"action_id":"ok","value":"yes"}]}"#;
    let body = form_urlencoded::Serializer::new(String::new()).append_pair("payload", payload).finish();
    let r = post_as(&h.addr, "/webhooks/slack", form, &sign::slack(&key, unix_now(), body.as_bytes()), body.as_bytes())
        .expect("response");
    assert_eq!((r.status, r.json()["event_id"].as_str()), (202, Some("9.8.abc")), "{}", r.body);
    let forged = sign::slack("not-the-secret", unix_now(), slash.as_bytes());
    assert_eq!(post_as(&h.addr, "/webhooks/slack", form, &forged, slash.as_bytes()).map(|r| r.status), Some(401));

    let want = ["13345224609.738474920.8088930838d88f008e0 1 /deploy", "9.8.abc 1 block_actions"];
    wait_until(Duration::from_secs(10), "both recorded with their types", || {
        let got = lines(&out.path().join("slack"));
        want.iter().all(|w| got.iter().any(|g| g == w)).then_some(())
    });
    let got = wait_until(Duration::from_secs(10), "the deploy route", || lines(&texts).pop());
    assert_eq!(got, "api v2 U2147483697");
}

fn github_source(name: &str, extra: &str) -> String {
    format!("[sources.{name}]\nkind = \"github\"\nsecret = \"gh\"\n{extra}\n")
}

fn github_post(addr: &str, source: &str, n: u32, extra: &[(&str, &str)]) -> Response {
    let body = format!(r#"{{"zen":"ping {n}"}}"#);
    let mut headers = vec![
        sign::github("gh", body.as_bytes()),
        ("X-GitHub-Event".into(), "ping".into()),
        ("X-GitHub-Delivery".into(), format!("d-{n}")),
    ];
    headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    post(addr, &format!("/webhooks/{source}"), &headers, body.as_bytes()).expect("response")
}

#[test]
fn allowlist_ignores_forwarded_for_from_untrusted_peers_and_rate_limit_is_429() {
    let config =
        github_source("deny", "allow_ips = [\"10.0.0.0/8\"]") + &github_source("limited", "rate_limit = \"2/m\"");
    let mut h = Hookd::start(&config);
    let spoofed = github_post(&h.addr, "deny", 1, &[("X-Forwarded-For", "10.1.2.3")]);
    assert_eq!((spoofed.status, spoofed.json()["error"].as_str()), (403, Some("forbidden")), "{}", spoofed.body);
    let unsigned = post(&h.addr, "/webhooks/deny", &[], b"{}").expect("response");
    assert_eq!(unsigned.status, 403, "403 comes before the signature check");

    assert_eq!(github_post(&h.addr, "limited", 1, &[]).status, 202);
    assert_eq!(github_post(&h.addr, "limited", 2, &[]).status, 202);
    let over = github_post(&h.addr, "limited", 3, &[]);
    assert_eq!(over.status, 429, "{}", over.body);
    let retry_after: u64 = over.header("retry-after").and_then(|v| v.parse().ok()).expect("Retry-After seconds");
    assert!(retry_after >= 1, "{retry_after}");
    let unsigned = post(&h.addr, "/webhooks/limited", &[], b"{}").expect("response");
    assert_eq!(unsigned.status, 401, "rate_limit counts verified requests only: the signature comes first");

    let store = h.stop_and_open();
    let events = store.all_events().expect("events");
    assert_eq!(events.len(), 2, "nothing is stored for a 403 or a 429");
}

#[test]
fn forwarded_for_is_believed_from_a_trusted_proxy() {
    let h = Hookd::start_server(
        "trusted_proxies = [\"127.0.0.1/32\"]",
        &github_source("viaproxy", "allow_ips = [\"10.0.0.0/8\"]"),
    );
    let inside = github_post(&h.addr, "viaproxy", 1, &[("X-Forwarded-For", "10.1.2.3")]);
    assert_eq!(inside.status, 202, "{}", inside.body);
    let outside = github_post(&h.addr, "viaproxy", 2, &[("X-Forwarded-For", "192.0.2.1")]);
    assert_eq!(outside.status, 403);
    assert_eq!(github_post(&h.addr, "viaproxy", 3, &[]).status, 403, "the proxy itself is not in allow_ips");
}

fn slack(_: &str, secret: &str, n: u32, ts: i64) -> Sent {
    let body = format!(
        r#"{{"token":"x","type":"event_callback","event_id":"Ev{n}","event":{{"type":"app_mention","text":"hi"}}}}"#
    );
    Sent::json("slack", sign::slack(secret, ts, body.as_bytes()), body, format!("Ev{n}"), "app_mention")
}

fn shopify(_: &str, secret: &str, n: u32, _: i64) -> Sent {
    let body = format!(r#"{{"id":{n},"total_price":"19.99"}}"#);
    let headers = vec![
        sign::shopify(secret, body.as_bytes()),
        ("X-Shopify-Topic".into(), "orders/create".into()),
        ("X-Shopify-Webhook-Id".into(), format!("shop-{n}")),
    ];
    Sent::json("shopify", headers, body, format!("shop-{n}"), "orders/create")
}

fn twilio_form_to(source: &str, signed_url: &str, secret: &str, n: u32) -> Sent {
    let sid = format!("SM{n}");
    let form =
        [("MessageSid", sid.as_str()), ("MessageStatus", "delivered"), ("From", "+15005550006"), ("Body", "hi there")];
    let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish().into_bytes();
    let headers = vec![sign::twilio(secret, signed_url, &form)];
    Sent { path: format!("/webhooks/{source}"), form: true, headers, body, id: sid, ty: "delivered".into() }
}

fn twilio_form(addr: &str, secret: &str, n: u32, _: i64) -> Sent {
    twilio_form_to("twilio", &format!("http://{addr}/webhooks/twilio"), secret, n)
}

fn twilio_public(_: &str, secret: &str, n: u32, _: i64) -> Sent {
    twilio_form_to("twilio_pub", "https://hooks.example.com/webhooks/twilio", secret, n)
}

fn twilio_json(addr: &str, secret: &str, n: u32, _: i64) -> Sent {
    let body = format!(r#"{{"CallSid":"CA{n}","CallStatus":"completed"}}"#);
    let path = format!("/webhooks/twilio_json?bodySHA256={}", sign::sha256_hex(body.as_bytes()));
    let headers = vec![
        sign::twilio(secret, &format!("http://{addr}{path}"), &[]),
        ("I-Twilio-Idempotency-Token".into(), format!("tok-{n}")),
    ];
    Sent { path, ..Sent::json("twilio_json", headers, body, format!("tok-{n}"), "completed") }
}

fn standard_as(source: &str, prefix: &str, secret: &str, n: u32, ts: i64) -> Sent {
    let body = format!(r#"{{"type":"user.created","data":{{"id":"u{n}"}}}}"#);
    let id = format!("msg_{n}");
    Sent::json(source, sign::standard(secret, prefix, &id, ts, body.as_bytes()), body, id, "user.created")
}

fn standard(_: &str, secret: &str, n: u32, ts: i64) -> Sent {
    standard_as("standard", "webhook", secret, n, ts)
}

fn svix(_: &str, secret: &str, n: u32, ts: i64) -> Sent {
    standard_as("svix", "svix", secret, n, ts)
}

fn gitlab(_: &str, secret: &str, n: u32, _: i64) -> Sent {
    let headers = vec![
        ("X-Gitlab-Token".into(), secret.to_string()),
        ("X-Gitlab-Event".into(), "Push Hook".into()),
        ("X-Gitlab-Event-UUID".into(), format!("gl-{n}")),
    ];
    Sent::json("gitlab", headers, r#"{"object_kind":"push"}"#.into(), format!("gl-{n}"), "Push Hook")
}

fn paddle(_: &str, secret: &str, n: u32, ts: i64) -> Sent {
    let body = format!(r#"{{"event_id":"evt_{n}","event_type":"transaction.completed","data":{{}}}}"#);
    Sent::json(
        "paddle",
        vec![sign::paddle(secret, ts, body.as_bytes())],
        body,
        format!("evt_{n}"),
        "transaction.completed",
    )
}

fn linear(_: &str, secret: &str, n: u32, ts: i64) -> Sent {
    let body =
        format!(r#"{{"type":"Issue","action":"create","data":{{"id":"i{n}"}},"webhookTimestamp":{}}}"#, ts * 1000);
    let headers = vec![sign::linear(secret, body.as_bytes()), ("Linear-Delivery".into(), format!("lin-{n}"))];
    Sent::json("linear", headers, body, format!("lin-{n}"), "Issue.create")
}

fn square(addr: &str, secret: &str, n: u32, _: i64) -> Sent {
    let body = format!(r#"{{"merchant_id":"M","type":"payment.created","event_id":"sq-{n}","data":{{}}}}"#);
    let headers = vec![sign::square(secret, &format!("http://{addr}/webhooks/square"), body.as_bytes())];
    Sent::json("square", headers, body, format!("sq-{n}"), "payment.created")
}

fn zoom(_: &str, secret: &str, n: u32, ts: i64) -> Sent {
    let body =
        format!(r#"{{"event":"meeting.started","event_ts":{},"payload":{{"object":{{"uuid":"z{n}"}}}}}}"#, ts * 1000);
    let id = sign::sha256_hex(body.as_bytes());
    Sent::json("zoom", sign::zoom(secret, ts, body.as_bytes()), body, id, "meeting.started")
}
