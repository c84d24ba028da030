//! SPEC §4 through the real binary: status codes in check order, signatures
//! per sender, dedup, body limits and the read timeout.

use crate::support::http::{get, post, raw};
use crate::support::sign::{github, stripe, stripe_event, unix_now};
use crate::support::{lines, recorder, wait_until, Hookd};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

const SECRET: &str = "whsec_test";

fn stripe_hookd(handler_out: &std::path::Path) -> Hookd {
    Hookd::start(&format!(
        "[sources.stripe]\nkind = \"stripe\"\nsecret = \"{SECRET}\"\n\n[[sources.stripe.routes]]\nevents = [\"invoice.*\"]\ncommand = {}\n",
        recorder(handler_out, 0)
    ))
}

fn send_stripe(h: &Hookd, body: &[u8]) -> crate::support::http::Response {
    let sig = stripe(SECRET, unix_now(), body);
    post(&h.addr, "/webhooks/stripe", &[sig], body).expect("response")
}

#[test]
fn new_event_is_202_duplicate_is_200_and_runs_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("runs");
    let mut h = stripe_hookd(&out);
    let body = stripe_event("evt_1", "invoice.paid");
    let first = send_stripe(&h, &body);
    assert_eq!(first.status, 202, "{}", first.body);
    assert_eq!(first.header("content-type"), Some("application/json"));
    let j = first.json();
    assert_eq!(
        (j["received"].as_bool(), j["event_id"].as_str(), j["deduped"].as_bool()),
        (Some(true), Some("evt_1"), Some(false))
    );
    let id = j["id"].as_str().expect("id").to_string();
    wait_until(Duration::from_secs(10), "handler run", || (lines(&out).len() == 1).then_some(()));
    let again = send_stripe(&h, &body);
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["id"].as_str(), Some(id.as_str()));
    assert_eq!(again.json()["deduped"].as_bool(), Some(true));
    assert_eq!(lines(&out), ["evt_1 1 invoice.paid"]);
    let store = h.stop_and_open();
    let events = store.all_events().expect("events");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].deliveries.len(), 1);
    assert_eq!(events[0].deliveries[0].state.as_str(), "delivered");
    assert_eq!(events[0].deliveries[0].attempts.len(), 1);
}

#[test]
fn bad_signatures_are_401_and_nothing_is_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut h = stripe_hookd(&dir.path().join("runs"));
    let body = stripe_event("evt_bad", "invoice.paid");
    let now = unix_now();
    let (name, good) = stripe(SECRET, now, &body);
    type Case<'a> = (Vec<(String, String)>, &'a [u8], &'a str);
    let cases: Vec<Case> = vec![
        (vec![(name.clone(), good.clone())], b"{\"id\":\"evt_bad\",\"type\":\"invoice.paid\"}", "bad_signature"),
        (vec![stripe("whsec_other", now, &body)], &body, "bad_signature"),
        (vec![stripe(SECRET, now - 3600, &body)], &body, "stale_timestamp"),
        (vec![], &body, "missing_signature"),
        (vec![(name.clone(), "garbage".into())], &body, "malformed_signature"),
    ];
    for (headers, body, code) in cases {
        let r = post(&h.addr, "/webhooks/stripe", &headers, body).expect("response");
        assert_eq!(r.status, 401, "{code}: {}", r.body);
        assert_eq!(r.json()["error"].as_str(), Some(code));
        assert!(!r.body.contains(&good[13..]), "expected signature echoed");
        assert!(
            !r.body.contains("ago") && !r.body.contains("future"),
            "the answer says no more than the code: {}",
            r.body
        );
    }
    // The log, not the answer, says how stale and in which direction.
    let future = stripe(SECRET, now + 7200, &body);
    assert_eq!(post(&h.addr, "/webhooks/stripe", &[future], &body).expect("response").status, 401);
    let logs = wait_until(Duration::from_secs(10), "both stale lines in the log", || {
        let logs = h.logs();
        (logs.matches("outcome=\"stale_timestamp\"").count() >= 2).then_some(logs)
    });
    // The request lines (the debug line before each names the check too).
    let stale: Vec<&str> = logs.lines().filter(|l| l.contains("outcome=\"stale_timestamp\"")).collect();
    let age = |l: &&str| l.contains("detail=\"signed 3600s ago\"") || l.contains("detail=\"signed 3601s ago\"");
    assert!(stale.iter().any(age), "{stale:?}");
    let ahead = |l: &&str| l.contains("s in the future (check this host's clock)\"");
    assert!(stale.iter().any(ahead), "{stale:?}");
    let store = h.stop_and_open();
    assert!(store.all_events().expect("events").is_empty());
}

#[test]
fn any_v1_may_match_and_secrets_rotate() {
    let h = Hookd::start("[sources.s]\nkind = \"stripe\"\nsecrets = [\"whsec_old\", \"whsec_new\"]\n");
    let body = stripe_event("evt_rot", "charge.succeeded");
    let ts = unix_now();
    let (name, good) = stripe("whsec_new", ts, &body);
    let both = format!("t={ts},v1={},{}", "ab".repeat(32), &good[good.find("v1=").expect("v1")..]);
    let r = post(&h.addr, "/webhooks/s", &[(name, both)], &body).expect("response");
    assert_eq!(r.status, 202, "{}", r.body);
    let r = post(
        &h.addr,
        "/webhooks/s",
        &[stripe("whsec_old", ts, &stripe_event("evt_rot2", "x"))],
        &stripe_event("evt_rot2", "x"),
    );
    assert_eq!(r.expect("response").status, 202);
}

#[test]
fn github_type_includes_the_action() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("runs");
    let h = Hookd::start(&format!(
        "[sources.gh]\nkind = \"github\"\nsecret = \"gh-secret\"\n\n[[sources.gh.routes]]\nevents = [\"pull_request.*\"]\ncommand = {}\n",
        recorder(&out, 0)
    ));
    let body = br#"{"action":"opened","number":1}"#;
    let mut headers = vec![github("gh-secret", body)];
    headers.push(("X-GitHub-Event".into(), "pull_request".into()));
    headers.push(("X-GitHub-Delivery".into(), "72d3162e-cc78-11e3-81ab-4c9367dc0958".into()));
    let r = post(&h.addr, "/webhooks/gh", &headers, body).expect("response");
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.json()["event_id"].as_str(), Some("72d3162e-cc78-11e3-81ab-4c9367dc0958"));
    let got = wait_until(Duration::from_secs(10), "handler", || lines(&out).pop());
    assert_eq!(got, "72d3162e-cc78-11e3-81ab-4c9367dc0958 1 pull_request.opened");
    headers[0] = github("wrong", body);
    assert_eq!(post(&h.addr, "/webhooks/gh", &headers, body).expect("response").status, 401);
    headers.remove(2);
    headers[0] = github("gh-secret", body);
    let r = post(&h.addr, "/webhooks/gh", &headers, body).expect("response");
    assert_eq!(r.status, 400, "no delivery id: {}", r.body);
}

/// GitHub's default content type: `payload=<json>` in a form body, read as
/// that JSON for the type (with its action), templates and `order_by`;
/// the handler's stdin is still the raw body the sender signed.
#[test]
fn github_form_payloads_are_read_as_their_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let h = Hookd::start(&format!(
        "[sources.gh]\nkind = \"github\"\nsecret = \"gh-secret\"\n\n[[sources.gh.routes]]\nevents = [\"pull_request.*\"]\n\
         order_by = \"/repository/full_name\"\n\
         command = [\"/bin/sh\", \"-c\", \"echo \\\"$HOOKD_EVENT_TYPE $1 $(cat)\\\" > {}\", \"sh\", \"{{json:/repository/full_name}}\"]\n",
        out.display()
    ));
    let json = r#"{"action":"opened","number":1,"repository":{"full_name":"acme/api"}}"#;
    let body = form_urlencoded::Serializer::new(String::new()).append_pair("payload", json).finish().into_bytes();
    let headers = vec![
        github("gh-secret", &body),
        ("X-GitHub-Event".into(), "pull_request".into()),
        ("X-GitHub-Delivery".into(), "form-delivery-1".into()),
    ];
    let form = "application/x-www-form-urlencoded";
    let r = crate::support::http::post_as(&h.addr, "/webhooks/gh", form, &headers, &body).expect("response");
    assert_eq!(r.status, 202, "{}", r.body);
    let got = wait_until(Duration::from_secs(10), "handler", || std::fs::read_to_string(&out).ok());
    let raw = String::from_utf8(body).expect("utf-8");
    assert_eq!(got.trim(), format!("pull_request.opened acme/api {raw}"));
}

#[test]
fn generic_hmac_with_timestamp_template_and_body_hash_ids() {
    let h = Hookd::start(
        r#"
[sources.acme]
kind = "hmac"
secret = "acme-secret"
header = "X-Acme-Signature"
algorithm = "sha256"
encoding = "hex"
prefix = "sha256="
timestamp_header = "X-Acme-Timestamp"
signed_payload = "{timestamp}.{body}"
event_type = "json:/kind"

[sources.plain]
kind = "hmac"
secret = "p"
header = "X-Sig"
"#,
    );
    let body = br#"{"kind":"order.created"}"#;
    let ts = unix_now().to_string();
    let mut payload = format!("{ts}.").into_bytes();
    payload.extend_from_slice(body);
    let sig = format!("sha256={}", crate::support::sign::hmac256_hex(b"acme-secret", &payload));
    let headers = [("X-Acme-Signature".to_string(), sig), ("X-Acme-Timestamp".to_string(), ts)];
    let r = post(&h.addr, "/webhooks/acme", &headers, body).expect("response");
    assert_eq!(r.status, 202, "{}", r.body);
    // No id configured: the id is the SHA-256 of the body, so a resend dedups.
    use sha2::Digest;
    assert_eq!(r.json()["event_id"].as_str(), Some(hex::encode(sha2::Sha256::digest(body)).as_str()));
    assert_eq!(post(&h.addr, "/webhooks/acme", &headers, body).expect("response").status, 200);
    let stale = [headers[0].clone(), ("X-Acme-Timestamp".to_string(), (unix_now() - 4000).to_string())];
    assert_eq!(post(&h.addr, "/webhooks/acme", &stale, body).expect("response").status, 401);
    let plain_sig = crate::support::sign::hmac256_hex(b"p", b"hello");
    let r = post(&h.addr, "/webhooks/plain", &[("X-Sig".to_string(), plain_sig)], b"hello").expect("response");
    assert_eq!(r.status, 202, "{}", r.body);
}

#[test]
fn size_then_source_then_signature_then_identity() {
    let h = Hookd::start("[sources.s]\nkind = \"stripe\"\nsecret = \"k\"\n");
    let big = vec![b'x'; 2 * 1024 * 1024];
    // Too large beats unknown source: the size is checked first.
    assert_eq!(post(&h.addr, "/webhooks/nope", &[], &big).map(|r| r.status), Some(413));
    assert_eq!(post(&h.addr, "/webhooks/nope", &[], b"{}").expect("response").status, 404);
    assert_eq!(post(&h.addr, "/webhooks/s", &[], b"{}").expect("response").status, 401);
    let body = br#"{"type":"no.id"}"#;
    let r = post(&h.addr, "/webhooks/s", &[stripe("k", unix_now(), body)], body).expect("response");
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["error"].as_str(), Some("unidentifiable"));
    let r = post(&h.addr, "/webhooks/s", &[stripe("k", unix_now(), b"not json")], b"not json").expect("response");
    assert_eq!(r.status, 400);
    assert_eq!(get(&h.addr, "/healthz").expect("response").status, 200);
    assert_eq!(get(&h.addr, "/readyz").expect("response").status, 200);
    assert_eq!(get(&h.addr, "/webhooks/s").expect("response").status, 405);
}

#[test]
fn chunked_bodies_over_the_limit_are_413() {
    let h = Hookd::start("[sources.s]\nkind = \"stripe\"\nsecret = \"k\"\n");
    let mut req = format!(
        "POST /webhooks/s HTTP/1.1\r\nHost: {}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        h.addr
    )
    .into_bytes();
    let chunk = vec![b'a'; 64 * 1024];
    for _ in 0..20 {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(&chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let r = raw(&h.addr, &req);
    assert_eq!(r.map(|r| r.status), Some(413));
}

#[test]
fn a_trickling_client_is_cut_off_and_holds_nobody_up() {
    let h = Hookd::start("[sources.s]\nkind = \"stripe\"\nsecret = \"k\"\n");
    // Headers that never finish: closed after read_timeout (2 s in tests).
    let mut slow = std::net::TcpStream::connect(&h.addr).expect("connect");
    slow.write_all(b"POST /webhooks/s HTTP/1.1\r\nHost: x\r\n").expect("write");
    // A body that never finishes: 408 after read_timeout.
    let mut slow_body = std::net::TcpStream::connect(&h.addr).expect("connect");
    slow_body.write_all(b"POST /webhooks/s HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{").expect("write");
    let body = stripe_event("evt_fast", "x");
    let started = Instant::now();
    let r = post(&h.addr, "/webhooks/s", &[stripe("k", unix_now(), &body)], &body).expect("response");
    assert_eq!(r.status, 202);
    assert!(started.elapsed() < Duration::from_secs(2), "a slow client held up a fast one");
    slow.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut buf = Vec::new();
    let n = slow.read_to_end(&mut buf);
    assert!(n.is_ok(), "the server should close the trickling connection, got {n:?}");
    slow_body.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut buf = Vec::new();
    let _ = slow_body.read_to_end(&mut buf);
    let resp = crate::support::http::parse(&buf).expect("an answer");
    assert_eq!(resp.status, 408);
}

#[test]
fn unrouted_events_are_stored_and_two_routes_get_two_deliveries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let mut h = Hookd::start(&format!(
        "[sources.s]\nkind = \"stripe\"\nsecret = \"k\"\n[[sources.s.routes]]\nname = \"first\"\nevents = [\"invoice.*\"]\ncommand = {}\n[[sources.s.routes]]\nname = \"second\"\nevents = [\"*.paid\"]\ncommand = {}\n",
        recorder(&a, 0),
        recorder(&b, 0)
    ));
    for (id, ty) in [("evt_both", "invoice.paid"), ("evt_none", "customer.created")] {
        let body = stripe_event(id, ty);
        assert_eq!(
            post(&h.addr, "/webhooks/s", &[stripe("k", unix_now(), &body)], &body).expect("response").status,
            202
        );
    }
    wait_until(Duration::from_secs(10), "both routes", || (lines(&a).len() == 1 && lines(&b).len() == 1).then_some(()));
    let store = h.stop_and_open();
    let events = store.all_events().expect("events");
    let both = events.iter().find(|e| e.event.event_id == "evt_both").expect("evt_both");
    let routes: Vec<_> = both.deliveries.iter().map(|d| (d.route.as_str(), d.state.as_str())).collect();
    assert_eq!(routes, [("first", "delivered"), ("second", "delivered")]);
    let none = events.iter().find(|e| e.event.event_id == "evt_none").expect("evt_none stored");
    assert!(none.deliveries.is_empty() && none.event.routes.is_empty(), "unrouted");
}

/// `match` through the real binary: a deploy route takes a push to main
/// and not one to dev; the unrouted event's log line says `routes=0`, and
/// `events show` says per route why it was not taken.
#[test]
fn match_rules_route_by_payload_and_say_why_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("runs");
    let sock = dir.path().join("admin.sock");
    let h = Hookd::start(&format!(
        "[admin]\nlisten = \"unix:{}\"\n\n[sources.gh]\nkind = \"github\"\nsecret = \"gh-secret\"\n\n\
         [[sources.gh.routes]]\nname = \"deploy\"\nevents = [\"push\"]\n\
         match = [{{ field = \"json:/ref\", equals = \"refs/heads/main\" }},\n\
                  {{ field = \"json:/repository/full_name\", regex = \"^acme/\" }},\n\
                  {{ field = \"json:/deleted\", equals = true, not = true }},\n\
                  {{ field = \"header:X-GitHub-Hook-Installation-Target-Type\", one_of = [\"repository\", \"organization\"] }}]\n\
         command = {}\n\n\
         [[sources.gh.routes]]\nname = \"releases\"\nevents = [\"release.*\"]\ncommand = [\"/bin/true\"]\n",
        sock.display(),
        recorder(&out, 0)
    ));
    let push = |delivery: &str, git_ref: &str| {
        let body = format!(r#"{{"ref":"{git_ref}","deleted":false,"repository":{{"full_name":"acme/api"}}}}"#);
        let headers = vec![
            github("gh-secret", body.as_bytes()),
            ("X-GitHub-Event".into(), "push".into()),
            ("X-GitHub-Delivery".into(), delivery.into()),
            ("X-GitHub-Hook-Installation-Target-Type".into(), "repository".into()),
        ];
        post(&h.addr, "/webhooks/gh", &headers, body.as_bytes()).expect("response")
    };
    assert_eq!(push("d-main", "refs/heads/main").status, 202);
    let got = wait_until(Duration::from_secs(10), "deploy on main", || lines(&out).pop());
    assert_eq!(got, "d-main 1 push");
    let dev = push("d-dev", "refs/heads/dev");
    assert_eq!(dev.status, 202, "an event no route takes is still stored");
    let id = dev.json()["id"].as_str().expect("id").to_string();
    let logged = wait_until(Duration::from_secs(10), "the dev push's request line", || {
        h.logs().lines().find(|l| l.contains(" request ") && l.contains("event_id=d-dev")).map(str::to_string)
    });
    assert!(logged.contains("routes=0"), "{logged}");
    let shown = h.cli_json(&["events", "show", &id]);
    assert_eq!(shown["status"], "unrouted");
    let why: Vec<String> = shown["routes_not_taken"]
        .as_array()
        .expect("routes_not_taken")
        .iter()
        .map(|r| format!("{}: {}", r["route"].as_str().unwrap_or(""), r["why"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        why,
        [
            r#"deploy: json:/ref is "refs/heads/dev", wanted "refs/heads/main""#.to_string(),
            r#"releases: event type "push" is not in ["release.*"]"#.to_string(),
        ]
    );
    let (_, text, _) = h.cli(&["events", "show", &id]);
    assert!(text.contains(r#"not taken deploy: json:/ref is "refs/heads/dev", wanted "refs/heads/main""#), "{text}");
    assert_eq!(lines(&out).len(), 1, "the dev push ran nothing");

    let (code, _, err) = crate::cli::check_config(
        "[sources.gh]\nkind = \"github\"\nsecret = \"s\"\n\n[[sources.gh.routes]]\nevents = [\"push\"]\n\
         command = [\"/bin/true\"]\nmatch = [{ field = \"json:/ref\", regex = \"(\" }, { field = \"body:/x\", exists = true }]\n",
    );
    assert_eq!(code, 2);
    assert!(err.contains("sources.gh.routes[0].match[0]: regex \"(\""), "{err}");
    assert!(err.contains("sources.gh.routes[0].match[1]: field \"body:/x\" is not"), "{err}");
}

/// `form:` and `header:` conditions through the real binary, on a Twilio
/// form body: `regex`, `glob`, `exists` and `one_of` on fields and
/// headers, each negated once; what no route takes says why per route.
#[test]
fn form_and_header_match_conditions_route_twilio_forms_and_say_why_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (stop, other) = (dir.path().join("stop"), dir.path().join("other"));
    let h = Hookd::start(&format!(
        "[admin]\nlisten = \"unix:{}/admin.sock\"\n\n[sources.tw]\nkind = \"twilio\"\nsecret = \"tw\"\n\
         public_url = \"https://hooks.example.com/tw\"\n\n\
         [[sources.tw.routes]]\nname = \"stop\"\nevents = [\"*\"]\n\
         match = [{{ field = \"form:Body\", regex = \"(?i)^\\\\s*stop\\\\b\" }},\n\
                  {{ field = \"header:X-Home-Region\", one_of = [\"us1\", \"ie1\"] }}]\n\
         command = {}\n\n\
         [[sources.tw.routes]]\nname = \"other\"\nevents = [\"*\"]\n\
         match = [{{ field = \"form:Body\", regex = \"(?i)^\\\\s*stop\\\\b\", not = true }},\n\
                  {{ field = \"form:From\", glob = \"+1*\" }},\n\
                  {{ field = \"form:MediaUrl0\", exists = false }},\n\
                  {{ field = \"header:X-Home-Region\", exists = true }}]\n\
         command = {}\n",
        dir.path().display(),
        recorder(&stop, 0),
        recorder(&other, 0)
    ));
    let send = |sid: &str, from: &str, text: &str, region: Option<&str>| {
        let form = [("MessageSid", sid), ("From", from), ("Body", text), ("SmsStatus", "received")];
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let mut headers = vec![crate::support::sign::twilio("tw", "https://hooks.example.com/tw", &form)];
        headers.extend(region.map(|r| ("X-Home-Region".to_string(), r.to_string())));
        let form_type = "application/x-www-form-urlencoded";
        let r = crate::support::http::post_as(&h.addr, "/webhooks/tw", form_type, &headers, body.as_bytes());
        let r = r.expect("answer");
        assert_eq!(r.status, 202, "{}", r.body);
        r.json()["id"].as_str().expect("id").to_string()
    };
    send("SM1", "+14155550123", "STOP please", Some("us1"));
    send("SM2", "+14155550123", "hello", Some("ie1"));
    wait_until(Duration::from_secs(10), "both routes", || {
        (!lines(&stop).is_empty() && !lines(&other).is_empty()).then_some(())
    });
    assert_eq!((lines(&stop), lines(&other)), (vec!["SM1 1 twilio".to_string()], vec!["SM2 1 twilio".to_string()]));

    let why = |id: &str| {
        let shown = h.cli_json(&["events", "show", id]);
        assert_eq!(shown["status"], "unrouted", "{shown}");
        let not_taken = shown["routes_not_taken"].as_array().cloned().unwrap_or_default();
        not_taken
            .iter()
            .map(|r| format!("{}: {}", r["route"].as_str().unwrap_or(""), r["why"].as_str().unwrap_or("")))
            .collect::<Vec<_>>()
    };
    let unrouted = send("SM3", "+447700900123", "stop", None);
    let got = why(&unrouted);
    assert!(got[0].starts_with("stop: header:X-Home-Region is missing"), "{got:?}");
    assert!(got[1].starts_with("other: form:Body is \"stop\""), "{got:?}");
    let abroad = send("SM4", "+447700900123", "hello", Some("us1"));
    let got = why(&abroad);
    assert!(got[1].starts_with("other: form:From is \"+447700900123\", wanted a match for glob \"+1*\""), "{got:?}");
    assert_eq!(lines(&stop).len() + lines(&other).len(), 2, "the unrouted ran nothing");
}
