//! Big-endian keys, so a range scan is arrival order (events) or due order
//! (the due index, within each route's lane). The hookd id is a ULID: 48
//! bits of milliseconds, then randomness; its 26-character text is what
//! users see. Ids are monotonic within a process and, since the store tells
//! [`observe`] its newest id at open, across restarts even when the clock
//! went back; so id order is arrival order (what `order_by` keeps and
//! listings show).

use std::sync::Mutex;
use ulid::Ulid;

pub type Id = [u8; 16];

/// The newest id handed out or seen.
static LAST: Mutex<u128> = Mutex::new(0);

pub fn new_id() -> Id {
    let fresh = Ulid::generate().0;
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    // A clock that went back (or a burst within one millisecond) goes on
    // from the newest id instead of sorting before it.
    *last = if fresh > *last { fresh } else { last.saturating_add(1) };
    last.to_be_bytes()
}

/// An id that exists already (the store's newest at open): every id made
/// from now on sorts after it.
pub fn observe(id: &Id) {
    let seen = u128::from_be_bytes(*id);
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    *last = (*last).max(seen);
}

/// Milliseconds since the epoch at which `id` was made.
pub fn id_ms(id: &Id) -> u64 {
    Ulid(u128::from_be_bytes(*id)).timestamp_ms()
}

pub fn id_text(id: &Id) -> String {
    Ulid(u128::from_be_bytes(*id)).to_string()
}

pub fn parse_id(text: &str) -> Option<Id> {
    Ulid::from_string(text).ok().map(|u| u.0.to_be_bytes())
}

/// `source \0 event_id`: sources are config keys and cannot hold NUL.
pub fn dedup_key(source: &str, event_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(source.len() + event_id.len() + 1);
    k.extend_from_slice(source.as_bytes());
    k.push(0);
    k.extend_from_slice(event_id.as_bytes());
    k
}

/// Delivery `index` of event `id`.
pub fn delivery_key(id: &Id, index: u16) -> [u8; 18] {
    let mut k = [0u8; 18];
    k[..16].copy_from_slice(id);
    k[16..].copy_from_slice(&index.to_be_bytes());
    k
}

/// The event id and route index a `delivery_key` was made of, or `None`
/// when `key` is not one.
pub fn split_delivery_key(key: &[u8]) -> Option<(Id, u16)> {
    let key: &[u8; 18] = key.try_into().ok()?;
    let (id, index) = key.split_at(16);
    Some((id.try_into().ok()?, u16::from_be_bytes(index.try_into().ok()?)))
}

/// The prefix of one `order_by` line: source, route and key, each
/// length-prefixed so that no key's prefix is another key's.
pub fn order_prefix(source: &str, route: &str, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(source.len() + route.len() + key.len() + 12);
    for part in [source, route, key] {
        k.extend_from_slice(&(part.len() as u32).to_be_bytes());
        k.extend_from_slice(part.as_bytes());
    }
    k
}

/// The source an `order_by` line's prefix names.
pub fn order_source(prefix: &[u8]) -> Option<&str> {
    let len = u32::from_be_bytes(prefix.get(..4)?.try_into().ok()?) as usize;
    std::str::from_utf8(prefix.get(4..4usize.checked_add(len)?)?).ok()
}

/// One delivery's place in its `order_by` line: prefix, then arrival order.
pub fn order_key(prefix: &[u8], id: &Id, index: u16) -> Vec<u8> {
    let mut k = prefix.to_vec();
    k.extend_from_slice(&delivery_key(id, index));
    k
}

/// A route's lane in the due index: the first 8 bytes of SHA-256 over
/// `source \0 route`. Stable across versions and restarts, so the index
/// needs no table of lanes; the dispatcher hashes the routes it knows.
pub type Lane = u64;

pub fn lane(source: &str, route: &str) -> Lane {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(source.as_bytes());
    h.update([0u8]);
    h.update(route.as_bytes());
    let d = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    u64::from_be_bytes(first)
}

/// An entry of the due index: which route's lane, when, which event, which
/// delivery. Lane first, so one route's due deliveries are one range and a
/// paused or throttled route costs a scan nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DueKey {
    pub lane: Lane,
    pub due_ms: u64,
    pub id: Id,
    pub index: u16,
}

impl DueKey {
    pub const LEN: usize = 34;

    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut k = [0u8; Self::LEN];
        k[..8].copy_from_slice(&self.lane.to_be_bytes());
        k[8..16].copy_from_slice(&self.due_ms.to_be_bytes());
        k[16..32].copy_from_slice(&self.id);
        k[32..].copy_from_slice(&self.index.to_be_bytes());
        k
    }

    pub fn decode(k: &[u8]) -> Option<Self> {
        if k.len() != Self::LEN {
            return None;
        }
        Some(DueKey {
            lane: u64::from_be_bytes(k.get(..8)?.try_into().ok()?),
            due_ms: u64::from_be_bytes(k.get(8..16)?.try_into().ok()?),
            id: k.get(16..32)?.try_into().ok()?,
            index: u16::from_be_bytes(k.get(32..34)?.try_into().ok()?),
        })
    }

    /// An entry of the due index as stores before lanes wrote it (due ms,
    /// id, index): read once, by the migration at open.
    pub fn decode_unlaned(k: &[u8]) -> Option<(u64, Id, u16)> {
        if k.len() != 26 {
            return None;
        }
        Some((
            u64::from_be_bytes(k.get(..8)?.try_into().ok()?),
            k.get(8..24)?.try_into().ok()?,
            u16::from_be_bytes(k.get(24..26)?.try_into().ok()?),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_keys_sort_by_lane_then_time_and_round_trip() {
        let a = DueKey { lane: 7, due_ms: 5, id: [9; 16], index: 1 };
        let b = DueKey { lane: 7, due_ms: 256, id: [0; 16], index: 0 };
        let c = DueKey { lane: 8, due_ms: 1, id: [0; 16], index: 0 };
        assert!(a.encode() < b.encode() && b.encode() < c.encode());
        assert_eq!(DueKey::decode(&a.encode()), Some(a));
        assert_eq!(DueKey::decode(&[1, 2]), None);
        assert_ne!(lane("s", "a"), lane("s", "b"));
        assert_eq!(lane("s", "a"), lane("s", "a"));
        assert_eq!(order_source(&order_prefix("src", "r", "k")), Some("src"));
        assert_eq!(order_source(&[0, 0, 0, 9, b'x']), None);
        let id = new_id();
        assert_eq!(parse_id(&id_text(&id)), Some(id));
    }

    #[test]
    fn a_delivery_key_splits_back_into_its_id_and_index() {
        let id = new_id();
        assert_eq!(split_delivery_key(&delivery_key(&id, 258)), Some((id, 258)));
        assert_eq!(split_delivery_key(&id), None);
        assert_eq!(split_delivery_key(&[0; 19]), None);
    }
}
