//! `hookd send` through the real binary: for every kind and the common
//! types, what the handler gets is what that sender posts — the event type
//! hookd identifies (a GitHub `push` has no action) and the body's fields
//! in their places —, and `send` reads only the named source's secret.

use crate::support::{wait_until, Hookd};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// Each source's route keeps the body as `got/<hookd id>` and its type as
/// `got/<hookd id>.type`.
fn route(got: &Path) -> String {
    // The type file appears whole (renamed into place): the test reads it as soon as it exists.
    let script = format!(
        "cat > {0}/$HOOKD_ID; printf %s \"$HOOKD_EVENT_TYPE\" > {0}/$HOOKD_ID.tmp; mv {0}/$HOOKD_ID.tmp {0}/$HOOKD_ID.type",
        got.display()
    );
    format!(
        "[[sources.KIND.routes]]\nevents = [\"*\"]\ncommand = [\"/bin/sh\", \"-c\", {}]\n\n",
        toml::Value::String(script)
    )
}

fn sources(got: &Path) -> String {
    let kinds = [
        ("stripe", "secret = \"whsec_stripe\""),
        ("github", "secret = \"gh\""),
        ("slack", "secret = \"sl\""),
        ("shopify", "secret = \"sh\""),
        ("twilio", "secret = \"tw\""),
        ("standard", "secret = \"whsec_c3RhbmRhcmQtc2VjcmV0LWtleQ==\""),
        ("gitlab", "secret = \"gl\""),
        ("paddle", "secret = \"pd\""),
        ("linear", "secret = \"ln\""),
        ("square", "secret = \"sq\""),
        ("zoom", "secret = \"zm\""),
        (
            "hmac",
            "secret = \"hm\"\nheader = \"x-sig\"\nprefix = \"sha256=\"\ntimestamp_header = \"x-ts\"\nsigned_payload = \"{timestamp}.{body}\"",
        ),
    ];
    kinds
        .iter()
        .map(|(kind, keys)| {
            format!("[sources.{kind}]\nkind = \"{kind}\"\n{keys}\n\n{}", route(got).replace("KIND", kind))
        })
        .collect()
}

/// `hookd send --source KIND [--type TYPE]`: (the type the handler saw, the body it got).
fn sent(h: &Hookd, got: &Path, kind: &str, ty: Option<&str>) -> (String, Vec<u8>) {
    let mut args = vec!["send", "--source", kind];
    args.extend(ty.iter().flat_map(|t| ["--type", t]));
    let answer = h.cli_json(&args);
    assert_eq!(answer["status"], 202, "{kind} {ty:?}: {answer}");
    let id = answer["answer"]["id"].as_str().expect("hookd id").to_string();
    let file = got.join(&id);
    let ty = wait_until(Duration::from_secs(10), &format!("{kind} {ty:?} handled"), || {
        std::fs::read_to_string(got.join(format!("{id}.type"))).ok()
    });
    (ty, std::fs::read(file).expect("the body"))
}

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(body)))
}

fn form(body: &[u8]) -> std::collections::HashMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}

#[test]
fn send_posts_each_senders_real_shape_per_kind_and_type() {
    let dir = tempfile::tempdir().expect("tempdir");
    let got = dir.path().join("got");
    std::fs::create_dir(&got).expect("mkdir");
    let h =
        Hookd::start(&format!("[admin]\nlisten = \"unix:{}/admin.sock\"\n\n{}", dir.path().display(), sources(&got)));

    // JSON senders: (kind, type asked, type identified, pointer, value there).
    let cases: &[(&str, Option<&str>, &str, &str, &str)] = &[
        ("stripe", None, "payment_intent.succeeded", "/data/object/object", "payment_intent"),
        ("stripe", Some("invoice.paid"), "invoice.paid", "/data/object/status", "paid"),
        (
            "stripe",
            Some("checkout.session.completed"),
            "checkout.session.completed",
            "/data/object/object",
            "checkout.session",
        ),
        (
            "stripe",
            Some("customer.subscription.created"),
            "customer.subscription.created",
            "/data/object/status",
            "active",
        ),
        (
            "stripe",
            Some("customer.subscription.updated"),
            "customer.subscription.updated",
            "/data/object/object",
            "subscription",
        ),
        (
            "stripe",
            Some("customer.subscription.deleted"),
            "customer.subscription.deleted",
            "/data/object/status",
            "canceled",
        ),
        ("stripe", Some("charge.dispute.created"), "charge.dispute.created", "/data/object/object", "dispute"),
        ("github", Some("ping"), "ping", "/hook/config/content_type", "json"),
        ("github", Some("push"), "push", "/ref", "refs/heads/main"),
        ("github", None, "push", "/repository/full_name", "acme/api"),
        ("github", Some("pull_request.opened"), "pull_request.opened", "/pull_request/state", "open"),
        ("github", Some("workflow_run.completed"), "workflow_run.completed", "/workflow_run/conclusion", "success"),
        ("github", Some("release.published"), "release.published", "/release/tag_name", "v1.4.0"),
        ("slack", None, "app_mention", "/event/type", "app_mention"),
        ("shopify", None, "orders/create", "/financial_status", "paid"),
        ("standard", None, "user.created", "/data/object", "user"),
        ("gitlab", None, "Push Hook", "/object_kind", "push"),
        ("paddle", None, "transaction.completed", "/data/status", "completed"),
        ("linear", None, "Issue.create", "/data/identifier", "ENG-123"),
        ("square", None, "payment.created", "/data/object/payment/status", "APPROVED"),
        ("zoom", None, "meeting.started", "/payload/object/topic", "Release review"),
        ("hmac", None, "event", "/type", "event"),
    ];
    for (kind, asked, identified, pointer, value) in cases {
        let (ty, body) = sent(&h, &got, kind, *asked);
        assert_eq!(ty, *identified, "{kind} {asked:?}");
        let body = json(&body);
        assert_eq!(body.pointer(pointer).and_then(Value::as_str), Some(*value), "{kind} {asked:?}: {body}");
        if (*kind, *identified) == ("github", "push") {
            assert!(body.get("action").is_none(), "a push has no action: {body}");
        }
    }

    // Form senders.
    let (ty, body) = sent(&h, &got, "twilio", None);
    let sms = form(&body);
    assert_eq!((ty.as_str(), sms["SmsStatus"].as_str()), ("twilio", "received"), "an incoming SMS: {sms:?}");
    assert!(sms["MessageSid"].starts_with("SM") && !sms["Body"].is_empty() && sms["From"].starts_with('+'));
    let (ty, body) = sent(&h, &got, "twilio", Some("delivered"));
    assert_eq!((ty.as_str(), form(&body)["MessageStatus"].as_str()), ("delivered", "delivered"));
    let (ty, body) = sent(&h, &got, "slack", Some("/deploy"));
    let slash = form(&body);
    assert_eq!((ty.as_str(), slash["command"].as_str(), slash["text"].as_str()), ("/deploy", "/deploy", "api v1.4.0"));
    assert!(slash.contains_key("trigger_id") && slash.contains_key("user_id") && slash.contains_key("team_id"));
    let (ty, body) = sent(&h, &got, "slack", Some("block_actions"));
    let payload: Value = serde_json::from_str(&form(&body)["payload"]).expect("payload= JSON");
    assert_eq!(
        (ty.as_str(), payload.pointer("/actions/0/value").and_then(Value::as_str)),
        ("block_actions", Some("v1.4.0"))
    );
}

#[test]
fn send_reads_only_the_named_sources_secret() {
    let dir = tempfile::tempdir().expect("tempdir");
    let locked = dir.path().join("locked.secret");
    let signing = dir.path().join("signing.secret");
    std::fs::write(&locked, "locked-secret\n").expect("write");
    std::fs::write(&signing, "whsec_c2lnbmluZy1zZWNyZXQ=\n").expect("write");
    let config = format!(
        "[admin]\nlisten = \"unix:{d}/admin.sock\"\n\n\
         [sources.gh]\nkind = \"github\"\nsecret = \"gh\"\n\n\
         [[sources.gh.routes]]\nevents = [\"*\"]\nurl = \"http://127.0.0.1:9/x\"\nsigning_secret_file = \"{s}\"\n\n\
         [sources.locked]\nkind = \"stripe\"\nsecret_file = \"{l}\"\n",
        d = dir.path().display(),
        s = signing.display(),
        l = locked.display()
    );
    let h = Hookd::start(&config);
    // Secrets an operator's shell cannot read: another source's, and the
    // signing secret of the named source's own route.
    std::fs::remove_file(&locked).expect("rm");
    std::fs::remove_file(&signing).expect("rm");
    let answer = h.cli_json(&["send", "--source", "gh", "--type", "ping"]);
    assert_eq!(answer["status"], 202, "{answer}");
    let (code, _, err) = h.cli(&["send", "--source", "locked"]);
    assert_eq!(code, 2, "its own secret is needed: {err}");
    assert!(err.contains("sources.locked.secret_file"), "{err}");
}
