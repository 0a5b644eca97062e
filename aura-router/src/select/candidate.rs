//! [`Candidate`]: what a strategy sees of one eligible provider for this call.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::health::HealthStatus;
use crate::provider::ProviderId;
use crate::table::{OpState, ProviderState};

/// One provider that passed the hard constraints for this call, as a strategy sees it. Every
/// figure is read live (and only when asked for), for the call's operation at the call's time.
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    pub(crate) provider: &'a ProviderState,
    /// The operation's index in the provider's `ops` (read through [`Candidate::op`] only when
    /// a strategy asks, so that the default path never touches the provider's memory).
    pub(crate) op: u32,
    /// Its weight when the call was planned.
    pub(crate) weight: u32,
    /// Half-open when the filter saw it: a call to it is the probe.
    pub(crate) half_open: bool,
    pub(crate) call: &'a CallView,
    /// Its row in the decision record.
    pub(crate) record: u32,
}

/// What every candidate of a call shares.
#[derive(Debug)]
pub(crate) struct CallView {
    pub(crate) now: u64,
    /// The eligible candidates' total weight (`f64` bits), set once filtering is done.
    pub(crate) total_weight: AtomicU64,
    pub(crate) expected_units: Option<f64>,
    pub(crate) tau: f64,
    pub(crate) default_latency: f64,
}

impl CallView {
    pub(crate) fn set_total_weight(&self, total: f64) {
        self.total_weight.store(total.to_bits(), Ordering::Relaxed);
    }

    fn total_weight(&self) -> f64 {
        f64::from_bits(self.total_weight.load(Ordering::Relaxed))
    }
}

impl<'a> Candidate<'a> {
    pub(crate) fn op(&self) -> &'a OpState {
        &self.provider.ops[self.op as usize]
    }

    /// The provider's id.
    pub fn id(&self) -> &ProviderId {
        &self.provider.def.id
    }

    /// Its weight (as of when this call was planned).
    pub fn weight(&self) -> u32 {
        self.weight
    }

    /// Its share of the eligible candidates' total weight, 0..=1.
    pub fn weight_share(&self) -> f64 {
        let total = self.call.total_weight();
        if total > 0.0 {
            f64::from(self.weight) / total
        } else {
            0.0
        }
    }

    /// Its priority tier (0 first).
    pub fn priority(&self) -> u32 {
        self.provider.def.priority
    }

    /// The value of one of its tags.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.provider.def.tag(key)
    }

    /// Its peak-EWMA latency for this operation, decayed toward zero while idle; the router's
    /// default latency before the first sample.
    pub fn latency(&self) -> Duration {
        Duration::from_nanos(self.latency_nanos() as u64)
    }

    fn latency_nanos(&self) -> f64 {
        self.op()
            .stats
            .latency
            .estimate(self.call.now, self.call.tau)
            .unwrap_or(self.call.default_latency)
    }

    /// Peak-EWMA load: latency in seconds × (calls in flight + 1), as tower and Finagle
    /// balance on.
    pub fn load(&self) -> f64 {
        self.latency_nanos() / 1e9 * (self.in_flight() as f64 + 1.0)
    }

    /// Calls of this operation in flight to it now.
    pub fn in_flight(&self) -> u64 {
        self.op().stats.in_flight()
    }

    /// Calls of any operation in flight to it now.
    pub fn provider_in_flight(&self) -> u64 {
        self.provider.in_flight.load(Ordering::Relaxed)
    }

    /// What this call is expected to cost with it (see [`Request::expected_units`](crate::Request::expected_units)).
    pub fn expected_cost(&self) -> f64 {
        self.op()
            .cost
            .expected(self.call.expected_units, self.op().stats.variable_cost.load())
    }

    /// Its health for this operation (healthy or half-open, or ejected under the panic rule).
    pub fn health(&self) -> HealthStatus {
        self.op().health.status(self.call.now)
    }

    /// The share of its own budget left in this window, 0..=1; `None` when it has no budget.
    pub fn budget_remaining(&self) -> Option<f64> {
        self.provider.budget.as_ref().map(|b| {
            let limit = b.budget().limit;
            if limit > 0.0 {
                (b.remaining(self.call.now) / limit).clamp(0.0, 1.0)
            } else {
                0.0
            }
        })
    }

    /// Whether the operation is declared idempotent at this provider.
    pub fn is_idempotent(&self) -> bool {
        self.op().idempotent
    }
}
