//! Secrets never leave hookd: a full scenario (accept, duplicate, retry,
//! dead, bad signatures, reload, check-config, the admin API and CLI) is
//! run, and every byte hookd wrote — its debug-level log, HTTP answers,
//! CLI output, stored attempts — is searched for every configured secret
//! and the admin token. Also: the data dir and spooled bodies are private.

use crate::support::http::{get, post, request, Receiver};
use crate::support::sign::{github, stripe, stripe_event, unix_now, whsec};
use crate::support::{wait_until, Hookd};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

const STRIPE_SECRET: &str = "whsec_STRIPEsecretNEVERlogged1";
const GITHUB_SECRET: &str = "ghSECRETfromENVneverLOGGED2";
const FILE_SECRET: &str = "hmacSECRETfromFILEneverLOGGED3";
const ADMIN_TOKEN: &str = "adminTOKENneverLOGGED4";
/// The callback's raw key; its `whsec_` form is configured.
const CALLBACK_KEY: &str = "callbackKEYneverLOGGED5xx";

fn config(dir: &std::path::Path, receiver: &Receiver) -> String {
    let d = dir.display();
    std::fs::write(dir.join("admin.token"), format!("{ADMIN_TOKEN}\n")).expect("token");
    std::fs::write(dir.join("hmac.secret"), format!("{FILE_SECRET}\n")).expect("secret file");
    // Port 0: hookd binds the admin port itself, so no other test can take
    // it first (picking a free port here and releasing it raced the other
    // tests' binds: "hookd did not start"). The CLI still finds the API:
    // `Hookd::cli` passes the bound address (learnt from hookd's log) as
    // `HOOKD_ADMIN__LISTEN`, which overrides this file's `[admin] listen`.
    format!(
        "[admin]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"{d}/admin.token\"\n\n\
         [sources.stripe]\nkind = \"stripe\"\nsecret = \"{STRIPE_SECRET}\"\n\n\
         [[sources.stripe.routes]]\nevents = [\"*\"]\nurl = \"{url}\"\nsigning_secret = \"{cb}\"\n\
         retry = {{ attempts = 2, initial = \"100ms\", max = \"100ms\" }}\n\n\
         [[sources.stripe.routes]]\nevents = [\"*\"]\ncommand = [\"/bin/sh\", \"-c\", \"echo failing >&2; exit 65\"]\n\n\
         [sources.gh]\nkind = \"github\"\nsecret_env = \"GH_HOOK_SECRET\"\n\n\
         [sources.h]\nkind = \"hmac\"\nheader = \"X-Sig\"\nsecret_file = \"{d}/hmac.secret\"\n",
        url = receiver.url("/cb"),
        cb = whsec(CALLBACK_KEY),
    )
}

#[test]
fn secrets_and_the_admin_token_never_appear_in_any_output() {
    let receiver = Receiver::start(vec![500]);
    let work = tempfile::tempdir().expect("tempdir");
    let sources = config(work.path(), &receiver);
    let mut h = Hookd::start_with(&sources, &[("GH_HOOK_SECRET", GITHUB_SECRET)]);
    let admin = h.admin.clone().expect("admin listener");
    let seen = std::cell::RefCell::new(String::new());
    let keep = |r: Option<crate::support::http::Response>| {
        let r = r.expect("response");
        seen.borrow_mut().push_str(&format!("{} {:?} {}\n", r.status, r.headers, r.body));
        r
    };

    let body = stripe_event("evt_secret", "invoice.paid");
    let (name, sig) = stripe(STRIPE_SECRET, unix_now(), &body);
    assert_eq!(keep(post(&h.addr, "/webhooks/stripe", &[(name.clone(), sig.clone())], &body)).status, 202);
    assert_eq!(keep(post(&h.addr, "/webhooks/stripe", &[(name.clone(), sig)], &body)).status, 200);
    let wrong = [stripe("whsec_wrong", unix_now(), &body)];
    assert_eq!(keep(post(&h.addr, "/webhooks/stripe", &wrong, &body)).status, 401);
    let (gname, gsig) = github(GITHUB_SECRET, b"{}");
    let gh = [(gname, gsig), ("X-GitHub-Delivery".into(), "d1".into()), ("X-GitHub-Event".into(), "push".into())];
    assert_eq!(keep(post(&h.addr, "/webhooks/gh", &gh, b"{}")).status, 202);
    assert_eq!(keep(post(&h.addr, "/webhooks/gh", &gh[..1], b"{\"x\":1}")).status, 401);
    assert_eq!(keep(post(&h.addr, "/webhooks/h", &[("X-Sig".into(), "00".into())], b"{}")).status, 401);

    let auth = format!("Bearer {ADMIN_TOKEN}");
    let authed = [("Authorization", auth.as_str())];
    wait_until(Duration::from_secs(20), "both deliveries dead", || {
        let r = request(&admin, "GET", "/v1/dlq", &authed, b"")?;
        (r.json()["items"].as_array()?.len() >= 2).then_some(())
    });
    assert!(receiver.count() >= 2, "the callback was retried");
    for path in ["/v1/events", "/v1/dlq", "/v1/stats", "/metrics"] {
        assert_eq!(keep(request(&admin, "GET", path, &authed, b"")).status, 200, "{path}");
    }
    let listed = keep(request(&admin, "GET", "/v1/events", &authed, b""));
    for item in listed.json()["items"].as_array().expect("items") {
        let id = item["id"].as_str().expect("id");
        assert_eq!(keep(request(&admin, "GET", &format!("/v1/events/{id}"), &authed, b"")).status, 200);
        seen.borrow_mut().push_str(&h.cli_json(&["events", "show", id]).to_string());
    }
    let bad_token = [("Authorization", "Bearer adminTOKENneverLOGGED")];
    assert_eq!(keep(request(&admin, "GET", "/v1/events", &bad_token, b"")).status, 401);
    let (code, out, err) = h.cli(&["check-config"]);
    assert_eq!(code, 0, "{err}");
    seen.borrow_mut().push_str(&out);
    seen.borrow_mut().push_str(&err);
    // A broken request makes hookd log at debug level (connection error).
    let _ = crate::support::http::raw(&h.addr, b"NOT HTTP AT ALL\r\n\r\n");
    h.hangup();
    wait_until(Duration::from_secs(10), "reload", || h.logs().contains("configuration reloaded").then_some(()));
    keep(get(&h.addr, "/readyz"));
    drop(h.stop_and_open());
    let mut seen = seen.into_inner();
    seen.push_str(&h.logs());
    assert!(h.logs().contains("DEBUG"), "the log was written at debug level");

    let callback_b64 = &whsec(CALLBACK_KEY)["whsec_".len()..];
    for secret in [STRIPE_SECRET, GITHUB_SECRET, FILE_SECRET, ADMIN_TOKEN, CALLBACK_KEY, callback_b64] {
        assert!(!seen.contains(secret), "{secret} leaked:\n{}", context(&seen, secret));
    }
    assert!(seen.contains("evt_secret"), "the scenario's output was captured");
}

/// The line around the first occurrence of `needle`.
fn context(text: &str, needle: &str) -> String {
    text.lines().filter(|l| l.contains(needle)).take(3).collect::<Vec<_>>().join("\n")
}

#[test]
fn the_data_dir_and_the_log_are_private() {
    let mut h = Hookd::start("[sources.s]\nkind = \"stripe\"\nsecret = \"k\"\n");
    let big = format!("{{\"id\":\"evt_big\",\"type\":\"t\",\"pad\":\"{}\"}}", "x".repeat(64 * 1024));
    let sig = stripe("k", unix_now(), big.as_bytes());
    assert_eq!(post(&h.addr, "/webhooks/s", &[sig], big.as_bytes()).map(|r| r.status), Some(202));
    let data = h.dir.path().join("data");
    let mode = |p: &std::path::Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "data dir");
    assert_eq!(mode(&data.join("wal")), 0o700, "log dir");
    let segments: Vec<_> = std::fs::read_dir(data.join("wal")).expect("wal").map_while(Result::ok).collect();
    assert!(!segments.is_empty(), "the body is in the log");
    for s in &segments {
        assert_eq!(mode(&s.path()), 0o600, "{}", s.path().display());
    }
    drop(h.stop_and_open());
}

/// Regression (found by tests/it/config_props.rs): a TOML syntax error
/// quoted the offending line of the file — here the secret's — in
/// `check-config` output and in the reload log; a secret written in the
/// wrong shape was echoed in the type error; and a source or a route
/// written as a list or a string took or echoed it.
#[test]
fn config_errors_never_quote_a_secret() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c.toml");
    let cases = [
        format!("[sources.s]\nkind = \"stripe\"\nsecret = \"{STRIPE_SECRET}\"\nsecret = \"{STRIPE_SECRET}\"\n"),
        format!("[sources.s]\nkind = \"stripe\"\nsecret = \"{STRIPE_SECRET}\n"),
        format!("[sources.s]\nkind = \"stripe\"\nsecrets = \"{STRIPE_SECRET}\"\n"),
        // A source written as a list or a string (a secret one line off):
        // serde read a struct from a list field by field, so the secret
        // became the kind and its error quoted it.
        format!("[sources]\nstripe = [\"{STRIPE_SECRET}\"]\n"),
        format!("[sources]\nstripe = \"{STRIPE_SECRET}\"\n"),
        format!("[sources.s]\nkind = \"stripe\"\nsecret = \"x\"\nroutes = [[\"{STRIPE_SECRET}\"]]\n"),
        // Any table, nested too: a route's `retry` as a list quoted it in
        // the type error of `attempts`.
        format!(
            "[sources.s]\nkind = \"stripe\"\nsecret = \"x\"\n[[sources.s.routes]]\nevents = [\"*\"]\n\
             command = [\"true\"]\nretry = [\"{STRIPE_SECRET}\"]\n"
        ),
    ];
    for text in cases {
        std::fs::write(&path, &text).expect("write");
        let out = std::process::Command::new(crate::support::BIN)
            .args(["check-config", "--config"])
            .arg(&path)
            .output()
            .expect("run");
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(2), "{all}");
        assert!(all.contains("sources") || all.contains("line"), "the problem is still located: {all}");
        assert!(!all.contains(STRIPE_SECRET), "secret quoted:\n{all}");
        if text.contains("stripe = ") || text.contains("routes = ") || text.contains("retry = [") {
            assert!(all.contains("expected a table"), "the shape is named: {all}");
        }
    }
}
