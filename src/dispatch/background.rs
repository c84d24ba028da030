//! The runtime that background work runs on — the dispatcher's claims and
//! attempt ends, callbacks, the janitor — on threads below the ack path's
//! CPU priority, so that when ingress and the backlog compete for the
//! cores, the kernel gives them to the acks (SPEC §1.7). Owns no work of
//! its own; never runs anything a sender waits for.
//!
//! One worker thread (plus tokio's blocking pool, lowered the same way), at
//! nice 19 whenever `[dispatch] nice` is on: the bookkeeping mostly waits
//! (on handlers, on commits) and needs short slices, so the lowest weight
//! costs the drain nothing measurable while it gives the acks the cores
//! (BENCHMARKS.md: with the scan rule below, callbacks +11–15 % acks and
//! p99 5.7–6.9 → 3.9–4.2 ms against the half of `[dispatch] nice` this ran
//! at before). Handlers run at `[dispatch] nice` (`command.rs`'s spawner).
//! Linux keeps a nice value per thread, so lowering these threads touches
//! nothing else in the process.
//!
//! Two rules follow the load, both keyed on acks waiting (a request's body
//! is in and its answer not yet written):
//!
//! - a handler that starts while acks wait starts at nice 19 instead of
//!   `[dispatch] nice`. Nice values weigh per process, so sixteen handlers
//!   at nice 10 together outweigh the ack path's two threads (16 × 110
//!   against 2 × 1024); at 19 they weigh 16 × 15. A handler started while
//!   ingress is idle keeps `[dispatch] nice`;
//! - the dispatcher's scan waits while acks wait (`gather`: up to 2 ms, or
//!   until half the slots are free), so the slots freed meanwhile start in
//!   one scan instead of one scan per finished attempt.
//!
//! When no core is contended neither changes anything.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tokio::runtime::{Handle, Runtime};

static RUNTIME: OnceLock<Option<Runtime>> = OnceLock::new();
/// `[dispatch] nice`: what handlers run at (`command.rs` asks).
static HANDLER_NICE: OnceLock<i32> = OnceLock::new();
/// Requests whose body is in and whose answer is not yet written.
static ACKS_WAITING: AtomicUsize = AtomicUsize::new(0);
/// The lowest priority Linux has: what a handler starts at while acks
/// wait, and what the background threads run at.
pub const BUSY_NICE: i32 = 19;

/// The longest the dispatcher holds a scan back while acks wait.
const GATHER: Duration = Duration::from_millis(2);

/// The nice value of the background threads for `[dispatch] nice` = `nice`:
/// the lowest, unless priorities are off.
pub fn nice_for(nice: i32) -> i32 {
    if nice > 0 {
        BUSY_NICE
    } else {
        0
    }
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

/// Before a scan of the due index: while acks are waiting and fewer than
/// half of the `total` slots are free (`free` says how many), wait in 1 ms
/// steps, for `GATHER` at most, so the slots freed meanwhile start together.
/// `[dispatch] nice = 0` (isolation off) never waits.
pub async fn gather(free: impl Fn() -> usize, total: usize) {
    if handler_nice() == 0 {
        return;
    }
    let since = Instant::now();
    while holds_back(ACKS_WAITING.load(Ordering::Relaxed), free(), total) && since.elapsed() < GATHER {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn holds_back(acks_waiting: usize, free: usize, total: usize) -> bool {
    acks_waiting > 0 && free * 2 < total
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

    #[test]
    fn background_threads_run_lowest_unless_priorities_are_off() {
        assert_eq!(nice_for(10), BUSY_NICE);
        assert_eq!(nice_for(1), BUSY_NICE);
        assert_eq!(nice_for(0), 0);
    }

    #[test]
    fn scans_wait_only_while_acks_wait_and_most_slots_are_busy() {
        assert!(holds_back(1, 1, 16));
        assert!(holds_back(4, 7, 16));
        assert!(!holds_back(1, 8, 16), "half the slots free: scan now");
        assert!(!holds_back(0, 1, 16), "no ack waiting: scan now");
        assert!(!holds_back(1, 1, 1), "one slot: nothing to gather");
    }
}
