//! [`RouterSnapshot`]: every provider's counters, latency, cost, health and budget at one
//! instant. Only the shape is here; [`Router::snapshot`](crate::Router::snapshot) (in the
//! router, which owns the provider table) fills it in.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::health::HealthStatus;
use crate::millis;
use crate::provider::ProviderId;

/// Everything the router tracks, at one instant. Serializes to JSON for dashboards, every
/// duration as float milliseconds in a `*_ms` field (`at_ms`, `p95_ms`, `window_end_ms` …),
/// like the [`Decision`](crate::Decision)'s JSON.
#[derive(Clone, Debug, Serialize)]
pub struct RouterSnapshot {
    /// When it was taken (router clock). In JSON: `at_ms`.
    #[serde(rename = "at_ms", serialize_with = "millis::serialize")]
    pub at: Duration,
    /// Every provider, in registration order.
    pub providers: Vec<ProviderSnapshot>,
    /// Every capability some provider serves.
    pub capabilities: Vec<CapabilitySnapshot>,
}

impl RouterSnapshot {
    /// One provider.
    pub fn provider(&self, id: &str) -> Option<&ProviderSnapshot> {
        self.providers.iter().find(|p| p.id == id)
    }

    /// One capability.
    pub fn capability(&self, name: &str) -> Option<&CapabilitySnapshot> {
        self.capabilities.iter().find(|c| &*c.name == name)
    }
}

/// One provider.
#[derive(Clone, Debug, Serialize)]
pub struct ProviderSnapshot {
    /// Its id.
    pub id: ProviderId,
    /// Its weight now.
    pub weight: u32,
    /// Its priority tier.
    pub priority: u32,
    /// Calls in flight, all operations.
    pub in_flight: u64,
    /// Rate limited until (router clock), if cooling down now. In JSON: `cooling_down_until_ms`.
    #[serde(rename = "cooling_down_until_ms", serialize_with = "millis::serialize_opt")]
    pub cooling_down_until: Option<Duration>,
    /// Its budget, if it has one.
    pub budget: Option<BudgetSnapshot>,
    /// What all its calls cost so far.
    pub cost_total: f64,
    /// Each operation it serves.
    pub operations: Vec<OperationSnapshot>,
}

impl ProviderSnapshot {
    /// One of its operations.
    pub fn operation(&self, capability: &str, operation: &str) -> Option<&OperationSnapshot> {
        self.operations
            .iter()
            .find(|o| &*o.capability == capability && &*o.operation == operation)
    }

    /// Successful calls, all operations.
    pub fn successes(&self) -> u64 {
        self.operations.iter().map(|o| o.successes).sum()
    }

    /// Failed calls, all operations.
    pub fn errors(&self) -> u64 {
        self.operations.iter().map(|o| o.errors).sum()
    }
}

/// One operation of one provider.
#[derive(Clone, Debug, Serialize)]
pub struct OperationSnapshot {
    /// The capability.
    pub capability: Arc<str>,
    /// The operation.
    pub operation: Arc<str>,
    /// Whether it is declared idempotent.
    pub idempotent: bool,
    /// Calls that answered.
    pub successes: u64,
    /// Calls that failed.
    pub errors: u64,
    /// Calls the router cancelled (parallel losers, deadlines).
    pub cancelled: u64,
    /// Calls in flight now.
    pub in_flight: u64,
    /// Latency.
    pub latency: LatencySnapshot,
    /// What its calls cost so far (cancelled ones at their expected cost).
    pub cost_total: f64,
    /// Units its meters counted so far.
    pub units_total: f64,
    /// Its health now.
    pub health: HealthStatus,
    /// Failures in a row now.
    pub consecutive_failures: u32,
    /// Ejections counted toward the next ejection's length.
    pub ejections: u32,
}

/// Latency of one provider operation.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct LatencySnapshot {
    /// Peak-EWMA as of the last call. In JSON: `ewma_ms`.
    #[serde(rename = "ewma_ms", serialize_with = "millis::serialize_opt")]
    pub ewma: Option<Duration>,
    /// Median of the recent calls. In JSON: `p50_ms`.
    #[serde(rename = "p50_ms", serialize_with = "millis::serialize_opt")]
    pub p50: Option<Duration>,
    /// 95th percentile of the recent calls. In JSON: `p95_ms`.
    #[serde(rename = "p95_ms", serialize_with = "millis::serialize_opt")]
    pub p95: Option<Duration>,
    /// 99th percentile of the recent calls. In JSON: `p99_ms`.
    #[serde(rename = "p99_ms", serialize_with = "millis::serialize_opt")]
    pub p99: Option<Duration>,
}

/// A budget's state in its current window.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct BudgetSnapshot {
    /// The most per window.
    pub limit: f64,
    /// Spent in this window, with the expected cost that calls in flight hold reserved.
    pub spent: f64,
    /// The window. In JSON: `window_ms`.
    #[serde(rename = "window_ms", serialize_with = "millis::serialize")]
    pub window: Duration,
    /// When this window ends (router clock). In JSON: `window_end_ms`.
    #[serde(rename = "window_end_ms", serialize_with = "millis::serialize")]
    pub window_end: Duration,
}

/// One capability.
#[derive(Clone, Debug, Serialize)]
pub struct CapabilitySnapshot {
    /// Its name.
    pub name: Arc<str>,
    /// Its budget, if it has one.
    pub budget: Option<BudgetSnapshot>,
    /// Requests in the retry budget's window.
    pub requests: u64,
    /// Retries (failovers and hedges) in the retry budget's window.
    pub retries: u64,
}
