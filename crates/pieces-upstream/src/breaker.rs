//! A circuit breaker: after `threshold` failures in a row calls are refused at once for
//! `cooldown`, then one trial call decides whether to close again.

use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct CircuitBreaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Clone, Copy)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// A trial call is out; if it never reports back, another is allowed after `cooldown`.
    HalfOpen {
        since: Instant,
    },
}

impl CircuitBreaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cooldown,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    /// Whether a call may go out now.
    pub fn allow(&self) -> bool {
        let Ok(mut state) = self.state.lock() else {
            return true;
        };
        let now = Instant::now();
        match *state {
            State::Closed { .. } => true,
            State::Open { until } | State::HalfOpen { since: until } if now < until => false,
            State::Open { .. } | State::HalfOpen { .. } => {
                *state = State::HalfOpen {
                    since: now + self.cooldown,
                };
                true
            }
        }
    }

    pub fn record_success(&self) {
        if let Ok(mut state) = self.state.lock() {
            *state = State::Closed { failures: 0 };
        }
    }

    pub fn record_failure(&self) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let open = State::Open {
            until: Instant::now() + self.cooldown,
        };
        *state = match *state {
            State::Closed { failures } if failures + 1 < self.threshold => State::Closed {
                failures: failures + 1,
            },
            _ => open,
        };
    }

    pub fn is_open(&self) -> bool {
        self.state
            .lock()
            .map(|s| !matches!(*s, State::Closed { .. }))
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_and_closes_after_a_good_trial() {
        let breaker = CircuitBreaker::new(2, Duration::from_millis(30));
        breaker.record_failure();
        assert!(breaker.allow());
        breaker.record_failure();
        assert!(!breaker.allow(), "open after two failures");
        std::thread::sleep(Duration::from_millis(40));
        assert!(breaker.allow(), "one trial after the cooldown");
        assert!(!breaker.allow(), "only one trial at a time");
        breaker.record_success();
        assert!(breaker.allow() && !breaker.is_open());
    }

    #[test]
    fn a_failed_trial_opens_again() {
        let breaker = CircuitBreaker::new(1, Duration::from_millis(20));
        breaker.record_failure();
        std::thread::sleep(Duration::from_millis(30));
        assert!(breaker.allow());
        breaker.record_failure();
        assert!(!breaker.allow());
    }
}
