//! Login throttling: exponential lock-out per username and per client address after repeated
//! failures, and a rate limit per client address on login and registration.
//!
//! Unknown usernames are throttled exactly like real ones, so the answers never reveal which
//! accounts exist. The state is per node and in memory: a restart forgives, which is acceptable
//! for throttling (the audit log keeps every failure).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// When failures start to lock, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct LockoutPolicy {
    /// Failures allowed before the first lock.
    pub free_failures: u32,
    /// The first lock, in milliseconds; each further failure doubles it.
    pub base_ms: i64,
    /// The longest lock.
    pub max_ms: i64,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        LockoutPolicy {
            free_failures: 5,
            base_ms: 30_000,
            max_ms: 15 * 60_000,
        }
    }
}

impl LockoutPolicy {
    /// How long to lock after the `failures`-th consecutive failure, if at all.
    pub fn lock_ms(&self, failures: u32) -> Option<i64> {
        let over = failures.checked_sub(self.free_failures)?;
        let doubled = self.base_ms.saturating_mul(1i64 << over.min(30));
        Some(doubled.min(self.max_ms))
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Failures {
    count: u32,
    locked_until: i64,
    last: i64,
}

/// Most keys kept before old, unlocked ones are forgotten.
const MAX_KEYS: usize = 100_000;

/// Throttling state shared by all requests of a node.
pub struct Throttle {
    /// The lock-out rule.
    policy: LockoutPolicy,
    /// Failures per key (`user:<name>` or `addr:<ip>`).
    failures: Mutex<HashMap<String, Failures>>,
    /// Requests per client address on the public authentication routes.
    rate: DefaultKeyedRateLimiter<String>,
    /// Reports per resident account (the public-facing intake).
    intake: DefaultKeyedRateLimiter<String>,
}

impl Throttle {
    /// A throttle allowing `per_minute` login or registration attempts per address.
    pub fn new(policy: LockoutPolicy, per_minute: u32) -> Throttle {
        Throttle::with_intake(policy, per_minute, 20)
    }

    /// A throttle that also allows `intake_per_minute` reports per resident account.
    pub fn with_intake(policy: LockoutPolicy, per_minute: u32, intake_per_minute: u32) -> Throttle {
        let n = NonZeroU32::new(per_minute.max(1)).expect("at least one");
        let i = NonZeroU32::new(intake_per_minute.max(1)).expect("at least one");
        Throttle {
            policy,
            failures: Mutex::new(HashMap::new()),
            rate: RateLimiter::keyed(Quota::per_minute(n)),
            intake: RateLimiter::keyed(Quota::per_minute(i)),
        }
    }

    /// Counts one report against a resident's intake limit; `Err(seconds)` when over it.
    pub fn intake_check(&self, account: &str) -> Result<(), u64> {
        self.intake
            .check_key(&account.to_owned())
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(governor::clock::Clock::now(
                    &governor::clock::DefaultClock::default(),
                ));
                wait.as_secs().max(1)
            })
    }

    /// Counts one attempt against the address's rate limit; `Err(seconds)` when over it.
    pub fn rate_check(&self, addr: &str) -> Result<(), u64> {
        self.rate.check_key(&addr.to_owned()).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            wait.as_secs().max(1)
        })
    }

    /// `Err(seconds)` while any of the keys is locked.
    pub fn check(&self, keys: &[String], now: i64) -> Result<(), u64> {
        let map = self.failures.lock().expect("throttle lock poisoned");
        let until = keys
            .iter()
            .filter_map(|k| map.get(k))
            .map(|f| f.locked_until)
            .max()
            .unwrap_or(0);
        if until > now {
            Err(((until - now + 999) / 1000) as u64)
        } else {
            Ok(())
        }
    }

    /// Records a failed attempt for every key.
    pub fn failed(&self, keys: &[String], now: i64) {
        let mut map = self.failures.lock().expect("throttle lock poisoned");
        if map.len() > MAX_KEYS {
            map.retain(|_, f| f.locked_until > now || now - f.last < 3_600_000);
        }
        for k in keys {
            let f = map.entry(k.clone()).or_default();
            f.count += 1;
            f.last = now;
            if let Some(ms) = self.policy.lock_ms(f.count) {
                f.locked_until = now + ms;
            }
        }
    }

    /// Forgets the failures of every key after a successful login.
    pub fn succeeded(&self, keys: &[String]) {
        let mut map = self.failures.lock().expect("throttle lock poisoned");
        for k in keys {
            map.remove(k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_double_and_cap() {
        let p = LockoutPolicy {
            free_failures: 3,
            base_ms: 1_000,
            max_ms: 5_000,
        };
        let locks: Vec<Option<i64>> = (1..=7).map(|n| p.lock_ms(n)).collect();
        assert_eq!(
            locks,
            [
                None,
                None,
                Some(1_000),
                Some(2_000),
                Some(4_000),
                Some(5_000),
                Some(5_000)
            ]
        );
    }

    #[test]
    fn failures_lock_until_time_passes_and_success_forgives() {
        let t = Throttle::new(
            LockoutPolicy {
                free_failures: 2,
                base_ms: 10_000,
                max_ms: 60_000,
            },
            100,
        );
        let keys = vec!["user:a".to_owned(), "addr:1".to_owned()];
        t.failed(&keys, 0);
        assert!(t.check(&keys, 1).is_ok());
        t.failed(&keys, 1);
        assert_eq!(t.check(&keys, 2), Err(10));
        assert_eq!(
            t.check(&["addr:1".to_owned()], 2),
            Err(10),
            "the address is locked too"
        );
        assert!(t.check(&keys, 10_001).is_ok());
        t.succeeded(&keys);
        t.failed(&keys, 20_000);
        assert!(t.check(&keys, 20_001).is_ok(), "a success resets the count");
    }

    #[test]
    fn rate_limits_per_address() {
        let t = Throttle::new(LockoutPolicy::default(), 3);
        for _ in 0..3 {
            assert!(t.rate_check("1.2.3.4").is_ok());
        }
        assert!(t.rate_check("1.2.3.4").is_err());
        assert!(t.rate_check("5.6.7.8").is_ok());
    }
}
