//! The time that expiry decisions trust (dedup windows, retention): the
//! wall clock, unless it ran ahead of the monotonic clock — a step forward
//! (an NTP step, a bad RTC corrected) — then the time the monotonic clock
//! says, until the wall clock has kept in step with it for `STEADY`. So a
//! jump forward never expires a dedup key or an event early; a step back
//! only keeps things longer. Never used to stamp records (that is the wall
//! clock, `now_ms`).

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How far the wall clock may run ahead of the monotonic one unnoticed.
const SLACK_MS: u64 = 2_000;
/// How long a wall clock that jumped must then keep in step to be trusted.
pub const STEADY: Duration = Duration::from_secs(600);

pub(super) struct Clock(Mutex<State>);

struct State {
    /// Wall time at `at`, trusted.
    wall: u64,
    at: Instant,
    /// The wall clock is ahead by about `offset` ms since `since`.
    ahead: Option<(u64, Instant)>,
}

impl Clock {
    pub fn new() -> Clock {
        Clock(Mutex::new(State { wall: super::now_ms(), at: Instant::now(), ahead: None }))
    }

    /// Now, for deciding that something expired.
    pub fn expiry_now(&self) -> u64 {
        self.at(super::now_ms(), Instant::now())
    }

    fn at(&self, wall: u64, now: Instant) -> u64 {
        let mut st = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let mono = st.wall + now.saturating_duration_since(st.at).as_millis() as u64;
        if wall <= mono + SLACK_MS {
            // In step (or behind, which only keeps things longer): follow it.
            if st.ahead.take().is_some() {
                tracing::info!("the wall clock is back in step with the monotonic clock");
            }
            *st = State { wall, at: now, ahead: None };
            return wall;
        }
        let offset = wall - mono;
        match st.ahead {
            Some((seen, since)) if seen.abs_diff(offset) <= SLACK_MS => {
                if now.saturating_duration_since(since) >= STEADY {
                    tracing::info!(
                        jumped_ms = offset,
                        "the wall clock kept in step since it jumped; trusting it again"
                    );
                    *st = State { wall, at: now, ahead: None };
                    return wall;
                }
            }
            _ => {
                tracing::warn!(
                    jumped_ms = offset,
                    "the wall clock jumped forward: dedup windows and retention follow the monotonic clock until it has kept in step for {}",
                    humantime::format_duration(STEADY)
                );
                st.ahead = Some((offset, now));
            }
        }
        mono
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forward_jump_is_not_trusted_until_steady() {
        let clock = Clock::new();
        let (wall, t0) = {
            let st = clock.0.lock().unwrap();
            (st.wall, st.at)
        };
        let s = |secs: u64| t0 + Duration::from_secs(secs);
        assert_eq!(clock.at(wall + 1_000, s(1)), wall + 1_000, "in step");
        let hour = 3_600_000;
        assert_eq!(clock.at(wall + 2_000 + hour, s(2)), wall + 2_000, "a jump: monotonic time");
        assert_eq!(clock.at(wall + 302_000 + hour, s(302)), wall + 302_000, "still held");
        let later = 2 + STEADY.as_secs();
        assert_eq!(clock.at(wall + later * 1000 + hour, s(later)), wall + later * 1000 + hour, "steady: trusted");
        assert_eq!(clock.at(wall, s(later + 1)), wall, "a step back is followed at once");
    }
}
