//! Rate limits: [`RateLimit`] (at most `requests` per `per`, with an optional burst) and
//! [`RateLimiter`], the one limiter of Aura — a lock-free generic cell rate algorithm (GCRA)
//! read against an [`aura_core::clock::Clock`](crate::clock::Clock), so that a test drives it with a
//! [`ManualClock`](crate::clock::ManualClock).
//!
//! The engine keeps one limiter per connection (from the app manifest's documented limit, or
//! the host's override); aura-router keeps one per provider. Both use these types.
//!
//! Why not `governor`: its limiters answer only by taking a cell, while the router must ask
//! "would this provider pass now?" for every candidate before it picks one (and only the
//! picked one takes a cell); and every timer of Aura reads the one [`Clock`], which a
//! governor clock would have to wrap. The GCRA itself is one atomic compare-and-swap.
//!
//! ```
//! use std::time::Duration;
//! use aura_core::rate_limit::{RateLimit, RateLimiter};
//!
//! // 10 a second, evenly spaced: one every 100 ms.
//! let limiter = RateLimiter::new(RateLimit::per_second(10));
//! assert!(limiter.try_acquire(Duration::ZERO).is_ok());
//! assert_eq!(limiter.try_acquire(Duration::from_millis(50)), Err(Duration::from_millis(100)));
//! assert!(limiter.try_acquire(Duration::from_millis(100)).is_ok());
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::{Clock, to_nanos};

/// At most `requests` per `per`; after a quiet spell, up to `burst` of them at once.
///
/// The default burst is 1: calls are evenly spaced (`per / requests` apart), so that no window
/// of length `per` ever holds more than `requests` calls — what a vendor's documented "50 per
/// minute" means. A burst `b` lets `b` calls go at once after a quiet spell (at the price of up
/// to `requests + b - 1` in one window).
///
/// In a manifest: `{"requests": 50, "per_secs": 60}` (and optionally `"burst": 5`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RateLimit {
    /// How many requests.
    pub requests: u32,
    /// Over how long.
    #[serde(rename = "per_secs", with = "crate::durations::secs")]
    #[schemars(with = "f64")]
    pub per: Duration,
    /// How many may go at once after a quiet spell (at least 1).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub burst: u32,
}

fn one() -> u32 {
    1
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_one(n: &u32) -> bool {
    *n == 1
}

impl RateLimit {
    /// `requests` per `per`, evenly spaced.
    pub fn new(requests: u32, per: Duration) -> Self {
        Self {
            requests,
            per,
            burst: 1,
        }
    }

    /// `requests` per second.
    pub fn per_second(requests: u32) -> Self {
        Self::new(requests, Duration::from_secs(1))
    }

    /// `requests` per minute.
    pub fn per_minute(requests: u32) -> Self {
        Self::new(requests, Duration::from_secs(60))
    }

    /// Allows bursts of `burst` calls (at least 1).
    #[must_use]
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = burst.max(1);
        self
    }

    /// The time between two calls at the steady rate (`per / requests`; `per` itself when
    /// `requests` is 0).
    pub fn interval(&self) -> Duration {
        self.per.checked_div(self.requests.max(1)).unwrap_or(self.per)
    }

    /// One step of the GCRA, in nanoseconds of any clock: with `tat` the theoretical arrival
    /// time of the next call, a call at `now` is allowed when `tat` is at most a burst ahead
    /// of `now`, and the next `tat` is returned; otherwise the time from which it would be.
    /// Every limiter of Aura takes this step: [`RateLimiter`] on one atomic, a store that
    /// shares limits between processes ([`crate::store::RateLimitStore`]) on a locked row.
    pub fn step(&self, tat: u64, now: u64) -> Result<u64, u64> {
        let interval = to_nanos(self.interval()).max(1);
        let tolerance = interval.saturating_mul(u64::from(self.burst.max(1) - 1));
        if tat > now.saturating_add(tolerance) {
            return Err(tat - tolerance);
        }
        Ok(tat.max(now).saturating_add(interval))
    }
}

/// The running state of a [`RateLimit`]: the theoretical arrival time of the next call (GCRA),
/// one atomic. Times are readings of whatever [`Clock`] the owner uses (the router passes its
/// own; [`acquire`](Self::acquire) takes one).
#[derive(Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    /// How far ahead of `now` the theoretical arrival time may run (the burst).
    tolerance: u64,
    /// The theoretical arrival time of the next call, nanoseconds on the owner's clock.
    tat: AtomicU64,
}

impl RateLimiter {
    /// A limiter with room for a full burst.
    pub fn new(limit: RateLimit) -> Self {
        let interval = to_nanos(limit.interval()).max(1);
        Self {
            limit,
            tolerance: interval.saturating_mul(u64::from(limit.burst.max(1) - 1)),
            tat: AtomicU64::new(0),
        }
    }

    /// The limit it enforces.
    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Whether a call at `now` would be allowed, without taking room for it.
    pub fn has_room(&self, now: Duration) -> bool {
        self.tat.load(Ordering::Relaxed) <= to_nanos(now).saturating_add(self.tolerance)
    }

    /// Takes room for one call at `now`; when there is none, says when there will be.
    pub fn try_acquire(&self, now: Duration) -> Result<(), Duration> {
        let now = to_nanos(now);
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            let next = self.limit.step(tat, now).map_err(Duration::from_nanos)?;
            match self
                .tat
                .compare_exchange_weak(tat, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return Ok(()),
                Err(current) => tat = current,
            }
        }
    }

    /// When the next call will be allowed (on the owner's clock).
    pub fn next_free(&self) -> Duration {
        Duration::from_nanos(self.tat.load(Ordering::Relaxed).saturating_sub(self.tolerance))
    }

    /// Waits on `clock` until there is room, and takes it.
    pub async fn acquire(&self, clock: &dyn Clock) {
        loop {
            let now = clock.now();
            match self.try_acquire(now) {
                Ok(()) => return,
                Err(next) => clock.sleep(next.saturating_sub(now)).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn spaces_calls_and_allows_bursts() {
        let limiter = RateLimiter::new(RateLimit::per_second(10));
        assert!(limiter.try_acquire(Duration::ZERO).is_ok());
        assert!(!limiter.has_room(50 * MS));
        assert_eq!(limiter.try_acquire(50 * MS), Err(100 * MS));
        assert!(limiter.try_acquire(100 * MS).is_ok());

        let burst = RateLimiter::new(RateLimit::per_second(10).burst(3));
        for _ in 0..3 {
            assert!(burst.try_acquire(Duration::ZERO).is_ok());
        }
        assert!(burst.try_acquire(Duration::ZERO).is_err());
        assert!(burst.try_acquire(100 * MS).is_ok());
    }

    #[tokio::test]
    async fn acquire_waits_on_the_given_clock() {
        let clock = ManualClock::new();
        let limiter = RateLimiter::new(RateLimit::per_minute(2));
        limiter.acquire(&clock).await;
        assert_eq!(clock.now(), Duration::ZERO);
        // The second call waits 30 s of the manual clock: no real time passes.
        limiter.acquire(&clock).await;
        assert_eq!(clock.now(), Duration::from_secs(30));
    }

    #[test]
    fn a_manifest_limit_reads_with_or_without_a_burst() {
        let limit: RateLimit = serde_json::from_value(serde_json::json!({ "requests": 50, "per_secs": 60 })).unwrap();
        assert_eq!(limit, RateLimit::per_minute(50));
        let json = serde_json::to_value(RateLimit::per_minute(50).burst(5)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({ "requests": 50, "per_secs": 60.0, "burst": 5 })
        );
        assert_eq!(serde_json::from_value::<RateLimit>(json).unwrap().burst, 5);
    }
}
