//! `load burn-handler --cpu-ms <f64>`: a command handler with a known CPU
//! cost. Reads its stdin (the event body hookd hands it) to EOF, then
//! spins until its own process CPU time (`CLOCK_PROCESS_CPUTIME_ID`) has
//! grown by `cpu_ms`, and exits 0. Exec, start-up and the read come on top
//! of `cpu_ms`: they are what any real handler pays as well.

use std::io::Read;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The largest burn accepted: hookd's route timeout in the load config is 30 s.
pub const MAX_CPU_MS: f64 = 10_000.0;

/// `--cpu-ms`: a finite number of milliseconds in `0..=MAX_CPU_MS`.
pub fn parse_cpu_ms(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|e| format!("{s:?} is not a number: {e}"))?;
    if v.is_finite() && (0.0..=MAX_CPU_MS).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{s} is not within 0..={MAX_CPU_MS} ms"))
    }
}

pub fn run(cpu_ms: f64) -> ExitCode {
    // hookd's stdin is a file holding the body (at most its max_body), so
    // EOF comes; the cap only bounds a misuse by hand.
    if let Err(e) = std::io::copy(&mut std::io::stdin().lock().take(1 << 30), &mut std::io::sink()) {
        eprintln!("burn-handler: reading stdin: {e}");
        return ExitCode::FAILURE;
    }
    match burn(Duration::from_secs_f64(cpu_ms / 1000.0)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("burn-handler: {e}");
            ExitCode::FAILURE
        }
    }
}

fn cpu_time() -> Result<Duration, String> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec we own; nothing else.
    if unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) } != 0 {
        return Err(format!("clock_gettime(CLOCK_PROCESS_CPUTIME_ID): {}", std::io::Error::last_os_error()));
    }
    Ok(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// Spin until `amount` more CPU time is used. Bounded in wall time (a
/// machine so loaded that the burn gets under 1% of a core gives up) and
/// in iterations (a clock that never moves).
fn burn(amount: Duration) -> Result<(), String> {
    let until = cpu_time()? + amount;
    let wall_limit = Instant::now() + amount * 100 + Duration::from_secs(1);
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    // Each round is a system call (this clock has no vDSO fast path, ~1 µs
    // in a VM) plus ~10 µs of arithmetic, so the burn is mostly user time,
    // as a real handler's would be, and overshoots by ~10 µs at most. The
    // count bound is days; the wall limit comes first.
    for _ in 0..10_000_000_000u64 {
        if cpu_time()? >= until {
            return Ok(());
        }
        if Instant::now() > wall_limit {
            return Err(format!("gave up: {amount:?} of CPU not used within {:?} of wall time", amount * 100));
        }
        for _ in 0..5_000 {
            x = std::hint::black_box(x.rotate_left(5) ^ x.wrapping_mul(0x2545_f491_4f6c_dd1d));
        }
    }
    Err("gave up: the CPU clock did not advance".into())
}
