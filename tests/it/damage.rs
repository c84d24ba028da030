//! Damage is found and said (issue 11): a torn write at the log's end is
//! the end of the log; a bad record anywhere else stops hookd with exit 3,
//! naming the file and what to do, and `hookd store check` says the same;
//! `hookd store export` still writes out what can be read; an index that
//! cannot be opened is rebuilt from the log with nothing lost and the old
//! one kept; ids keep rising across a restart with the clock set back.

use crate::support::http::post;
use crate::support::sign::{stripe, stripe_event, unix_now};
use crate::support::Hookd;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

const SOURCES: &str = "[sources.s]\nkind = \"stripe\"\nsecret = \"k\"\n";

fn send(h: &Hookd, id: &str) -> Option<u16> {
    let body = stripe_event(id, "invoice.paid");
    post(&h.addr, "/webhooks/s", &[stripe("k", unix_now(), &body)], &body).map(|r| r.status)
}

fn segment(h: &Hookd) -> PathBuf {
    let mut segs: Vec<PathBuf> = std::fs::read_dir(h.dir.path().join("data/wal"))
        .expect("wal dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    segs.sort();
    segs.pop().expect("a segment")
}

/// Where the last record of the segment ends: frames `[len u32 (bit 31:
/// end of a commit round)][crc u32][lsn u64][payload]` after a 48-byte
/// header, then zeros.
fn data_end(path: &Path) -> u64 {
    let bytes = std::fs::read(path).expect("read segment");
    let mut at = 48usize;
    loop {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("len")) & 0x7fff_ffff;
        if len == 0 {
            return at as u64;
        }
        at += 16 + len as usize;
    }
}

fn ids(h: &mut Hookd) -> Vec<String> {
    let store = h.stop_and_open();
    let mut ids: Vec<String> = store.all_events().expect("events").into_iter().map(|e| e.event.event_id).collect();
    ids.sort();
    ids
}

fn serve_once(h: &Hookd) -> (Option<i32>, String) {
    let out = Command::new(crate::support::BIN).args(["serve", "--config"]).arg(&h.config).output().expect("run hookd");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_torn_write_at_the_end_is_the_end_of_the_log() {
    let mut h = Hookd::start(SOURCES);
    for i in 0..5 {
        assert_eq!(send(&h, &format!("evt_{i}")), Some(202));
    }
    h.kill9();
    // A crash mid-write: half a frame's worth of garbage after the last record.
    let seg = segment(&h);
    let end = data_end(&seg);
    let mut f = std::fs::OpenOptions::new().write(true).open(&seg).expect("open segment");
    f.seek(SeekFrom::Start(end)).expect("seek");
    f.write_all(&[0x40, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 7, 7, 7]).expect("torn bytes");
    drop(f);
    h.spawn();
    assert!(h.logs().contains("torn write"), "{}", h.logs());
    assert_eq!(send(&h, "evt_after"), Some(202));
    assert_eq!(send(&h, "evt_0"), Some(200), "dedup holds across the torn tail");
    let mut want: Vec<String> = (0..5).map(|i| format!("evt_{i}")).collect();
    want.push("evt_after".into());
    assert_eq!(ids(&mut h), want);
}

#[test]
fn a_bad_record_elsewhere_refuses_to_start_and_says_where_and_what_to_do() {
    let mut h = Hookd::start(SOURCES);
    for i in 0..5 {
        assert_eq!(send(&h, &format!("evt_{i}")), Some(202));
    }
    assert_eq!(h.terminate(), Some(0));
    // Flip a byte inside the first record's payload (after the 48-byte
    // segment header and the 16-byte frame header).
    let seg = segment(&h);
    let mut bytes = std::fs::read(&seg).expect("read");
    bytes[48 + 16 + 8] ^= 0x55;
    std::fs::write(&seg, &bytes).expect("write");

    let (code, err) = serve_once(&h);
    assert_eq!(code, Some(3), "exit 3 (RestartPreventExitStatus): {err}");
    let name = seg.file_name().expect("name").to_string_lossy().to_string();
    assert!(err.contains(&name) && err.contains("offset"), "names the file and offset: {err}");
    assert!(err.contains("hookd store check") && err.contains("hookd store export"), "says what to do: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");

    let (code, out, err) = h.cli(&["store", "check"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("problem:") && out.contains(&name), "{out}");
    let (code, out, err) = h.cli(&["store", "export"]);
    assert_eq!(code, 0, "{err}");
    // The damaged record is the first: nothing before it to read from the log.
    assert!(err.contains("store export:"), "{err}");
    let _ = out;
    assert!(seg.exists(), "nothing was deleted");
}

#[test]
fn store_check_passes_and_export_writes_every_event_of_a_sound_store() {
    let mut h = Hookd::start(SOURCES);
    for i in 0..4 {
        assert_eq!(send(&h, &format!("evt_{i}")), Some(202));
    }
    let (code, _, err) = h.cli(&["store", "check"]);
    assert_eq!(code, 1, "refused while hookd runs: {err}");
    assert!(err.contains("already using") && err.contains("stop it first"), "{err}");
    assert_eq!(h.terminate(), Some(0));
    let (code, out, err) = h.cli(&["store", "check"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("store check: ok"), "{err}");
    assert!(out.contains("4 events in the log, 4 in the index"), "{out}");
    let (code, out, err) = h.cli(&["store", "export"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).expect("json line")).collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!(lines[0]["event_id"], "evt_0");
    assert!(lines[0]["body"].as_str().is_some_and(|b| b.contains("evt_0")), "{out}");
}

#[test]
fn an_index_that_cannot_be_opened_is_rebuilt_from_the_log() {
    let mut h = Hookd::start(SOURCES);
    for i in 0..6 {
        assert_eq!(send(&h, &format!("evt_{i}")), Some(202));
    }
    h.kill9();
    let sled = h.dir.path().join("data/sled");
    std::fs::write(sled.join("conf"), b"not sled's config at all").expect("break conf");
    std::fs::write(sled.join("db"), vec![0xffu8; 4096]).expect("break db");
    h.spawn();
    assert!(h.logs().contains("rebuilding it from the log"), "{}", h.logs());
    assert_eq!(send(&h, "evt_3"), Some(200), "dedup rebuilt too");
    let aside: Vec<_> = std::fs::read_dir(h.dir.path().join("data"))
        .expect("data")
        .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("sled.damaged-"))
        .collect();
    assert_eq!(aside.len(), 1, "the old index is kept");
    assert_eq!(ids(&mut h), (0..6).map(|i| format!("evt_{i}")).collect::<Vec<_>>());
}

/// libfaketime's preload library (Debian's faketime; `.ci/test` installs it).
fn faketime() -> &'static str {
    ["/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1", "/usr/lib/faketime/libfaketime.so.1"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("libfaketime (Debian: apt-get install faketime; .ci/test installs it)")
}

#[test]
fn ids_keep_rising_across_a_restart_with_the_clock_set_back() {
    let faketime = faketime();
    let mut h = Hookd::start(SOURCES);
    assert_eq!(send(&h, "evt_before"), Some(202));
    h.kill9();
    // An hour back: a clock the NTP daemon stepped, or a bad RTC at boot.
    h.set_env(&[("LD_PRELOAD", faketime), ("FAKETIME", "-1h"), ("DONT_FAKE_MONOTONIC", "1")]);
    h.spawn();
    let stamp = |body: &[u8], ts: i64| stripe("k", ts, body);
    let body = stripe_event("evt_after", "invoice.paid");
    // Stripe's tolerance is against hookd's (set back) clock.
    let r = post(&h.addr, "/webhooks/s", &[stamp(&body, unix_now() - 3600)], &body).map(|r| r.status);
    assert_eq!(r, Some(202));
    let store = h.stop_and_open();
    let events = store.all_events().expect("events");
    let order: Vec<&str> = events.iter().map(|e| e.event.event_id.as_str()).collect();
    assert_eq!(order, ["evt_before", "evt_after"], "id order is arrival order");
}

#[test]
fn a_clock_jump_forward_expires_no_dedup_key_and_no_event_early() {
    let faketime = faketime();
    let work = tempfile::tempdir().expect("tempdir");
    let offset = work.path().join("faketime");
    std::fs::write(&offset, "+0\n").expect("offset file");
    let offset_text = offset.display().to_string();
    let sources = "[sources.gh]\nkind = \"github\"\nsecret = \"k\"\ndedup_window = \"1h\"\n\n\
                   [[sources.gh.routes]]\nevents = [\"*\"]\ncommand = [\"/bin/true\"]\n";
    // A janitor pass every 5 s (a quarter of retain_delivered).
    let mut h = Hookd::configure_storage("retain_delivered = \"20s\"\ndedup_window = \"1h\"", sources, &[]);
    h.set_env(&[
        ("LD_PRELOAD", faketime),
        ("FAKETIME_TIMESTAMP_FILE", offset_text.as_str()),
        ("FAKETIME_NO_CACHE", "1"),
        ("DONT_FAKE_MONOTONIC", "1"),
    ]);
    h.spawn();
    let gh = |id: &str| {
        let (name, sig) = crate::support::sign::github("k", b"{}");
        let headers = [(name, sig), ("X-GitHub-Delivery".into(), id.into()), ("X-GitHub-Event".into(), "push".into())];
        post(&h.addr, "/webhooks/gh", &headers, b"{}").map(|r| r.status)
    };
    assert_eq!(gh("d-1"), Some(202));
    crate::support::wait_until(std::time::Duration::from_secs(10), "delivered", || {
        h.logs().contains("state=\"delivered\"").then_some(())
    });
    // NTP steps the clock two hours forward.
    std::fs::write(&offset, "+2h\n").expect("jump");
    std::thread::sleep(std::time::Duration::from_secs(7));
    assert_eq!(gh("d-1"), Some(200), "still a duplicate: its window did not expire by the jump");
    assert!(h.logs().contains("the wall clock jumped forward"), "{}", h.logs());
    assert!(!h.logs().contains("retention removed"), "nothing was expired by the jump:\n{}", h.logs());
    assert_eq!(ids(&mut h), ["d-1"]);
}

#[test]
fn an_unfinished_sled_snapshot_is_set_aside_not_left_to_block_the_start() {
    let mut h = Hookd::start(SOURCES);
    assert_eq!(send(&h, "evt_1"), Some(202));
    h.kill9();
    let stale = h.dir.path().join("data/sled/snap.00000000001A2B3C.generating");
    std::fs::write(&stale, b"half a snapshot").expect("stale snapshot");
    h.spawn();
    assert!(!stale.exists());
    assert!(h.dir.path().join("data/sled-aside/snap.00000000001A2B3C.generating").exists(), "kept");
    assert_eq!(send(&h, "evt_1"), Some(200));
    assert_eq!(ids(&mut h), ["evt_1"]);
}
