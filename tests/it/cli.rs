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
