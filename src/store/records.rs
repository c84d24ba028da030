//! On-disk records, encoded with postcard: the compatibility boundary.
//! Each record is a versioned enum; only ever append variants. No
//! `skip_serializing_if`, `flatten`, untagged enums or `serde_json::Value`
//! here (postcard is not self-describing).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum EventRecord {
    /// Every delivery has its record in the `deliveries` tree (an event with
    /// no route, a route with `order_by`, an event routed later).
    V1(Event),
    /// A delivery with no record is *fresh*: pending, due at `received_ms`,
    /// no attempt yet, no order key. Its record is first written by its
    /// first claim, so a routed accept writes what an unrouted one does
    /// (plus its due entries). Never written for an event with an order
    /// key, nor for one with no route. A hookd from before V2 cannot read
    /// it (no downgrade once written: docs/operations.md, Upgrades).
    V2(Event),
}

impl EventRecord {
    /// The event, and whether its deliveries with no record are fresh.
    pub fn into_parts(self) -> (Event, bool) {
        match self {
            EventRecord::V1(e) => (e, false),
            EventRecord::V2(e) => (e, true),
        }
    }

    pub fn event(&self) -> &Event {
        match self {
            EventRecord::V1(e) | EventRecord::V2(e) => e,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    pub source: String,
    pub event_id: String,
    pub event_type: String,
    pub received_ms: u64,
    /// The sender headers the source's kind keeps, lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Body,
    /// Names of the routes matched at accept time; delivery `i` is route `i`.
    pub routes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Body {
    /// `serde_bytes`: one copy instead of a serde call per byte; the same
    /// bytes on disk as a plain `Vec<u8>` (length, then the bytes).
    Inline(#[serde(with = "serde_bytes")] Vec<u8>),
    /// Kept in `spool/<hookd id>` (fsynced with its directory before the ack;
    /// stores from before the write-ahead log).
    Spooled { len: u64 },
    /// In the write-ahead log, inside the event's `Accepted` record at `pos`;
    /// `len` bytes.
    Logged { pos: LogPos, len: u64 },
}

/// Where a record is in the write-ahead log (`wal::Pos`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogPos {
    pub segment: u64,
    pub offset: u64,
    pub len: u32,
    pub lsn: u64,
}

/// A record of the write-ahead log: one state change of the store, holding
/// its resulting values (not an operation), so that applying it to the
/// index twice, or over a newer index, changes nothing more.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum LogRecord {
    V1(Change),
}

/// Every variant starts with the event's id, so a scan can read the kind
/// and the id without decoding the rest (`LogRecord::peek`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Change {
    /// A new event, its body inline, with its deliveries' order keys (one
    /// per route): the commit marker of an accept.
    Accepted { id: [u8; 16], event: Event, order_keys: Vec<Option<String>> },
    /// An attempt was recorded before its handler starts.
    AttemptStarted { id: [u8; 16], index: u16, number: u32, started_ms: u64 },
    /// An attempt ended, with the delivery's state after it.
    AttemptEnded {
        id: [u8; 16],
        index: u16,
        attempt: Attempt,
        state: State,
        next_due_ms: u64,
        dead_reason: Option<String>,
    },
    /// A finished delivery was made pending again.
    Replayed { id: [u8; 16], index: u16, at_ms: u64, replayed_after: u32 },
    /// An unrouted event got deliveries.
    Routed { id: [u8; 16], routes: Vec<String>, order_keys: Vec<Option<String>>, at_ms: u64 },
    /// The event was purged or expired; its dedup key is retired.
    Removed { id: [u8; 16] },
}

/// The kind of a change, as `LogRecord::peek` reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Accepted,
    AttemptStarted,
    AttemptEnded,
    Replayed,
    Routed,
    Removed,
}

impl LogRecord {
    /// The kind and event id of an encoded record, without decoding it:
    /// postcard writes the two variant indexes as one byte each (< 128),
    /// then the id's 16 bytes.
    pub fn peek(bytes: &[u8]) -> Option<(ChangeKind, [u8; 16])> {
        let (&version, rest) = bytes.split_first()?;
        let (&kind, rest) = rest.split_first()?;
        if version != 0 {
            return None;
        }
        let kind = match kind {
            0 => ChangeKind::Accepted,
            1 => ChangeKind::AttemptStarted,
            2 => ChangeKind::AttemptEnded,
            3 => ChangeKind::Replayed,
            4 => ChangeKind::Routed,
            5 => ChangeKind::Removed,
            _ => return None,
        };
        Some((kind, rest.get(..16)?.try_into().ok()?))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum DeliveryRecord {
    V1(Delivery),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    Pending,
    Retrying,
    Delivered,
    Dead,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Retrying => "retrying",
            State::Delivered => "delivered",
            State::Dead => "dead",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, State::Delivered | State::Dead)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    pub route: String,
    pub state: State,
    /// When it is due next (meaningful while pending or retrying).
    pub next_due_ms: u64,
    pub attempts: Vec<Attempt>,
    /// Why it went dead, when it did.
    pub dead_reason: Option<String>,
    /// The route's `order_by` value for this event: deliveries sharing it
    /// run one at a time, in arrival order.
    pub order_key: Option<String>,
    /// Attempts made before the last replay: the retry budget counts from
    /// here, while attempt numbers keep counting up.
    pub replayed_after: u32,
}

impl Delivery {
    /// A new delivery: pending, due at `due_ms`, no attempt yet.
    pub fn fresh(route: String, due_ms: u64, order_key: Option<String>) -> Delivery {
        Delivery {
            route,
            state: State::Pending,
            next_due_ms: due_ms,
            attempts: Vec::new(),
            dead_reason: None,
            order_key,
            replayed_after: 0,
        }
    }
}

/// One started attempt. `ended_ms == None` means it was running when hookd
/// stopped (or is running now).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attempt {
    pub number: u32,
    pub started_ms: u64,
    pub ended_ms: Option<u64>,
    /// A one-line summary: "exit 0", "exit 1", "timeout", "http 500", …
    pub outcome: String,
    pub exit_code: Option<i32>,
    pub http_status: Option<u16>,
    /// The bounded tail of the handler's stdout+stderr or response body.
    pub output_tail: String,
}

/// A handler's process group, noted while its attempt runs (`procs` tree).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ProcessRecord {
    V1 { pgid: i32, start_ticks: u64, boot_id: String },
}

impl Attempt {
    /// An attempt just started: recorded before its handler runs.
    pub fn running(number: u32, started_ms: u64) -> Attempt {
        Attempt {
            number,
            started_ms,
            ended_ms: None,
            outcome: "running".into(),
            exit_code: None,
            http_status: None,
            output_tail: String::new(),
        }
    }
}

/// What the dedup tree holds for (source, event id). `retired`: the event
/// was purged on purpose (retention, `dlq purge`) while its window runs on,
/// so a missing event record still means "duplicate", not "crashed accept".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DedupEntry {
    pub id: [u8; 16],
    pub received_ms: u64,
    pub retired: bool,
}

impl DedupEntry {
    pub fn encode(&self) -> [u8; 25] {
        let mut out = [0u8; 25];
        out[..16].copy_from_slice(&self.id);
        out[16..24].copy_from_slice(&self.received_ms.to_be_bytes());
        out[24] = u8::from(self.retired);
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let id = bytes.get(..16)?.try_into().ok()?;
        let ms = bytes.get(16..24)?.try_into().ok()?;
        let retired = bytes.get(24).is_some_and(|b| *b == 1);
        Some(DedupEntry { id, received_ms: u64::from_be_bytes(ms), retired })
    }
}

pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_stdvec(value)
}

pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, postcard::Error> {
    postcard::from_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Body` as it was written before `Inline` used `serde_bytes`.
    #[derive(Serialize)]
    enum PlainBody {
        Inline(Vec<u8>),
    }

    #[test]
    fn peek_reads_kind_and_id_of_every_change() {
        let id = [7u8; 16];
        let event = Event {
            source: "s".into(),
            event_id: "e".into(),
            event_type: "t".into(),
            received_ms: 1,
            headers: vec![],
            body: Body::Inline(b"{}".to_vec()),
            routes: vec!["r".into()],
        };
        let attempt = Attempt {
            number: 1,
            started_ms: 1,
            ended_ms: Some(2),
            outcome: "exit 0".into(),
            exit_code: Some(0),
            http_status: None,
            output_tail: String::new(),
        };
        let cases = [
            (Change::Accepted { id, event, order_keys: vec![None] }, ChangeKind::Accepted),
            (Change::AttemptStarted { id, index: 0, number: 1, started_ms: 1 }, ChangeKind::AttemptStarted),
            (
                Change::AttemptEnded {
                    id,
                    index: 0,
                    attempt,
                    state: State::Delivered,
                    next_due_ms: 0,
                    dead_reason: None,
                },
                ChangeKind::AttemptEnded,
            ),
            (Change::Replayed { id, index: 0, at_ms: 3, replayed_after: 1 }, ChangeKind::Replayed),
            (Change::Routed { id, routes: vec![], order_keys: vec![], at_ms: 3 }, ChangeKind::Routed),
            (Change::Removed { id }, ChangeKind::Removed),
        ];
        for (change, kind) in cases {
            let bytes = encode(&LogRecord::V1(change)).expect("encode");
            assert_eq!(LogRecord::peek(&bytes), Some((kind, id)));
        }
        assert_eq!(LogRecord::peek(&[1, 0]), None);
    }

    #[test]
    fn inline_bodies_are_encoded_as_before() {
        let body = br#"{"id":"evt_1","type":"invoice.paid"}"#.to_vec();
        let before = encode(&PlainBody::Inline(body.clone())).expect("encode");
        assert_eq!(encode(&Body::Inline(body.clone())).expect("encode"), before);
        let Body::Inline(read) = decode(&before).expect("decode") else { panic!("not inline") };
        assert_eq!(read, body);
    }
}
