//! `hookd version`, `hookd check-config`: exit codes and `path.to.key: reason`.

use crate::support::BIN;
use std::process::Command;

/// `hookd check-config` on a config file holding `toml`: exit code, stdout, stderr.
pub(crate) fn check_config(toml: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c.toml");
    std::fs::write(&path, toml).expect("write");
    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(&path)
        .env_remove("HOOKD_TEST_SECRET")
        .output()
        .expect("run");
    let text = |b: &[u8]| String::from_utf8_lossy(b).to_string();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

#[test]
fn version_prints_the_version() {
    let out = Command::new(BIN).arg("version").output().expect("run");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("hookd {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn the_shipped_config_is_valid_and_secrets_are_redacted() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out =
        Command::new(BIN).args(["check-config", "--config", &format!("{root}/config.toml")]).output().expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("[sources.stripe]"));
    assert!(!stdout.contains("whsec_hookd_demo_secret"), "secret leaked:\n{stdout}");
    assert!(stdout.contains("<redacted>"));
}

#[test]
fn every_problem_is_reported_with_its_key_path() {
    let toml = r#"
[server]
listen = "nope"
bogus = 1
max_body = "lots"

[storage]
path = "/tmp/x"
dedup_window = "soon"

[sources.a]
kind = "stripe"

[sources.b]
kind = "carrier-pigeon"
secret = "s"

[sources.c]
kind = "github"
secret_env = "HOOKD_TEST_SECRET"

[sources.d]
kind = "stripe"
secret = "s"
[[sources.d.routes]]
events = ["["]
command = ["/bin/true"]
url = "http://127.0.0.1:1/"
[[sources.d.routes]]
events = ["*"]
"#;
    let (code, stdout, stderr) = check_config(toml);
    assert_eq!(code, 2, "stdout: {stdout}");
    // Unknown keys are caught by the parser before anything else.
    assert!(stderr.contains("server.bogus: unknown key"), "{stderr}");
    let valid_shape = toml.replace("bogus = 1\n", "");
    let (code, _, stderr) = check_config(&valid_shape);
    assert_eq!(code, 2);
    for expected in [
        "server.listen: ",
        "server.max_body: invalid size",
        "storage.dedup_window: invalid duration",
        "sources.a.secret: missing",
        "sources.b.kind: unknown kind",
        "sources.c.secret_env: environment variable HOOKD_TEST_SECRET is not set",
        "sources.d.routes[0]: has both command and url",
        "sources.d.routes[1]: has no target: command, url or nats",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?} in:\n{stderr}");
    }
}

#[test]
fn bad_globs_and_unreadable_secret_files() {
    let toml = r#"
[storage]
path = "/tmp/x"
[sources.d]
kind = "github"
secret_file = "/nonexistent/secret"
[[sources.d.routes]]
events = ["["]
command = ["/bin/true"]
"#;
    let (code, _, stderr) = check_config(toml);
    assert_eq!(code, 2);
    assert!(stderr.contains("sources.d.secret_file: cannot read /nonexistent/secret"), "{stderr}");
    assert!(stderr.contains("sources.d.routes[0].events: bad glob"), "{stderr}");
}

#[test]
fn secret_file_is_trimmed_and_env_overrides_apply() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "s3cr3t-value\n").expect("write");
    let path = dir.path().join("c.toml");
    let toml = format!(
        "[storage]\npath = \"/tmp/x\"\n[sources.g]\nkind = \"github\"\nsecret_file = \"{}\"\n",
        secret.display()
    );
    std::fs::write(&path, toml).expect("write");
    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(&path)
        .env("HOOKD_DISPATCH__CONCURRENCY", "3")
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("concurrency = 3"), "{stdout}");
    assert!(!stdout.contains("s3cr3t"), "{stdout}");
}

#[test]
fn a_missing_explicit_config_is_a_usage_error() {
    let out = Command::new(BIN).args(["serve", "--config", "/nonexistent.toml"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no config file at /nonexistent.toml"));
}

/// `check-config` shows what will run: each route's defaults written out,
/// warnings for configs that run but likely not as meant, and a one-line
/// summary on stderr; `--json` is exactly one JSON document on stdout.
#[test]
fn check_config_shows_the_effective_config_warns_and_sums_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = format!(
        "[storage]\npath = \"{}/data\"\n\n\
         [sources.gh]\nkind = \"github\"\nsecret = \"s\"\n\n\
         [sources.open]\nkind = \"hmac\"\ninsecure = true\n\n\
         [[sources.open.routes]]\nevents = [\"*\"]\ncommand = [\"/bin/true\"]\n",
        dir.path().display()
    );
    let (code, out, err) = check_config(&toml);
    assert_eq!(code, 0, "{err}");
    for default in ["name = \"0\"", "timeout = \"30s\"", "attempts = 20", "initial = \"5s\"", "max = \"1h\""] {
        assert!(out.contains(default), "effective config lacks {default}:\n{out}");
    }
    assert!(out.contains("permanent_exit_codes = [65]") && out.contains("concurrency = 16"), "{out}");
    assert!(err.contains("warning: sources.gh.routes: none; its events will be stored as unrouted"), "{err}");
    assert!(err.contains("warning: sources.open.insecure: no signature is checked and allow_ips is not set"), "{err}");
    let summary = err.lines().last().unwrap_or_default();
    let want = format!(
        ": ok: 2 sources, 1 route, listening on 0.0.0.0:8080, store at {}/data, no admin API, 2 warnings",
        dir.path().display()
    );
    assert!(summary.ends_with(&want), "{summary}\nwanted …{want}");

    let (_, none_out, none_err) = check_config("");
    assert!(none_err.contains("warning: sources: none configured"), "{none_err}\n{none_out}");

    let path = dir.path().join("c.toml");
    std::fs::write(&path, &toml).expect("write");
    let json = Command::new(BIN).args(["check-config", "--json", "--config"]).arg(&path).output().expect("run");
    assert!(json.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).expect("stdout is one JSON document");
    assert_eq!(doc["sources"]["open"]["routes"][0]["retry"]["attempts"], 20);
    assert_eq!(doc["sources"]["gh"]["secret"], "<redacted>");
}

/// `serve` starts with one block saying what runs: version, the config
/// file and how it was found, the data dir, each source's URL and routes,
/// the admin listener, then the config's warnings.
#[test]
fn serve_starts_with_a_banner_of_what_it_runs() {
    let sources = "[sources.pay]\nkind = \"stripe\"\nsecret = \"whsec_banner_secret\"\n\n\
                   [[sources.pay.routes]]\nname = \"ledger\"\nevents = [\"invoice.*\"]\ncommand = [\"/bin/true\"]\n\n\
                   [sources.quiet]\nkind = \"github\"\nsecret = \"s\"\n";
    let h = crate::support::Hookd::start(sources);
    let logs = h.logs();
    let start = logs.lines().position(|l| l.contains("hookd starting")).expect("a banner");
    let banner: Vec<&str> = logs.lines().skip(start).take_while(|l| !l.contains("ingress listening")).collect();
    let text = banner.join("\n");
    assert!(text.contains(&format!("version={}", env!("CARGO_PKG_VERSION"))), "{text}");
    assert!(text.contains(&format!("config={}", h.config.display())) && text.contains("found_by=--config "), "{text}");
    assert!(text.contains(&format!("data={}", h.dir.path().join("data").display())), "{text}");
    assert!(text.contains(&format!("url=http://{}/webhooks/pay", h.addr)), "{text}");
    assert!(text.contains("routes=ledger [invoice.*] -> /bin/true"), "{text}");
    assert!(text.contains("source=quiet") && text.contains("routes=none (stored as unrouted)"), "{text}");
    assert!(text.contains("no admin API"), "{text}");
    assert!(text.contains("problem=sources.quiet.routes: none"), "warnings come with the banner: {text}");
    assert!(!logs.contains("whsec_banner_secret"), "a secret in the log");
}

/// Config messages say what was written and what to write instead.
#[test]
fn config_messages_say_what_to_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").expect("write");
    let (code, _, err) = check_config(&format!(
        "[server]\nlisten = \"localhost:8183\"\n\n[storage]\npath = \"{}\"\n\n\
         [sources.s]\nkind = \"stripe\"\nsecret_file = \"{}/missing\"\n",
        file.display(),
        dir.path().display()
    ));
    assert_eq!(code, 2);
    assert!(
        err.contains("server.listen: \"localhost:8183\" is not an IP address and port, e.g. \"127.0.0.1:8080\""),
        "{err}"
    );
    assert!(err.contains(&format!("storage.path: {} is not a directory", file.display())), "{err}");
    assert!(err.contains("/missing: No such file or directory"), "{err}");

    let route = "[sources.s]\nkind = \"stripe\"\nsecret = \"k\"\n\n[[sources.s.routes]]\nevents = [\"*\"]\n";
    let (code, _, err) = check_config(&format!("{route}comand = [\"/bin/true\"]\n"));
    assert_eq!(code, 2);
    assert!(err.contains("sources.s.routes[0].comand: unknown key; did you mean \"command\"?"), "{err}");
    let (_, _, err) = check_config(&format!("{route}command = [\"/bin/true\"]\ntimeout = 30\n"));
    assert!(
        err.contains("sources.s.routes[0].timeout: found signed int `30`, expected a duration string like \"30s\""),
        "{err}"
    );
    let (_, _, err) = check_config(&format!("{route}command = [\"/bin/true\"]\nzzzzzz = 1\n"));
    assert!(err.contains("sources.s.routes[0].zzzzzz: unknown key\n"), "no far-fetched guess: {err}");
}

/// `hookd init` → `check-config` → `serve` → `send`: the starter directory
/// works as written for every kind, and init never overwrites.
#[test]
fn init_writes_a_config_that_checks_serves_and_runs_its_handler() {
    use crate::support::wait_until;
    use std::time::Duration;
    let dir = tempfile::tempdir().expect("tempdir");
    let kinds = [
        "stripe", "github", "slack", "shopify", "twilio", "standard", "gitlab", "paddle", "linear", "square", "zoom",
        "hmac",
    ];
    let mut args = vec!["init".to_string(), "--dir".into(), dir.path().display().to_string()];
    for k in kinds {
        args.extend(["--source".to_string(), k.to_string()]);
    }
    let out = Command::new(BIN).args(&args).output().expect("init");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let config = dir.path().join("config.toml");
    let secret = std::fs::metadata(dir.path().join("secrets/stripe")).expect("secret file");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(secret.permissions().mode() & 0o777, 0o600);

    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    let listen = format!("127.0.0.1:{port}");
    let run = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .arg("--config")
            .arg(&config)
            .env("HOOKD_SERVER__LISTEN", &listen)
            .output()
            .expect("run")
    };
    let checked = run(&["check-config"]);
    let err = String::from_utf8_lossy(&checked.stderr);
    assert!(checked.status.success(), "{err}");
    assert!(err.contains("ok: 12 sources, 12 routes") && err.contains("0 warnings"), "{err}");

    let mut serve = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .env("HOOKD_SERVER__LISTEN", &listen)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("serve");
    let sent = wait_until(Duration::from_secs(20), "hookd answering", || {
        let out = run(&["send", "--source", "stripe", "--json"]);
        out.status.success().then(|| serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json"))
    });
    assert_eq!(sent["status"], 202, "{sent}");
    let id = sent["answer"]["id"].as_str().expect("id").to_string();
    let shown = wait_until(Duration::from_secs(10), "the example handler's run", || {
        let out = run(&["events", "show", &id, "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        (v["status"] == "delivered").then_some(v)
    });
    let tail = shown["deliveries"][0]["attempts"][0]["output_tail"].as_str().unwrap_or_default().to_string();
    assert!(tail.contains("source=stripe") && tail.contains("attempt=1"), "{tail}");
    unsafe { libc::kill(serve.id() as i32, libc::SIGTERM) };
    let _ = serve.wait();

    let again = Command::new(BIN).args(["init", "--dir"]).arg(dir.path()).output().expect("init again");
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists; init never overwrites"));
    let bad = Command::new(BIN).args(["init", "--source", "carrier-pigeon", "--dir"]).arg(dir.path()).output();
    assert_eq!(bad.expect("init").status.code(), Some(2));

    // --json: exactly one document naming what was written.
    let other = tempfile::tempdir().expect("tempdir");
    let out = Command::new(BIN).args(["init", "--json", "--dir"]).arg(other.path()).output().expect("init --json");
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    let config = other.path().join("config.toml").display().to_string();
    assert_eq!(v["config"], config.as_str(), "{v}");
    assert!(v["written"].as_array().is_some_and(|w| w.iter().any(|p| p == config.as_str())), "{v}");
}
