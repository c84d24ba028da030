//! `hookd init --from-webhook`: a realistic adnanh/webhook hooks file →
//! a config that check-config accepts → serve → correctly signed requests
//! run the converted commands with webhook's argv, environment and working
//! directory; what did not convert is listed; bad input is one line.

use crate::support::http::post;
use crate::support::sign::{github, hmac_sha1_hex};
use crate::support::{lines, wait_until, Hookd, BIN};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// A handler that appends what it was started with to `out`.
fn recorder(dir: &Path, out: &Path) -> String {
    let script = dir.join("record.sh");
    let text = format!(
        "#!/bin/sh\n{{ echo \"cwd=$(pwd)\"; for a in \"$@\"; do echo \"arg=$a\"; done; \
         echo \"PUSHER=$PUSHER\"; echo \"COMMIT=$HOOK_commits_0_id\"; echo end; }} >> {}\n",
        out.display()
    );
    std::fs::write(&script, text).expect("script");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    script.display().to_string()
}

/// A GitHub deploy hook (sha256 + ref and repository matches, arguments,
/// environment, cwd), a generic hmac-sha1 hook with a relative command,
/// and one made of what hookd has no equivalent for.
fn hooks_json(script: &str, app: &Path, scripts: &Path) -> String {
    let hooks = serde_json::json!([
      {
        "id": "deploy",
        "execute-command": script,
        "command-working-directory": app,
        "response-message": "Deploying",
        "http-methods": ["POST"],
        "pass-arguments-to-command": [
          { "source": "payload", "name": "head_commit.id" },
          { "source": "payload", "name": "repository.full_name" },
          { "source": "string", "name": "--stage={prod}" },
          { "source": "header", "name": "X-GitHub-Event" },
          { "source": "url", "name": "token" },
          { "source": "payload", "name": "odd/key~name" }
        ],
        "pass-environment-to-command": [
          { "source": "payload", "name": "pusher.name", "envname": "PUSHER" },
          { "source": "payload", "name": "commits.0.id" }
        ],
        "trigger-rule": { "and": [
          { "match": { "type": "payload-hmac-sha256", "secret": "gh-deploy-secret",
                       "parameter": { "source": "header", "name": "X-Hub-Signature-256" } } },
          { "match": { "type": "value", "value": "refs/heads/main",
                       "parameter": { "source": "payload", "name": "ref" } } },
          { "match": { "type": "regex", "regex": "^acme/",
                       "parameter": { "source": "payload", "name": "repository.full_name" } } }
        ] }
      },
      {
        "id": "ci.notify",
        "execute-command": "record.sh",
        "command-working-directory": scripts,
        "pass-arguments-to-command": [ { "source": "payload", "name": "build.status" } ],
        "trigger-rule": { "and": [
          { "match": { "type": "payload-hmac-sha1", "secret": "ci-sha1-secret",
                       "parameter": { "source": "header", "name": "X-Signature" } } },
          { "or": [
            { "match": { "type": "value", "value": "passed", "parameter": { "source": "payload", "name": "build.status" } } },
            { "match": { "type": "value", "value": "fixed", "parameter": { "source": "payload", "name": "build.status" } } }
          ] },
          { "not": { "match": { "type": "value", "value": "wip", "parameter": { "source": "payload", "name": "build.branch" } } } }
        ] }
      },
      {
        "id": "legacy",
        "execute-command": "/bin/true",
        "command-working-directory": "/nonexistent/webhook/dir",
        "include-command-output-in-response": true,
        "response-headers": [ { "name": "X-Served-By", "value": "webhook" } ],
        "trigger-rule-mismatch-http-response-code": 400,
        "http-methods": ["GET", "POST"],
        "pass-file-to-command": [ { "source": "entire-payload", "envname": "BODY_FILE" } ],
        "favourite-colour": "blue",
        "trigger-rule": { "or": [
          { "match": { "type": "ip-whitelist", "ip-range": "127.0.0.1/32" } },
          { "match": { "type": "value", "value": "letmein", "parameter": { "source": "url", "name": "token" } } }
        ] }
      }
    ]);
    serde_json::to_string_pretty(&hooks).expect("json")
}

fn init(file: &Path, dir: &Path) -> (i32, String, String) {
    init_with(file, dir, &[])
}

fn init_with(file: &Path, dir: &Path, more: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    let out = cmd.args(["init", "--from-webhook"]).arg(file).arg("--dir").arg(dir).args(more).output().expect("run");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

#[test]
fn init_from_webhook_converts_checks_serves_and_runs_the_commands() {
    let work = tempfile::tempdir().expect("tempdir");
    let (app, out) = (work.path().join("app"), work.path().join("ran.txt"));
    std::fs::create_dir(&app).expect("app dir");
    let script = recorder(work.path(), &out);
    let file = work.path().join("hooks.json");
    std::fs::write(&file, hooks_json(&script, &app, work.path())).expect("hooks.json");

    let mut h = Hookd::configure("", "", &[("HOOKD_SERVER__LISTEN", "127.0.0.1:0")]);
    std::fs::remove_file(&h.config).expect("the converter writes its own");
    let (code, stdout, stderr) = init(&file, h.dir.path());
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("/hooks/ci.notify -> POST http://HOST:PORT/webhooks/ci-notify"), "{stdout}");
    for listed in [
        "deploy: pass-arguments-to-command[4]: hookd does not pass the query string",
        "deploy: response-message: ",
        "deploy: pass-environment-to-command[1]: HOOK_commits.0.id is named HOOK_commits_0_id",
        "ci.notify: id: the source is named ci-notify",
        "ci.notify: trigger-rule (match payload-hmac-sha1 on header \"X-Signature\"): webhook took the signature with or without",
        "legacy: trigger-rule (or of 2): hookd's match conditions must all hold",
        "legacy: trigger-rule: no signature check converted",
        "legacy: command-working-directory: /nonexistent/webhook/dir is not a directory here",
        "legacy: include-command-output-in-response: reply",
        "legacy: response-headers: ",
        "legacy: trigger-rule-mismatch-http-response-code: ",
        "legacy: http-methods: hookd takes POST only",
        "legacy: pass-file-to-command: the handler gets the raw body on stdin",
        "legacy: favourite-colour: not a webhook hook property",
    ] {
        assert!(stderr.contains(listed), "{listed:?} not listed in:\n{stderr}");
    }
    assert!(!stderr.contains("deploy: trigger-rule"), "deploy's rules all convert:\n{stderr}");

    let config = std::fs::read_to_string(&h.config).expect("config.toml");
    assert!(!config.contains("gh-deploy-secret") && !config.contains("ci-sha1-secret"), "secret inlined:\n{config}");
    // `reply = true` once this build has reply routes, commented out before.
    assert!(config.contains("reply = true") && config.contains("# not converted: http-methods"), "{config}");
    use std::os::unix::fs::PermissionsExt;
    let secret = h.dir.path().join("secrets/deploy");
    assert_eq!(std::fs::metadata(&secret).expect("secret").permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::read_to_string(&secret).expect("secret"), "gh-deploy-secret\n");

    let checked = Command::new(BIN).args(["check-config", "--config"]).arg(&h.config).output().expect("check");
    let err = String::from_utf8_lossy(&checked.stderr);
    assert!(checked.status.success(), "{err}");
    assert!(err.contains("ok: 3 sources, 3 routes"), "{err}");

    h.spawn();
    let push = serde_json::json!({
        "ref": "refs/heads/main", "repository": { "full_name": "acme/api" },
        "head_commit": { "id": "abc123" }, "pusher": { "name": "alice" },
        "commits": [ { "id": "c0" } ], "odd/key~name": "escaped"
    })
    .to_string();
    let gh = |body: &str, secret: &str| {
        vec![
            github(secret, body.as_bytes()),
            ("X-GitHub-Event".to_string(), "push".to_string()),
            ("X-GitHub-Delivery".to_string(), format!("d-{}", body.len())),
        ]
    };
    let wrong = post(&h.addr, "/webhooks/deploy", &gh(&push, "not-the-secret"), push.as_bytes()).expect("answer");
    assert_eq!(wrong.status, 401);
    let ok = post(&h.addr, "/webhooks/deploy", &gh(&push, "gh-deploy-secret"), push.as_bytes()).expect("answer");
    assert_eq!(ok.status, 202, "{}", ok.body);
    let ran = wait_until(Duration::from_secs(15), "the deploy command", || {
        let l = lines(&out);
        l.contains(&"end".to_string()).then_some(l)
    });
    let app_dir = app.display().to_string();
    let want = [
        format!("cwd={app_dir}"),
        "arg=abc123".into(),
        "arg=acme/api".into(),
        "arg=--stage={prod}".into(),
        "arg=push".into(),
        "arg=".into(),
        "arg=escaped".into(),
        "PUSHER=alice".into(),
        "COMMIT=c0".into(),
        "end".into(),
    ];
    assert_eq!(ran, want);

    std::fs::remove_file(&out).expect("reset");
    let sha1 = |body: &str| vec![("X-Signature".to_string(), hmac_sha1_hex(b"ci-sha1-secret", body.as_bytes()))];
    let failed = r#"{"build":{"status":"failed","branch":"main"}}"#;
    let wip = r#"{"build":{"status":"passed","branch":"wip"}}"#;
    let passed = r#"{"build":{"status":"fixed","branch":"main"}}"#;
    for body in [failed, wip, passed] {
        let answer = post(&h.addr, "/webhooks/ci-notify", &sha1(body), body.as_bytes()).expect("answer");
        assert_eq!(answer.status, 202, "{}", answer.body);
    }
    let ran = wait_until(Duration::from_secs(15), "the ci command", || {
        let l = lines(&out);
        l.contains(&"end".to_string()).then_some(l)
    });
    assert_eq!(ran[..2], [format!("cwd={}", work.path().display()), "arg=fixed".to_string()]);
    let unrouted = h.cli_json(&["events", "list", "--source", "ci-notify", "--status", "unrouted"]);
    assert_eq!(unrouted["items"].as_array().map(Vec::len), Some(2), "failed and wip take no route: {unrouted}");
    assert_eq!(h.terminate(), Some(0));

    let (code, _, err) = init(&file, h.dir.path());
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("already exists; init never overwrites"), "{err}");
}

#[test]
fn init_from_webhook_reads_yaml_and_refuses_bad_input_in_one_line() {
    let work = tempfile::tempdir().expect("tempdir");
    let yaml = work.path().join("hooks.yaml");
    std::fs::write(
        &yaml,
        "- id: redeploy\n  execute-command: /bin/true\n  trigger-rule:\n    match:\n      type: value\n      \
         value: s3cr3t-token\n      parameter: {source: header, name: X-Gitlab-Token}\n",
    )
    .expect("yaml");
    let dir = work.path().join("out");
    let (code, out, err) = init_with(&yaml, &dir, &["--json"]);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("--json: one JSON document");
    assert_eq!(doc["sources"][0]["path"], "/webhooks/redeploy", "{doc}");
    assert!(doc["not_converted"].as_array().is_some_and(Vec::is_empty), "{doc}");
    let config = std::fs::read_to_string(dir.join("config.toml")).expect("config");
    assert!(config.contains("kind = \"gitlab\"") && !config.contains("s3cr3t-token"), "{config}");
    let checked = Command::new(BIN).arg("check-config").arg("--config").arg(dir.join("config.toml")).output();
    assert!(checked.expect("check").status.success());

    let bad = [
        ("missing.json", None, "No such file or directory"),
        ("broken.json", Some("[{\"id\": \"a\", "), "EOF"),
        ("empty.json", Some("[]"), "no hooks in it"),
        ("twice.json", Some(r#"[{"id":"a"},{"id":"a"}]"#), "hook id \"a\" is defined twice"),
        ("noid.json", Some(r#"[{"execute-command":"/bin/true"}]"#), "hook 1 has no id"),
        ("typed.json", Some(r#"[{"id": 7}]"#), "invalid type"),
    ];
    for (name, text, reason) in bad {
        let file = work.path().join(name);
        if let Some(text) = text {
            std::fs::write(&file, text).expect("write");
        }
        let out = work.path().join(format!("out-{name}"));
        let (code, stdout, err) = init(&file, &out);
        assert_eq!(code, 2, "{name}: {err}");
        assert!(err.contains(reason) && err.trim().lines().count() == 1, "{name}: {err}");
        assert!(stdout.is_empty() && !out.join("config.toml").exists(), "{name}");
    }
}
