//! [`Hedging`]: a second request when the first is slow (tower::hedge, Envoy).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::table::OpState;

/// When a call's first attempt has been outstanding longer than its provider's recent
/// `percentile` latency for the operation, the router sends one more attempt to the next
/// candidate without cancelling the first; the first answer wins and the other is cancelled.
///
/// Only for operations that are idempotent (or requests with an idempotency key the operation
/// [honours](crate::Operation::honours_idempotency_key)), only once
/// the provider has `min_samples` latencies, and only while the retry budget allows: hedges
/// count as retries.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hedging {
    /// The latency percentile to wait for, 0..=1 (default 0.95).
    pub percentile: f64,
    /// Samples needed before hedging (default 20).
    pub min_samples: usize,
}

impl Default for Hedging {
    fn default() -> Self {
        Self {
            percentile: 0.95,
            min_samples: 20,
        }
    }
}

impl Hedging {
    /// How long to wait before hedging a call to `op`, if there are enough samples.
    pub(crate) fn delay(&self, op: &OpState) -> Option<Duration> {
        if op.stats.window.len() < self.min_samples.max(1) {
            return None;
        }
        op.stats
            .window
            .quantiles([self.percentile])
            .map(|[q]| Duration::from_nanos(q))
    }
}
