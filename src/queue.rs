//! What may run next: the store's due index is the truth; this holds only a
//! wake-up (carrying nothing), the set of deliveries running right now, and
//! those set aside because their route is at its concurrency limit — so a
//! lost wake-up costs latency, never an event.

use crate::store::keys::{DueKey, Id};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// A route, named within its source.
pub type RouteKey = (String, String);

#[derive(Clone, Default)]
pub struct Queue {
    wake: Arc<Notify>,
    state: Arc<Mutex<Held>>,
}

#[derive(Default)]
struct Held {
    running: HashSet<(Id, u16)>,
    deferred: HashMap<RouteKey, HashSet<(Id, u16)>>,
}

impl Queue {
    /// Something became due (a new event, a replay): look again now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Running, or waiting for its route: not to be handed out again.
    pub fn is_held(&self, due: &DueKey) -> bool {
        let held = self.lock();
        let key = (due.id, due.index);
        held.running.contains(&key) || held.deferred.values().any(|s| s.contains(&key))
    }

    /// Mark a delivery running; false if it already was.
    pub fn start(&self, due: &DueKey) -> bool {
        self.lock().running.insert((due.id, due.index))
    }

    pub fn done(&self, due: &DueKey) {
        self.lock().running.remove(&(due.id, due.index));
    }

    pub fn running(&self) -> usize {
        self.lock().running.len()
    }

    /// Set a delivery aside until `route` has room again.
    pub fn defer(&self, route: RouteKey, due: &DueKey) {
        self.lock().deferred.entry(route).or_default().insert((due.id, due.index));
    }

    /// `route` has room again: what waited for it may be handed out.
    pub fn release(&self, route: &RouteKey) {
        if self.lock().deferred.remove(route).is_some() {
            self.wake();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}
