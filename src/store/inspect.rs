//! The operator's tools on a stopped store (`hookd store check`, `hookd
//! store export`): verify the log and the index against each other, and
//! write out every event whose body can still be read. They take the data
//! dir's lock (so never while `hookd serve` runs), read the log without
//! repairing it, and never change a record.

use super::keys::{id_text, Id};
use super::records::{decode, Body, Change, ChangeKind, Event, EventRecord, LogRecord};
use super::wal::{self, Wal};
use super::{checkpoint, datadir, Result, StoreError};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

/// What `check` found. `problems` is empty for a sound store.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct CheckReport {
    pub segments: usize,
    pub records: u64,
    pub events_in_log: u64,
    pub events_in_index: u64,
    /// Damage: each names the file or event and what it means.
    pub problems: Vec<String>,
    /// Facts that are not damage (a torn tail, records a start will replay).
    pub notes: Vec<String>,
}

/// One event as `export` writes it (one JSON line each).
#[derive(Debug, serde::Serialize)]
pub struct Exported {
    pub id: String,
    pub source: String,
    pub event_id: String,
    pub event_type: String,
    pub received_ms: u64,
    pub headers: BTreeMap<String, String>,
    /// The body as text when it is UTF-8 …
    pub body: Option<String>,
    /// … else base64.
    pub body_base64: Option<String>,
    /// Where it was read from: `log` or `index` (stores from before the log).
    pub from: &'static str,
}

fn lock(path: &Path) -> Result<datadir::DirLock> {
    datadir::lock(path).map_err(|e| match e {
        datadir::LockError::Held => StoreError::InUse(path.to_path_buf()),
        datadir::LockError::Io(e) => StoreError::Io(format!("{}: {e}", path.join("lock").display())),
    })
}

/// Verify the stopped store under `path`.
pub fn check(path: &Path) -> Result<CheckReport> {
    let _lock = lock(path)?;
    let mut report = CheckReport::default();
    let wal_dir = path.join("wal");
    let mut accepted: HashMap<Id, u64> = HashMap::new();
    let mut removed: HashSet<Id> = HashSet::new();
    let mut last_lsn = 0;
    if wal_dir.exists() {
        let log = Wal::check(&wal_dir)?;
        report.segments = log.segments;
        for p in &log.problems {
            report.problems.push(format!("{}", p));
        }
        if let Some(torn) = &log.torn_tail {
            report.notes.push(format!("the log ends in a torn write (cut by a crash, never acknowledged): {torn:?}"));
        }
        for record in wal::read_only(&wal_dir)? {
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    report.problems.push(format!("reading the log stopped: {e}"));
                    break;
                }
            };
            report.records += 1;
            last_lsn = record.pos.lsn;
            match LogRecord::peek(&record.payload) {
                Some((ChangeKind::Accepted, id)) => {
                    accepted.insert(id, record.pos.lsn);
                }
                Some((ChangeKind::Removed, id)) => {
                    removed.insert(id);
                }
                Some(_) => {}
                None => report.problems.push(format!("log record {} is of no known kind", record.pos.lsn)),
            }
        }
    } else {
        report.notes.push("no write-ahead log (a store from before it): only the index is checked".into());
    }
    let live: HashMap<Id, u64> = accepted.into_iter().filter(|(id, _)| !removed.contains(id)).collect();
    report.events_in_log = live.len() as u64;
    check_index(path, &live, last_lsn, &mut report);
    Ok(report)
}

fn check_index(path: &Path, live: &HashMap<Id, u64>, last_lsn: u64, report: &mut CheckReport) {
    let dir = path.join("sled");
    let opened = std::panic::catch_unwind(|| sled::Config::new().path(&dir).open());
    let db = match opened {
        Ok(Ok(db)) => db,
        Ok(Err(e)) => {
            return report.problems.push(format!(
                "{}: the index cannot be opened ({e}); the next start rebuilds it from the log",
                dir.display()
            ))
        }
        Err(_) => {
            return report.problems.push(format!(
                "{}: sled panics opening the index; the next start rebuilds it from the log",
                dir.display()
            ))
        }
    };
    let (Ok(meta), Ok(events)) = (db.open_tree("meta"), db.open_tree("events")) else {
        return report.problems.push("the index's trees cannot be opened".into());
    };
    let ckpt = checkpoint::read(&meta).unwrap_or(0);
    if ckpt > last_lsn {
        report.problems.push(format!(
            "the index has seen the log up to record {ckpt}, but the log ends at record {last_lsn}: acknowledged records are missing from the end of the log"
        ));
    } else if last_lsn > ckpt {
        report.notes.push(format!(
            "{} log records after the index's checkpoint will be replayed at the next start",
            last_lsn - ckpt
        ));
    }
    let mut indexed = HashSet::new();
    for entry in events.iter() {
        let Ok((k, v)) = entry else {
            report.problems.push("the index's event tree cannot be read to the end".into());
            break;
        };
        let Ok(id) = <Id>::try_from(k.as_ref()) else { continue };
        indexed.insert(id);
        match decode::<EventRecord>(&v) {
            Ok(record) => check_body(path, &id, record.event(), live, report),
            Err(e) => report.problems.push(format!("event {}: its index record does not decode ({e})", id_text(&id))),
        }
    }
    report.events_in_index = indexed.len() as u64;
    for (id, lsn) in live {
        if !indexed.contains(id) && *lsn <= ckpt {
            report.problems.push(format!(
                "event {} (log record {lsn}) is missing from the index; the next start rebuilds the index from the log",
                id_text(id)
            ));
        }
    }
}

fn check_body(path: &Path, id: &Id, event: &Event, live: &HashMap<Id, u64>, report: &mut CheckReport) {
    match &event.body {
        Body::Inline(_) => {}
        Body::Logged { pos, .. } => {
            if live.get(id) != Some(&pos.lsn) {
                report.problems.push(format!(
                    "event {} ({} {}): its body (log record {}) is not in the log",
                    id_text(id),
                    event.source,
                    event.event_id.escape_debug(),
                    pos.lsn
                ));
            }
        }
        Body::Spooled { len } => {
            let file = path.join("spool").join(id_text(id));
            match std::fs::metadata(&file) {
                Ok(m) if m.len() == *len => {}
                Ok(m) => report.problems.push(format!("{}: {} bytes, the event says {len}", file.display(), m.len())),
                Err(e) => report.problems.push(format!("{}: {e}", file.display())),
            }
        }
    }
}

/// Every event whose body can be read, oldest first: from the log, then
/// the index's events from before it. `each` gets them one at a time.
pub fn export(path: &Path, mut each: impl FnMut(Exported) -> std::io::Result<()>) -> Result<u64> {
    let _lock = lock(path)?;
    let io = |e: std::io::Error| StoreError::Io(e.to_string());
    let mut seen = HashSet::new();
    let mut n = 0;
    let wal_dir = path.join("wal");
    if wal_dir.exists() {
        let mut removed = HashSet::new();
        for record in wal::read_only(&wal_dir)?.flatten() {
            if let Some((ChangeKind::Removed, id)) = LogRecord::peek(&record.payload) {
                removed.insert(id);
            }
        }
        for record in wal::read_only(&wal_dir)? {
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, "the log could not be read further; exporting what was read");
                    break;
                }
            };
            let Ok(LogRecord::V1(Change::Accepted { id, event, .. })) = decode::<LogRecord>(&record.payload) else {
                continue;
            };
            if removed.contains(&id) || !seen.insert(id) {
                continue;
            }
            if let Body::Inline(body) = &event.body {
                each(exported(&id, &event, body, "log")).map_err(io)?;
                n += 1;
            }
        }
    }
    let dir = path.join("sled");
    let db = match std::panic::catch_unwind(|| sled::Config::new().path(&dir).open()) {
        Ok(Ok(db)) => db,
        _ => {
            tracing::warn!("the index cannot be opened: only the log's events were exported");
            return Ok(n);
        }
    };
    for entry in db.open_tree("events")?.iter().flatten() {
        let (k, v) = entry;
        let Ok(id) = <Id>::try_from(k.as_ref()) else { continue };
        if seen.contains(&id) {
            continue;
        }
        let Ok((event, _)) = decode::<EventRecord>(&v).map(EventRecord::into_parts) else { continue };
        let body = match &event.body {
            Body::Inline(b) => Some(b.clone()),
            Body::Spooled { .. } => std::fs::read(path.join("spool").join(id_text(&id))).ok(),
            Body::Logged { .. } => None,
        };
        if let Some(body) = body {
            each(exported(&id, &event, &body, "index")).map_err(io)?;
            n += 1;
        }
    }
    Ok(n)
}

fn exported(id: &Id, event: &Event, body: &[u8], from: &'static str) -> Exported {
    use base64::Engine;
    let text = std::str::from_utf8(body).ok().map(str::to_string);
    let b64 = text.is_none().then(|| base64::engine::general_purpose::STANDARD.encode(body));
    Exported {
        id: id_text(id),
        source: event.source.clone(),
        event_id: event.event_id.clone(),
        event_type: event.event_type.clone(),
        received_ms: event.received_ms,
        headers: event.headers.iter().cloned().collect(),
        body: text,
        body_base64: b64,
        from,
    }
}
