//! [`RetryBudget`]: retries as a share of requests over a sliding window (Finagle, tower).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::to_nanos;

/// Retries (failover attempts and hedges) allowed per capability: at most `min_retries` plus
/// `ratio` × the requests of the last `window`. With the defaults, 10 + 20 % per 10 s: a
/// failing provider can at most add a fifth to the load on the others.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetryBudget {
    /// Retries allowed per request (default 0.2).
    pub ratio: f64,
    /// Retries always allowed per window, whatever the traffic (default 10).
    pub min_retries: u32,
    /// The sliding window (default 10 s).
    pub window: Duration,
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self {
            ratio: 0.2,
            min_retries: 10,
            window: Duration::from_secs(10),
        }
    }
}

impl RetryBudget {
    /// A budget that never refuses a retry.
    pub fn unlimited() -> Self {
        Self {
            ratio: f64::INFINITY,
            min_retries: u32::MAX,
            window: Duration::from_secs(1),
        }
    }
}

const BUCKETS: usize = 10;

/// The running counts of a [`RetryBudget`]: ten buckets of atomics, no lock.
#[derive(Debug)]
pub(crate) struct RetryBudgetState {
    budget: RetryBudget,
    bucket_nanos: u64,
    buckets: [Bucket; BUCKETS],
}

#[derive(Debug, Default)]
struct Bucket {
    epoch: AtomicU64,
    requests: AtomicU64,
    retries: AtomicU64,
}

/// What the window holds: requests and retries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct BudgetCounts {
    pub(crate) requests: u64,
    pub(crate) retries: u64,
}

impl RetryBudgetState {
    pub(crate) fn new(budget: RetryBudget) -> Self {
        Self {
            budget,
            bucket_nanos: (to_nanos(budget.window) / BUCKETS as u64).max(1),
            buckets: Default::default(),
        }
    }

    /// Counts a new request at `now`.
    pub(crate) fn deposit(&self, now: u64) {
        self.bucket(now).requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes one retry at `now`; false when the budget is spent.
    pub(crate) fn withdraw(&self, now: u64) -> bool {
        let counts = self.counts(now);
        let allowed = f64::from(self.budget.min_retries) + self.budget.ratio * counts.requests as f64;
        if (counts.retries as f64) < allowed {
            self.bucket(now).retries.fetch_add(1, Ordering::Relaxed);
            true
        } else {
            false
        }
    }

    pub(crate) fn counts(&self, now: u64) -> BudgetCounts {
        let current = now / self.bucket_nanos;
        let oldest = current.saturating_sub(BUCKETS as u64 - 1);
        let mut counts = BudgetCounts::default();
        for bucket in &self.buckets {
            let epoch = bucket.epoch.load(Ordering::Acquire);
            if (oldest..=current).contains(&epoch) {
                counts.requests += bucket.requests.load(Ordering::Relaxed);
                counts.retries += bucket.retries.load(Ordering::Relaxed);
            }
        }
        counts
    }

    /// The bucket for `now`, emptied first if it still holds an older period.
    fn bucket(&self, now: u64) -> &Bucket {
        let epoch = now / self.bucket_nanos;
        let bucket = &self.buckets[(epoch % BUCKETS as u64) as usize];
        let seen = bucket.epoch.load(Ordering::Acquire);
        if seen != epoch
            && bucket
                .epoch
                .compare_exchange(seen, epoch, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            bucket.requests.store(0, Ordering::Relaxed);
            bucket.retries.store(0, Ordering::Relaxed);
        }
        bucket
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn allows_the_floor_plus_a_share_of_requests() {
        let state = RetryBudgetState::new(RetryBudget {
            ratio: 0.2,
            min_retries: 2,
            window: Duration::from_secs(10),
        });
        for _ in 0..10 {
            state.deposit(S);
        }
        // 2 + 0.2 × 10 = 4 retries.
        let granted = (0..10).filter(|_| state.withdraw(S)).count();
        assert_eq!(granted, 4);
        // Ten seconds on, the window has slid past all of it: only the floor.
        let granted = (0..10).filter(|_| state.withdraw(12 * S)).count();
        assert_eq!(granted, 2);
    }
}
