//! The runtime that background work runs on — the dispatcher's claims and
//! attempt ends, callbacks, the janitor — on threads below the ack path's
//! CPU priority, so that when ingress and the backlog compete for the
//! cores, the kernel gives them to the acks (SPEC §1.7). Owns no work of
//! its own; never runs anything a sender waits for.
//!
//! One worker thread (plus tokio's blocking pool, lowered the same way).
//! Three levels: ingress at hookd's own priority, this runtime at half of
//! `[dispatch] nice` (the bookkeeping that keeps handler slots full), the
//! handlers themselves at `[dispatch] nice` (`command.rs`'s spawner).
//! Linux keeps a nice value per thread, so lowering these threads touches
//! nothing else in the process.
//!
//! And one rule that follows the load: a handler that starts while acks
//! are waiting (a request's body is in and its answer is not yet written)
//! starts at the lowest priority, nice 19, instead of `[dispatch] nice`.
//! Nice values weigh per process, so sixteen handlers at nice 10 together
//! outweigh the ack path's two threads (16 × 110 against 2 × 1024); at 19
//! they weigh 16 × 15. A handler started while ingress is idle keeps
//! `[dispatch] nice`, and when no core is contended the value changes
//! nothing.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use tokio::runtime::{Handle, Runtime};

static RUNTIME: OnceLock<Option<Runtime>> = OnceLock::new();
/// `[dispatch] nice`: what handlers run at (`command.rs` asks).
static HANDLER_NICE: OnceLock<i32> = OnceLock::new();
/// Requests whose body is in and whose answer is not yet written.
static ACKS_WAITING: AtomicUsize = AtomicUsize::new(0);
/// The lowest priority Linux has: what a handler starts at while acks wait.
pub const BUSY_NICE: i32 = 19;

/// The nice value of the background threads for `[dispatch] nice` = `nice`.
pub fn nice_for(nice: i32) -> i32 {
    nice / 2
}

/// Take the priorities from `[dispatch] nice` and hand out the background
/// runtime, built on first use at `nice_for(nice)`. The first call decides
/// both; a restart takes a new value. `None` when the runtime cannot be
/// built: the caller runs the work on its own runtime, at hookd's priority
/// (said in the log); handlers still run at `nice`.
pub fn handle(nice: i32) -> Option<Handle> {
    let _ = HANDLER_NICE.set(nice);
    RUNTIME
        .get_or_init(|| match build(nice_for(nice)) {
            Ok(rt) => Some(rt),
            Err(e) => {
                tracing::warn!(error = %e, "no background runtime; dispatch runs at the ack path's priority");
                None
            }
        })
        .as_ref()
        .map(|rt| rt.handle().clone())
}

/// The nice value handlers and alert commands run at (0 until `handle`).
pub fn handler_nice() -> i32 {
    HANDLER_NICE.get().copied().unwrap_or(0)
}

/// The nice value a handler starting now gets: `BUSY_NICE` while acks
/// wait, `[dispatch] nice` otherwise; 0 (off) stays 0.
pub fn handler_nice_now() -> i32 {
    start_nice(handler_nice(), ACKS_WAITING.load(Ordering::Relaxed))
}

fn start_nice(nice: i32, acks_waiting: usize) -> i32 {
    if nice > 0 && acks_waiting > 0 {
        nice.max(BUSY_NICE)
    } else {
        nice
    }
}

/// Held by ingress from a request's last body byte to its answer.
pub struct AckWaiting(());

impl AckWaiting {
    pub fn begin() -> AckWaiting {
        ACKS_WAITING.fetch_add(1, Ordering::Relaxed);
        AckWaiting(())
    }
}

impl Drop for AckWaiting {
    fn drop(&mut self) {
        ACKS_WAITING.fetch_sub(1, Ordering::Relaxed);
    }
}

fn build(nice: i32) -> io::Result<Runtime> {
    // One worker: the backlog's bookkeeping never takes more than one core
    // from the acks, even before the scheduler weighs priorities (measured:
    // two workers gave callbacks 5.9k acks/s, one 8.2k; BENCHMARKS.md).
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("hookd-background")
        .on_thread_start(move || lower_priority(nice))
        .enable_all()
        .build()
}

/// Lower the calling thread's priority to `nice` (0: leave it).
pub fn lower_priority(nice: i32) {
    if nice <= 0 {
        return;
    }
    // SAFETY: setpriority on this thread's own id; no memory is involved.
    let tid = unsafe { libc::gettid() } as libc::id_t;
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, nice) } != 0 {
        tracing::warn!(error = %io::Error::last_os_error(), nice, "could not lower a background thread's priority");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handlers_start_lowest_while_acks_wait() {
        assert_eq!(start_nice(10, 0), 10);
        assert_eq!(start_nice(10, 3), BUSY_NICE);
        assert_eq!(start_nice(0, 3), 0, "nice 0 turns priorities off, busy or not");
        assert_eq!(start_nice(19, 1), 19);
    }
}
