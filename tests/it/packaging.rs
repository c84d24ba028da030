//! Packaging and operations: systemd readiness over `NOTIFY_SOCKET`, secrets
//! as systemd credentials, the production example config, `install.sh`
//! staged into a temp `DESTDIR` (twice) without touching the real system, and
//! the shipped alert rules and Grafana dashboard against a real scrape.

use crate::support::{Hookd, BIN};
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Datagrams received on `sock` until one contains `want`, or panic.
fn wait_for(sock: &UnixDatagram, want: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        if let Ok(n) = sock.recv(&mut buf) {
            seen.push(String::from_utf8_lossy(&buf[..n]).to_string());
            if seen.last().is_some_and(|m| m.lines().any(|l| l == want)) {
                return seen;
            }
        }
    }
    panic!("no {want} on the notify socket; got {seen:?}");
}

#[test]
fn notifies_ready_watchdog_and_stopping_to_systemd() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).expect("bind notify socket");
    sock.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    let sock_path = path.display().to_string();
    let env = [("NOTIFY_SOCKET", sock_path.as_str()), ("WATCHDOG_USEC", "300000")];
    let mut hookd = Hookd::start_with("", &env);

    let seen = wait_for(&sock, "READY=1");
    std::net::TcpStream::connect(&hookd.addr).expect("ingress accepts once READY=1 was sent");
    assert!(seen.iter().any(|m| m.contains(&format!("STATUS=ingress listening on {}", hookd.addr))), "{seen:?}");
    wait_for(&sock, "WATCHDOG=1");
    wait_for(&sock, "WATCHDOG=1");

    let code = hookd.terminate();
    wait_for(&sock, "STOPPING=1");
    assert_eq!(code, Some(0), "logs:\n{}", hookd.logs());
}

#[test]
fn sighup_does_not_stop_the_daemon() {
    let mut hookd = Hookd::start("");
    let pid = hookd.pid().expect("running");
    unsafe { libc::kill(pid as i32, libc::SIGHUP) };
    crate::support::wait_until(Duration::from_secs(10), "the SIGHUP log line", || {
        hookd.logs().contains("SIGHUP").then_some(())
    });
    std::net::TcpStream::connect(&hookd.addr).expect("still serving after SIGHUP");
    assert_eq!(hookd.terminate(), Some(0));
}

/// `hookd check-config` on `config` with `CREDENTIALS_DIRECTORY` set (or not).
fn check_config(config: &Path, credentials: Option<&Path>, cwd: &Path) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(["check-config", "--config"]).arg(config).current_dir(cwd).env_remove("CREDENTIALS_DIRECTORY");
    if let Some(dir) = credentials {
        cmd.env("CREDENTIALS_DIRECTORY", dir);
    }
    let out = cmd.output().expect("run hookd");
    let text = |b: &[u8]| String::from_utf8_lossy(b).to_string();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

#[test]
fn the_production_config_reads_its_secret_from_the_credentials_directory() {
    let creds = tempfile::tempdir().expect("tempdir");
    std::fs::write(creds.path().join("secrets_stripe"), "whsec_from_a_credential\n").expect("write");
    std::fs::write(creds.path().join("admin.token"), "token-from-a-credential\n").expect("write");
    let config = Path::new(ROOT).join("packaging/config.toml");

    let (code, stdout, stderr) = check_config(&config, Some(creds.path()), creds.path());
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("path = \"/var/lib/hookd\""), "{stdout}");
    assert!(!stdout.contains("whsec_from_a_credential") && !stderr.contains("whsec_"), "secret leaked");
    assert!(!stdout.contains("token-from-a-credential"), "token leaked");

    // Without the credentials directory the relative path is read beside
    // the config file, where there is no such file: a config error naming
    // it and saying why it was looked for there.
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let (code, _, stderr) = check_config(&config, None, elsewhere.path());
    assert_eq!(code, 2);
    let beside = Path::new(ROOT).join("packaging/secrets_stripe");
    assert!(
        stderr.contains(&format!("sources.stripe.secret_file: cannot read {}: No such file", beside.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains("$CREDENTIALS_DIRECTORY is not set, so a relative path is read beside the config file"),
        "{stderr}"
    );
}

#[test]
fn absolute_secret_files_ignore_the_credentials_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = dir.path().join("gh.secret");
    std::fs::write(&secret, "s3cr3t\n").expect("write");
    let config = dir.path().join("c.toml");
    let toml = format!(
        "[storage]\npath = \"/tmp/x\"\n[sources.g]\nkind = \"github\"\nsecret_file = \"{}\"\n",
        secret.display()
    );
    std::fs::write(&config, toml).expect("write");
    let (code, _, stderr) = check_config(&config, Some(Path::new("/nonexistent")), dir.path());
    assert_eq!(code, 0, "{stderr}");
}

/// Every path under `root` with its type and mode, e.g. `"etc/hookd" → "d700"`.
fn tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            let meta = std::fs::symlink_metadata(&path).expect("metadata");
            let kind = if meta.is_dir() { "d" } else { "f" };
            let rel = path.strip_prefix(root).expect("under root").display().to_string();
            out.insert(rel, format!("{kind}{:o}", meta.permissions().mode() & 0o7777));
            if meta.is_dir() {
                stack.push(path);
            }
        }
    }
    out
}

/// Run install.sh into `destdir` with stand-ins for every command that would
/// change the real system first on PATH; each records that it was called.
fn install(destdir: &Path, stubs: &Path) -> String {
    let path = format!("{}:{}", stubs.display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new("bash")
        .arg(Path::new(ROOT).join("packaging/install.sh"))
        .env("DESTDIR", destdir)
        .env("HOOKD_BIN", BIN)
        .env("PATH", path)
        .env_remove("PREFIX")
        .env_remove("SYSCONFDIR")
        .env_remove("UNITDIR")
        .output()
        .expect("run install.sh");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "install.sh failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

fn stub_system_commands(dir: &Path) -> std::path::PathBuf {
    let log = dir.join("called");
    for cmd in ["systemctl", "useradd", "adduser", "groupadd", "chown", "chgrp", "deb-systemd-helper"] {
        let stub = dir.join(cmd);
        std::fs::write(&stub, format!("#!/bin/sh\necho {cmd} \"$@\" >> {}\nexit 1\n", log.display())).expect("stub");
        std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    log
}

#[test]
fn install_sh_stages_exactly_the_expected_files_twice_without_touching_the_system() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let stubs = tmp.path().join("stubs");
    std::fs::create_dir(&stubs).expect("mkdir");
    let called = stub_system_commands(&stubs);
    let dest = tmp.path().join("root");

    let first = install(&dest, &stubs);
    let expected: BTreeMap<String, String> = [
        ("etc", "d755"),
        ("etc/hookd", "d755"),
        ("etc/hookd/admin.token", "f600"),
        ("etc/hookd/config.toml", "f640"),
        ("etc/hookd/secrets", "d700"),
        ("etc/systemd", "d755"),
        ("etc/systemd/system", "d755"),
        ("etc/systemd/system/hookd.service", "f644"),
        ("usr", "d755"),
        ("usr/local", "d755"),
        ("usr/local/bin", "d755"),
        ("usr/local/bin/hookd", "f755"),
        ("usr/local/share", "d755"),
        ("usr/local/share/bash-completion", "d755"),
        ("usr/local/share/bash-completion/completions", "d755"),
        ("usr/local/share/bash-completion/completions/hookd", "f644"),
        ("usr/local/share/doc", "d755"),
        ("usr/local/share/doc/hookd", "d755"),
        ("usr/local/share/doc/hookd/operations.md", "f644"),
        ("usr/local/share/fish", "d755"),
        ("usr/local/share/fish/vendor_completions.d", "d755"),
        ("usr/local/share/fish/vendor_completions.d/hookd.fish", "f644"),
        ("usr/local/share/hookd", "d755"),
        ("usr/local/share/hookd/grafana", "d755"),
        ("usr/local/share/hookd/grafana/hookd.json", "f644"),
        ("usr/local/share/hookd/prometheus", "d755"),
        ("usr/local/share/hookd/prometheus/hookd.rules.yml", "f644"),
        ("usr/local/share/man", "d755"),
        ("usr/local/share/man/man1", "d755"),
        ("usr/local/share/zsh", "d755"),
        ("usr/local/share/zsh/vendor-completions", "d755"),
        ("usr/local/share/zsh/vendor-completions/_hookd", "f644"),
    ]
    .into_iter()
    .map(|(p, m)| (p.to_string(), m.to_string()))
    .chain(man_pages().into_keys().map(|page| (format!("usr/local/share/man/man1/{page}"), "f644".to_string())))
    .collect();
    assert_eq!(tree(&dest), expected);

    let unit = std::fs::read_to_string(dest.join("etc/systemd/system/hookd.service")).expect("unit");
    assert!(unit.contains("\nExecStart=/usr/local/bin/hookd serve --config /etc/hookd/config.toml\n"), "{unit}");
    let config = std::fs::read_to_string(dest.join("etc/hookd/config.toml")).expect("config");
    assert_eq!(config, std::fs::read_to_string(Path::new(ROOT).join("packaging/config.toml")).expect("source"));
    let token = std::fs::read_to_string(dest.join("etc/hookd/admin.token")).expect("token");
    assert!(token.len() == 65 && token.trim_end().chars().all(|c| c.is_ascii_hexdigit()), "token {:?}", token.len());
    for step in ["useradd --system", "chown root:hookd /etc/hookd/config.toml", "systemctl enable hookd.service"] {
        assert!(first.contains(step), "next steps lack {step:?}:\n{first}");
    }

    // An operator edits both; a second run changes neither and adds nothing.
    std::fs::write(dest.join("etc/hookd/config.toml"), "# edited\n").expect("edit");
    std::fs::write(dest.join("etc/hookd/admin.token"), "operator-token\n").expect("edit");
    let second = install(&dest, &stubs);
    assert_eq!(tree(&dest), expected);
    assert_eq!(std::fs::read_to_string(dest.join("etc/hookd/config.toml")).expect("config"), "# edited\n");
    assert_eq!(std::fs::read_to_string(dest.join("etc/hookd/admin.token")).expect("token"), "operator-token\n");
    assert!(!second.contains("created"), "{second}");
    assert!(
        !called.exists(),
        "install.sh ran system commands: {}",
        std::fs::read_to_string(&called).unwrap_or_default()
    );
}

/// packaging/man/: page name → contents.
fn man_pages() -> BTreeMap<String, String> {
    pages_in(&Path::new(ROOT).join("packaging/man"))
}

fn pages_in(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .expect("man dir")
        .map(|e| {
            let path = e.expect("entry").path();
            let name = path.file_name().expect("name").to_string_lossy().to_string();
            (name, std::fs::read_to_string(&path).expect("page"))
        })
        .collect()
}

/// The completions and the man pages that packaging ships are what the
/// binary generates from its CLI definitions (so they never drift from it),
/// and each is a real script or page, not an empty file.
#[test]
fn shipped_completions_and_man_pages_match_the_binary() {
    let shipped = [
        ("bash", "packaging/completions/hookd.bash", "complete -F _hookd"),
        ("zsh", "packaging/completions/_hookd", "#compdef hookd"),
        ("fish", "packaging/completions/hookd.fish", "complete -c hookd"),
    ];
    for (shell, file, marker) in shipped {
        let out = Command::new(BIN).args(["completions", shell]).output().expect("run hookd");
        assert!(out.status.success(), "hookd completions {shell}: {}", String::from_utf8_lossy(&out.stderr));
        let generated = String::from_utf8(out.stdout).expect("utf-8");
        assert!(generated.contains(marker), "hookd completions {shell} lacks {marker:?}");
        for sub in ["serve", "check-config", "events", "dlq", "completions"] {
            assert!(generated.contains(sub), "hookd completions {shell} does not mention {sub}");
        }
        let committed = std::fs::read_to_string(Path::new(ROOT).join(file)).expect("shipped file");
        assert!(generated == committed, "{file} differs from `hookd completions {shell}`: run packaging/generate.sh");
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = Command::new(BIN).arg("man").arg(tmp.path()).output().expect("run hookd man");
    assert!(out.status.success(), "hookd man: {}", String::from_utf8_lossy(&out.stderr));
    let generated = pages_in(tmp.path());
    assert!(generated["hookd.1"].contains(".TH hookd 1") && generated.contains_key("hookd-events-list.1"));
    assert!(generated == man_pages(), "packaging/man/ differs from `hookd man DIR`: run packaging/generate.sh");
    // The bash script loads and registers itself (bash is on every machine
    // this runs on; zsh and fish are not).
    let script = Path::new(ROOT).join("packaging/completions/hookd.bash");
    let loaded = Command::new("bash")
        .arg("-c")
        .arg(format!("source {} && complete -p hookd", script.display()))
        .output()
        .expect("run bash");
    assert!(String::from_utf8_lossy(&loaded.stdout).contains("-F _hookd hookd"), "{loaded:?}");
    let bad = Command::new(BIN).args(["completions", "tcsh"]).output().expect("run hookd");
    assert_eq!(bad.status.code(), Some(2), "an unknown shell is a usage error");
}

/// One rule for relative paths: each is read beside the config file, from
/// whatever directory hookd or the CLI runs in — the store, the admin
/// socket, a handler, a secret file — and check-config prints them absolute.
#[test]
fn relative_paths_are_read_beside_the_config_from_any_directory() {
    use crate::support::sign::{stripe, stripe_event, unix_now};
    let etc = tempfile::tempdir().expect("config dir");
    let root = etc.path();
    std::fs::create_dir_all(root.join("handlers")).expect("mkdir");
    std::fs::create_dir_all(root.join("secrets")).expect("mkdir");
    std::fs::write(root.join("secrets/stripe"), "whsec_rel\n").expect("secret");
    let handler = root.join("handlers/record.sh");
    std::fs::write(&handler, "#!/bin/sh\necho \"$HOOKD_EVENT_ID\" >> \"$0.runs\"\n").expect("handler");
    std::fs::set_permissions(&handler, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    std::fs::write(
        root.join("config.toml"),
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[admin]\nlisten = \"unix:data/admin.sock\"\n\
             [storage]\npath = \"data\"\n\
             [sources.s]\nkind = \"stripe\"\nsecret_file = \"secrets/stripe\"\n\
             [[sources.s.routes]]\nevents = [\"*\"]\ncommand = [\"./handlers/record.sh\"]\n"
        ),
    )
    .expect("config");
    let config = root.join("config.toml");
    let elsewhere = tempfile::tempdir().expect("a working directory");

    let (code, out, err) = check_config(&config, None, elsewhere.path());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("path = \"{}\"", root.join("data").display())), "{out}");
    assert!(out.contains(&format!("\"{}\"", handler.display())), "the command, absolute: {out}");

    let mut serve = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .current_dir(elsewhere.path())
        .env_remove("CREDENTIALS_DIRECTORY")
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("serve");
    let addr = format!("127.0.0.1:{port}");
    let body = stripe_event("evt_rel", "invoice.paid");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        let sent = crate::support::http::post(&addr, "/webhooks/s", &[stripe("whsec_rel", unix_now(), &body)], &body);
        match sent {
            Some(r) => break r.status,
            None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            None => panic!("hookd never answered"),
        }
    };
    assert_eq!(status, 202, "the secret was read beside the config");
    let runs = root.join("handlers/record.sh.runs");
    let ran = crate::support::wait_until(Duration::from_secs(10), "the handler beside the config", || {
        std::fs::read_to_string(&runs).ok().filter(|s| s.contains("evt_rel"))
    });
    assert_eq!(ran.trim(), "evt_rel");
    assert!(root.join("data").is_dir() && !elsewhere.path().join("data").exists(), "the store is beside the config");

    // The CLI from a third directory finds the admin socket the same way.
    let third = tempfile::tempdir().expect("another directory");
    let stats = Command::new(BIN).args(["stats", "--json", "--config"]).arg(&config).current_dir(third.path()).output();
    let stats = stats.expect("stats");
    assert!(stats.status.success(), "{}", String::from_utf8_lossy(&stats.stderr));
    let v: serde_json::Value = serde_json::from_slice(&stats.stdout).expect("json");
    assert!(v["sources"]["s"].is_object(), "{v}");
    unsafe { libc::kill(serve.id() as i32, libc::SIGTERM) };
    let _ = serve.wait();
}

/// Every `hookd_*` name in `text` (PromQL, or any text that names metrics).
fn hookd_names(text: &str) -> BTreeSet<String> {
    let re = regex::Regex::new(r"\bhookd_[a-z0-9_]*[a-z0-9]").expect("regex");
    re.find_iter(text).map(|m| m.as_str().to_string()).collect()
}

/// The sample names of a Prometheus text scrape (`hookd_received_total`,
/// `hookd_ack_latency_seconds_bucket`, …): the names a query can select.
fn sample_names(scrape: &str) -> BTreeSet<String> {
    scrape
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

/// The metric families of a scrape, as its `# TYPE` lines name them (0.0.4:
/// counters with `_total`, histograms without `_bucket`).
fn families(scrape: &str) -> BTreeSet<String> {
    scrape.lines().filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next()).map(str::to_string).collect()
}

/// Names used in `queries` that the scrape lacks, each with a hint when the
/// scrape has it with another suffix.
fn missing(queries: &BTreeSet<String>, scraped: &BTreeSet<String>) -> Vec<String> {
    let suffixes = ["_total", "_bucket", "_sum", "_count"];
    queries
        .iter()
        .filter(|n| !scraped.contains(*n))
        .map(|n| {
            let base = suffixes.iter().find_map(|s| n.strip_suffix(s)).unwrap_or(n);
            let near: Vec<&String> = scraped.iter().filter(|s| s.starts_with(base)).collect();
            format!("{n} (the scrape has {near:?})")
        })
        .collect()
}

/// Every panel but rows, those in collapsed rows included.
fn dashboard_panels(dashboard: &serde_json::Value) -> Vec<&serde_json::Value> {
    let mut out = Vec::new();
    let mut stack: Vec<&serde_json::Value> = dashboard["panels"].as_array().expect("panels").iter().collect();
    while let Some(p) = stack.pop() {
        stack.extend(p["panels"].as_array().into_iter().flatten());
        if p["type"] != "row" {
            out.push(p);
        }
    }
    out
}

/// packaging/prometheus/hookd.rules.yml and packaging/grafana/hookd.json
/// query only series a real hookd exports: hookd runs with a route that
/// delivers and one whose breaker opens, gets an event, a duplicate with
/// another body and a forged request, so that every family has samples;
/// then every `hookd_*` name in the rules and in each panel's query must be
/// a sample name of the scrape (so `_total`, `_bucket` … are right), the
/// dashboard must show every family hookd exports, and its queries must
/// parse (`promtool check rules` on them, with Grafana's variables filled
/// in). promtool's own checks of the rules are in .ci/run.
#[test]
fn shipped_alert_rules_and_dashboard_query_what_hookd_exports() {
    use crate::operator::{admin_tcp, send, token_file, TOKEN};
    let (_t, token) = token_file();
    let config = format!(
        "{}[sources.s]\nkind = \"stripe\"\nsecret = \"k\"\n\n\
         [[sources.s.routes]]\nname = \"ok\"\nevents = [\"*\"]\ncommand = [\"/bin/true\"]\n\n\
         [[sources.s.routes]]\nname = \"down\"\nevents = [\"*\"]\ncommand = [\"/bin/false\"]\n\
         breaker = {{ failures = 1, cool_down = \"1h\" }}\n",
        admin_tcp(&token)
    );
    let h = Hookd::start(&config);
    assert_eq!(send(&h, "s", "evt_1", "invoice.paid").0, 202);
    assert_eq!(send(&h, "s", "evt_1", "invoice.updated").0, 200, "a duplicate, with another body");
    let body = crate::support::sign::stripe_event("evt_2", "invoice.paid");
    let forged = crate::support::sign::stripe("not-the-secret", crate::support::sign::unix_now(), &body);
    let r = crate::support::http::post(&h.addr, "/webhooks/s", &[forged], &body).expect("answer");
    assert_eq!(r.status, 401);

    let rules = std::fs::read_to_string(Path::new(ROOT).join("packaging/prometheus/hookd.rules.yml")).expect("rules");
    let text = std::fs::read_to_string(Path::new(ROOT).join("packaging/grafana/hookd.json")).expect("dashboard");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");

    // The template variables: a Prometheus data source every query uses, and
    // source and route from label_values.
    assert!(dashboard["schemaVersion"].as_u64().is_some_and(|v| v >= 36), "schemaVersion");
    let vars: BTreeMap<&str, &serde_json::Value> = dashboard["templating"]["list"]
        .as_array()
        .expect("templating")
        .iter()
        .map(|v| (v["name"].as_str().expect("name"), v))
        .collect();
    let ds = vars.get("DS_PROMETHEUS").expect("a DS_PROMETHEUS variable");
    assert_eq!(ds["type"], "datasource");
    assert_eq!(ds["query"], "prometheus");
    for name in ["source", "route"] {
        let v = vars.get(name).unwrap_or_else(|| panic!("a {name} variable"));
        let def = v["definition"].as_str().unwrap_or_default();
        assert_eq!(v["type"], "query", "{name}");
        assert!(def.starts_with("label_values(hookd_") && def.ends_with(&format!(", {name})")), "{name}: {def}");
        assert_eq!(v["datasource"]["uid"], "${DS_PROMETHEUS}", "{name}");
    }
    let mut queries = BTreeSet::new();
    let mut exprs = Vec::new();
    for panel in dashboard_panels(&dashboard) {
        let title = panel["title"].as_str().unwrap_or_default();
        let targets = panel["targets"].as_array().filter(|t| !t.is_empty());
        for target in targets.unwrap_or_else(|| panic!("panel {title:?} has no query")) {
            let expr = target["expr"].as_str().filter(|e| !e.trim().is_empty());
            let expr = expr.unwrap_or_else(|| panic!("panel {title:?}: a target without expr"));
            assert_eq!(target["datasource"]["uid"], "${DS_PROMETHEUS}", "panel {title:?}");
            assert!(!hookd_names(expr).is_empty(), "panel {title:?} queries no hookd metric: {expr}");
            queries.extend(hookd_names(expr));
            exprs.push(expr.to_string());
        }
    }
    for v in vars.values() {
        queries.extend(hookd_names(v["definition"].as_str().unwrap_or_default()));
    }
    let alerting = hookd_names(&rules);
    assert!(alerting.len() >= 5, "{alerting:?}");

    // Both deliveries of evt_1 ended: one delivered, one opened its breaker.
    let auth = format!("Bearer {TOKEN}");
    let admin = h.admin.clone().expect("admin");
    let scrape = crate::support::wait_until(Duration::from_secs(20), "both attempts' metrics", || {
        let r = crate::support::http::request(&admin, "GET", "/metrics", &[("Authorization", &auth)], b"")?;
        let done = r.body.contains("hookd_breaker_transitions_total{") && r.body.contains("outcome=\"delivered\"");
        done.then_some(r.body)
    });
    let scraped = sample_names(&scrape);
    let missing_rules = missing(&alerting, &scraped);
    assert!(missing_rules.is_empty(), "hookd.rules.yml uses what hookd does not export: {missing_rules:?}\n{scrape}");
    let missing_panels = missing(&queries, &scraped);
    assert!(missing_panels.is_empty(), "hookd.json queries what hookd does not export: {missing_panels:?}\n{scrape}");

    // The dashboard shows every family hookd exports.
    let unshown: Vec<String> = families(&scrape)
        .into_iter()
        .filter(|f| f.starts_with("hookd_") && !queries.iter().any(|q| q.starts_with(f.as_str())))
        .collect();
    assert!(unshown.is_empty(), "hookd.json has no panel for {unshown:?}");

    // Each query parses: as a recording rule, with the variables filled in.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut file = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, expr) in exprs.iter().enumerate() {
        let filled = [("$__rate_interval", "1m"), ("$instance", ".*"), ("$source", ".*"), ("$route", ".*")]
            .iter()
            .fold(expr.clone(), |e, (var, value)| e.replace(var, value));
        assert!(!filled.contains('$'), "an unknown variable in {expr}");
        file.push_str(&format!("      - record: dashboard:query{i}\n        expr: {}\n", serde_json::json!(filled)));
    }
    let path = dir.path().join("queries.yml");
    std::fs::write(&path, file).expect("write");
    let out = Command::new("promtool").args(["check", "rules"]).arg(&path).output().expect("run promtool");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}
