//! The dispatcher's side of the store: what is due, claiming a delivery
//! (its attempt recorded durably before the handler starts), finishing it,
//! and the `order_by` lines that let only the oldest live delivery of a key
//! run. Never runs anything itself.

use super::keys::{
    delivery_key, id_ms, lane, order_key, order_prefix, order_source, split_delivery_key, DueKey, Id, Lane,
};
use super::records::{Attempt, Change, Delivery, Event, State};
use super::{lock, now_ms, Result, Store, StoreError, PARKED};
use bytes::Bytes;

/// How long an accept may take between its first write and its commit
/// marker before its leftovers count as the remains of a failed one.
const UNCOMMITTED_GRACE_MS: u64 = 30_000;

/// A delivery handed to the dispatcher, its attempt already recorded.
#[derive(Debug, Clone)]
pub struct Claim {
    pub due: DueKey,
    pub event: Event,
    pub body: Bytes,
    pub route: String,
    /// The attempt's number (`HOOKD_ATTEMPT`): counts every attempt ever.
    pub attempt: u32,
    /// Its place in the retry budget: counts from the last replay.
    pub attempt_in_round: u32,
}

/// What claiming a due entry came to.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per attempt, moved once: a box buys nothing
pub enum Claimed {
    /// Run it: the attempt is recorded.
    Run(Claim),
    /// Nothing to run for this entry (stale, finished, or parked behind
    /// its `order_by` line).
    Nothing,
}

/// The end of one attempt, as the store records it.
#[derive(Debug, Clone)]
pub struct AttemptEnd {
    pub outcome: String,
    pub exit_code: Option<i32>,
    pub http_status: Option<u16>,
    pub output_tail: String,
    pub next: Next,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Delivered,
    RetryAt(u64),
    Dead(String),
}

impl Store {
    /// Every lane of the due index with its earliest entry's due time (a
    /// running delivery's entry included): one seek per lane, however long
    /// each lane is.
    pub fn lanes(&self) -> Result<Vec<(Lane, u64)>> {
        let mut out = Vec::new();
        let mut from = [0u8; 8];
        while let Some(entry) = self.due.range(from..).next() {
            let (k, _) = entry?;
            let due = DueKey::decode(&k).ok_or_else(|| StoreError::Corrupt("due key".into()))?;
            out.push((due.lane, due.due_ms));
            let Some(next) = due.lane.checked_add(1) else { break };
            from = next.to_be_bytes();
        }
        Ok(out)
    }

    /// Up to `limit` entries of `lane` due at or before `now`, in due
    /// order, skipping those `skip` says are already running.
    pub fn lane_due(&self, lane: Lane, now: u64, limit: usize, skip: impl Fn(&DueKey) -> bool) -> Result<Vec<DueKey>> {
        let start = DueKey { lane, due_ms: 0, id: [0; 16], index: 0 }.encode();
        let end = DueKey { lane, due_ms: now, id: [0xff; 16], index: u16::MAX }.encode();
        let mut out = Vec::new();
        for entry in self.due.range(start..=end) {
            if out.len() >= limit {
                break;
            }
            let (k, _) = entry?;
            let due = DueKey::decode(&k).ok_or_else(|| StoreError::Corrupt("due key".into()))?;
            if !skip(&due) {
                out.push(due);
            }
        }
        Ok(out)
    }

    /// How many entries of `lane` are due at or before `now`, counting up
    /// to `cap`.
    pub fn due_count(&self, lane: Lane, now: u64, cap: usize) -> Result<usize> {
        let start = DueKey { lane, due_ms: 0, id: [0; 16], index: 0 }.encode();
        let end = DueKey { lane, due_ms: now, id: [0xff; 16], index: u16::MAX }.encode();
        let mut n = 0;
        for entry in self.due.range(start..=end).keys().take(cap) {
            entry?;
            n += 1;
        }
        Ok(n)
    }

    /// When the earliest entry of `lane` that `skip` does not exclude is
    /// due, if any.
    pub fn lane_next(&self, lane: Lane, skip: impl Fn(&DueKey) -> bool) -> Result<Option<u64>> {
        for entry in self.due.scan_prefix(lane.to_be_bytes()) {
            let (k, _) = entry?;
            let due = DueKey::decode(&k).ok_or_else(|| StoreError::Corrupt("due key".into()))?;
            if !skip(&due) {
                return Ok(Some(due.due_ms));
            }
        }
        Ok(None)
    }

    /// Start an attempt: validate the due entry against the delivery record
    /// (repairing a stale index entry), check its `order_by` line, record the
    /// attempt, make it durable. Route limits are the dispatcher's (`flow`),
    /// settled before it claims.
    pub async fn claim(&self, due: DueKey) -> Result<Claimed> {
        let claimed = self.claim_sync(due)?;
        if matches!(claimed, Claimed::Run(..)) {
            // Lazily only while accepts wait for their round, which then
            // covers the claim too: a lazy claim with nothing to ride on
            // would hold the handler back (callbacks drained 25–30 %
            // slower, BENCHMARKS.md).
            if self.accepts_in_flight() {
                self.sync_lazily().await?;
            } else {
                self.sync().await?;
            }
        }
        Ok(claimed)
    }

    fn claim_sync(&self, due: DueKey) -> Result<Claimed> {
        let dk = delivery_key(&due.id, due.index);
        let _guard = lock(&self.event_locks, &due.id);
        let Some((event, implies)) = self.event_entry(&due.id)? else {
            return self.unmarked(due).map(|_| Claimed::Nothing);
        };
        let Some(mut delivery) = self.delivery_of(&due.id, due.index, &event, implies)? else {
            return self.unmarked(due).map(|_| Claimed::Nothing);
        };
        if delivery.state.is_terminal() || delivery.next_due_ms != due.due_ms {
            self.repair_due(due, &delivery)?;
            return Ok(Claimed::Nothing);
        }
        if let Some(key) = delivery.order_key.clone() {
            let prefix = order_prefix(&event.source, &delivery.route, &key);
            let _line = lock(&self.locks, &prefix);
            if !self.heads_line(&prefix, &due.id, due.index)? {
                delivery.next_due_ms = PARKED;
                self.put_delivery(&dk, delivery)?;
                self.due.remove(due.encode())?;
                return Ok(Claimed::Nothing);
            }
        }
        let number = delivery.attempts.len() as u32 + 1;
        let route = delivery.route.clone();
        let attempt_in_round = number.saturating_sub(delivery.replayed_after);
        let started_ms = now_ms();
        delivery.attempts.push(Attempt::running(number, started_ms));
        self.put_delivery(&dk, delivery)?;
        self.log(Change::AttemptStarted { id: due.id, index: due.index, number, started_ms })?;
        let body = self.body(&due.id, &event)?;
        Ok(Claimed::Run(Claim { due, event, body, route, attempt: number, attempt_in_round }))
    }

    /// A due entry whose event has no commit marker: an accept still
    /// writing (look again in a second), or the remains of one that failed
    /// or crashed before its ack (nothing was acknowledged: remove them).
    fn unmarked(&self, due: DueKey) -> Result<()> {
        let now = now_ms();
        if id_ms(&due.id) + UNCOMMITTED_GRACE_MS > now {
            self.due.insert(DueKey { due_ms: now + 1000, ..due }.encode(), &[])?;
        } else {
            self.deliveries.remove(delivery_key(&due.id, due.index))?;
        }
        self.due.remove(due.encode())?;
        Ok(())
    }

    /// Whether delivery (id, index) is the oldest live one of its line.
    /// Entries of finished or vanished deliveries ahead of it are removed on
    /// the way; its own entry is (re)written.
    fn heads_line(&self, prefix: &[u8], id: &Id, index: u16) -> Result<bool> {
        let mine = order_key(prefix, id, index);
        for entry in self.order.range(prefix.to_vec()..mine.clone()) {
            let (k, _) = entry?;
            let Some(dk) = k.get(prefix.len()..) else { continue };
            match self.delivery(dk)? {
                Some(d) if !d.state.is_terminal() => return Ok(false),
                _ => {
                    self.order.remove(&k)?;
                }
            }
        }
        self.order.insert(mine, &[])?;
        Ok(true)
    }

    /// Make the due index agree with the record for this delivery.
    fn repair_due(&self, stale: DueKey, delivery: &Delivery) -> Result<()> {
        if !delivery.state.is_terminal() && delivery.next_due_ms != PARKED {
            let right = DueKey { due_ms: delivery.next_due_ms, ..stale };
            self.due.insert(right.encode(), &[])?;
        }
        self.due.remove(stale.encode())?;
        Ok(())
    }

    /// End an attempt. Write order: dead or new due entry, record, the
    /// order line moved on, old due entry removed — any prefix leaves the
    /// record reachable from an index. The end is visible to every reader
    /// at once and durable after [`Store::sync`] (the dispatcher awaits
    /// [`Store::sync_lazily`], after freeing the handler's slot).
    pub fn finish(&self, claim: &Claim, end: AttemptEnd) -> Result<State> {
        let dk = delivery_key(&claim.due.id, claim.due.index);
        let _guard = lock(&self.event_locks, &claim.due.id);
        let mut delivery = self.delivery(&dk)?.ok_or_else(|| StoreError::Corrupt("delivery vanished".into()))?;
        let before = delivery.state;
        let mut ended = None;
        if let Some(attempt) = delivery.attempts.iter_mut().find(|a| a.number == claim.attempt) {
            attempt.ended_ms = Some(now_ms());
            attempt.outcome = end.outcome;
            attempt.exit_code = end.exit_code;
            attempt.http_status = end.http_status;
            attempt.output_tail = end.output_tail;
            ended = Some(attempt.clone());
        }
        let same_key = matches!(end.next, Next::RetryAt(at) if at == claim.due.due_ms);
        match end.next {
            Next::Delivered => delivery.state = State::Delivered,
            Next::Dead(reason) => {
                self.dead.insert(dk, &[])?;
                delivery.state = State::Dead;
                delivery.dead_reason = Some(reason);
            }
            Next::RetryAt(at) => {
                delivery.state = State::Retrying;
                delivery.next_due_ms = at;
                self.due.insert(DueKey { due_ms: at, ..claim.due }.encode(), &[])?;
            }
        }
        let state = delivery.state;
        let order = delivery.order_key.clone();
        let tail_empty = ended.as_ref().is_some_and(|a| a.output_tail.is_empty());
        let logged = ended.map(|attempt| Change::AttemptEnded {
            id: claim.due.id,
            index: claim.due.index,
            attempt,
            state,
            next_due_ms: delivery.next_due_ms,
            dead_reason: delivery.dead_reason.clone(),
        });
        self.put_delivery(&dk, delivery)?;
        if let Some(change) = logged {
            let pos = self.log(change)?;
            self.note_tail(&dk, claim.attempt, tail_empty, pos.into())?;
        }
        if let (Some(key), true) = (order, state.is_terminal()) {
            let prefix = order_prefix(&claim.event.source, &claim.route, &key);
            self.leave_line(&prefix, claim.due.lane, &claim.due.id, claim.due.index)?;
        }
        if !same_key {
            self.due.remove(claim.due.encode())?;
        }
        self.forget_process(&claim.due, claim.attempt)?;
        self.counts.moved(&claim.due.id, &claim.event.source, &claim.route, before, state);
        Ok(state)
    }

    /// A delivery of the line finished: make the next live one due now,
    /// then drop the finished one's entry.
    pub(super) fn leave_line(&self, prefix: &[u8], lane: Lane, id: &Id, index: u16) -> Result<()> {
        let _line = lock(&self.locks, prefix);
        let mine = order_key(prefix, id, index);
        for entry in self.order.scan_prefix(prefix) {
            let (k, _) = entry?;
            if k.as_ref() == mine.as_slice() {
                continue;
            }
            let Some(dk) = k.get(prefix.len()..) else { continue };
            match self.delivery(dk)? {
                Some(d) if !d.state.is_terminal() => {
                    self.promote(dk, lane, d)?;
                    break;
                }
                _ => {
                    self.order.remove(&k)?;
                }
            }
        }
        self.order.remove(mine)?;
        Ok(())
    }

    /// A parked delivery whose turn came: due now.
    fn promote(&self, dk: &[u8], lane: Lane, mut d: Delivery) -> Result<()> {
        if d.next_due_ms != PARKED {
            return Ok(());
        }
        let (id, index) = split_delivery_key(dk).ok_or_else(|| StoreError::Corrupt("order entry".into()))?;
        let now = now_ms();
        self.due.insert(DueKey { lane, due_ms: now, id, index }.encode(), &[])?;
        d.next_due_ms = now;
        self.put_delivery(dk, d)
    }

    /// At open: a line whose oldest live delivery is parked (a crash between
    /// a head finishing and its successor's promotion) gets it promoted.
    pub(super) fn repair_order_lines(&self) -> Result<()> {
        let mut last_line: Option<Vec<u8>> = None;
        for entry in self.order.iter() {
            let (k, _) = entry?;
            let Some(split) = k.len().checked_sub(18) else { continue };
            let (line, dk) = k.split_at(split);
            if last_line.as_deref() == Some(line) {
                continue;
            }
            match self.delivery(dk)? {
                Some(d) if !d.state.is_terminal() => {
                    last_line = Some(line.to_vec());
                    let source = order_source(line).ok_or_else(|| StoreError::Corrupt("order entry".into()))?;
                    self.promote(dk, lane(source, &d.route), d)?;
                }
                _ => {
                    self.order.remove(&k)?;
                }
            }
        }
        Ok(())
    }
}
