//! Platform JWTs already verified, remembered until they expire. A client sends the same
//! token with every request for the token's lifetime; checking its HMAC and parsing its JSON
//! each time is a third of a warm read's work. Only tokens that passed every check are
//! remembered, keyed by the whole token, so a forged or altered token never matches one.
//! Gateways do the same (Envoy's `jwt_cache_config`).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use foldhash::fast::RandomState;
use moka::sync::Cache;
use moka::Expiry;

/// Tokens remembered at once; past this the least used are verified again.
const REMEMBERED: u64 = 10_000;
/// Longest a token is remembered, however far off its expiry.
const REMEMBERED_FOR: Duration = Duration::from_secs(300);

/// What a verified token says.
#[derive(Clone, Debug, PartialEq)]
pub struct Verified {
    pub user: String,
    /// Seconds since the epoch.
    pub exp: Option<i64>,
    /// The platform groups the token lists.
    pub groups: Arc<[String]>,
}

impl Verified {
    /// Whether the token still passes the expiry check at `now` (seconds since the epoch),
    /// with the same leeway as a full verification.
    fn live_at(&self, now: i64, leeway_secs: i64) -> bool {
        self.exp.is_some_and(|exp| now <= exp + leeway_secs)
    }
}

struct UntilExpiry {
    leeway_secs: i64,
}

impl Expiry<Box<str>, Verified> for UntilExpiry {
    fn expire_after_create(
        &self,
        _token: &Box<str>,
        verified: &Verified,
        _now: Instant,
    ) -> Option<Duration> {
        let left = verified
            .exp
            .map_or(0, |exp| exp + self.leeway_secs - unix_now());
        Some(Duration::from_secs(left.max(0).unsigned_abs()).min(REMEMBERED_FOR))
    }
}

pub struct VerifiedJwts {
    /// Keyed with foldhash (seeded per process): SipHash of a whole token cost a warm read
    /// more than any other look-up. Only verified tokens are inserted.
    tokens: Cache<Box<str>, Verified, RandomState>,
    leeway_secs: i64,
}

impl VerifiedJwts {
    pub fn new(leeway_secs: u64) -> Self {
        let leeway_secs = i64::try_from(leeway_secs).unwrap_or(i64::MAX / 2);
        Self {
            tokens: Cache::builder()
                .max_capacity(REMEMBERED)
                .expire_after(UntilExpiry { leeway_secs })
                .build_with_hasher(RandomState::default()),
            leeway_secs,
        }
    }

    /// What `token` said when it was verified, if it was and has not expired since.
    pub fn get(&self, token: &str) -> Option<Verified> {
        let verified = self.tokens.get(token)?;
        // The entry's own expiry is rounded to whole seconds and checked lazily: ask again.
        verified
            .live_at(unix_now(), self.leeway_secs)
            .then_some(verified)
    }

    /// Remembers a token that passed every check.
    pub fn remember(&self, token: &str, verified: Verified) {
        if verified.live_at(unix_now(), self.leeway_secs) {
            self.tokens.insert(token.into(), verified);
        }
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::{unix_now, Verified, VerifiedJwts};
    use std::sync::Arc;

    fn verified(exp: i64) -> Verified {
        Verified {
            user: "alice".into(),
            exp: Some(exp),
            groups: Arc::from(Vec::new()),
        }
    }

    #[test]
    fn a_remembered_token_is_found_by_its_exact_text_only() {
        let jwts = VerifiedJwts::new(30);
        let exp = unix_now() + 60;
        jwts.remember("head.body.signature", verified(exp));
        assert_eq!(jwts.get("head.body.signature"), Some(verified(exp)));
        assert_eq!(jwts.get("head.body.signaturf"), None);
        assert_eq!(jwts.get("head.body.signatur"), None);
    }

    #[test]
    fn a_token_past_its_expiry_and_leeway_is_not_found() {
        let jwts = VerifiedJwts::new(30);
        // Expired, but within the leeway: still good, as a full check would say.
        jwts.remember("within", verified(unix_now() - 10));
        assert!(jwts.get("within").is_some());
        // Past the leeway: never remembered.
        jwts.remember("past", verified(unix_now() - 31));
        assert_eq!(jwts.get("past"), None);
        // A token without an expiry is not remembered (verification requires one).
        jwts.remember(
            "no-exp",
            Verified {
                user: "alice".into(),
                exp: None,
                groups: Arc::from(Vec::new()),
            },
        );
        assert_eq!(jwts.get("no-exp"), None);
    }

    #[test]
    fn an_entry_that_outlives_its_token_is_refused_on_read() {
        let jwts = VerifiedJwts::new(0);
        let token = "head.body.signature";
        // Inserted straight, as if remembered just before the expiry passed.
        jwts.tokens.insert(token.into(), verified(unix_now() - 1));
        assert_eq!(jwts.get(token), None);
    }
}
