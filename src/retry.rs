//! Retry timing as a pure function: (policy, attempt, outcome, rng) → what
//! happens next. Exponential backoff with full jitter, capped. No IO, no clock.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, the first included.
    pub attempts: u32,
    pub initial: Duration,
    pub max: Duration,
}

impl Default for RetryPolicy {
    /// 20 attempts, 5 s doubling to a 1 h cap: the 19 gaps average ≈ 5 h in
    /// total, and a one-hour handler outage is ridden out with certainty
    /// short of ~1e-6 (see `defaults_ride_out_an_hour`).
    fn default() -> Self {
        RetryPolicy { attempts: 20, initial: Duration::from_secs(5), max: Duration::from_secs(3600) }
    }
}

/// What one attempt's handler said, as data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Try again; `after` is the handler's own `Retry-After`, when it gave one.
    Retry {
        after: Option<Duration>,
        reason: String,
    },
    /// Never try again (a permanent exit code or a 4xx).
    Dead {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Delivered,
    RetryIn(Duration),
    Dead(String),
}

/// A `Retry-After` longer than this is clamped: a handler cannot park an
/// event for a month.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Decide what follows attempt number `attempt` (1-based). `rand01` yields a
/// uniform value in [0, 1).
pub fn next(policy: &RetryPolicy, attempt: u32, outcome: Outcome, rand01: impl FnOnce() -> f64) -> Next {
    match outcome {
        Outcome::Delivered => Next::Delivered,
        Outcome::Dead { reason } => Next::Dead(reason),
        Outcome::Retry { reason, .. } if attempt >= policy.attempts => {
            Next::Dead(format!("gave up after {attempt} attempts: {reason}"))
        }
        Outcome::Retry { after: Some(after), .. } => Next::RetryIn(after.min(MAX_RETRY_AFTER)),
        Outcome::Retry { after: None, .. } => Next::RetryIn(backoff(policy, attempt, rand01())),
    }
}

/// Full jitter: uniform in [0, min(max, initial · 2^(attempt-1))].
pub fn backoff(policy: &RetryPolicy, attempt: u32, rand01: f64) -> Duration {
    let exp = attempt.saturating_sub(1).min(40);
    let cap = policy.initial.saturating_mul(1u32 << exp.min(31)).min(policy.max);
    cap.mul_f64(rand01.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry() -> Outcome {
        Outcome::Retry { after: None, reason: "exit 1".into() }
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy { attempts: 10, initial: Duration::from_secs(5), max: Duration::from_secs(60) };
        assert_eq!(backoff(&p, 1, 1.0), Duration::from_secs(5));
        assert_eq!(backoff(&p, 2, 1.0), Duration::from_secs(10));
        assert_eq!(backoff(&p, 4, 1.0), Duration::from_secs(40));
        assert_eq!(backoff(&p, 5, 1.0), Duration::from_secs(60));
        assert_eq!(backoff(&p, 1000, 0.5), Duration::from_secs(30));
        assert_eq!(backoff(&p, 3, 0.0), Duration::ZERO);
    }

    #[test]
    fn last_attempt_goes_dead_and_permanent_is_immediate() {
        let p = RetryPolicy { attempts: 3, ..RetryPolicy::default() };
        assert!(matches!(next(&p, 2, retry(), || 0.5), Next::RetryIn(_)));
        assert!(matches!(next(&p, 3, retry(), || 0.5), Next::Dead(r) if r.contains("3 attempts")));
        let dead = Outcome::Dead { reason: "exit 65".into() };
        assert_eq!(next(&p, 1, dead, || 0.5), Next::Dead("exit 65".into()));
        assert_eq!(next(&p, 1, Outcome::Delivered, || 0.5), Next::Delivered);
    }

    #[test]
    fn retry_after_is_honoured_and_clamped() {
        let p = RetryPolicy::default();
        let o = |s| Outcome::Retry { after: Some(Duration::from_secs(s)), reason: "429".into() };
        assert_eq!(next(&p, 1, o(120), || 0.0), Next::RetryIn(Duration::from_secs(120)));
        assert_eq!(next(&p, 1, o(10_000_000), || 0.0), Next::RetryIn(MAX_RETRY_AFTER));
    }

    /// Over many random schedules, the default policy never gives up within
    /// the first hour of a total outage.
    #[test]
    fn defaults_ride_out_an_hour() {
        let p = RetryPolicy::default();
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..20_000 {
            let total: Duration = (1..p.attempts).map(|a| backoff(&p, a, rng.f64())).sum();
            assert!(total > Duration::from_secs(3600), "schedule too short: {total:?}");
        }
    }
}
