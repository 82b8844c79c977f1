//! A per-user rate limit that forgets users once they are idle, so its memory follows the
//! users active in the last window, not every user ever seen.

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

pub struct PerUserLimit {
    limiter: DefaultKeyedRateLimiter<String>,
}

impl PerUserLimit {
    pub fn per_minute(calls: u32) -> Self {
        let calls = NonZeroU32::new(calls).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: RateLimiter::keyed(Quota::per_minute(calls)),
        }
    }

    /// Takes one call from the user's allowance, or says in how many seconds to retry
    /// (rounded up, so a client that waits exactly that long is not refused again).
    pub fn check(&self, user: &str) -> Result<(), u64> {
        self.limiter
            .check_key(&user.to_owned())
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
            })
    }

    /// Drops the users whose allowance is full again: they are indistinguishable from users
    /// never seen. Called periodically.
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// Users currently remembered.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.limiter.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::PerUserLimit;

    #[test]
    fn users_whose_allowance_refilled_are_forgotten() {
        // 600 a minute: one call refills in 100 ms.
        let limit = PerUserLimit::per_minute(600);
        for n in 0..1_000 {
            assert!(limit.check(&format!("user-{n}")).is_ok());
        }
        assert_eq!(limit.tracked(), 1_000);
        std::thread::sleep(Duration::from_millis(250));
        limit.forget_idle();
        assert_eq!(limit.tracked(), 0, "idle users are not kept");
    }

    #[test]
    fn a_user_past_the_limit_is_told_when_to_retry() {
        let limit = PerUserLimit::per_minute(1);
        assert!(limit.check("u").is_ok());
        let retry = limit.check("u").expect_err("second call in the minute");
        assert!((1..=60).contains(&retry), "{retry}");
    }
}
