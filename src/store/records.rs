//! On-disk records, encoded with postcard: the compatibility boundary.
//! Each record is a versioned enum; only ever append variants. No
//! `skip_serializing_if`, `flatten`, untagged enums or `serde_json::Value`
//! here (postcard is not self-describing).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum EventRecord {
    V1(Event),
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
    /// Kept in `spool/<hookd id>` (fsynced with its directory before the ack).
    Spooled { len: u64 },
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
    fn inline_bodies_are_encoded_as_before() {
        let body = br#"{"id":"evt_1","type":"invoice.paid"}"#.to_vec();
        let before = encode(&PlainBody::Inline(body.clone())).expect("encode");
        assert_eq!(encode(&Body::Inline(body.clone())).expect("encode"), before);
        let Body::Inline(read) = decode(&before).expect("decode") else { panic!("not inline") };
        assert_eq!(read, body);
    }
}
