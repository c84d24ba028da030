//! What is running: the store's due index is the truth of what may run;
//! this holds only a wake-up (carrying nothing) and the set of deliveries
//! running right now — so a lost wake-up costs latency, never an event.

use crate::store::keys::{DueKey, Id};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

#[derive(Clone, Default)]
pub struct Queue {
    wake: Arc<Notify>,
    running: Arc<Mutex<HashSet<(Id, u16)>>>,
}

impl Queue {
    /// Something became due or runnable (a new event, a replay, a resume):
    /// look again now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Running: not to be handed out again.
    pub fn is_running(&self, due: &DueKey) -> bool {
        self.lock().contains(&(due.id, due.index))
    }

    /// Mark a delivery running; false if it already was.
    pub fn start(&self, due: &DueKey) -> bool {
        self.lock().insert((due.id, due.index))
    }

    pub fn done(&self, due: &DueKey) {
        self.lock().remove(&(due.id, due.index));
    }

    pub fn running(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<(Id, u16)>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }
}
