//! What each record of the write-ahead log means to the index: `apply`
//! writes one `Change` into sled as the live path did, and does nothing
//! more when the index already shows it (or shows something newer), so the
//! replay at open can run over an index that is ahead of the checkpoint.
//! Never appends to the log and never decides anything: records carry the
//! values they result in.

use super::keys::{delivery_key, lane, order_key, order_prefix, DueKey, Id};
use super::records::{Body, Change, Event, EventRecord, LogPos};
use super::{encode, lock, Fresh, Result, Store, PARKED};

impl Store {
    /// Apply a record found in the log at `pos` to the index.
    pub(super) fn apply(&self, pos: LogPos, change: Change) -> Result<()> {
        match change {
            Change::Accepted { id, event, order_keys } => {
                let len = match &event.body {
                    Body::Inline(b) => b.len() as u64,
                    _ => 0,
                };
                let event = Event { body: Body::Logged { pos, len }, ..event };
                self.apply_accepted(&id, event, &order_keys, Fresh::Replay)
            }
            Change::AttemptStarted { id, index, number, started_ms } => {
                self.apply_started(&id, index, number, started_ms)
            }
            Change::AttemptEnded { id, index, attempt, state, next_due_ms, dead_reason } => {
                let _guard = lock(&self.event_locks, &id);
                let dk = delivery_key(&id, index);
                let Some(mut d) = self.delivery(&dk)? else { return Ok(()) };
                let number = attempt.number;
                self.note_tail(&dk, number, attempt.output_tail.is_empty(), pos)?;
                let known = d.attempts.len() as u32;
                let latest = known == number;
                if number == 0 || number > known + 1 {
                    return Ok(());
                }
                match d.attempts.get_mut(number as usize - 1) {
                    Some(slot) if slot.ended_ms.is_none() || latest => *slot = attempt,
                    Some(_) => {}
                    None => d.attempts.push(attempt),
                }
                // Only the latest attempt sets the state, and only when no
                // replay came after it.
                if d.attempts.len() as u32 != number || d.replayed_after >= number {
                    return self.put_delivery(&dk, d);
                }
                d.state = state;
                d.next_due_ms = next_due_ms;
                d.dead_reason = dead_reason;
                if state == super::State::Dead {
                    self.dead.insert(dk, &[])?;
                } else if !state.is_terminal() {
                    let source = self.event(&id)?.map(|e| e.source).unwrap_or_default();
                    let lane = lane(&source, &d.route);
                    self.due.insert(DueKey { lane, due_ms: next_due_ms, id, index }.encode(), &[])?;
                }
                self.put_delivery(&dk, d)
            }
            Change::Replayed { id, index, at_ms, replayed_after } => {
                let _guard = lock(&self.event_locks, &id);
                let dk = delivery_key(&id, index);
                let Some(mut d) = self.delivery(&dk)? else { return Ok(()) };
                let Some(event) = self.event(&id)? else { return Ok(()) };
                if d.attempts.len() as u32 != replayed_after || d.replayed_after > replayed_after {
                    return Ok(()); // attempts ran after the replay: it is in the index
                }
                if let Some(k) = &d.order_key {
                    self.order.insert(order_key(&order_prefix(&event.source, &d.route, k), &id, index), &[])?;
                }
                let lane = lane(&event.source, &d.route);
                self.due.insert(DueKey { lane, due_ms: at_ms, id, index }.encode(), &[])?;
                d.state = super::State::Pending;
                d.next_due_ms = at_ms;
                d.dead_reason = None;
                d.replayed_after = replayed_after;
                self.put_delivery(&dk, d)?;
                self.dead.remove(dk)?;
                Ok(())
            }
            Change::Routed { id, routes, order_keys, at_ms } => {
                let _guard = lock(&self.event_locks, &id);
                let Some(mut event) = self.event(&id)? else { return Ok(()) };
                if !event.routes.is_empty() {
                    return Ok(());
                }
                let new: Vec<super::NewDelivery> = routes
                    .iter()
                    .enumerate()
                    .map(|(i, r)| super::NewDelivery {
                        route: r.clone(),
                        order_key: order_keys.get(i).cloned().flatten(),
                    })
                    .collect();
                self.add_deliveries(&id, &event.source, &new, at_ms, true)?;
                event.routes = routes;
                self.events.insert(id, encode(&EventRecord::V1(event))?)?;
                Ok(())
            }
            Change::Removed { id } => {
                let _guard = lock(&self.event_locks, &id);
                match self.event_view(&id)? {
                    Some(view) => self.remove_from_index(&view),
                    None => Ok(()),
                }
            }
        }
    }

    /// An attempt recorded before its handler started; also the live path.
    pub(super) fn apply_started(&self, id: &Id, index: u16, number: u32, started_ms: u64) -> Result<()> {
        let _guard = lock(&self.event_locks, id);
        let dk = delivery_key(id, index);
        let Some(mut d) = self.delivery(&dk)? else { return Ok(()) };
        if d.attempts.len() as u32 + 1 != number {
            return Ok(());
        }
        d.attempts.push(super::records::Attempt::running(number, started_ms));
        if d.next_due_ms == PARKED {
            d.next_due_ms = started_ms;
        }
        self.put_delivery(&dk, d)
    }
}
