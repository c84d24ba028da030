//! Issue 14 through the real binary: the admin API's lookups by the
//! sender's id, stored bodies, retry-now, dry runs, `/v1/tail`, routes and
//! per-minute counts, the console's login cookie and its same-origin rule,
//! and the CLI commands on top (`events show --body`, `events retry`,
//! `tail`, `dlq replay|purge --dry-run`).

use crate::operator::{admin_get, admin_tcp, send, stripe_source, token_file, wait_status, TOKEN};
use crate::support::http::request;
use crate::support::sign::stripe_event;
use crate::support::{lines, wait_until, Hookd, BIN};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A stripe source with no routes: its events are unrouted.
fn bare(name: &str) -> String {
    format!("[sources.{name}]\nkind = \"stripe\"\nsecret = \"k\"\n\n")
}

fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

fn admin_call(h: &Hookd, method: &str, path: &str, body: &Value) -> (u16, Value) {
    let addr = h.admin.as_deref().expect("admin listener");
    let payload = if body.is_null() { String::new() } else { body.to_string() };
    let auth = bearer();
    let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
    let r = request(addr, method, path, &headers, payload.as_bytes()).expect("admin answer");
    (r.status, serde_json::from_str(&r.body).unwrap_or(Value::Null))
}

#[test]
fn events_are_found_by_the_senders_id_and_their_bodies_read_back() {
    let (_t, token) = token_file();
    let config = format!("{}{}{}", admin_tcp(&token), stripe_source("s", "command = [\"true\"]"), bare("t"));
    let h = Hookd::start(&config);
    let id = send(&h, "s", "evt_lookup", "invoice.paid").1["id"].as_str().expect("id").to_string();
    let (status, found) = admin_get(&h, "/v1/events?event_id=evt_lookup");
    assert_eq!(status, 200);
    assert_eq!(found["items"].as_array().map(Vec::len), Some(1), "{found}");
    assert_eq!(found["items"][0]["id"], id.as_str());
    assert_eq!(admin_get(&h, "/v1/events?event_id=evt_lookup&source=s").1["items"][0]["id"], id.as_str());
    assert_eq!(admin_get(&h, "/v1/events?event_id=evt_lookup&source=t").1["items"], json!([]));
    assert_eq!(admin_get(&h, "/v1/events?event_id=evt_none").1["items"], json!([]));

    // The body as stored, with its content type, never run by a browser.
    let addr = h.admin.clone().expect("admin");
    let auth = bearer();
    let body = request(&addr, "GET", &format!("/v1/events/{id}/body"), &[("Authorization", &auth)], b"").expect("body");
    assert_eq!(body.status, 200);
    assert_eq!(body.body.as_bytes(), stripe_event("evt_lookup", "invoice.paid").as_slice());
    assert_eq!(body.header("content-type"), Some("application/json"));
    assert_eq!(body.header("x-content-type-options"), Some("nosniff"));
    assert!(body.header("content-security-policy").is_some_and(|c| c.contains("sandbox")));
    let unauthorized = request(&addr, "GET", &format!("/v1/events/{id}/body"), &[], b"").expect("answer");
    assert_eq!(unauthorized.status, 401);
    assert!(!unauthorized.body.contains("evt_lookup"));
    let missing = request(&addr, "GET", "/v1/events/01J0000000000000000000000A/body", &[("Authorization", &auth)], b"");
    assert_eq!(missing.expect("answer").status, 404);

    // The CLI: by hookd id or sender id, the body on request.
    assert_eq!(h.cli_json(&["events", "show", "evt_lookup"])["id"], id.as_str());
    assert_eq!(h.cli_json(&["events", "show", &id])["event_id"], "evt_lookup");
    let (code, out, err) = h.cli(&["events", "show", "evt_lookup", "--body"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.as_bytes(), stripe_event("evt_lookup", "invoice.paid").as_slice());
    let json_body = h.cli_json(&["events", "show", "evt_lookup", "--body"]);
    assert_eq!(json_body["content_type"], "application/json");
    assert!(json_body["body"].as_str().is_some_and(|b| b.contains("evt_lookup")));
    let (code, _, err) = h.cli(&["events", "show", "evt_nowhere"]);
    assert_eq!(code, 1);
    assert!(err.contains("no event with id \"evt_nowhere\""), "{err}");

    // A sender id in two sources needs --source.
    let other = send(&h, "t", "evt_lookup", "invoice.paid").1["id"].as_str().expect("id").to_string();
    let (code, _, err) = h.cli(&["events", "show", "evt_lookup"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("in several sources (s, t): give --source"), "{err}");
    assert_eq!(h.cli_json(&["events", "show", "evt_lookup", "--source", "t"])["id"], other.as_str());
}

/// A delivery waiting an hour for its retry runs at once after the
/// handler was fixed; retry and replay say why when they touch nothing.
#[test]
fn retry_runs_a_retrying_delivery_now_and_says_why_when_there_is_none() {
    let (_t, token) = token_file();
    let dir = tempfile::tempdir().expect("tempdir");
    let (fixed, runs) = (dir.path().join("fixed"), dir.path().join("runs"));
    let handler = format!(
        "command = [\"/bin/sh\", \"-c\", \"echo $HOOKD_ATTEMPT >> {runs}; [ -e {fixed} ] || {{{{ echo fails; exit 1; }}}}\"]\n\
         retry = {{ attempts = 5, initial = \"1h\", max = \"1h\" }}",
        runs = runs.display(),
        fixed = fixed.display()
    );
    let h = Hookd::start(&format!("{}{}", admin_tcp(&token), stripe_source("s", &handler)));
    let id = send(&h, "s", "evt_retry", "invoice.paid").1["id"].as_str().expect("id").to_string();
    wait_status(&h, &id, "retrying");

    // Replay is for finished deliveries: 0, the reason, exit 1.
    let (code, out, err) = h.cli(&["events", "replay", "evt_retry"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("nothing replayed: its deliveries are still pending or retrying"), "{err}");

    std::fs::write(&fixed, "").expect("fix the handler");
    let (status, answer) = admin_call(&h, "POST", &format!("/v1/events/{id}/retry"), &Value::Null);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["retried"], 1, "{answer}");
    assert_eq!(answer["deliveries"], json!([{"route": "0", "result": "due now"}]));
    let shown = wait_status(&h, &id, "delivered");
    assert_eq!(shown["deliveries"][0]["attempt_count"], 2);
    assert_eq!(lines(&runs), ["1", "2"]);
    assert_eq!(shown["deliveries"][0]["attempts"][0]["output_tail"], "fails\n");
    assert_eq!(shown["deliveries"][0]["attempts"][0]["output_tail_cut"], false);
    assert!(shown["deliveries"][0]["attempts"][0]["duration_ms"].is_u64());

    // Nothing left to retry: the CLI says why and exits 1.
    let (code, out, err) = h.cli(&["events", "retry", "evt_retry", "--json"]);
    assert_eq!(code, 1, "{out}{err}");
    let answer: Value = serde_json::from_str(out.trim()).expect("JSON");
    assert_eq!(answer["retried"], 0);
    assert!(err.contains("nothing retried: nothing is waiting for a retry (0: delivered"), "{err}");
    let (status, _) = admin_call(&h, "POST", "/v1/events/01J0000000000000000000000A/retry", &Value::Null);
    assert_eq!(status, 404);
}

#[test]
fn dry_runs_count_and_change_nothing() {
    let (_t, token) = token_file();
    let h = Hookd::start(&format!(
        "{}{}",
        admin_tcp(&token),
        stripe_source("s", "command = [\"sh\", \"-c\", \"exit 65\"]")
    ));
    let ids: Vec<String> = [("evt_d1", "a.x"), ("evt_d2", "a.y"), ("evt_d3", "b.z")]
        .iter()
        .map(|(e, t)| send(&h, "s", e, t).1["id"].as_str().expect("id").to_string())
        .collect();
    for id in &ids {
        wait_status(&h, id, "dead");
    }
    let dlq_size = |h: &Hookd| admin_get(h, "/v1/stats").1["dlq_size"].as_u64();
    let (_, all) = admin_call(&h, "POST", "/v1/dlq/replay?dry_run=true", &json!({"all": true}));
    assert_eq!(
        (all["replayed"].as_u64(), all["events"].as_u64(), all["dry_run"].as_bool()),
        (Some(3), Some(3), Some(true))
    );
    let (_, some) = admin_call(&h, "POST", "/v1/dlq/replay?dry_run=true", &json!({"all": true, "type": "a.*"}));
    assert_eq!(some["replayed"], 2);
    let (_, picked) = admin_call(&h, "POST", "/v1/dlq/replay?dry_run=true", &json!({"ids": [ids[2]]}));
    assert_eq!(picked["replayed"], 1);
    let (_, purge) = admin_call(&h, "DELETE", "/v1/dlq?type=b.*&dry_run=true", &Value::Null);
    assert_eq!((purge["purged"].as_u64(), purge["dry_run"].as_bool()), (Some(1), Some(true)));
    assert_eq!(admin_call(&h, "DELETE", &format!("/v1/dlq/{}?dry_run=true", ids[0]), &Value::Null).1["purged"], 1);
    assert_eq!(dlq_size(&h), Some(3), "dry runs changed nothing");
    assert_eq!(admin_call(&h, "DELETE", "/v1/dlq", &Value::Null).0, 400, "a bare DELETE purges nothing");
    assert_eq!(admin_call(&h, "DELETE", "/v1/dlq?all=true&dry_run=maybe", &Value::Null).0, 400);

    // The CLI's --dry-run says "would" and changes nothing either.
    let (code, out, err) = h.cli(&["dlq", "replay", "--all", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "would replay 3 dead deliveries of 3 events (dry run)");
    let (code, out, err) = h.cli(&["dlq", "purge", "--older-than", "0s", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "would purge 3 events (dry run)");
    assert_eq!(h.cli_json(&["dlq", "purge", &ids[1], "--dry-run"])["purged"], 1);
    assert_eq!(dlq_size(&h), Some(3));

    // And the real thing, by filter.
    assert_eq!(admin_call(&h, "DELETE", "/v1/dlq?type=b.*", &Value::Null).1["purged"], 1);
    assert_eq!(dlq_size(&h), Some(2));
}

/// An SSE reader on the admin API: (event, data) pairs as they come.
fn tail(h: &Hookd, query: &str) -> std::sync::mpsc::Receiver<(String, Value)> {
    let addr = h.admin.clone().expect("admin");
    let mut s = TcpStream::connect(&addr).expect("connect");
    let req = format!("GET /v1/tail{query} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {}\r\n\r\n", bearer());
    s.write_all(req.as_bytes()).expect("request");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(s);
        let mut event = String::new();
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
            let l = line.trim_end().to_string();
            line.clear();
            if l.starts_with(": hookd tail") {
                let _ = tx.send(("open".to_string(), Value::Null));
            } else if let Some(e) = l.strip_prefix("event: ") {
                event = e.to_string();
            } else if let Some(d) = l.strip_prefix("data: ") {
                let _ = tx.send((event.clone(), serde_json::from_str(d).unwrap_or(Value::Null)));
            }
        }
    });
    rx
}

fn next_of(rx: &std::sync::mpsc::Receiver<(String, Value)>, what: &str) -> (String, Value) {
    rx.recv_timeout(Duration::from_secs(15)).unwrap_or_else(|_| panic!("no {what} on the tail"))
}

#[test]
fn tail_streams_arrivals_attempts_and_deaths_with_filters() {
    let (_t, token) = token_file();
    let route = "command = [\"sh\", \"-c\", \"[ $HOOKD_EVENT_TYPE = ok ] || exit 65\"]";
    let config = format!("{}{}{}", admin_tcp(&token), stripe_source("s", route), bare("u"));
    let h = Hookd::start(&config);
    let all = tail(&h, "");
    let only_u = tail(&h, "?source=u&type=*");
    // A stream is subscribed once its head arrived; an event sent before
    // that could be missed, so wait for it.
    assert_eq!(next_of(&all, "the head").0, "open");
    assert_eq!(next_of(&only_u, "the head").0, "open");
    let addr = h.admin.clone().expect("admin");
    let raw = request(&addr, "GET", "/v1/tail?type=%5B", &[("Authorization", &bearer())], b"").expect("answer");
    assert_eq!(raw.status, 400, "a bad glob is refused before streaming");
    let id = send(&h, "s", "evt_tail_ok", "ok").1["id"].as_str().expect("id").to_string();
    let (event, data) = next_of(&all, "received");
    assert_eq!(event, "received");
    assert_eq!(
        (data["id"].as_str(), data["source"].as_str(), data["event_id"].as_str(), data["type"].as_str()),
        (Some(id.as_str()), Some("s"), Some("evt_tail_ok"), Some("ok"))
    );
    assert_eq!((data["status"].as_str(), data["routes"].clone()), (Some("pending"), json!(["0"])));
    let (event, data) = next_of(&all, "attempt");
    assert_eq!(
        (event.as_str(), data["state"].as_str(), data["attempt"].as_u64()),
        ("attempt", Some("delivered"), Some(1))
    );
    assert!(data["duration_ms"].is_u64());
    let dead = send(&h, "s", "evt_tail_bad", "bad").1["id"].as_str().expect("id").to_string();
    assert_eq!(next_of(&all, "received").0, "received");
    let (event, data) = next_of(&all, "attempt");
    assert_eq!((event.as_str(), data["state"].as_str()), ("attempt", Some("dead")));
    let (event, data) = next_of(&all, "dead");
    assert_eq!((event.as_str(), data["id"].as_str()), ("dead", Some(dead.as_str())));
    assert!(data["reason"].as_str().is_some_and(|r| r.contains("65")), "{data}");
    let unrouted = send(&h, "u", "evt_tail_u", "x").1["id"].as_str().expect("id").to_string();
    let (event, data) = next_of(&only_u, "the filtered stream's first");
    assert_eq!(
        (event.as_str(), data["id"].as_str()),
        ("received", Some(unrouted.as_str())),
        "s's happenings filtered out"
    );
    assert_eq!((data["status"].as_str(), data["routes"].clone()), (Some("unrouted"), json!([])));

    // Per-minute counts (the console's chart) saw all of it.
    let (_, minutes) = admin_get(&h, "/v1/stats/minutes");
    let list = minutes["minutes"].as_array().expect("minutes");
    assert_eq!(list.len(), 60);
    let sum = |k: &str| list.iter().map(|m| m[k].as_u64().unwrap_or(0)).sum::<u64>();
    assert_eq!((sum("received"), sum("delivered"), sum("failed")), (3, 1, 1));

    // `hookd tail --json`: one JSON document per line; without, one line of text.
    let v: Value = serde_json::from_str(cli_tail_line(&h, &["--json"]).trim()).expect("a JSON line");
    assert_eq!((v["event"].as_str(), v["data"]["source"].as_str()), (Some("received"), Some("u")));
    let line = cli_tail_line(&h, &[]);
    assert!(line.contains("Z received  u x evt_cli_") && line.contains(" unrouted  ("), "{line}");
}

/// The first line `hookd tail --source u ARGS` prints, sending events to
/// `u` until it has subscribed.
fn cli_tail_line(h: &Hookd, args: &[&str]) -> String {
    let mut child = std::process::Command::new(BIN)
        .args(["tail", "--source", "u", "--config"])
        .arg(&h.config)
        .args(args)
        .env("HOOKD_ADMIN__LISTEN", h.admin.as_deref().expect("admin"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("hookd tail");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        while out.read_line(&mut line).is_ok_and(|n| n > 0) {
            let _ = tx.send(line.clone());
            line.clear();
        }
    });
    let line = wait_until(Duration::from_secs(15), "hookd tail's line", || {
        send(h, "u", &format!("evt_cli_{}", fastrand::u64(..)), "x");
        rx.recv_timeout(Duration::from_millis(200)).ok()
    });
    let _ = child.kill();
    let _ = child.wait();
    line
}

#[test]
fn the_console_logs_in_with_a_cookie_and_refuses_other_origins() {
    let (_t, token) = token_file();
    let callback = "url = \"http://user:pw@127.0.0.1:9/hook?key=secret\"";
    let h = Hookd::start(&format!("{}{}", admin_tcp(&token), stripe_source("s", callback)));
    let addr = h.admin.clone().expect("admin");
    let origin = format!("http://{addr}");

    // The page itself holds no data: served without a token, locked down.
    let page = request(&addr, "GET", "/ui/", &[], b"").expect("page");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("hookd console"));
    assert!(page.header("content-security-policy").is_some_and(|c| c.contains("script-src 'self'")));
    for asset in ["/ui/app.js", "/ui/app.css", "/ui/icon.svg"] {
        assert_eq!(request(&addr, "GET", asset, &[], b"").expect("asset").status, 200, "{asset}");
    }
    assert_eq!(request(&addr, "GET", "/ui", &[], b"").expect("redirect").header("location"), Some("/ui/"));
    assert_eq!(request(&addr, "GET", "/ui/nope.js", &[], b"").expect("404").status, 404);

    // Login: the right token from this origin only.
    let login = |origin: &str, token: &str| {
        let body = json!({"token": token}).to_string();
        let headers = [("Origin", origin), ("Content-Type", "application/json")];
        request(&addr, "POST", "/ui/login", &headers, body.as_bytes()).expect("login")
    };
    assert_eq!(login(&origin, "wrong").status, 401);
    assert_eq!(login("http://evil.example", TOKEN).status, 403);
    let ok = login(&origin, TOKEN);
    assert_eq!(ok.status, 204, "{}", ok.body);
    let cookie = ok.header("set-cookie").expect("cookie").to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(!cookie.contains(TOKEN), "the cookie is a session id, not the token");
    assert!(!cookie.contains("Secure"), "the page came over plain HTTP: {cookie}");
    let session = cookie.split(';').next().expect("pair").to_string();
    // Behind a TLS proxy the page's origin is https: the cookie is Secure.
    let tls = login(&format!("https://{addr}"), TOKEN);
    assert!(tls.header("set-cookie").is_some_and(|c| c.contains("; Secure")), "{:?}", tls.headers);
    // Ten attempts a minute, then 429 with Retry-After (3 spent above).
    for _ in 3..10 {
        assert_eq!(login(&origin, "wrong").status, 401);
    }
    let limited = login(&origin, TOKEN);
    assert_eq!(limited.status, 429);
    assert!(limited.header("retry-after").is_some_and(|s| s.parse::<u64>().is_ok_and(|n| (1..=6).contains(&n))));

    // The cookie reads; a change needs this origin.
    let with = |method: &str, path: &str, origin: Option<&str>| {
        let mut headers = vec![("Cookie", session.as_str()), ("Content-Type", "application/json")];
        if let Some(o) = origin {
            headers.push(("Origin", o));
        }
        request(&addr, method, path, &headers, b"{\"all\": true}").expect("answer")
    };
    assert_eq!(with("GET", "/v1/stats", None).status, 200);
    let refused = with("POST", "/v1/dlq/replay", Some("http://evil.example"));
    assert_eq!(refused.status, 403);
    assert_eq!(refused.json()["error"], "cross_origin");
    assert_eq!(with("POST", "/v1/dlq/replay", None).status, 403, "a cookie without Origin");
    assert_eq!(with("DELETE", "/v1/dlq?all=true", Some("null")).status, 403);
    assert_eq!(with("POST", "/v1/dlq/replay", Some(&origin)).status, 200);
    let auth = bearer();
    let headers = [("Authorization", auth.as_str()), ("Origin", "http://evil.example")];
    assert_eq!(request(&addr, "POST", "/v1/dlq/replay", &headers, b"{\"all\": true}").expect("answer").status, 403);

    // Routes as the console shows them: no user info, no query.
    let (_, routes) = admin_get(&h, "/v1/routes");
    assert_eq!(routes["items"][0]["target"], "http://127.0.0.1:9/hook", "{routes}");
    assert_eq!(routes["items"][0]["state"], "running");

    // Logout ends the session.
    let out = request(&addr, "POST", "/ui/logout", &[("Cookie", &session), ("Origin", &origin)], b"").expect("logout");
    assert_eq!(out.status, 204);
    assert_eq!(with("GET", "/v1/stats", None).status, 401);
    let mut log = String::new();
    std::fs::File::open(h.dir.path().join("hookd.log")).and_then(|mut f| f.read_to_string(&mut log)).expect("log");
    assert!(!log.contains(TOKEN) && !log.contains(session.trim_start_matches("hookd_session=")), "no token in the log");
}

/// On the unix socket (its mode is the guard) the console needs no login,
/// yet another site's Origin is still refused.
#[test]
fn on_the_unix_socket_the_console_needs_no_login() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("admin.sock");
    let config =
        format!("[admin]\nlisten = \"unix:{}\"\n\n{}", sock.display(), stripe_source("s", "command = [\"true\"]"));
    let h = Hookd::start(&config);
    let ask = |method: &str, path: &str, extra: &str| {
        let req = format!("{method} {path} HTTP/1.1\r\nHost: hookd\r\nConnection: close\r\nContent-Length: 13\r\nContent-Type: application/json\r\n{extra}\r\n{{\"all\": true}}");
        crate::support::http::unix_raw(&sock, req.as_bytes()).expect("answer")
    };
    assert_eq!(ask("GET", "/ui/", "").status, 200);
    assert_eq!(ask("GET", "/v1/stats", "").status, 200);
    let login = ask("POST", "/ui/login", "Origin: http://hookd\r\n");
    assert_eq!(login.status, 204);
    assert!(login.header("set-cookie").is_some_and(|c| c.contains("Max-Age=0")), "no session on a socket");
    assert_eq!(ask("POST", "/v1/dlq/replay", "").status, 200, "the CLI sends no Origin");
    assert_eq!(ask("POST", "/v1/dlq/replay", "Origin: http://evil.example\r\n").status, 403);
    drop(h);
}

/// An open `/v1/tail` does not hold up the shutdown: the stream ends at
/// once and hookd exits 0 well within the request drain (10 s).
#[test]
fn an_open_tail_ends_at_shutdown() {
    let (_t, token) = token_file();
    let mut h = Hookd::start(&format!("{}{}", admin_tcp(&token), stripe_source("s", "command = [\"true\"]")));
    let stream = tail(&h, "");
    assert_eq!(next_of(&stream, "the head").0, "open");
    let started = std::time::Instant::now();
    assert_eq!(h.terminate(), Some(0));
    assert!(started.elapsed() < Duration::from_secs(5), "shutdown took {:?}", started.elapsed());
    assert!(matches!(
        stream.recv_timeout(Duration::from_secs(5)),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected)
    ));
}

/// `events show` prints the whole stored tail (not its last 5 lines, as it
/// did) and says when the handler wrote more than `[dispatch] output_tail`.
#[test]
fn events_show_prints_whole_tails_and_says_when_one_was_cut() {
    let (_t, token) = token_file();
    let route = |n: u32| format!("command = [\"/bin/sh\", \"-c\", \"seq 1 {n}\"]");
    let config = format!(
        "{}[dispatch]\noutput_tail = \"64B\"\n\n{}{}",
        admin_tcp(&token),
        stripe_source("s", &route(12)),
        stripe_source("long", &route(500))
    );
    let h = Hookd::start(&config);
    let short = send(&h, "s", "evt_short", "x").1["id"].as_str().expect("id").to_string();
    let long = send(&h, "long", "evt_long", "x").1["id"].as_str().expect("id").to_string();
    wait_status(&h, &short, "delivered");
    let shown = wait_status(&h, &long, "delivered");
    assert_eq!(shown["deliveries"][0]["attempts"][0]["output_tail_cut"], true);
    let (code, out, err) = h.cli(&["events", "show", "evt_short"]);
    assert_eq!(code, 0, "{err}");
    let tail: Vec<&str> = out.lines().filter_map(|l| l.trim_start().strip_prefix("| ")).collect();
    assert_eq!(tail, (1..=12).map(|n| n.to_string()).collect::<Vec<_>>(), "every line:\n{out}");
    assert!(!out.contains("(cut:"), "{out}");
    let (code, out, err) = h.cli(&["events", "show", "evt_long"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("(cut: the handler wrote more; these are its last 64 bytes)"), "{out}");
    assert!(out.trim_end().ends_with("| 500"), "{out}");
}

/// An attempt with no output keeps no pointer to its tail (nothing to read
/// back); its neighbours' tails are still read back whole from the log —
/// an older attempt's too, whose copy the index no longer keeps — before
/// and after a restart (which replays the log's attempt ends).
#[test]
fn silent_attempts_show_empty_tails_beside_whole_ones_across_a_restart() {
    let (_t, token) = token_file();
    let handler =
        "command = [\"/bin/sh\", \"-c\", \"case $HOOKD_ATTEMPT in 1) exit 1;; 2) seq 1 300; exit 1;; esac\"]\n\
                   retry = { attempts = 3, initial = \"10ms\", max = \"50ms\" }";
    let mut h = Hookd::start(&format!("{}{}", admin_tcp(&token), stripe_source("s", handler)));
    let id = send(&h, "s", "evt_quiet", "x").1["id"].as_str().expect("id").to_string();
    let check = |shown: &Value| {
        let attempts = shown["deliveries"][0]["attempts"].as_array().expect("attempts").clone();
        let tails: Vec<&str> = attempts.iter().map(|a| a["output_tail"].as_str().expect("tail")).collect();
        let seq: String = (1..=300).map(|n| format!("{n}\n")).collect();
        assert_eq!(tails, ["", seq.as_str(), ""], "{shown}");
    };
    check(&wait_status(&h, &id, "delivered"));
    h.restart();
    check(&wait_status(&h, &id, "delivered"));
}
