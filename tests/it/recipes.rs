//! docs/routes.md's recipes, tested as written: the TOML (and the handler
//! scripts) are read out of the page between its `<!-- recipe: NAME -->`
//! markers, so the doc and the test cannot drift. The only changes are a
//! reader's: secrets in the environment, `/srv/…` paths made temporary,
//! and stand-ins for programs the test cannot run (the deploy, psql).

use crate::support::http::{post, post_as};
use crate::support::sign::{self, unix_now};
use crate::support::{wait_until, Hookd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

const ROUTES_MD: &str = include_str!("../../docs/routes.md");

/// The fenced block after `<!-- recipe: NAME -->` in docs/routes.md.
fn recipe(name: &str) -> String {
    let marker = format!("<!-- recipe: {name} -->");
    let after = ROUTES_MD.split_once(&marker).unwrap_or_else(|| panic!("docs/routes.md has no {marker}")).1;
    let fence = after.trim_start().strip_prefix("```").unwrap_or_else(|| panic!("{marker} is not followed by a block"));
    let body = fence.split_once('\n').map_or("", |(_, rest)| rest);
    body.split_once("\n```").unwrap_or_else(|| panic!("{marker}'s block is not closed")).0.to_string() + "\n"
}

fn executable(path: &Path, text: &str) -> PathBuf {
    std::fs::write(path, text).expect("write script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path.to_path_buf()
}

/// A stand-in program that records its argv (a line each), environment,
/// working directory and stdin under `dir`.
fn stand_in(dir: &Path) -> PathBuf {
    let d = dir.display();
    let script = format!(
        "#!/bin/sh\npwd > {d}/cwd\n: > {d}/argv.tmp\nfor a in \"$@\"; do printf '%s\\n' \"$a\" >> {d}/argv.tmp; done\n\
         env | sort > {d}/env\ncat > {d}/stdin\nmv {d}/argv.tmp {d}/argv\n"
    );
    executable(&dir.join("stand-in"), &script)
}

/// What the stand-in recorded, once it ran: (argv, env lines, cwd, stdin).
fn recorded(dir: &Path) -> (Vec<String>, Vec<String>, String, Vec<u8>) {
    let argv =
        wait_until(Duration::from_secs(10), "the stand-in's run", || std::fs::read_to_string(dir.join("argv")).ok());
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
    let env = read("env").lines().map(str::to_string).collect();
    let stdin = std::fs::read(dir.join("stdin")).unwrap_or_default();
    (argv.lines().map(str::to_string).collect(), env, read("cwd").trim().to_string(), stdin)
}

fn admin(dir: &Path) -> String {
    format!("[admin]\nlisten = \"unix:{}/admin.sock\"\n\n", dir.display())
}

/// `events show` of a hookd id, once it has reached `status`.
fn shown(h: &Hookd, id: &str, status: &str) -> serde_json::Value {
    wait_until(Duration::from_secs(10), &format!("{id} {status}"), || {
        let (code, out, _) = h.cli(&["events", "show", id, "--json"]);
        let v: serde_json::Value = serde_json::from_str(&out).ok().filter(|_| code == 0)?;
        (v["status"] == status).then_some(v)
    })
}

#[test]
fn recipe_deploy_on_a_push_to_main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = dir.path().join("app");
    std::fs::create_dir(&app).expect("mkdir");
    let deploy = stand_in(dir.path());
    let config = recipe("deploy-config")
        .replace("/srv/bin/deploy", &deploy.display().to_string())
        .replace("/srv/app", &app.display().to_string());
    let h = Hookd::start_with(&(admin(dir.path()) + &config), &[("GITHUB_WEBHOOK_SECRET", "gh-secret")]);

    // A push to main, as GitHub sends it (hookd send's sample).
    let sent = h.cli_json(&["send", "--source", "github", "--type", "push"]);
    assert_eq!(sent["status"], 202, "{sent}");
    let (argv, env, cwd, stdin) = recorded(dir.path());
    let push: serde_json::Value = serde_json::from_slice(&stdin).expect("the push's JSON on stdin");
    assert_eq!(push["ref"], "refs/heads/main");
    let after = push["after"].as_str().expect("after").to_string();
    assert_eq!(argv, ["acme/api".to_string(), after]);
    assert!(env.contains(&"PUSHER=octocat".to_string()), "{env:?}");
    assert!(env.contains(&"HOOKD_EVENT_TYPE=push".to_string()), "{env:?}");
    assert_eq!(cwd, app.display().to_string());

    let push_to = |delivery: &str, body: &str| {
        let headers = vec![
            sign::github("gh-secret", body.as_bytes()),
            ("X-GitHub-Event".to_string(), "push".to_string()),
            ("X-GitHub-Delivery".to_string(), delivery.to_string()),
        ];
        let r = post(&h.addr, "/webhooks/github", &headers, body.as_bytes()).expect("answer");
        assert_eq!(r.status, 202, "{}", r.body);
        r.json()["id"].as_str().expect("id").to_string()
    };
    let dev = push_to(
        "d-dev",
        r#"{"ref":"refs/heads/dev","deleted":false,"after":"1","repository":{"full_name":"acme/api"}}"#,
    );
    let why = shown(&h, &dev, "unrouted")["routes_not_taken"][0]["why"].clone();
    assert_eq!(why, r#"json:/ref is "refs/heads/dev", wanted "refs/heads/main""#);
    let gone = push_to(
        "d-del",
        r#"{"ref":"refs/heads/main","deleted":true,"after":"0","repository":{"full_name":"acme/api"}}"#,
    );
    shown(&h, &gone, "unrouted");
}

#[test]
fn recipe_stripe_into_postgres_renders_psql() {
    let dir = tempfile::tempdir().expect("tempdir");
    let psql = stand_in(dir.path());
    let sql = dir.path().join("stripe-ledger.sql");
    std::fs::write(&sql, recipe("postgres-sql")).expect("write sql");
    let config = recipe("postgres-config")
        .replace("/usr/bin/psql", &psql.display().to_string())
        .replace("/srv/sql/stripe-ledger.sql", &sql.display().to_string());
    let env = [
        ("STRIPE_WEBHOOK_SECRET", "whsec_ledger"),
        ("PGHOST", "db.internal"),
        ("PGDATABASE", "ledger"),
        ("AWS_SECRET_ACCESS_KEY", "not-for-handlers"),
    ];
    let h = Hookd::start_with(&(admin(dir.path()) + &config), &env);
    let body = br#"{"id":"evt_1QxLedger","object":"event","type":"invoice.paid","created":1735689600,"data":{"object":{"id":"in_1QxInv","object":"invoice","customer":"cus_Q1a2","amount":4200}}}"#;
    let r = post(&h.addr, "/webhooks/stripe", &[sign::stripe("whsec_ledger", unix_now(), body)], body).expect("answer");
    assert_eq!(r.status, 202, "{}", r.body);
    let (argv, env, _, stdin) = recorded(dir.path());
    let sql = sql.display().to_string();
    let want = [
        "--no-psqlrc",
        "--quiet",
        "--set",
        "ON_ERROR_STOP=1",
        "--set",
        "event_id=evt_1QxLedger",
        "--set",
        "event_type=invoice.paid",
        "--set",
        "object_id=in_1QxInv",
        "--set",
        "customer=cus_Q1a2",
        "--set",
        "amount=4200",
        "--set",
        "created=1735689600",
        "--set",
        "attempt=1",
        "--file",
        &sql,
    ];
    assert_eq!(argv, want);
    for var in ["PGAPPNAME=hookd-stripe", "PGHOST=db.internal", "PGDATABASE=ledger", "HOOKD_EVENT_ID=evt_1QxLedger"] {
        assert!(env.iter().any(|e| e == var), "{var} not in {env:?}");
    }
    assert!(!env.iter().any(|e| e.starts_with("AWS_") || e.contains("whsec_")), "nothing else of hookd's: {env:?}");
    assert_eq!(stdin, body, "the raw event on stdin");
}

#[test]
fn recipe_twilio_auto_reply_answers_twiml() {
    let dir = tempfile::tempdir().expect("tempdir");
    let handler = executable(&dir.path().join("sms-reply"), &recipe("twilio-handler"));
    let config = recipe("twilio-config").replace("/srv/bin/sms-reply", &handler.display().to_string());
    let h = Hookd::start_with(&config, &[("TWILIO_AUTH_TOKEN", "tw-token")]);
    let url = "https://hooks.example.com/webhooks/twilio";
    let post_form = |form: &[(&str, &str)]| {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let headers = vec![sign::twilio("tw-token", url, form)];
        post_as(&h.addr, "/webhooks/twilio", "application/x-www-form-urlencoded", &headers, body.as_bytes())
            .expect("answer")
    };
    let sms = [
        ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("From", "+14155550123"),
        ("To", "+14155550100"),
        ("Body", "Is <my> order & shipped?"),
        ("SmsStatus", "received"),
        ("NumMedia", "0"),
    ];
    let r = post_form(&sms);
    assert_eq!((r.status, r.header("content-type")), (200, Some("text/xml")), "{r:?}");
    assert_eq!(
        r.body,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>Thanks, we got \"Is &lt;my&gt; order &amp; shipped?\" \
         and will answer +14155550123 soon.</Message></Response>"
    );
    let status = [
        ("MessageSid", "SM0123456789abcdef0123456789abcdee"),
        ("MessageStatus", "delivered"),
        ("SmsStatus", "delivered"),
    ];
    let r = post_form(&status);
    assert_eq!(r.status, 202, "a status callback is not an incoming message: {}", r.body);
}

#[test]
fn recipe_slack_slash_command_replies_in_the_channel() {
    let dir = tempfile::tempdir().expect("tempdir");
    let handler = executable(&dir.path().join("slack-deploy"), &recipe("slack-handler"));
    let config = recipe("slack-config").replace("/srv/bin/slack-deploy", &handler.display().to_string());
    let h = Hookd::start_with(&(admin(dir.path()) + &config), &[("SLACK_SIGNING_SECRET", "sl-secret")]);
    let slash = |text: &str, trigger: &str| {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("token", "gIkuvaNzQIHg97ATvDxqgjtO"),
                ("team_id", "T0001"),
                ("channel_id", "C2147483705"),
                ("user_id", "U2147483697"),
                ("command", "/deploy"),
                ("text", text),
                ("response_url", "https://hooks.slack.com/commands/T0001/1/x"),
                ("trigger_id", trigger),
            ])
            .finish();
        let headers = sign::slack("sl-secret", unix_now(), body.as_bytes());
        post_as(&h.addr, "/webhooks/slack", "application/x-www-form-urlencoded", &headers, body.as_bytes())
            .expect("answer")
    };
    let r = slash("api", "1.2.aaa");
    assert_eq!((r.status, r.header("content-type")), (200, Some("application/json")), "{r:?}");
    assert_eq!(
        r.json(),
        serde_json::json!({"response_type": "in_channel", "text": "Deploying api for <@U2147483697>"})
    );
    let r = slash("", "1.2.bbb");
    assert_eq!(r.json()["response_type"], "ephemeral", "{}", r.body);

    let found = h.cli_json(&["events", "list", "--source", "slack", "--type", "/deploy"]);
    let mut ids: Vec<&str> =
        found["items"].as_array().expect("items").iter().filter_map(|e| e["event_id"].as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["1.2.aaa", "1.2.bbb"], "one event per invocation, by trigger_id");
}
