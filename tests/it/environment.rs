//! What a child process gets (SPEC §5 "Environment"): every handler kind
//! and the `on_dead` alert dump their whole environment, and none of it
//! holds a secret of any source, a callback signing secret, the admin
//! token, `CREDENTIALS_DIRECTORY`, `NOTIFY_SOCKET` or `WATCHDOG_*`; what
//! `inherit_env` and `env` name does arrive; a secret printed by a handler
//! is stored as `[redacted]`. Also: spawn failures say why, a handler's
//! stdin is whole even when hookd dies under it, and a restart ends the
//! handlers the last hookd left running.

use crate::support::http::{post, Receiver};
use crate::support::sign::{github, stripe, stripe_event, unix_now, whsec};
use crate::support::{wait_until, Hookd};
use std::path::Path;
use std::time::Duration;

const STRIPE_SECRET: &str = "whsec_STRIPEenvSECRETnotFORchildren1";
const GITHUB_SECRET: &str = "ghENVsecretNOTforCHILDREN2";
const CALLBACK_KEY: &str = "callbackENVkeyNOTforCHILDREN3";
const ADMIN_TOKEN: &str = "adminTOKENnotFORchildren4";

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn dump(dir: &Path, name: &str, exit: i32) -> String {
    format!("[\"/bin/sh\", \"-c\", \"env > {}/env-{name}; exit {exit}\"]", dir.display())
}

#[test]
fn children_get_an_environment_built_from_nothing() {
    let work = tempfile::tempdir().expect("tempdir");
    let w = work.path();
    let creds = w.join("creds");
    std::fs::create_dir(&creds).expect("creds dir");
    std::fs::write(creds.join("admin.token"), format!("{ADMIN_TOKEN}\n")).expect("token");
    let receiver = Receiver::start(vec![200]);
    let cb_whsec = whsec(CALLBACK_KEY);
    // Port 0: hookd binds the admin port itself, so no other test can take
    // it first (picking a free port here and releasing it raced the other
    // tests' binds: "hookd did not start"). The CLI below still finds the
    // API: `Hookd::cli` passes the bound address (learnt from hookd's log)
    // as `HOOKD_ADMIN__LISTEN`, which overrides this file's `[admin] listen`.
    let sources = format!(
        "[admin]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"admin.token\"\n\n\
         [dispatch]\ninherit_env = [\"ALLOWED_VAR\"]\n\n\
         [alerts]\non_dead = {alert}\n\n\
         [sources.stripe]\nkind = \"stripe\"\nsecret_env = \"STRIPE_S\"\n\n\
         [[sources.stripe.routes]]\nname = \"dies\"\nevents = [\"*\"]\ncommand = {dies}\n\n\
         [[sources.stripe.routes]]\nname = \"talks\"\nevents = [\"*\"]\n\
         command = [\"/bin/sh\", \"-c\", \"env > {w}/env-talks; env; echo leaked:$1\", \"sh\", \"{STRIPE_SECRET}\"]\n\
         inherit_env = [\"ROUTE_VAR\"]\nenv = {{ STAGE = \"production\" }}\n\n\
         [sources.gh]\nkind = \"github\"\nsecret_env = \"GH_S\"\n\n\
         [[sources.gh.routes]]\nevents = [\"*\"]\ncommand = {gh}\n\n\
         [[sources.gh.routes]]\nevents = [\"*\"]\nurl = \"{url}\"\nsigning_secret_env = \"CB_S\"\n",
        alert = dump(w, "alert", 0),
        dies = dump(w, "dies", 65),
        gh = dump(w, "gh", 0),
        w = w.display(),
        url = receiver.url("/cb"),
    );
    let creds_text = creds.display().to_string();
    let env = [
        ("STRIPE_S", STRIPE_SECRET),
        ("GH_S", GITHUB_SECRET),
        ("CB_S", cb_whsec.as_str()),
        ("ALLOWED_VAR", "allowed-1"),
        ("ROUTE_VAR", "route-2"),
        ("UNRELATED_VAR", "not-for-children"),
        ("CREDENTIALS_DIRECTORY", creds_text.as_str()),
        ("NOTIFY_SOCKET", "/nonexistent/hookd-test-notify"),
        ("WATCHDOG_USEC", "60000000"),
        ("WATCHDOG_PID", "1"),
    ];
    let mut h = Hookd::start_with(&sources, &env);

    let body = stripe_event("evt_env", "invoice.paid");
    let sig = stripe(STRIPE_SECRET, unix_now(), &body);
    assert_eq!(post(&h.addr, "/webhooks/stripe", &[sig], &body).map(|r| r.status), Some(202));
    let (name, sig) = github(GITHUB_SECRET, b"{}");
    let gh = [(name, sig), ("X-GitHub-Delivery".into(), "d-env".into()), ("X-GitHub-Event".into(), "push".into())];
    assert_eq!(post(&h.addr, "/webhooks/gh", &gh, b"{}").map(|r| r.status), Some(202));

    let files = ["dies", "talks", "gh", "alert"];
    wait_until(Duration::from_secs(20), "every child ran", || {
        files.iter().all(|f| !read(&w.join(format!("env-{f}"))).is_empty()).then_some(())
    });
    wait_until(Duration::from_secs(10), "the callback ran", || (receiver.count() >= 1).then_some(()));
    let callback_b64 = &cb_whsec["whsec_".len()..];
    let forbidden = [STRIPE_SECRET, GITHUB_SECRET, CALLBACK_KEY, callback_b64, ADMIN_TOKEN, "not-for-children"];
    for f in files {
        let text = read(&w.join(format!("env-{f}")));
        for secret in forbidden {
            assert!(!text.contains(secret), "{f}'s environment holds {secret}:\n{text}");
        }
        for name in ["CREDENTIALS_DIRECTORY=", "NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID=", "CARGO"] {
            assert!(!text.lines().any(|l| l.starts_with(name)), "{f}'s environment has {name}:\n{text}");
        }
        assert!(text.contains("HOOKD_SOURCE="), "{f}: {text}");
        assert!(text.contains("PATH="), "{f}: the baseline arrives: {text}");
        assert!(text.contains("ALLOWED_VAR=allowed-1"), "{f}: [dispatch] inherit_env arrives: {text}");
        let route_only = f == "talks";
        assert_eq!(text.contains("ROUTE_VAR=route-2"), route_only, "{f}: the route's inherit_env: {text}");
        assert_eq!(text.contains("STAGE=production"), route_only, "{f}: the route's env: {text}");
    }
    assert!(read(&w.join("env-alert")).contains("HOOKD_DEAD_REASON="), "the alert's own variable");

    // What the talking handler printed is stored, its secret scrubbed.
    let list = h.cli_json(&["events", "list", "--source", "stripe"]);
    let id = list["items"][0]["id"].as_str().expect("id").to_string();
    let shown = wait_until(Duration::from_secs(10), "the tail is stored", || {
        let v = h.cli_json(&["events", "show", &id]);
        v.to_string().contains("leaked:").then_some(v.to_string())
    });
    assert!(shown.contains("leaked:[redacted]"), "{shown}");
    for secret in forbidden {
        assert!(!shown.contains(secret), "the stored tail holds {secret}");
    }
    drop(h.stop_and_open());
}

#[test]
fn inherit_env_naming_a_secret_is_a_config_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c.toml");
    let cases = [
        ("[dispatch]\ninherit_env = [\"GH_S\"]\n", "dispatch.inherit_env[0]: GH_S holds a secret hookd reads (sources.gh.secret_env)"),
        ("[dispatch]\ninherit_env = [\"CREDENTIALS_DIRECTORY\"]\n", "dispatch.inherit_env[0]: CREDENTIALS_DIRECTORY is systemd's"),
        ("", "sources.gh.routes[0].inherit_env[1]: CB_S holds a secret hookd reads (sources.gh.routes[1].signing_secret_env)"),
    ];
    for (dispatch, want) in cases {
        let text = format!(
            "{dispatch}[sources.gh]\nkind = \"github\"\nsecret_env = \"GH_S\"\n\n\
             [[sources.gh.routes]]\nevents = [\"*\"]\ncommand = [\"/bin/true\"]\ninherit_env = [\"LANGUAGE\", {}]\n\n\
             [[sources.gh.routes]]\nevents = [\"*\"]\nurl = \"http://127.0.0.1:9/\"\nsigning_secret_env = \"CB_S\"\n",
            if dispatch.is_empty() { "\"CB_S\"" } else { "\"FINE\"" }
        );
        std::fs::write(&path, text).expect("write");
        let out = std::process::Command::new(crate::support::BIN)
            .args(["check-config", "--config"])
            .arg(&path)
            .env("GH_S", GITHUB_SECRET)
            .env("CB_S", whsec(CALLBACK_KEY))
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(want), "wanted {want:?} in:\n{err}");
        assert!(!err.contains(GITHUB_SECRET), "{err}");
    }
}

#[test]
fn spawn_failures_say_why_and_are_warned_about() {
    let sources = "[sources.s]\nkind = \"stripe\"\nsecret = \"k\"\n\n\
                   [[sources.s.routes]]\nevents = [\"*\"]\ncommand = [\"./handlers/nope.sh\"]\n\
                   retry = { attempts = 5, initial = \"5s\", max = \"5s\" }\n";
    let h = Hookd::start(sources);
    let (code, _, err) = h.cli(&["check-config"]);
    assert_eq!(code, 0, "a warning is not an error: {err}");
    // The relative program is read beside the config file (one path rule).
    let nope = h.dir.path().join("handlers/nope.sh");
    let want = format!("sources.s.routes[0].command: {} does not resolve to an executable file", nope.display());
    assert!(err.contains(&format!("warning: {want}")), "{err}");
    assert!(h.logs().lines().any(|l| l.contains("WARN") && l.contains(&want)), "serve warns:\n{}", h.logs());

    let body = stripe_event("evt_nope", "t");
    let sig = stripe("k", unix_now(), &body);
    assert_eq!(post(&h.addr, "/webhooks/s", &[sig], &body).map(|r| r.status), Some(202));
    let line = wait_until(Duration::from_secs(10), "the failed attempt's log line", || {
        h.logs().lines().find(|l| l.contains("will retry")).map(str::to_string)
    });
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("next_in=") && line.contains('s'), "{line}");
    let why = format!("could not start {}: No such file or directory (os error 2)", nope.display());
    assert!(line.contains(&why), "{line}");
}

#[test]
fn a_handler_reads_the_whole_body_even_when_hookd_dies_under_it() {
    let work = tempfile::tempdir().expect("tempdir");
    let w = work.path().display();
    let sources = format!(
        "[sources.s]\nkind = \"stripe\"\nsecret = \"k\"\n\n\
         [[sources.s.routes]]\nevents = [\"*\"]\n\
         command = [\"/bin/sh\", \"-c\", \"touch {w}/started; sleep 1; wc -c > {w}/got\"]\n"
    );
    let mut h = Hookd::start(&sources);
    let pad = "x".repeat(600_000);
    let body = format!("{{\"id\":\"evt_whole\",\"type\":\"t\",\"pad\":\"{pad}\"}}").into_bytes();
    let sig = stripe("k", unix_now(), &body);
    assert_eq!(post(&h.addr, "/webhooks/s", &[sig], &body).map(|r| r.status), Some(202));
    wait_until(Duration::from_secs(10), "the handler started", || work.path().join("started").exists().then_some(()));
    h.kill9();
    let got = wait_until(Duration::from_secs(10), "the orphaned handler finished", || {
        let t = read(&work.path().join("got"));
        (!t.is_empty()).then_some(t)
    });
    assert_eq!(got.trim(), body.len().to_string(), "the handler read the whole body");
}

#[test]
fn a_restart_ends_the_handlers_the_last_hookd_left_running() {
    let work = tempfile::tempdir().expect("tempdir");
    let w = work.path().display();
    let sources = format!(
        "[sources.s]\nkind = \"stripe\"\nsecret = \"k\"\n\n\
         [[sources.s.routes]]\nevents = [\"*\"]\ntimeout = \"60s\"\n\
         command = [\"/bin/sh\", \"-c\", \"echo $$ > {w}/pid-$HOOKD_ATTEMPT; exec sleep 30\"]\n"
    );
    let mut h = Hookd::start(&sources);
    let body = stripe_event("evt_orphan", "t");
    let sig = stripe("k", unix_now(), &body);
    assert_eq!(post(&h.addr, "/webhooks/s", &[sig], &body).map(|r| r.status), Some(202));
    let pid_file = work.path().join("pid-1");
    let pid: i32 = wait_until(Duration::from_secs(10), "attempt 1 started", || read(&pid_file).trim().parse().ok());
    // The note of its process group reaches the disk with the next commit.
    std::thread::sleep(Duration::from_millis(700));
    h.kill9();
    assert!(alive(pid), "the handler outlived hookd (its own process group)");
    h.restart();
    wait_until(Duration::from_secs(10), "the orphan was ended", || (!alive(pid)).then_some(()));
    wait_until(Duration::from_secs(5), "the log line saying so", || {
        h.logs().contains("ended the process group of a handler interrupted").then_some(())
    });
    wait_until(Duration::from_secs(10), "attempt 2 runs", || work.path().join("pid-2").exists().then_some(()));
}

/// Running (a zombie waiting for a reaper counts as gone).
fn alive(pid: i32) -> bool {
    let stat = read(Path::new(&format!("/proc/{pid}/stat")));
    !stat.is_empty() && !stat.rsplit(')').next().is_some_and(|r| r.trim_start().starts_with('Z'))
}

/// SPEC §1.7: handlers run below the ack path's CPU priority (`[dispatch]
/// nice`, default 10, 0 = off); hookd itself keeps its own.
#[test]
fn handlers_run_at_a_lower_cpu_priority_than_hookd() {
    for (dispatch, want) in [("", "10"), ("[dispatch]\nnice = 0\n", "0"), ("[dispatch]\nnice = 15\n", "15")] {
        let work = tempfile::tempdir().expect("tempdir");
        let out = work.path().join("nice");
        let sources = format!(
            "{dispatch}[sources.s]\nkind = \"stripe\"\nsecret = \"k\"\n\n[[sources.s.routes]]\nevents = [\"*\"]\n\
             command = [\"/bin/sh\", \"-c\", \"nice > {}\"]\n",
            out.display()
        );
        let h = Hookd::start(&sources);
        let body = stripe_event("evt_nice", "t");
        let sig = stripe("k", unix_now(), &body);
        assert_eq!(post(&h.addr, "/webhooks/s", &[sig], &body).map(|r| r.status), Some(202));
        let got = wait_until(Duration::from_secs(10), "the handler's niceness", || {
            let t = read(&out);
            (!t.trim().is_empty()).then(|| t.trim().to_string())
        });
        assert_eq!(got, want, "{dispatch}");
        let pid = h.pid().expect("pid");
        assert_eq!(nice_of(&format!("/proc/{pid}/stat")), "0", "hookd itself is not niced");
        // The dispatcher's own thread runs lowest (dispatch/background.rs).
        let background = std::fs::read_dir(format!("/proc/{pid}/task"))
            .expect("task dir")
            .filter_map(|t| t.ok())
            .find(|t| read(&t.path().join("comm")).trim() == "hookd-backgroun")
            .expect("a hookd-background thread");
        let want_bg = if want == "0" { "0" } else { "19" };
        assert_eq!(nice_of(&background.path().join("stat").display().to_string()), want_bg, "{dispatch}");
    }
    let (code, _, err) = crate::cli::check_config("[dispatch]\nnice = 25\n");
    assert_eq!(code, 2);
    assert!(err.contains("dispatch.nice: 25 is not a nice value from 0 (off) to 19"));
}

/// The nice field of a `/proc/.../stat` file.
fn nice_of(stat: &str) -> String {
    let stat = read(Path::new(stat));
    stat.rsplit_once(')').and_then(|(_, r)| r.split_whitespace().nth(16)).expect("nice field").to_string()
}

/// SPEC §5 templates through the real binary: payload fields and headers
/// into argv and env, a working directory, and a config error for an
/// unknown placeholder with its key path.
#[test]
fn templates_put_payload_fields_into_argv_and_env_in_the_routes_directory() {
    let work = tempfile::tempdir().expect("tempdir");
    let out = work.path().join("out");
    let cwd = work.path().join("app");
    std::fs::create_dir(&cwd).expect("mkdir");
    let sources = format!(
        "[sources.s]\nkind = \"stripe\"\nsecret = \"k\"\n\n\
         [[sources.s.routes]]\nname = \"t\"\nevents = [\"*\"]\ncwd = \"{}\"\n\
         command = [\"/bin/sh\", \"-c\", \"printf '%s|' \\\"$@\\\" \\\"$CUSTOMER\\\" \\\"$UA\\\" \\\"$(pwd)\\\" > {}\", \"sh\", \
                    \"{{json:/data/object/customer}}\", \"{{json:/data/object/amount}}\", \"{{json:/data/object}}\", \
                    \"{{source}}:{{event_type}}:{{attempt}}\", \"{{{{literal}}}}\", \"[{{json:/missing}}]\"]\n\
         env = {{ CUSTOMER = \"cust={{json:/data/object/customer}}\", UA = \"{{header:User-Agent}}\" }}\n",
        cwd.display(),
        out.display()
    );
    let h = Hookd::start(&sources);
    let body = br#"{"id":"evt_tpl","type":"invoice.paid","data":{"object":{"customer":"cus_42","amount":1999}}}"#;
    let sig = stripe("k", unix_now(), body);
    let sent =
        crate::support::http::post(&h.addr, "/webhooks/s", &[sig, ("User-Agent".into(), "Stripe/1.0".into())], body);
    assert_eq!(sent.map(|r| r.status), Some(202));
    let got = wait_until(Duration::from_secs(10), "the handler's output", || std::fs::read_to_string(&out).ok());
    let fields: Vec<&str> = got.split('|').collect();
    assert_eq!(fields[0], "cus_42");
    assert_eq!(fields[1], "1999", "a number as JSON text");
    assert_eq!(fields[2], r#"{"amount":1999,"customer":"cus_42"}"#, "an object as compact JSON");
    assert_eq!(fields[3], "s:invoice.paid:1");
    assert_eq!(fields[4], "{literal}");
    assert_eq!(fields[5], "[]", "a missing value is empty");
    assert_eq!(fields[6], "cust=cus_42", "env values are templates too");
    assert_eq!(fields[7], "Stripe/1.0", "a header a template reads is kept");
    assert_eq!(fields[8], cwd.display().to_string(), "the route's cwd");

    let (code, _, err) = crate::cli::check_config(
        "[sources.s]\nkind = \"stripe\"\nsecret = \"k\"\n\n[[sources.s.routes]]\nevents = [\"*\"]\n\
         command = [\"/bin/echo\", \"{jsn:/x}\"]\nenv = { A = \"{nope}\" }\ncwd = \"/nonexistent-dir\"\n",
    );
    assert_eq!(code, 2);
    assert!(err.contains("sources.s.routes[0].command[1]: unknown placeholder {jsn:/x}"), "{err}");
    assert!(err.contains("sources.s.routes[0].env.A: unknown placeholder {nope}"), "{err}");
    assert!(err.contains("sources.s.routes[0].cwd: /nonexistent-dir is not a directory"), "{err}");
}
