//! `hookd events`, `hookd dlq`, `hookd routes` and `hookd stats`: admin API calls printed
//! as tables for people, or the API's JSON with `--json` for scripts.

use super::client::{Client, ClientError};
use http::Method;
use serde_json::{json, Value};

/// The admin subcommands, parsed.
pub enum Op {
    EventsList {
        source: Option<String>,
        status: Option<String>,
        ty: Option<String>,
        limit: usize,
        cursor: Option<String>,
    },
    EventsShow {
        id: String,
        source: Option<String>,
        body: bool,
    },
    EventsReplay {
        id: String,
        source: Option<String>,
    },
    EventsRetry {
        id: String,
        source: Option<String>,
    },
    DlqList {
        source: Option<String>,
        ty: Option<String>,
        limit: usize,
        cursor: Option<String>,
    },
    DlqReplay {
        ids: Vec<String>,
        all: bool,
        source: Option<String>,
        ty: Option<String>,
        dry_run: bool,
    },
    DlqPurge {
        ids: Vec<String>,
        older_than: Option<String>,
        dry_run: bool,
    },
    RoutesList,
    /// `routes pause` (`pause`) or `routes resume`.
    RoutePause {
        source: String,
        route: String,
        pause: bool,
    },
    Stats,
    Tail {
        source: Option<String>,
        ty: Option<String>,
    },
}

/// How tables are printed for people: `-q` (ids only, for scripts) and
/// colour (on a terminal, unless `NO_COLOR` is set to anything).
#[derive(Clone, Copy, Default)]
pub struct Style {
    pub quiet: bool,
    pub color: bool,
}

impl Style {
    pub fn detect(quiet: bool) -> Style {
        use std::io::IsTerminal;
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style { quiet, color: !no_color && std::io::stdout().is_terminal() }
    }

    /// A state word in its colour: dead red, retrying yellow, delivered green.
    fn state(self, word: &str) -> String {
        let code = match word {
            "dead" => "31",
            "retrying" => "33",
            "delivered" => "32",
            "paused" => "33",
            "breaker_open" => "31",
            _ => return word.to_string(),
        };
        if self.color {
            format!("\x1b[{code}m{word}\x1b[0m")
        } else {
            word.to_string()
        }
    }
}

pub async fn run(client: &Client, op: Op, json_out: bool, style: Style) -> Result<(), ClientError> {
    match &op {
        Op::Tail { source, ty } => return tail(client, source, ty, json_out).await,
        Op::EventsShow { id, source, body: true } => return show_body(client, id, source, json_out).await,
        _ => {}
    }
    let answers = call(client, &op).await?;
    if json_out {
        // Exactly one document: several ids' answers as one array.
        match answers.as_slice() {
            [one] => println!("{one}"),
            many => println!("{}", Value::Array(many.to_vec())),
        }
    } else {
        for answer in &answers {
            print_human(&op, answer, style);
        }
    }
    // Touching nothing is not success: the daemon's reason, exit 1.
    let nothing = |key: &str| answers.iter().find(|a| a[key] == 0 && a["reason"].is_string());
    let key = match op {
        Op::EventsReplay { .. } => "replayed",
        Op::EventsRetry { .. } => "retried",
        _ => return Ok(()),
    };
    match nothing(key) {
        Some(a) => Err(ClientError::Nothing(format!("nothing {key}: {}", text(&a["reason"])))),
        None => Ok(()),
    }
}

/// The hookd id that `id` names: a hookd id, or a sender's event id (in
/// `source` when given; an id found in several sources needs it).
async fn resolve(client: &Client, id: &str, source: &Option<String>) -> Result<String, ClientError> {
    if source.is_none() && crate::store::keys::parse_id(id).is_some() {
        match client.call(Method::GET, &format!("/v1/events/{}", encode(id)), None).await {
            Ok(_) => return Ok(id.to_string()),
            Err(ClientError::Refused { status: 404, .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let q = query(&[("event_id", &Some(id.to_string())), ("source", source)], 10);
    let found = client.call(Method::GET, &format!("/v1/events{q}"), None).await?;
    let items = found["items"].as_array().cloned().unwrap_or_default();
    match items.as_slice() {
        [one] => Ok(text(&one["id"])),
        [] => {
            let within = source.as_ref().map(|s| format!(" in source {s}")).unwrap_or_default();
            Err(ClientError::Refused { status: 404, message: format!("no event with id {id:?}{within}") })
        }
        many => {
            let sources: Vec<String> = many.iter().map(|v| text(&v["source"])).collect();
            Err(ClientError::Usage(format!(
                "sender id {id:?} is in several sources ({}): give --source",
                sources.join(", ")
            )))
        }
    }
}

/// `events show ID --body`: the stored body as it came (with `--json`,
/// one document holding it as text, or base64 when it is not UTF-8).
async fn show_body(client: &Client, id: &str, source: &Option<String>, json_out: bool) -> Result<(), ClientError> {
    use std::io::Write;
    let id = resolve(client, id, source).await?;
    let (body, content_type) = client.raw(&format!("/v1/events/{}/body", encode(&id))).await?;
    if json_out {
        let mut out = json!({"id": id, "content_type": content_type});
        match std::str::from_utf8(&body) {
            Ok(text) => out["body"] = json!(text),
            Err(_) => {
                use base64::Engine;
                out["body_base64"] = json!(base64::engine::general_purpose::STANDARD.encode(&body));
            }
        }
        println!("{out}");
        return Ok(());
    }
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&body).and_then(|()| stdout.flush()).map_err(|e| ClientError::Protocol(e.to_string()))
}

/// `hookd tail`: one line per happening (one JSON document per line with
/// `--json`), until the daemon ends the stream.
async fn tail(
    client: &Client,
    source: &Option<String>,
    ty: &Option<String>,
    json_out: bool,
) -> Result<(), ClientError> {
    let q = query(&[("source", source), ("type", ty)], 0);
    client
        .stream(&format!("/v1/tail{q}"), |event, data| {
            let v: Value = serde_json::from_str(data).unwrap_or(Value::Null);
            if json_out {
                println!("{}", json!({"event": event, "data": v}));
            } else {
                println!("{}", tail_line(event, &v));
            }
        })
        .await?;
    Err(ClientError::Protocol("the daemon ended the stream (shutting down?)".into()))
}

/// `<now> <what>  <details>  (<hookd id>)`, the time as this side saw it.
fn tail_line(event: &str, v: &Value) -> String {
    let now = humantime::format_rfc3339_millis(std::time::SystemTime::now());
    let (source, id) = (text(&v["source"]), text(&v["id"]));
    let what = match event {
        "received" => {
            let routes: Vec<String> = v["routes"].as_array().into_iter().flatten().map(text).collect();
            let to = if routes.is_empty() { "unrouted".to_string() } else { format!("→ {}", routes.join(", ")) };
            format!("received  {source} {} {} {to}", text(&v["type"]), text(&v["event_id"]))
        }
        "attempt" => {
            let next = v["next_due_at"].as_str().map(|n| format!(", next {n}")).unwrap_or_default();
            let (route, outcome, state) = (text(&v["route"]), text(&v["outcome"]), text(&v["state"]));
            format!("attempt   {source}/{route} #{} {outcome}: {state} in {} ms{next}", v["attempt"], v["duration_ms"])
        }
        "dead" => format!("dead      {source}/{}: {}", text(&v["route"]), text(&v["reason"])),
        "lagged" => return format!("{now} (fell behind: {} happenings skipped)", v["skipped"]),
        other => return format!("{now} {other} {v}"),
    };
    format!("{now} {what}  ({id})")
}

async fn call(client: &Client, op: &Op) -> Result<Vec<Value>, ClientError> {
    let one = |v| Ok(vec![v]);
    match op {
        Op::EventsList { source, status, ty, limit, cursor } => {
            let q = query(&[("source", source), ("status", status), ("type", ty), ("cursor", cursor)], *limit);
            one(client.call(Method::GET, &format!("/v1/events{q}"), None).await?)
        }
        Op::EventsShow { id, source, .. } => {
            let id = resolve(client, id, source).await?;
            one(client.call(Method::GET, &format!("/v1/events/{}", encode(&id)), None).await?)
        }
        Op::EventsReplay { id, source } => {
            let id = resolve(client, id, source).await?;
            one(client.call(Method::POST, &format!("/v1/events/{}/replay", encode(&id)), None).await?)
        }
        Op::EventsRetry { id, source } => {
            let id = resolve(client, id, source).await?;
            one(client.call(Method::POST, &format!("/v1/events/{}/retry", encode(&id)), None).await?)
        }
        Op::DlqList { source, ty, limit, cursor } => {
            let q = query(&[("source", source), ("type", ty), ("cursor", cursor)], *limit);
            one(client.call(Method::GET, &format!("/v1/dlq{q}"), None).await?)
        }
        Op::DlqReplay { ids, all, source, ty, dry_run } => {
            let body = match all {
                true => json!({"all": true, "source": source, "type": ty}),
                false => json!({"ids": ids}),
            };
            one(client.call(Method::POST, &format!("/v1/dlq/replay{}", dry(*dry_run)), Some(body)).await?)
        }
        Op::DlqPurge { ids, older_than: Some(age), dry_run } if ids.is_empty() => {
            let path = format!("/v1/dlq?older_than={}{}", encode(age), dry(*dry_run).replace('?', "&"));
            one(client.call(Method::DELETE, &path, None).await?)
        }
        Op::DlqPurge { ids, dry_run, .. } => {
            let mut out = Vec::new();
            for id in ids {
                let path = format!("/v1/dlq/{}{}", encode(id), dry(*dry_run));
                let mut answer = client.call(Method::DELETE, &path, None).await?;
                answer["id"] = json!(id);
                out.push(answer);
            }
            Ok(out)
        }
        Op::RoutesList => one(client.call(Method::GET, "/v1/routes", None).await?),
        Op::RoutePause { source, route, pause } => {
            let verb = if *pause { "pause" } else { "resume" };
            let path = format!("/v1/routes/{}/{}/{verb}", segment(source), segment(route));
            one(client.call(Method::POST, &path, None).await?)
        }
        Op::Stats => one(client.call(Method::GET, "/v1/stats", None).await?),
        Op::Tail { .. } => Ok(Vec::new()),
    }
}

fn dry(dry_run: bool) -> &'static str {
    if dry_run {
        "?dry_run=true"
    } else {
        ""
    }
}

fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A path segment: everything but unreserved characters percent-encoded
/// (a route name may hold `/` or spaces).
fn segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn query(pairs: &[(&str, &Option<String>)], limit: usize) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    if limit > 0 {
        q.append_pair("limit", &limit.to_string());
    }
    for (k, v) in pairs {
        if let Some(v) = v {
            q.append_pair(k, v);
        }
    }
    format!("?{}", q.finish())
}

fn print_human(op: &Op, v: &Value, style: Style) {
    let dry = |dry_run: bool| if dry_run { " (dry run)" } else { "" };
    match op {
        Op::EventsList { .. } | Op::DlqList { .. } if style.quiet => {
            for item in v["items"].as_array().into_iter().flatten() {
                println!("{}", text(&item["id"]));
            }
        }
        Op::EventsList { .. } => {
            let mut rows = items(v, &["id", "received_at", "source", "event_type", "event_id", "status"]);
            rows.iter_mut().for_each(|r| r[5] = style.state(&r[5]));
            table(&["ID", "RECEIVED", "SOURCE", "TYPE", "EVENT ID", "STATUS"], rows, "no events");
            more(v);
        }
        Op::DlqList { .. } => {
            let rows = items(v, &["id", "died_at", "source", "route", "event_type", "dead_reason"]);
            table(&["ID", "DIED", "SOURCE", "ROUTE", "TYPE", "REASON"], rows, "no dead deliveries");
            more(v);
        }
        _ if style.quiet => {}
        Op::EventsShow { .. } => print_event(v, style),
        Op::EventsReplay { .. } if v["replayed"] == 0 => {}
        Op::EventsReplay { .. } => {
            let n = count(&v["replayed"]);
            println!("replayed {n} {} of {}", plural(n, "delivery", "deliveries"), text(&v["id"]));
        }
        Op::EventsRetry { .. } => {
            for d in v["deliveries"].as_array().into_iter().flatten() {
                println!("route {}: {}", text(&d["route"]), text(&d["result"]));
            }
            if v["retried"] != 0 {
                let n = count(&v["retried"]);
                println!("retrying {n} {} of {} now", plural(n, "delivery", "deliveries"), text(&v["id"]));
            }
        }
        Op::DlqReplay { dry_run, .. } => {
            let (n, events) = (count(&v["replayed"]), count(&v["events"]));
            let verb = if *dry_run { "would replay" } else { "replayed" };
            println!(
                "{verb} {n} dead {} of {events} {}{}",
                plural(n, "delivery", "deliveries"),
                plural(events, "event", "events"),
                dry(*dry_run)
            )
        }
        Op::DlqPurge { dry_run, .. } => {
            let verb = if *dry_run { "would purge" } else { "purged" };
            match v.get("id") {
                Some(id) => println!("{verb} {}{}", text(id), dry(*dry_run)),
                None => {
                    let n = count(&v["purged"]);
                    println!("{verb} {n} {}{}", plural(n, "event", "events"), dry(*dry_run))
                }
            }
        }
        Op::RoutesList => {
            let list = v["items"].as_array().cloned().unwrap_or_default();
            let rows = list
                .iter()
                .map(|r| {
                    let state = text(&r["state"]);
                    let state = match (r["paused_since"].as_str(), r["breaker_open_until"].as_str()) {
                        (Some(since), _) => format!("{} since {since}", style.state(&state)),
                        (None, Some(until)) => format!("{} until {until}", style.state(&state)),
                        _ => style.state(&state),
                    };
                    let n = |k: &str| count(&r[k]).to_string();
                    vec![
                        text(&r["source"]),
                        text(&r["route"]),
                        state,
                        text(&r["priority"]),
                        n("waiting"),
                        n("due"),
                        n("running"),
                    ]
                })
                .collect();
            table(&["SOURCE", "ROUTE", "STATE", "PRIORITY", "WAITING", "DUE", "RUNNING"], rows, "no routes");
        }
        Op::RoutePause { .. } => {
            let (source, route, state) = (text(&v["source"]), text(&v["route"]), text(&v["state"]));
            let was = if v["changed"] == true { "" } else { " (no change)" };
            println!("{source}/{route}: {}{was}", style.state(&state));
        }
        Op::Stats => print_stats(v),
        Op::Tail { .. } => {}
    }
}

fn count(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn plural<'a>(n: u64, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn items(v: &Value, fields: &[&str]) -> Vec<Vec<String>> {
    let list = v["items"].as_array().cloned().unwrap_or_default();
    list.iter().map(|item| fields.iter().map(|f| text(&item[*f])).collect()).collect()
}

fn more(v: &Value) {
    if let Some(c) = v["next_cursor"].as_str() {
        println!("(more: --cursor {c})");
    }
}

/// Left-aligned columns, as wide as their widest cell (reasons cut at 60;
/// colour codes take no width); `empty` when there are no rows.
fn table(head: &[&str], rows: Vec<Vec<String>>, empty: &str) {
    if rows.is_empty() {
        println!("{empty}");
        return;
    }
    let cut = |s: &str| {
        if visible(s) > 60 {
            format!("{}…", s.chars().take(59).collect::<String>())
        } else {
            s.to_string()
        }
    };
    let rows: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(|c| cut(c)).collect()).collect();
    let mut widths: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(visible(cell));
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w.saturating_sub(visible(c)))))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(head.iter().map(|h| h.to_string()).collect());
    rows.into_iter().for_each(line);
}

/// Characters a terminal shows: colour escapes take no room.
fn visible(s: &str) -> usize {
    let mut n = 0;
    let mut in_escape = false;
    for c in s.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => n += 1,
        }
    }
    n
}

fn print_event(v: &Value, style: Style) {
    for key in ["id", "source", "event_id", "event_type", "received_at", "status", "body_bytes"] {
        println!("{key:<12} {}", text(&v[key]));
    }
    for d in v["deliveries"].as_array().into_iter().flatten() {
        println!();
        let n = d["attempt_count"].as_u64().unwrap_or(0);
        let plural = if n == 1 { "" } else { "s" };
        println!("route {}: {} ({n} attempt{plural})", text(&d["route"]), style.state(&text(&d["state"])));
        if !d["next_due_at"].is_null() {
            println!("  next due   {}", text(&d["next_due_at"]));
        }
        if !d["dead_reason"].is_null() {
            println!("  dead       {}", text(&d["dead_reason"]));
        }
        for a in d["attempts"].as_array().into_iter().flatten() {
            let took = a["duration_ms"].as_u64().map(|ms| format!(" ({ms} ms)")).unwrap_or_default();
            println!(
                "  #{} {} → {}  {}{took}",
                a["number"],
                text(&a["started_at"]),
                text(&a["ended_at"]),
                text(&a["outcome"])
            );
            let tail = a["output_tail"].as_str().unwrap_or("");
            if a["output_tail_cut"] == true {
                println!("      (cut: the handler wrote more; these are its last {} bytes)", tail.len());
            }
            for line in tail.trim_end().lines() {
                println!("      | {line}");
            }
        }
    }
    let untaken = v["routes_not_taken"].as_array().into_iter().flatten().collect::<Vec<_>>();
    if !untaken.is_empty() {
        println!();
        for r in untaken {
            println!("not taken {}: {}", text(&r["route"]), text(&r["why"]));
        }
    }
}

fn print_stats(v: &Value) {
    let fields = ["pending", "retrying", "delivered", "dead", "unrouted"];
    let rows = v["sources"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, c)| std::iter::once(name.clone()).chain(fields.iter().map(|f| text(&c[*f]))).collect())
        .collect();
    table(&["SOURCE", "PENDING", "RETRYING", "DELIVERED", "DEAD", "UNROUTED"], rows, "no sources");
    let recounting =
        if v["counting"] == true { " (recounting… the store's counts since the restart are partial)" } else { "" };
    println!("queue depth {}, dlq size {}, running {}{recounting}", v["queue_depth"], v["dlq_size"], v["running"]);
}
