//! [`RateLimit`]: how many calls a provider accepts per period, enforced before dispatch.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::to_nanos;

/// At most `calls` per `period`, with bursts of up to `burst` calls at once.
///
/// Enforced before dispatch (a provider without room is skipped, and the decision record says
/// so), with a lock-free generic cell rate algorithm: one atomic per provider.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RateLimit {
    /// Calls allowed per period.
    pub calls: u32,
    /// The period.
    pub period: Duration,
    /// How many calls may go at once after a quiet spell (default 1: evenly spaced).
    pub burst: u32,
}

impl RateLimit {
    /// `calls` per `period`, no burst.
    pub fn new(calls: u32, period: Duration) -> Self {
        Self {
            calls: calls.max(1),
            period,
            burst: 1,
        }
    }

    /// `calls` per second.
    pub fn per_second(calls: u32) -> Self {
        Self::new(calls, Duration::from_secs(1))
    }

    /// `calls` per minute.
    pub fn per_minute(calls: u32) -> Self {
        Self::new(calls, Duration::from_secs(60))
    }

    /// Allows bursts of `burst` calls.
    #[must_use]
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = burst.max(1);
        self
    }

    fn interval(&self) -> u64 {
        to_nanos(self.period) / u64::from(self.calls.max(1))
    }
}

/// The running state of a [`RateLimit`]: the theoretical arrival time of the next call.
#[derive(Debug)]
pub(crate) struct Gcra {
    interval: u64,
    tolerance: u64,
    tat: AtomicU64,
}

impl Gcra {
    pub(crate) fn new(limit: RateLimit) -> Self {
        let interval = limit.interval();
        Self {
            interval,
            tolerance: interval.saturating_mul(u64::from(limit.burst.max(1) - 1)),
            tat: AtomicU64::new(0),
        }
    }

    /// Whether a call at `now` (nanoseconds) would be allowed, without taking it.
    pub(crate) fn has_room(&self, now: u64) -> bool {
        self.tat.load(Ordering::Relaxed) <= now.saturating_add(self.tolerance)
    }

    /// Takes room for one call at `now`; false when there is none.
    pub(crate) fn try_acquire(&self, now: u64) -> bool {
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            if tat > now.saturating_add(self.tolerance) {
                return false;
            }
            let next = tat.max(now).saturating_add(self.interval);
            match self
                .tat
                .compare_exchange_weak(tat, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(current) => tat = current,
            }
        }
    }

    /// When the next call will be allowed (nanoseconds).
    pub(crate) fn next_free(&self) -> u64 {
        self.tat.load(Ordering::Relaxed).saturating_sub(self.tolerance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn spaces_calls_and_allows_bursts() {
        let gcra = Gcra::new(RateLimit::per_second(10));
        assert!(gcra.try_acquire(0));
        assert!(!gcra.has_room(50 * MS));
        assert!(!gcra.try_acquire(50 * MS));
        assert!(gcra.try_acquire(100 * MS));

        let burst = Gcra::new(RateLimit::per_second(10).burst(3));
        assert!(burst.try_acquire(0));
        assert!(burst.try_acquire(0));
        assert!(burst.try_acquire(0));
        assert!(!burst.try_acquire(0));
        assert!(burst.try_acquire(100 * MS));
    }
}
