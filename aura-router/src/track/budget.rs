//! The running state of a [`Budget`] (a spending limit over a time window, per provider or
//! per capability; the limit itself is configuration and lives with the providers, in
//! [`crate::provider`]): the current window, what was spent in it and what calls in flight
//! hold reserved.

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use super::atomic_f64::AtomicF64;
use crate::clock::to_nanos;
use crate::provider::Budget;

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

    /// Reserves `amount` in the window that holds `now`, if what is left there covers it (and
    /// something is left); otherwise says when the window ends.
    pub(crate) fn reserve(&self, now: u64, amount: f64) -> Result<Reserved, u64> {
        let amount = amount.max(0.0);
        let _write = self.write.lock();
        let epoch = self.roll(now);
        let remaining = self.budget.limit - self.spent.load();
        if remaining <= 0.0 || amount > remaining {
            return Err(self.window_end(now));
        }
        self.spent.add(amount);
        Ok(Reserved { epoch, amount })
    }

    /// Replaces a reservation by what the call actually cost: the difference is charged or
    /// given back in the reservation's window; when that window has ended, the actual cost
    /// goes to the window that holds `now`.
    pub(crate) fn settle(&self, reserved: Reserved, now: u64, actual: f64) {
        let actual = actual.max(0.0);
        let _write = self.write.lock();
        let epoch = self.roll(now);
        if epoch == reserved.epoch {
            let delta = actual - reserved.amount;
            if delta != 0.0 {
                self.spent.update(|spent| (spent + delta).max(0.0));
            }
        } else if actual > 0.0 {
            self.spent.add(actual);
        }
    }

    /// Starts the window that holds `now` if it is a new one; returns its number. Called under
    /// the write lock.
    fn roll(&self, now: u64) -> u64 {
        let epoch = now / self.window_nanos;
        if self.epoch.load(Ordering::Acquire) != epoch {
            self.spent.store(0.0);
            self.epoch.store(epoch, Ordering::Release);
        }
        epoch
    }
}

/// An amount held in one window of a budget until the call settles it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Reserved {
    epoch: u64,
    amount: f64,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn spending_starts_again_with_each_window() {
        let state = BudgetState::new(Budget::new(1.0, Duration::from_secs(10)));
        let s = 1_000_000_000;
        let held = state.reserve(2 * s, 0.5).unwrap();
        state.settle(held, 3 * s, 0.75);
        assert_eq!(state.remaining(9 * s), 0.25);
        assert_eq!(state.window_end(9 * s), 10 * s);
        assert_eq!(state.remaining(10 * s), 1.0);
        let held = state.reserve(11 * s, 0.5).unwrap();
        assert_eq!(state.spent(12 * s), 0.5);
        // Settled in the next window: the actual cost counts there.
        state.settle(held, 21 * s, 0.25);
        assert_eq!(state.spent(21 * s), 0.25);
    }

    #[test]
    fn a_reservation_holds_its_amount_until_settled() {
        let state = BudgetState::new(Budget::new(1.0, Duration::from_secs(10)));
        let a = state.reserve(0, 0.6).unwrap();
        // What is held counts: a second call expected to cost 0.6 does not fit.
        assert_eq!(state.reserve(0, 0.6), Err(10_000_000_000));
        let b = state.reserve(0, 0.4).unwrap();
        assert!(state.reserve(0, 0.0).is_err());
        // A failed call gives its reservation back.
        state.settle(a, 1, 0.0);
        assert!((state.spent(1) - 0.4).abs() < 1e-12);
        state.settle(b, 2, 0.5);
        assert!((state.spent(2) - 0.5).abs() < 1e-12);
    }
}
