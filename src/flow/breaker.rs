//! A route's circuit breaker as a pure state machine: closed (counting
//! failures in a row), open until a time, or probing (one attempt let
//! through after the cool-down). No clock, no IO: callers pass `now`.

use std::time::Duration;

/// `breaker = { failures, cool_down }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub failures: u32,
    pub cool_down: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy { failures: 10, cool_down: Duration::from_secs(60) }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Closed {
        failures: u32,
    },
    Open {
        until_ms: u64,
    },
    /// The cool-down ended and one attempt (the probe) was let through.
    Probing,
}

impl Default for State {
    fn default() -> Self {
        State::Closed { failures: 0 }
    }
}

/// What an attempt's end said about the route (not about its event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The handler did its work.
    Worked,
    /// A failure that is retried (exit non-zero, 5xx, timeout, no connection).
    Failed,
    /// The handler answered and refused this event for good (a permanent
    /// exit code, a 4xx): the route is up, so this counts as working.
    Refused,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Opened after `failures` in a row (from closed: alert-worthy).
    Opened {
        until_ms: u64,
        failures: u32,
    },
    /// The probe failed: open again.
    Reopened {
        until_ms: u64,
    },
    Closed,
}

/// How many attempts the breaker lets start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowance {
    Any,
    /// Only the probe.
    One,
    /// None until `until_ms` (`None`: until the probe in flight ends).
    None {
        until_ms: Option<u64>,
    },
}

impl State {
    pub fn allowance(&self, now_ms: u64) -> Allowance {
        match *self {
            State::Closed { .. } => Allowance::Any,
            State::Open { until_ms } if now_ms >= until_ms => Allowance::One,
            State::Open { until_ms } => Allowance::None { until_ms: Some(until_ms) },
            State::Probing => Allowance::None { until_ms: None },
        }
    }

    /// Attempts were started under `allowance(now)`: an open breaker whose
    /// cool-down ended is probing now.
    pub fn started(&mut self, now_ms: u64) {
        if matches!(*self, State::Open { until_ms } if now_ms >= until_ms) {
            *self = State::Probing;
        }
    }

    /// The probe handed out did not run: probing may start again at once.
    pub fn unstarted(&mut self) {
        if *self == State::Probing {
            *self = State::Open { until_ms: 0 };
        }
    }

    /// An attempt ended.
    pub fn ended(&mut self, policy: &Policy, verdict: Verdict, now_ms: u64) -> Option<Transition> {
        let until_ms = now_ms.saturating_add(policy.cool_down.as_millis() as u64);
        match (*self, verdict) {
            (State::Closed { .. }, Verdict::Worked | Verdict::Refused) => {
                *self = State::Closed { failures: 0 };
                None
            }
            (State::Closed { failures }, Verdict::Failed) => {
                let failures = failures.saturating_add(1);
                if failures >= policy.failures.max(1) {
                    *self = State::Open { until_ms };
                    Some(Transition::Opened { until_ms, failures })
                } else {
                    *self = State::Closed { failures };
                    None
                }
            }
            (State::Open { .. } | State::Probing, Verdict::Worked | Verdict::Refused) => {
                *self = State::Closed { failures: 0 };
                Some(Transition::Closed)
            }
            (State::Probing, Verdict::Failed) => {
                *self = State::Open { until_ms };
                Some(Transition::Reopened { until_ms })
            }
            // An attempt started before the breaker opened failed too.
            (State::Open { .. }, Verdict::Failed) => None,
        }
    }

    /// The route is down as far as the breaker knows: its deliveries wait
    /// instead of using up their retries.
    pub fn is_open(&self) -> bool {
        !matches!(self, State::Closed { .. })
    }

    /// When an open breaker lets its probe through.
    pub fn open_until(&self) -> Option<u64> {
        match *self {
            State::Open { until_ms } => Some(until_ms),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Policy = Policy { failures: 3, cool_down: Duration::from_secs(60) };

    #[test]
    fn opens_after_failures_in_a_row_probes_once_and_closes_on_success() {
        let mut b = State::default();
        assert_eq!(b.ended(&P, Verdict::Failed, 0), None);
        assert_eq!(b.ended(&P, Verdict::Worked, 1), None, "a success resets the count");
        assert_eq!(b.ended(&P, Verdict::Failed, 2), None);
        assert_eq!(b.ended(&P, Verdict::Failed, 3), None);
        assert_eq!(b.ended(&P, Verdict::Failed, 4), Some(Transition::Opened { until_ms: 60_004, failures: 3 }));
        assert_eq!(b.allowance(60_003), Allowance::None { until_ms: Some(60_004) });
        assert_eq!(b.ended(&P, Verdict::Failed, 5), None, "a late failure changes nothing");
        assert_eq!(b.allowance(60_004), Allowance::One);
        b.started(60_004);
        assert_eq!(b.allowance(60_005), Allowance::None { until_ms: None }, "one probe at a time");
        assert_eq!(b.ended(&P, Verdict::Failed, 61_000), Some(Transition::Reopened { until_ms: 121_000 }));
        b.started(121_000);
        b.unstarted();
        assert_eq!(b.allowance(121_000), Allowance::One, "a probe that never ran frees the next");
        b.started(121_000);
        assert!(b.is_open());
        assert_eq!(b.ended(&P, Verdict::Refused, 121_500), Some(Transition::Closed), "the route answered");
        assert_eq!(b.allowance(121_500), Allowance::Any);
    }

    #[test]
    fn refusals_do_not_count_as_failures() {
        let mut b = State::default();
        for now in 0..10 {
            assert_eq!(b.ended(&P, Verdict::Refused, now), None);
        }
        assert_eq!(b, State::Closed { failures: 0 });
    }
}
