//! Health: passive outlier detection per (provider, operation), half-open probes, active
//! health checks, and the state they leave, observable as a [`HealthStatus`].
//!
//! | idea | here |
//! | --- | --- |
//! | when to eject, for how long | [`HealthPolicy`], [`FailureRate`] |
//! | where a provider operation stands | [`HealthStatus`] |
//! | probing providers on an interval | [`HealthChecks`] |
//!
//! The state machine, per (provider, operation):
//!
//! ```text
//!            consecutive failures ≥ n, or failure rate ≥ r over the last calls
//!   Healthy ───────────────────────────────────────────────────────────────▶ Ejected (base × k, capped)
//!      ▲                                                                        │ the time is up
//!      │ the probe succeeds                                                     ▼
//!      └──────────────────────────── Probing ◀──── one call admitted ──── HalfOpen
//!                                       │ the probe fails: Ejected again, k + 1
//! ```
//!
//! `k` counts ejections; it goes down by one for every `base` the operation then stays healthy.
//! When every provider of a request is ejected, the router still tries the least bad one (the
//! panic rule) rather than failing blind; a success there brings it back at once.

mod active;
mod outlier;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use self::active::HealthChecks;
pub(crate) use self::active::ProbeState;
pub(crate) use self::outlier::{Health, Transition, Verdict};

/// When a provider operation is ejected, and for how long.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HealthPolicy {
    /// Eject after this many failures in a row (default 5; 0 turns this detector off).
    pub consecutive_failures: u32,
    /// Eject when the failure rate over the last calls reaches a threshold (default: half of
    /// the last 20 calls, once there are at least 10).
    pub failure_rate: Option<FailureRate>,
    /// The first ejection lasts this long (default 30 s); the k-th lasts k times as long.
    pub base_ejection: Duration,
    /// No ejection lasts longer than this (default 300 s).
    pub max_ejection: Duration,
}

impl Default for HealthPolicy {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            failure_rate: Some(FailureRate::default()),
            base_ejection: Duration::from_secs(30),
            max_ejection: Duration::from_secs(300),
        }
    }
}

impl HealthPolicy {
    /// A policy that never ejects.
    pub fn never_eject() -> Self {
        Self {
            consecutive_failures: 0,
            failure_rate: None,
            ..Self::default()
        }
    }

    /// Ejects after `n` failures in a row.
    #[must_use]
    pub fn consecutive_failures(mut self, n: u32) -> Self {
        self.consecutive_failures = n;
        self
    }

    /// Sets the failure-rate detector (`None`: off).
    #[must_use]
    pub fn failure_rate(mut self, rate: Option<FailureRate>) -> Self {
        self.failure_rate = rate;
        self
    }

    /// Sets the base and the longest ejection.
    #[must_use]
    pub fn ejection(mut self, base: Duration, max: Duration) -> Self {
        self.base_ejection = base;
        self.max_ejection = max.max(base);
        self
    }
}

/// Eject when at least `threshold` of the last `window` calls failed, once there are at least
/// `min_calls` of them.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailureRate {
    /// The failing share that ejects, 0..=1 (default 0.5).
    pub threshold: f64,
    /// How many of the latest calls count, at most 64 (default 20).
    pub window: u32,
    /// How many calls must be in the window before it can eject (default 10).
    pub min_calls: u32,
}

impl Default for FailureRate {
    fn default() -> Self {
        Self {
            threshold: 0.5,
            window: 20,
            min_calls: 10,
        }
    }
}

/// Where a provider operation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum HealthStatus {
    /// Takes traffic.
    Healthy,
    /// Takes no traffic until `until` (router clock).
    Ejected {
        /// When the ejection ends and the operation becomes half-open.
        until: Duration,
    },
    /// The ejection is over; the next call to it is a probe.
    HalfOpen,
    /// A probe is in flight; no other call goes to it until the probe ends.
    Probing,
}

impl HealthStatus {
    /// How healthy, for scoring: 1 healthy, 0.5 half-open, 0 otherwise.
    pub fn score(self) -> f64 {
        match self {
            Self::Healthy => 1.0,
            Self::HalfOpen => 0.5,
            Self::Ejected { .. } | Self::Probing => 0.0,
        }
    }

    /// Whether it takes traffic (healthy or half-open).
    pub fn is_available(self) -> bool {
        matches!(self, Self::Healthy | Self::HalfOpen)
    }
}
