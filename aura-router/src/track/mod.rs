//! Tracking: per provider and operation, successes, errors, latency (peak-EWMA and
//! p50/p95/p99 over recent calls), calls in flight and cost; budgets per provider and per
//! capability; and the [`RouterSnapshot`] that shows it all.
//!
//! | idea | here |
//! | --- | --- |
//! | spending limits over a window | [`Budget`] (defined in [`crate::provider`]), its running state in `budget.rs` |
//! | everything at one instant | [`RouterSnapshot`] and its parts |
//! | peak-EWMA latency | `ewma.rs` |
//! | recent latencies for percentiles | `window.rs` |
//! | the counters of one provider operation | `stats.rs` |
//!
//! The router also emits `metrics` (a no-op unless the host installs a recorder):
//!
//! | metric | kind | labels |
//! | --- | --- | --- |
//! | `aura_router_requests_total` | counter | capability, operation, outcome |
//! | `aura_router_attempts_total` | counter | provider, capability, operation, outcome |
//! | `aura_router_attempt_seconds` | histogram | provider, capability, operation |
//! | `aura_router_attempt_cost` | histogram | provider, capability, operation |
//! | `aura_router_ejections_total`, `aura_router_recoveries_total` | counter | provider, capability, operation |
//! | `aura_router_retry_budget_exhausted_total` | counter | capability |
//! | `aura_router_panic_total` | counter | capability, operation |

mod atomic_f64;
mod budget;
mod ewma;
mod snapshot;
mod stats;
mod window;

pub(crate) use self::budget::{BudgetState, Reserved};
pub use self::snapshot::{
    BudgetSnapshot, CapabilitySnapshot, LatencySnapshot, OperationSnapshot, ProviderSnapshot, RouterSnapshot,
};
pub(crate) use self::stats::OpStats;
/// Re-exported: the limit is configuration and lives with the providers.
pub use crate::provider::Budget;
