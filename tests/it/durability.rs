//! What survives SIGTERM, `kill -9` and restarts: acknowledged events,
//! attempt numbers, due times and dedup.

use crate::support::http::post;
use crate::support::sign::{stripe, stripe_event, unix_now};
use crate::support::{lines, recorder, wait_until, Hookd};
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn source(route: &str) -> String {
    format!("[sources.s]\nkind = \"stripe\"\nsecret = \"k\"\n\n[[sources.s.routes]]\nevents = [\"*\"]\n{route}\n")
}

fn send(addr: &str, id: &str) -> Option<u16> {
    let body = stripe_event(id, "invoice.paid");
    post(addr, "/webhooks/s", &[stripe("k", unix_now(), &body)], &body).map(|r| r.status)
}

/// A handler script that records its attempt and, on attempt 1 only, hangs
/// (leaving its process group id in `pgid` so the test can clean up).
fn hang_first(dir: &std::path::Path) -> String {
    let (out, pgid) = (dir.join("runs"), dir.join("pgid"));
    let script = format!(
        "echo $$ > {}; echo \"$HOOKD_ATTEMPT\" >> {}; [ \"$HOOKD_ATTEMPT\" -ge 2 ] || sleep 30",
        pgid.display(),
        out.display()
    );
    format!("command = [\"/bin/sh\", \"-c\", {script:?}]\ntimeout = \"60s\"")
}

fn kill_group(pgid_file: &std::path::Path) {
    if let Some(pgid) = std::fs::read_to_string(pgid_file).ok().and_then(|s| s.trim().parse::<i32>().ok()) {
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    }
}

#[test]
fn sigterm_exits_zero_after_the_running_handler_finishes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (started, done) = (dir.path().join("started"), dir.path().join("done"));
    let script = format!("touch {}; sleep 1; echo ok >> {}", started.display(), done.display());
    let mut h = Hookd::start(&source(&format!("command = [\"/bin/sh\", \"-c\", {script:?}]")));
    assert_eq!(send(&h.addr, "evt_term"), Some(202));
    wait_until(Duration::from_secs(10), "handler start", || started.exists().then_some(()));
    let store = h.stop_and_open();
    assert_eq!(lines(&done), ["ok"], "the running handler was not allowed to finish");
    let events = store.all_events().expect("events");
    assert_eq!(events[0].deliveries[0].state.as_str(), "delivered");
}

#[test]
fn a_crash_during_a_handler_reruns_it_with_the_next_attempt_number() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut h = Hookd::start(&source(&hang_first(dir.path())));
    assert_eq!(send(&h.addr, "evt_crash"), Some(202));
    let runs = dir.path().join("runs");
    wait_until(Duration::from_secs(10), "first attempt", || (!lines(&runs).is_empty()).then_some(()));
    h.kill9();
    kill_group(&dir.path().join("pgid"));
    h.spawn();
    wait_until(Duration::from_secs(10), "re-run", || (lines(&runs).len() >= 2).then_some(()));
    assert_eq!(lines(&runs), ["1", "2"]);
    let store = h.stop_and_open();
    let d = &store.all_events().expect("events")[0].deliveries[0];
    assert_eq!(d.state.as_str(), "delivered");
    assert_eq!(d.attempts.len(), 2);
    assert!(d.attempts[0].ended_ms.is_none(), "the interrupted attempt stays visible as unfinished");
    assert_eq!(d.attempts[1].exit_code, Some(0));
}

#[test]
fn a_retry_scheduled_before_a_crash_still_happens_after_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runs = dir.path().join("runs");
    let script = format!("echo \"$HOOKD_ATTEMPT\" >> {}; [ \"$HOOKD_ATTEMPT\" -ge 2 ]", runs.display());
    let route = format!("command = [\"/bin/sh\", \"-c\", {script:?}]\nretry = {{ attempts = 5, initial = \"1500ms\", max = \"1500ms\" }}");
    let mut h = Hookd::start(&source(&route));
    assert_eq!(send(&h.addr, "evt_retry"), Some(202));
    wait_until(Duration::from_secs(10), "first attempt", || (!lines(&runs).is_empty()).then_some(()));
    std::thread::sleep(Duration::from_millis(100));
    h.restart();
    wait_until(Duration::from_secs(15), "second attempt after restart", || (lines(&runs).len() >= 2).then_some(()));
    let store = h.stop_and_open();
    let d = &store.all_events().expect("events")[0].deliveries[0];
    assert_eq!((d.state.as_str(), d.attempts.len()), ("delivered", 2));
}

/// The sender's view: kill -9 while 500 signed requests are in flight;
/// restart; re-send every request that got no 2xx (as senders do). Every
/// event must then run successfully once, and dedup must hold.
#[test]
fn kill9_under_load_loses_no_acknowledged_event() {
    const N: usize = 500;
    const THREADS: usize = 25;
    let dir = tempfile::tempdir().expect("tempdir");
    let runs = dir.path().join("runs");
    let mut h = Hookd::start(&source(&format!("command = {}", recorder(&runs, 0))));
    let ids: Vec<String> = (0..N).map(|i| format!("evt_load_{i:04}")).collect();
    let results = Arc::new(Mutex::new(BTreeMap::<usize, Option<u16>>::new()));
    let answered = Arc::new(AtomicUsize::new(0));
    let addr = h.addr.clone();
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (ids, results, answered, addr) = (ids.clone(), results.clone(), answered.clone(), addr.clone());
            std::thread::spawn(move || {
                for i in (t..N).step_by(THREADS) {
                    let status = send(&addr, &ids[i]);
                    if status.is_some() {
                        answered.fetch_add(1, Ordering::SeqCst);
                    }
                    results.lock().expect("lock").insert(i, status);
                }
            })
        })
        .collect();
    wait_until(Duration::from_secs(30), "some answers", || (answered.load(Ordering::SeqCst) >= N / 3).then_some(()));
    h.kill9();
    for w in workers {
        w.join().expect("worker");
    }
    let first = results.lock().expect("lock").clone();
    let acked: HashSet<usize> = first.iter().filter(|(_, s)| matches!(s, Some(200 | 202))).map(|(i, _)| *i).collect();
    assert!(acked.len() >= N / 3 && acked.len() < N, "kill landed mid-stream: {} acked", acked.len());

    h.spawn();
    for i in (0..N).filter(|i| !acked.contains(i)) {
        let status = send(&h.addr, &ids[i]);
        assert!(matches!(status, Some(200 | 202)), "resend of {} got {status:?}", ids[i]);
    }
    for &i in &acked {
        assert_eq!(send(&h.addr, &ids[i]), Some(200), "dedup must survive the crash for {}", ids[i]);
    }
    wait_until(Duration::from_secs(60), "every event handled", || {
        let seen: HashSet<String> =
            lines(&runs).iter().filter_map(|l| l.split(' ').next().map(str::to_string)).collect();
        (seen.len() == N).then_some(())
    });
    let store = h.stop_and_open();
    let events = store.all_events().expect("events");
    let mut per_id: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &events {
        *per_id.entry(e.event.event_id.as_str()).or_default() += 1;
        assert_eq!(e.deliveries.len(), 1);
        let d = &e.deliveries[0];
        assert_eq!(d.state.as_str(), "delivered", "{} is {}", e.event.event_id, d.state.as_str());
        assert_eq!(d.attempts.iter().filter(|a| a.exit_code == Some(0)).count(), 1, "{}", e.event.event_id);
    }
    assert_eq!(per_id.len(), N, "every event stored");
    assert!(per_id.values().all(|&n| n == 1), "an event was stored twice");
    // A handler may run twice only when hookd died mid-run: then the attempt
    // numbers differ and the store shows the unfinished attempt.
    let mut runs_per_id: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in lines(&runs) {
        let mut parts = line.split(' ');
        let (Some(id), Some(attempt)) = (parts.next(), parts.next()) else { continue };
        runs_per_id.entry(id.to_string()).or_default().push(attempt.to_string());
    }
    for (id, attempts) in &runs_per_id {
        let distinct: HashSet<_> = attempts.iter().collect();
        assert_eq!(distinct.len(), attempts.len(), "{id} ran twice with the same attempt number: {attempts:?}");
    }
}

/// A spooled body (stores from before the write-ahead log) whose event is
/// not in the index, and a half-written `.tmp`, are set aside at the next
/// open — moved to `spool/orphans/`, never deleted; bodies of new events
/// live in the log, whatever their size.
#[test]
fn orphan_spooled_bodies_are_set_aside_at_open() {
    use hookd::store::{NewDelivery, NewEvent, Store};
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    {
        let store = Store::open(&data, 16 << 20).expect("open");
        let new = NewEvent {
            source: "s".into(),
            event_id: "evt_big".into(),
            event_type: "x".into(),
            headers: Vec::new(),
            body: vec![b'x'; 64 * 1024].into(),
            routes: vec![NewDelivery { route: "0".into(), order_key: None }],
            dedup_window: Duration::from_secs(60),
        };
        rt.block_on(store.accept(new)).expect("accept");
    }
    let spool = data.join("spool");
    let names = |dir: &std::path::Path| {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .map(|d| d.map(|e| e.expect("entry").file_name().to_string_lossy().into()).collect())
            .unwrap_or_default();
        v.sort();
        v
    };
    assert!(names(&spool).is_empty(), "a 64 KiB body goes to the log, not the spool");
    let orphan = hookd::store::keys::id_text(&hookd::store::keys::new_id());
    std::fs::write(spool.join(&orphan), "never committed").expect("orphan");
    std::fs::write(spool.join(format!("{orphan}.tmp")), "half written").expect("tmp");
    let store = Store::open(&data, 16 << 20).expect("reopen");
    assert_eq!(names(&spool), ["orphans"]);
    assert_eq!(names(&spool.join("orphans")), [orphan.clone(), format!("{orphan}.tmp")], "kept, not deleted");
    let view = store.all_events().expect("events");
    assert_eq!(view.len(), 1);
}
