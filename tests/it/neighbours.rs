//! What a careless neighbour or a repeated sender finds, through the real
//! binary: everything under the data dir is owner-only (what was there
//! before included); a second `hookd serve` on the same admin socket or data
//! dir is refused in one line and the first keeps serving; `/readyz` costs no
//! commit per call; a duplicate with a different body keeps the first and
//! says so (WARN with both hashes, a metric).

use crate::support::http::{get, post};
use crate::support::sign::{stripe, stripe_event, unix_now};
use crate::support::{lines, wait_until, Hookd, BIN};
use sha2::Digest;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn send(addr: &str, body: &[u8]) -> Option<crate::support::http::Response> {
    post(addr, "/webhooks/s", &[stripe("k", unix_now(), body)], body)
}

/// Every entry under `root` (itself included) with its mode, not following
/// symlinks.
fn tree(root: &Path) -> Vec<(PathBuf, u32, bool)> {
    let mut out = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(p) = pending.pop() {
        let meta = std::fs::symlink_metadata(&p).expect("lstat");
        if meta.is_dir() {
            pending.extend(std::fs::read_dir(&p).expect("read_dir").map(|e| e.expect("entry").path()));
        }
        out.push((p, meta.permissions().mode() & 0o7777, meta.is_dir()));
    }
    out
}

/// Entries whose mode is not exactly 0700 (directories) or 0600 (files).
fn loose(root: &Path) -> Vec<String> {
    tree(root)
        .into_iter()
        .filter(|(_, mode, dir)| *mode != if *dir { 0o700 } else { 0o600 })
        .map(|(p, mode, _)| format!("{} {mode:o}", p.display()))
        .collect()
}

#[test]
fn everything_hookd_writes_under_the_data_dir_is_owner_only() {
    let work = tempfile::tempdir().expect("tempdir");
    let runs = work.path().join("runs");
    // Attempts with 64 KiB output tails (kept whole in the log; the index
    // keeps its delivery records below sled's blob threshold) and bodies
    // over 32 KiB (in the log too).
    let script = format!(
        "echo $HOOKD_EVENT_ID $HOOKD_ATTEMPT >> {}; head -c 70000 /dev/zero | tr '\\\\0' o; head -c 70000 /dev/zero | tr '\\\\0' e >&2; [ $HOOKD_ATTEMPT -ge 3 ]",
        runs.display()
    );
    let sources = format!(
        "[dispatch]\noutput_tail = \"64KiB\"\n\n[sources.s]\nkind = \"stripe\"\nsecret = \"k\"\n\n[[sources.s.routes]]\nevents = [\"big\"]\ncommand = [\"/bin/sh\", \"-c\", {script:?}]\nretry = {{ attempts = 5, initial = \"20ms\", max = \"20ms\" }}\n"
    );
    let mut h = Hookd::start(&sources);
    for i in 0..3 {
        let body = format!("{{\"id\":\"evt_big_{i}\",\"type\":\"big\",\"pad\":\"{}\"}}", "x".repeat(40 * 1024));
        assert_eq!(send(&h.addr, body.as_bytes()).map(|r| r.status), Some(202));
    }
    for i in 0..20 {
        assert_eq!(send(&h.addr, &stripe_event(&format!("evt_small_{i}"), "small")).map(|r| r.status), Some(202));
    }
    wait_until(Duration::from_secs(30), "three attempts of each big event", || {
        (lines(&runs).iter().filter(|l| l.ends_with(" 3")).count() == 3).then_some(())
    });
    let data = h.dir.path().join("data");
    let count = |dir: &str| std::fs::read_dir(data.join(dir)).map(|d| d.count()).unwrap_or(0);
    assert!(count("wal") >= 1, "the log's segments");
    assert_eq!(count("sled/blobs"), 0, "no sled value reaches the blob threshold");
    // sled makes some files from its own threads; hookd catches up within a second.
    wait_until(Duration::from_secs(5), "every entry owner-only while serving", || {
        loose(&data).is_empty().then_some(())
    });
    assert_eq!(h.terminate(), Some(0));
    assert_eq!(loose(&data), Vec::<String>::new(), "after a stop");
    h.spawn();
    assert_eq!(send(&h.addr, &stripe_event("evt_after", "small")).map(|r| r.status), Some(202));
    assert_eq!(h.terminate(), Some(0));
    assert_eq!(loose(&data), Vec::<String>::new(), "after a restart");
    assert!(!h.logs().contains("owner-only (0700/0600)"), "nothing of hookd's own needed tightening");
}

#[test]
fn a_loose_data_dir_from_before_is_tightened_at_start() {
    let mut h = Hookd::configure("", "[sources.s]\nkind = \"stripe\"\nsecret = \"k\"\n", &[]);
    let data = h.dir.path().join("data");
    let set = |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).expect("chmod");
    std::fs::create_dir_all(data.join("old")).expect("mkdir");
    std::fs::write(data.join("notes"), "x").expect("file");
    std::fs::write(data.join("old/copy"), "x").expect("file");
    // A symlink out of the data dir is not followed.
    let outside = h.dir.path().join("outside");
    std::fs::write(&outside, "x").expect("file");
    std::os::unix::fs::symlink(&outside, data.join("link")).expect("symlink");
    set(&data, 0o755);
    set(&data.join("old"), 0o755);
    set(&data.join("notes"), 0o644);
    set(&data.join("old/copy"), 0o644);
    set(&outside, 0o644);
    h.spawn();
    assert_eq!(send(&h.addr, &stripe_event("evt_1", "t")).map(|r| r.status), Some(202));
    let mode = |p: &Path| std::fs::symlink_metadata(p).expect("stat").permissions().mode() & 0o7777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("old")), 0o700);
    assert_eq!(mode(&data.join("notes")), 0o600);
    assert_eq!(mode(&data.join("old/copy")), 0o600);
    assert_eq!(mode(&outside), 0o644, "the symlink's target is outside the data dir");
    let loose: Vec<_> = loose(&data).into_iter().filter(|l| !l.contains("/link ")).collect();
    assert!(loose.is_empty(), "{loose:?}");
    let said = h.logs().lines().filter(|l| l.contains("INFO") && l.contains("owner-only")).count();
    assert_eq!(said, 1, "said once at INFO:\n{}", h.logs());
}

/// Run `hookd serve --config <config>` to its end (at most 20 s): exit code
/// and stderr.
fn serve_until_exit(config: &Path) -> (Option<i32>, String) {
    let mut child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start hookd");
    let deadline = Instant::now() + Duration::from_secs(20);
    let code = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the second hookd kept running");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child.stderr.take().expect("stderr").read_to_string(&mut err).expect("stderr");
    (code, err)
}

/// A config like `h`'s, written beside it, with `from` replaced by `to`.
fn second_config(h: &Hookd, from: &str, to: &str) -> PathBuf {
    let text = std::fs::read_to_string(&h.config).expect("config");
    assert!(text.contains(from), "{from} in {text}");
    let path = h.dir.path().join("second.toml");
    std::fs::write(&path, text.replace(from, to)).expect("config");
    path
}

fn admin_socket_config(sock: &Path) -> String {
    format!("[admin]\nlisten = \"unix:{}\"\n\n[sources.s]\nkind = \"stripe\"\nsecret = \"k\"\n", sock.display())
}

fn stats_answer(h: &Hookd) {
    let (code, out, err) = h.cli(&["stats"]);
    assert_eq!(code, 0, "the first hookd's admin CLI answers: {out}{err}");
}

#[test]
fn a_second_hookd_on_the_same_admin_socket_is_refused_and_the_first_keeps_it() {
    let sock_dir = tempfile::tempdir().expect("tempdir");
    let sock = sock_dir.path().join("admin.sock");
    // A stale socket file (nothing listening) is replaced.
    drop(std::os::unix::net::UnixListener::bind(&sock).expect("stale socket"));
    assert!(sock.exists());
    let h = Hookd::start(&admin_socket_config(&sock));
    stats_answer(&h);
    let data = h.dir.path().join("data").display().to_string();
    let second = second_config(&h, &format!("path = \"{data}\""), &format!("path = \"{data}-second\""));
    let (code, err) = serve_until_exit(&second);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(err.trim_end(), format!("hookd: admin socket {} is in use by another hookd", sock.display()));
    stats_answer(&h);
    assert_eq!(send(&h.addr, &stripe_event("evt_1", "t")).map(|r| r.status), Some(202));
    let (code, out, _) = h.cli(&["events", "list"]);
    assert_eq!(code, 0);
    assert!(out.contains("evt_1"), "the CLI talks to the daemon that stored it: {out}");
}

#[test]
fn a_second_hookd_on_the_same_data_dir_is_refused_in_one_line() {
    let sock_dir = tempfile::tempdir().expect("tempdir");
    let sock = sock_dir.path().join("admin.sock");
    let h = Hookd::start(&admin_socket_config(&sock));
    let other = sock_dir.path().join("other.sock");
    let second = second_config(&h, &sock.display().to_string(), &other.display().to_string());
    let (code, err) = serve_until_exit(&second);
    assert_eq!(code, Some(1), "{err}");
    let data = h.dir.path().join("data");
    assert_eq!(err.trim_end(), format!("hookd: another hookd is already using {}", data.display()));
    assert!(!other.exists(), "refused before binding anything");
    stats_answer(&h);
    assert_eq!(send(&h.addr, &stripe_event("evt_1", "t")).map(|r| r.status), Some(202));
}

#[test]
fn readyz_costs_no_commit_per_call() {
    let h = Hookd::start("[sources.s]\nkind = \"stripe\"\nsecret = \"k\"\n");
    let rounds = |h: &Hookd| h.logs().matches("commit round").count();
    assert_eq!(get(&h.addr, "/readyz").map(|r| r.status), Some(200));
    // Each marker event is one commit round, logged before its request
    // line: counting up to a marker's request line counts every round before it.
    let marker = |h: &Hookd, id: &str| {
        assert_eq!(send(&h.addr, &stripe_event(id, "t")).map(|r| r.status), Some(202));
        wait_until(Duration::from_secs(10), "the marker's log line", || {
            let logs = h.logs();
            let lines: Vec<&str> = logs.lines().collect();
            let at = lines.iter().position(|l| l.contains(id) && l.contains("\"accepted\""))?;
            Some(lines[..at].iter().filter(|l| l.contains("commit round")).count())
        })
    };
    let before = marker(&h, "evt_before");
    assert!(before >= 1 && rounds(&h) >= before, "commit rounds are logged at debug");
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..250 {
                    assert_eq!(get(&h.addr, "/readyz").map(|r| r.status), Some(200));
                }
            });
        }
    });
    let took = started.elapsed();
    let during = marker(&h, "evt_after") - before;
    // One probe a second, the marker's own round, and one of slack.
    let allowed = took.as_secs() as usize + 3;
    assert!(during <= allowed, "2000 /readyz in {took:?} caused {during} commit rounds (at most {allowed})");
}

/// `GET /metrics` over the admin unix socket (no token needed there).
fn metrics(sock: &Path) -> String {
    let req = b"GET /metrics HTTP/1.1\r\nHost: hookd\r\nConnection: close\r\n\r\n";
    crate::support::http::unix_raw(sock, req).expect("admin socket").body
}

fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
}

#[test]
fn a_duplicate_with_a_different_body_keeps_the_first_and_says_so() {
    let sock_dir = tempfile::tempdir().expect("tempdir");
    let sock = sock_dir.path().join("admin.sock");
    // The handler keeps the body it was given, per event id and attempt.
    let route = "\n[[sources.s.routes]]\nevents = [\"*\"]\ncommand = [\"/bin/sh\", \"-c\", \"cat > {dir}/body.$HOOKD_EVENT_ID.$HOOKD_ATTEMPT\"]\n";
    let h = Hookd::start(&(admin_socket_config(&sock) + route));
    let handed = |id: &str, attempt: u32| {
        let path = h.dir.path().join(format!("body.{id}.{attempt}"));
        wait_until(Duration::from_secs(10), "the handler's copy", || {
            std::fs::read(&path).ok().filter(|b| !b.is_empty())
        })
    };
    let stored = |body: &[u8], status: u16| {
        let r = send(&h.addr, body).expect("answer");
        assert_eq!(r.status, status, "{}", r.body);
        r.json()
    };
    // A true duplicate, inline and spooled: no mismatch.
    let same = stripe_event("evt_same", "t");
    let big = |id: &str, pad: &str| format!("{{\"id\":\"{id}\",\"type\":\"t\",\"pad\":\"{}\"}}", pad.repeat(40 * 1024));
    for body in [same.clone(), big("evt_same_big", "s").into_bytes()] {
        let first = stored(&body, 202);
        let again = stored(&body, 200);
        assert_eq!(again["deduped"], true);
        assert_eq!(again["id"], first["id"]);
    }
    // Same ids, other bodies (an amount changed; a spooled body changed).
    let cases = [
        (
            stripe_event("evt_diff", "t"),
            String::from_utf8(stripe_event("evt_diff", "t")).unwrap().replace("2000", "9999"),
        ),
        (big("evt_diff_big", "a").into_bytes(), big("evt_diff_big", "b")),
    ];
    let short = |b: &[u8]| hex::encode(sha2::Sha256::digest(b))[..16].to_string();
    for (first_body, second_body) in &cases {
        let first = stored(first_body, 202);
        let again = stored(second_body.as_bytes(), 200);
        assert_eq!(again["deduped"], true, "first wins");
        assert_eq!(again["id"], first["id"]);
    }
    let warned = |h: &Hookd| -> Vec<String> {
        h.logs().lines().filter(|l| l.contains("different body")).map(str::to_string).collect()
    };
    let found = wait_until(Duration::from_secs(10), "two mismatch warnings", || {
        let w = warned(&h);
        (w.len() >= 2).then_some(w)
    });
    assert_eq!(found.len(), 2, "{found:#?}");
    for ((first_body, second_body), line) in cases.iter().zip(&found) {
        assert!(line.contains(" WARN "), "{line}");
        let (a, b) = (short(first_body), short(second_body.as_bytes()));
        assert_ne!(a, b);
        assert!(line.contains(&format!("first_sha256={a}")) && line.contains(&format!("new_sha256={b}")), "{line}");
    }
    assert!(found[0].contains("evt_diff") && !found[0].contains("evt_diff_big"), "{}", found[0]);
    assert!(found[1].contains("evt_diff_big"), "{}", found[1]);
    assert!(!h.logs().lines().any(|l| l.contains("different body") && l.contains("evt_same")));
    let text = metrics(&sock);
    assert_eq!(sample(&text, "hookd_dedup_body_mismatch_total{source=\"s\"}"), Some(2.0), "{text}");
    // The first body is the one kept: a replay hands it to the handler.
    for ((first_body, _), (line, id)) in cases.iter().zip(found.iter().zip(["evt_diff", "evt_diff_big"])) {
        assert_eq!(&handed(id, 1), first_body);
        let first_id = line.split("first_id=").nth(1).and_then(|r| r.split_whitespace().next()).expect("first_id");
        assert_eq!(h.cli_json(&["events", "replay", first_id])["replayed"], 1);
        assert_eq!(&handed(id, 2), first_body, "{id}: the stored body is still the first");
    }
}

/// A taken port is said once, and refused before the store is created.
#[test]
fn a_taken_port_is_refused_once_before_the_store_is_created() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("hold a port");
    let port = busy.local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!("[server]\nlisten = \"127.0.0.1:{port}\"\n[storage]\npath = \"{}\"\n", data.display()),
    )
    .expect("config");
    let out = std::process::Command::new(crate::support::BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .expect("serve");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "said once: {err}");
    assert!(err.starts_with(&format!("hookd: server.listen: cannot bind 127.0.0.1:{port}: ")), "{err}");
    assert!(!data.exists(), "nothing created before the bind");
}
