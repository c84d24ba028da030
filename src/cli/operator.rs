//! `hookd events`, `hookd dlq` and `hookd stats`: admin API calls printed
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
    },
    EventsReplay {
        id: String,
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
    },
    DlqPurge {
        ids: Vec<String>,
        older_than: Option<String>,
    },
    Stats,
}

pub async fn run(client: &Client, op: Op, json_out: bool) -> Result<(), ClientError> {
    let answers = call(client, &op).await?;
    for answer in &answers {
        if json_out {
            println!("{answer}");
        } else {
            print_human(&op, answer);
        }
    }
    Ok(())
}

async fn call(client: &Client, op: &Op) -> Result<Vec<Value>, ClientError> {
    let one = |v| Ok(vec![v]);
    match op {
        Op::EventsList { source, status, ty, limit, cursor } => {
            let q = query(&[("source", source), ("status", status), ("type", ty), ("cursor", cursor)], *limit);
            one(client.call(Method::GET, &format!("/v1/events{q}"), None).await?)
        }
        Op::EventsShow { id } => one(client.call(Method::GET, &format!("/v1/events/{}", encode(id)), None).await?),
        Op::EventsReplay { id } => {
            one(client.call(Method::POST, &format!("/v1/events/{}/replay", encode(id)), None).await?)
        }
        Op::DlqList { source, ty, limit, cursor } => {
            let q = query(&[("source", source), ("type", ty), ("cursor", cursor)], *limit);
            one(client.call(Method::GET, &format!("/v1/dlq{q}"), None).await?)
        }
        Op::DlqReplay { ids, all, source, ty } => {
            let body = match all {
                true => json!({"all": true, "source": source, "type": ty}),
                false => json!({"ids": ids}),
            };
            one(client.call(Method::POST, "/v1/dlq/replay", Some(body)).await?)
        }
        Op::DlqPurge { ids, older_than: Some(age) } if ids.is_empty() => {
            one(client.call(Method::DELETE, &format!("/v1/dlq?older_than={}", encode(age)), None).await?)
        }
        Op::DlqPurge { ids, .. } => {
            let mut out = Vec::new();
            for id in ids {
                let mut answer = client.call(Method::DELETE, &format!("/v1/dlq/{}", encode(id)), None).await?;
                answer["id"] = json!(id);
                out.push(answer);
            }
            Ok(out)
        }
        Op::Stats => one(client.call(Method::GET, "/v1/stats", None).await?),
    }
}

fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn query(pairs: &[(&str, &Option<String>)], limit: usize) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("limit", &limit.to_string());
    for (k, v) in pairs {
        if let Some(v) = v {
            q.append_pair(k, v);
        }
    }
    format!("?{}", q.finish())
}

fn print_human(op: &Op, v: &Value) {
    match op {
        Op::EventsList { .. } => {
            let rows = items(v, &["id", "received_at", "source", "event_type", "event_id", "status"]);
            table(&["ID", "RECEIVED", "SOURCE", "TYPE", "EVENT ID", "STATUS"], rows);
            more(v);
        }
        Op::DlqList { .. } => {
            let rows = items(v, &["id", "died_at", "source", "route", "event_type", "dead_reason"]);
            table(&["ID", "DIED", "SOURCE", "ROUTE", "TYPE", "REASON"], rows);
            more(v);
        }
        Op::EventsShow { .. } => print_event(v),
        Op::EventsReplay { .. } => println!("replayed {} deliveries of {}", v["replayed"], text(&v["id"])),
        Op::DlqReplay { .. } => println!("replayed {} dead deliveries of {} events", v["replayed"], v["events"]),
        Op::DlqPurge { .. } => match v.get("id") {
            Some(id) => println!("purged {}", text(id)),
            None => println!("purged {} events", v["purged"]),
        },
        Op::Stats => print_stats(v),
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

/// Left-aligned columns, as wide as their widest cell (reasons cut at 60).
fn table(head: &[&str], rows: Vec<Vec<String>>) {
    let cut = |s: &str| {
        if s.chars().count() > 60 {
            format!("{}…", s.chars().take(59).collect::<String>())
        } else {
            s.to_string()
        }
    };
    let rows: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(|c| cut(c)).collect()).collect();
    let mut widths: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(head.iter().map(|h| h.to_string()).collect());
    rows.into_iter().for_each(line);
}

fn print_event(v: &Value) {
    for key in ["id", "source", "event_id", "event_type", "received_at", "status", "body_bytes"] {
        println!("{key:<12} {}", text(&v[key]));
    }
    for d in v["deliveries"].as_array().into_iter().flatten() {
        println!();
        let n = d["attempt_count"].as_u64().unwrap_or(0);
        let plural = if n == 1 { "" } else { "s" };
        println!("route {}: {} ({n} attempt{plural})", text(&d["route"]), text(&d["state"]));
        if !d["next_due_at"].is_null() {
            println!("  next due   {}", text(&d["next_due_at"]));
        }
        if !d["dead_reason"].is_null() {
            println!("  dead       {}", text(&d["dead_reason"]));
        }
        for a in d["attempts"].as_array().into_iter().flatten() {
            println!(
                "  #{} {} → {}  {}",
                a["number"],
                text(&a["started_at"]),
                text(&a["ended_at"]),
                text(&a["outcome"])
            );
            let tail = a["output_tail"].as_str().unwrap_or("").trim_end();
            for line in tail.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev() {
                println!("      | {line}");
            }
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
    table(&["SOURCE", "PENDING", "RETRYING", "DELIVERED", "DEAD", "UNROUTED"], rows);
    println!("queue depth {}, dlq size {}, running {}", v["queue_depth"], v["dlq_size"], v["running"]);
}
