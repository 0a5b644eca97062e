//! Active health checks: a provider's probe function, run on an interval.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How active health checks run (see
/// [`Router::spawn_health_checks`](crate::Router::spawn_health_checks)): every `interval`,
/// each provider that has a [probe](crate::ProviderBuilder::probe) is probed, with `timeout`.
/// `unhealthy_threshold` failures in a row eject all its operations; `healthy_threshold`
/// successes in a row bring them all back at once, clearing their counters.
///
/// Probes cost what the provider charges for them: they are off unless started.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct HealthChecks {
    /// Time between rounds (default 10 s).
    pub interval: Duration,
    /// How long a probe may take before it counts as failed (default 2 s).
    pub timeout: Duration,
    /// Failures in a row that eject (default 2).
    pub unhealthy_threshold: u32,
    /// Successes in a row that bring it back (default 1).
    pub healthy_threshold: u32,
}

impl Default for HealthChecks {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(2),
            unhealthy_threshold: 2,
            healthy_threshold: 1,
        }
    }
}

/// The streaks of one provider's probes.
#[derive(Debug, Default)]
pub(crate) struct ProbeState {
    failures: AtomicU32,
    successes: AtomicU32,
}

impl ProbeState {
    /// Records a probe result; returns the streak it extends.
    pub(crate) fn record(&self, ok: bool) -> u32 {
        if ok {
            self.failures.store(0, Ordering::Relaxed);
            self.successes.fetch_add(1, Ordering::Relaxed) + 1
        } else {
            self.successes.store(0, Ordering::Relaxed);
            self.failures.fetch_add(1, Ordering::Relaxed) + 1
        }
    }
}
