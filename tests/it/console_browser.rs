//! The console in a real browser (issue 14): Debian's headless chromium
//! driven through chromedriver by fantoccini. Logs in with the token, finds
//! an event by the sender's id, opens it (attempts, exit code, output,
//! routes not taken, the body), replays its dead delivery from the DLQ
//! after the dry-run count and sees the handler run, and watches a new
//! event appear and get delivered without a reload. Screenshots of each
//! view go to `$HOOKD_CONSOLE_SCREENSHOTS` (docs/console/ when the docs
//! are refreshed), else into the test's temp dir.

use crate::operator::{admin_tcp, token_file, wait_status, TOKEN};
use crate::support::http::post;
use crate::support::sign::{stripe, stripe_event, unix_now};
use crate::support::{wait_until, Hookd};
use fantoccini::{Client, ClientBuilder, Locator};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

/// chromedriver on a free loopback port, in its own process group (so the
/// browsers it starts go with it).
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        use std::os::unix::process::CommandExt;
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("chromedriver (Debian's chromium-driver; .ci/test installs it)");
        let url = format!("http://127.0.0.1:{port}");
        // It listens once it is ready for sessions.
        wait_until(WAIT, "chromedriver", || std::net::TcpStream::connect(("127.0.0.1", port)).ok());
        Driver { child, url }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

async fn browser(driver: &Driver, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    let args = [
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,900",
        "--hide-scrollbars",
        &format!("--user-data-dir={}", profile.display()),
    ];
    caps.insert("goog:chromeOptions".into(), serde_json::json!({"binary": "/usr/bin/chromium", "args": args}));
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector).capabilities(caps).connect(&driver.url).await.expect("a browser session")
}

/// Poll until the element `css` exists and its text contains `text`.
async fn wait_text(c: &Client, css: &str, text: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(el) = c.find(Locator::Css(css)).await {
            if let Ok(t) = el.text().await {
                if t.contains(text) {
                    return t;
                }
            }
        }
        if Instant::now() > deadline {
            let shown = c.find(Locator::Css("main")).await.ok();
            let main = match shown {
                Some(m) => m.text().await.unwrap_or_default(),
                None => String::new(),
            };
            panic!("{css} never showed {text:?}; the page shows:\n{main}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn click(c: &Client, css: &str) {
    let el = c.wait().at_most(WAIT).for_element(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
    el.click().await.unwrap_or_else(|e| panic!("click {css}: {e}"));
}

async fn screenshot(c: &Client, dir: &Path, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
}

fn send(h: &Hookd, id: &str, ty: &str) -> String {
    let body = stripe_event(id, ty);
    let r = post(&h.addr, "/webhooks/s", &[stripe("k", unix_now(), &body)], &body).expect("answer");
    r.json()["id"].as_str().expect("id").to_string()
}

#[test]
fn the_console_in_a_real_browser() {
    let (_t, token) = token_file();
    let work = tempfile::tempdir().expect("tempdir");
    let (fixed, ran) = (work.path().join("fixed"), work.path().join("ran"));
    let config = format!(
        "{}[sources.s]\nkind = \"stripe\"\nsecret = \"k\"\n\n\
         [[sources.s.routes]]\nname = \"billing\"\nevents = [\"invoice.*\"]\n\
         command = [\"/bin/sh\", \"-c\", \"[ -e {fixed} ] || {{{{ echo handler failed: no database; exit 65; }}}}; echo handled $HOOKD_EVENT_ID >> {ran}\"]\n\n\
         [[sources.s.routes]]\nname = \"crm\"\nevents = [\"customer.*\"]\ncommand = [\"true\"]\n\n\
         [[sources.s.routes]]\nname = \"audit\"\nevents = [\"audit.*\"]\ncommand = [\"/bin/sh\", \"-c\", \"exit 65\"]\n",
        admin_tcp(&token),
        fixed = fixed.display(),
        ran = ran.display()
    );
    let h = Hookd::start(&config);
    let dead = send(&h, "evt_console_1", "invoice.paid");
    send(&h, "evt_console_2", "customer.created");
    // For "all matching" (two) and "selected" (one, never deliverable).
    let voided: Vec<String> =
        ["evt_console_3", "evt_console_4"].iter().map(|e| send(&h, e, "invoice.voided")).collect();
    let audit = send(&h, "evt_console_5", "audit.log");
    for id in voided.iter().chain([&dead, &audit]) {
        wait_status(&h, id, "dead");
    }
    let shots = match std::env::var_os("HOOKD_CONSOLE_SCREENSHOTS") {
        Some(dir) => PathBuf::from(dir),
        None => work.path().to_path_buf(),
    };
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    let driver = Driver::start();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let c = browser(&driver, &work.path().join("profile")).await;
        let ui = format!("http://{}/ui/", h.admin.as_deref().expect("admin"));
        walk(&c, &h, &ui, &shots, (&dead, &audit), &fixed, &ran).await;
        c.close().await.expect("close the browser");
    });
}

async fn walk(c: &Client, h: &Hookd, ui: &str, shots: &Path, ids: (&str, &str), fixed: &Path, ran: &Path) {
    let (dead, audit) = ids;
    // Log in: the token once.
    c.goto(ui).await.expect("open the console");
    let token = c.wait().at_most(WAIT).for_element(Locator::Css("#login:not([hidden]) #token")).await.expect("login");
    screenshot(c, shots, "login").await;
    // By keyboard: the token, then Enter.
    let enter: char = fantoccini::key::Key::Enter.into();
    token.send_keys(&format!("{TOKEN}{enter}")).await.expect("type the token");
    wait_text(c, "#events-rows", "evt_console_1").await;
    screenshot(c, shots, "events").await;

    // Find the event by the sender's id, open it.
    let field = c.find(Locator::Css("#f-event_id")).await.expect("event id filter");
    field.send_keys("evt_console_1").await.expect("type");
    click(c, "form.filters button[type=submit]").await;
    let rows = wait_rows(c, "#events-rows tr", 1).await;
    assert_eq!(rows, 1, "only the event with that sender id");
    click(c, &format!("#events-rows tr[data-id=\"{dead}\"] td.id a")).await;
    let shown = wait_text(c, "main", "exit code 65").await;
    assert!(shown.contains("handler failed: no database"), "the output tail: {shown}");
    assert!(shown.contains("Route billing") && shown.contains("dead"), "{shown}");
    wait_text(c, "#not-taken", "crm: event type \"invoice.paid\" is not in [\"customer.*\"]").await;
    screenshot(c, shots, "event").await;
    click(c, "#show-body").await;
    let body = c.wait().at_most(WAIT).for_element(Locator::Css("#body-text")).await.expect("the body");
    wait_text(c, "#body-text", "\"id\": \"evt_console_1\"").await;
    c.execute("arguments[0].scrollIntoView({block: 'center'})", vec![serde_json::to_value(&body).expect("element")])
        .await
        .expect("scroll");
    screenshot(c, shots, "event-body").await;

    // The DLQ: fix the handler, replay the one dead delivery after its count.
    c.goto(&format!("{ui}#/dlq")).await.expect("dlq");
    wait_text(c, "#dlq-rows", dead).await;
    assert_eq!(wait_rows(c, "#dlq-rows tr", 4).await, 4);
    screenshot(c, shots, "dlq").await;
    std::fs::write(fixed, "").expect("fix the handler");
    click(c, &format!("#dlq-rows tr[data-id=\"{dead}\"] .replay-one")).await;
    wait_text(c, "#confirm-text", "This replays 1 dead delivery of 1 event").await;
    screenshot(c, shots, "dlq-confirm").await;
    click(c, "#confirm-yes").await;
    wait_text(c, "#confirm-status", "Done: replayed 1 delivery.").await;
    wait_until(WAIT, "the handler to run", || {
        crate::support::lines(ran).contains(&"handled evt_console_1".to_string()).then_some(())
    });
    let escape: char = fantoccini::key::Key::Escape.into();
    c.active_element().await.expect("focus").send_keys(&escape.to_string()).await.expect("Escape");
    wait_status(h, dead, "delivered");
    c.wait().at_most(WAIT).for_element(Locator::Css("#confirm[hidden]")).await.expect("Escape closes the dialog");
    assert_eq!(wait_rows(c, "#dlq-rows tr", 3).await, 3, "the list reloaded without the replayed one");

    // Everything a filter shows: the dry-run count, then progress.
    let field = c.wait().at_most(WAIT).for_element(Locator::Css("#f-type")).await.expect("type filter");
    field.send_keys("invoice.voided").await.expect("type");
    click(c, "form.filters button[type=submit]").await;
    assert_eq!(wait_rows(c, "#dlq-rows tr", 2).await, 2, "the filter shows the two voided");
    click(c, "#replay-all").await;
    wait_text(c, "#confirm-text", "This replays 2 dead deliveries of 2 events").await;
    click(c, "#confirm-yes").await;
    wait_text(c, "#confirm-status", "Done: replayed 2 deliveries.").await;
    wait_until(WAIT, "both handlers to run", || {
        let ran = crate::support::lines(ran);
        ["evt_console_3", "evt_console_4"].iter().all(|e| ran.contains(&format!("handled {e}"))).then_some(())
    });
    click(c, "#confirm-no").await;

    // The selected: purge the one that can never be delivered.
    c.goto(&format!("{ui}#/dlq?type=audit.*")).await.expect("dlq");
    wait_text(c, "#dlq-rows", audit).await;
    click(c, &format!("#dlq-rows tr[data-id=\"{audit}\"] input.pick")).await;
    wait_text(c, "#selected-count", "1 selected").await;
    click(c, "#purge-selected").await;
    wait_text(c, "#confirm-text", "This removes 1 event and its body").await;
    click(c, "#confirm-yes").await;
    wait_text(c, "#confirm-status", "Done: purged 1 event.").await;
    screenshot(c, shots, "dlq-done").await;
    click(c, "#confirm-no").await;
    wait_text(c, "main", "No dead deliveries match.").await;
    let (_, stats) = crate::operator::admin_get(h, "/v1/stats");
    assert_eq!(stats["dlq_size"], 0, "{stats}");

    // Live: a new event appears, then turns delivered, without a reload.
    c.goto(&format!("{ui}#/events")).await.expect("events");
    wait_text(c, "#events-rows", "evt_console_1").await;
    wait_text(c, "#live", "live").await;
    let fresh = send(h, "evt_console_live", "invoice.created");
    let row = format!("#events-rows tr[data-id=\"{fresh}\"]");
    wait_text(c, &row, "evt_console_live").await;
    wait_text(c, &format!("{row} .status"), "delivered").await;
    screenshot(c, shots, "events-live").await;

    c.goto(&format!("{ui}#/routes")).await.expect("routes");
    wait_text(c, "#route-rows", "billing").await;
    // Pause the first route (billing) from the console: the API says so, and
    // so does the page; then resume it.
    click(c, "#route-rows tr:first-child button.pause").await;
    wait_text(c, "#route-rows tr:first-child", "paused").await;
    let (_, routes) = crate::operator::admin_get(h, "/v1/routes");
    assert_eq!(routes["items"][0]["state"], "paused", "{routes}");
    screenshot(c, shots, "routes-paused").await;
    click(c, "#route-rows tr:first-child button.resume").await;
    wait_text(c, "#route-rows tr:first-child button", "Pause").await;
    let (_, routes) = crate::operator::admin_get(h, "/v1/routes");
    assert_eq!(routes["items"][0]["state"], "running", "{routes}");
    screenshot(c, shots, "routes").await;
    c.goto(&format!("{ui}#/stats")).await.expect("stats");
    c.wait().at_most(WAIT).for_element(Locator::Css("#chart rect.received")).await.expect("the chart");
    screenshot(c, shots, "stats").await;

    // A phone's width.
    c.set_window_size(390, 844).await.expect("resize");
    c.goto(&format!("{ui}#/events")).await.expect("events");
    wait_text(c, "#events-rows", &fresh).await;
    screenshot(c, shots, "phone-events").await;
    c.goto(&format!("{ui}#/event/{dead}")).await.expect("event");
    wait_text(c, "main", "exit code 65").await;
    screenshot(c, shots, "phone-event").await;
    c.goto(&format!("{ui}#/dlq")).await.expect("dlq");
    wait_text(c, "main", "No dead deliveries match.").await;
    c.goto(&format!("{ui}#/stats")).await.expect("stats");
    c.wait().at_most(WAIT).for_element(Locator::Css("#chart rect.received")).await.expect("the chart");
    screenshot(c, shots, "phone-stats").await;
}

/// Poll until `css` matches exactly `n` elements (or the wait runs out);
/// returns how many matched last.
async fn wait_rows(c: &Client, css: &str, n: usize) -> usize {
    let deadline = Instant::now() + WAIT;
    loop {
        let found = c.find_all(Locator::Css(css)).await.map(|v| v.len()).unwrap_or(0);
        if found == n || Instant::now() > deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
