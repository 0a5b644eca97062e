//! [`OpStats`]: the running numbers of one provider operation.

use std::sync::atomic::{AtomicU64, Ordering};

use super::atomic_f64::AtomicF64;
use super::ewma::PeakEwma;
use super::window::LatencyWindow;

/// Counters, latency and cost of one (provider, operation). Every field is atomic or locked on
/// its own, so that completions of different operations never contend.
#[derive(Debug, Default)]
pub(crate) struct OpStats {
    pub(crate) successes: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) cancelled: AtomicU64,
    pub(crate) in_flight: AtomicU64,
    pub(crate) cost_total: AtomicF64,
    pub(crate) units_total: AtomicF64,
    /// The running average of the per-unit part of a call's cost, for expected costs.
    pub(crate) variable_cost: AtomicF64,
    pub(crate) latency: PeakEwma,
    pub(crate) window: LatencyWindow,
}

/// How much a new sample weighs in the running average of the per-unit cost.
const COST_ALPHA: f64 = 0.2;

impl OpStats {
    pub(crate) fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Records a success that took `latency_ns`, ended at `now_ns` and cost `amount`, of which
    /// `variable` came from meters.
    pub(crate) fn success(&self, latency_ns: u64, now_ns: u64, tau_ns: f64, amount: f64, variable: f64, units: f64) {
        let first = self.successes.fetch_add(1, Ordering::Relaxed) == 0;
        self.latency.observe(latency_ns as f64, now_ns, tau_ns);
        self.window.push(latency_ns);
        self.charge(amount, units);
        if first {
            self.variable_cost.store(variable);
        } else {
            self.variable_cost.update(|avg| avg + COST_ALPHA * (variable - avg));
        }
    }

    /// Records a failure that took `latency_ns`.
    pub(crate) fn error(&self, latency_ns: u64, now_ns: u64, tau_ns: f64) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.latency.observe(latency_ns as f64, now_ns, tau_ns);
    }

    /// Records a call cancelled by the router (a parallel loser, a deadline), charged `amount`.
    pub(crate) fn cancel(&self, amount: f64) {
        self.cancelled.fetch_add(1, Ordering::Relaxed);
        self.charge(amount, 0.0);
    }

    fn charge(&self, amount: f64, units: f64) {
        if amount != 0.0 {
            self.cost_total.add(amount);
        }
        if units != 0.0 {
            self.units_total.add(units);
        }
    }
}
