//! [`Budget`]: a spending limit over a time window, per provider or per capability.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::atomic_f64::AtomicF64;
use crate::clock::to_nanos;

/// At most `limit` spent per `window`.
///
/// Windows are fixed periods of the router's clock (with a one-hour window, spending starts
/// again at every whole hour since the clock's origin). A budget is checked before dispatch:
/// once spent, its provider (or every provider of its capability) gets no traffic until the
/// next window. Calls already in flight when it runs out may overshoot it by their own cost.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// The most that may be spent per window.
    pub limit: f64,
    /// The window.
    pub window: Duration,
}

impl Budget {
    /// `limit` per `window` (a zero window is taken as one nanosecond).
    pub fn new(limit: f64, window: Duration) -> Self {
        Self {
            limit,
            window: window.max(Duration::from_nanos(1)),
        }
    }
}

/// The running state of a [`Budget`]: the current window and what was spent in it.
#[derive(Debug)]
pub(crate) struct BudgetState {
    budget: Budget,
    window_nanos: u64,
    epoch: AtomicU64,
    spent: AtomicF64,
    write: Mutex<()>,
}

impl BudgetState {
    pub(crate) fn new(budget: Budget) -> Self {
        Self {
            budget,
            window_nanos: to_nanos(budget.window).max(1),
            epoch: AtomicU64::new(0),
            spent: AtomicF64::new(0.0),
            write: Mutex::new(()),
        }
    }

    pub(crate) fn budget(&self) -> Budget {
        self.budget
    }

    /// What was spent in the window that holds `now`.
    pub(crate) fn spent(&self, now: u64) -> f64 {
        if now / self.window_nanos == self.epoch.load(Ordering::Acquire) {
            self.spent.load()
        } else {
            0.0
        }
    }

    /// What is left in the window that holds `now`.
    pub(crate) fn remaining(&self, now: u64) -> f64 {
        self.budget.limit - self.spent(now)
    }

    /// When the window that holds `now` ends.
    pub(crate) fn window_end(&self, now: u64) -> u64 {
        (now / self.window_nanos + 1).saturating_mul(self.window_nanos)
    }

    /// Adds `amount` to the window that holds `now`.
    pub(crate) fn spend(&self, now: u64, amount: f64) {
        if amount <= 0.0 {
            return;
        }
        let _write = self.write.lock();
        let epoch = now / self.window_nanos;
        if self.epoch.load(Ordering::Acquire) != epoch {
            self.spent.store(0.0);
            self.epoch.store(epoch, Ordering::Release);
        }
        self.spent.add(amount);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spending_starts_again_with_each_window() {
        let state = BudgetState::new(Budget::new(1.0, Duration::from_secs(10)));
        let s = 1_000_000_000;
        state.spend(2 * s, 0.75);
        assert_eq!(state.remaining(9 * s), 0.25);
        assert_eq!(state.window_end(9 * s), 10 * s);
        assert_eq!(state.remaining(10 * s), 1.0);
        state.spend(11 * s, 0.5);
        assert_eq!(state.spent(12 * s), 0.5);
    }
}
