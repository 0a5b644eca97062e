//! [`Backoff`]: the pause before a provider that already failed this call is tried again.

use std::time::Duration;

use rand::RngExt as _;
use rand::rngs::SmallRng;
use serde::{Deserialize, Serialize};

/// Full-jitter exponential back-off (Envoy's): the n-th pause is uniform in
/// `[0, min(base × (2ⁿ − 1), max))`.
///
/// Only used once every eligible provider has been tried: moving on to another provider never
/// waits.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Backoff {
    /// The first pause's ceiling (default 25 ms).
    pub base: Duration,
    /// No pause is longer (default 250 ms).
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(25),
            max: Duration::from_millis(250),
        }
    }
}

impl Backoff {
    /// The pause before round `round` (1 for the first pause).
    pub(crate) fn delay(&self, round: u32, rng: &mut SmallRng) -> Duration {
        let factor = 2u32.saturating_pow(round.min(16)).saturating_sub(1).max(1);
        let ceiling = self.base.saturating_mul(factor).min(self.max);
        if ceiling.is_zero() {
            return Duration::ZERO;
        }
        ceiling.mul_f64(rng.random::<f64>())
    }
}
