//! [`Router::snapshot`]: reads the provider table once and fills in a [`RouterSnapshot`] (whose
//! shape lives in [`crate::track`]).

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::Router;
use crate::clock::to_nanos;
use crate::track::{
    BudgetSnapshot, BudgetState, CapabilitySnapshot, LatencySnapshot, OperationSnapshot, ProviderSnapshot,
    RouterSnapshot,
};

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
