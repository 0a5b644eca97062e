//! [`RouterSnapshot`]: every provider's counters, latency, cost, health and budget at one
//! instant.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::Serialize;

use super::BudgetState;
use crate::clock::to_nanos;
use crate::health::HealthStatus;
use crate::provider::ProviderId;
use crate::router::Router;

/// Everything the router tracks, at one instant. Serializes to JSON for dashboards.
#[derive(Clone, Debug, Serialize)]
pub struct RouterSnapshot {
    /// When it was taken (router clock).
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
    /// Rate limited until (router clock), if cooling down now.
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
    /// Peak-EWMA as of the last call.
    pub ewma: Option<Duration>,
    /// Median of the recent calls.
    pub p50: Option<Duration>,
    /// 95th percentile of the recent calls.
    pub p95: Option<Duration>,
    /// 99th percentile of the recent calls.
    pub p99: Option<Duration>,
}

/// A budget's state in its current window.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct BudgetSnapshot {
    /// The most per window.
    pub limit: f64,
    /// Spent in this window, with the expected cost that calls in flight hold reserved.
    pub spent: f64,
    /// The window.
    pub window: Duration,
    /// When this window ends (router clock).
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

fn budget(state: &BudgetState, now: u64) -> BudgetSnapshot {
    let b = state.budget();
    BudgetSnapshot {
        limit: b.limit,
        spent: state.spent(now),
        window: b.window,
        window_end: Duration::from_nanos(state.window_end(now)),
    }
}

impl Router {
    /// Everything the router tracks, now.
    pub fn snapshot(&self) -> RouterSnapshot {
        let table = self.load_table();
        let at = self.clock.now();
        let now = to_nanos(at);
        let providers = table
            .providers
            .iter()
            .map(|p| {
                let operations: Vec<OperationSnapshot> = p
                    .ops
                    .iter()
                    .map(|op| {
                        let s = &op.stats;
                        let q = s.window.quantiles([0.5, 0.95, 0.99]);
                        OperationSnapshot {
                            capability: op.capability.clone(),
                            operation: op.name.clone(),
                            idempotent: op.idempotent,
                            successes: s.successes.load(Ordering::Relaxed),
                            errors: s.errors.load(Ordering::Relaxed),
                            cancelled: s.cancelled.load(Ordering::Relaxed),
                            in_flight: s.in_flight(),
                            latency: LatencySnapshot {
                                ewma: s.latency.last().map(|ns| Duration::from_nanos(ns as u64)),
                                p50: q.map(|q| Duration::from_nanos(q[0])),
                                p95: q.map(|q| Duration::from_nanos(q[1])),
                                p99: q.map(|q| Duration::from_nanos(q[2])),
                            },
                            cost_total: s.cost_total.load(),
                            units_total: s.units_total.load(),
                            health: op.health.status(now),
                            consecutive_failures: op.health.consecutive_failures(),
                            ejections: op.health.ejections(),
                        }
                    })
                    .collect();
                let cooldown = p.hot.cooldown_until();
                ProviderSnapshot {
                    id: p.def.id.clone(),
                    weight: p.weight(),
                    priority: p.def.priority,
                    in_flight: p.in_flight.load(Ordering::Relaxed),
                    cooling_down_until: (cooldown > now).then(|| Duration::from_nanos(cooldown)),
                    budget: p.budget.as_ref().map(|b| budget(b, now)),
                    cost_total: operations.iter().map(|o| o.cost_total).sum(),
                    operations,
                }
            })
            .collect();
        let mut capabilities: Vec<CapabilitySnapshot> = table
            .routes
            .values()
            .filter_map(|ops| ops.values().next())
            .map(|group| {
                let c = &group.capability;
                let counts = c.retries.counts(now);
                CapabilitySnapshot {
                    name: c.name.clone(),
                    budget: c.budget.as_ref().map(|b| budget(b, now)),
                    requests: counts.requests,
                    retries: counts.retries,
                }
            })
            .collect();
        capabilities.sort_by(|a, b| a.name.cmp(&b.name));
        RouterSnapshot {
            at,
            providers,
            capabilities,
        }
    }
}
