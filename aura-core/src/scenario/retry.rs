//! How a node is retried.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How a node is retried: `retries` retries after the first attempt, the delay starting at
/// `base_delay` and doubling (with jitter) up to `max_delay`.
///
/// The delays are capped by `max_delay` from the first retry on: a `base_delay` larger than
/// `max_delay` is cut down to it ([`RetryPolicy::capped`]; the builder and the compiler apply
/// it, so a policy read from JSON or YAML follows the same rule).
///
/// ```
/// use std::time::Duration;
/// use aura_core::scenario::RetryPolicy;
///
/// let policy = RetryPolicy::builder(4)
///     .base_delay(Duration::from_secs(10))
///     .max_delay(Duration::from_secs(2))
///     .build();
/// assert_eq!(policy.base_delay, Duration::from_secs(2));
/// assert_eq!(policy.delay(1), Duration::from_secs(2));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: u32,
    /// The first delay (default 200 ms); it doubles each time, with jitter.
    #[serde(default = "base_delay", rename = "base_delay_ms", with = "crate::durations::millis")]
    pub base_delay: Duration,
    /// The longest delay (default 30 s).
    #[serde(default = "max_delay", rename = "max_delay_ms", with = "crate::durations::millis")]
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// `retries` retries with the default delays.
    pub fn new(retries: u32) -> Self {
        Self {
            retries,
            base_delay: base_delay(),
            max_delay: max_delay(),
        }
    }

    /// Starts a policy of `retries` retries (default delays: 200 ms doubling up to 30 s).
    pub fn builder(retries: u32) -> RetryPolicyBuilder {
        RetryPolicyBuilder {
            policy: Self::new(retries),
        }
    }

    /// The policy with `base_delay` cut down to `max_delay` when it is larger.
    #[must_use]
    pub fn capped(mut self) -> Self {
        self.base_delay = self.base_delay.min(self.max_delay);
        self
    }

    /// The delay before retry `retry` (1 for the first), before jitter: `base_delay` doubled
    /// `retry - 1` times, never more than `max_delay`.
    pub fn delay(&self, retry: u32) -> Duration {
        let doublings = retry.saturating_sub(1).min(31);
        self.base_delay.saturating_mul(1u32 << doublings).min(self.max_delay)
    }
}

/// Builds a [`RetryPolicy`]; see [`RetryPolicy::builder`].
#[derive(Clone, Debug)]
pub struct RetryPolicyBuilder {
    policy: RetryPolicy,
}

impl RetryPolicyBuilder {
    /// The first delay (default 200 ms); capped by the max delay.
    #[must_use]
    pub fn base_delay(mut self, delay: Duration) -> Self {
        self.policy.base_delay = delay;
        self
    }

    /// The longest delay, from the first retry on (default 30 s).
    #[must_use]
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.policy.max_delay = delay;
        self
    }

    /// The policy, its base delay capped by the max delay.
    pub fn build(self) -> RetryPolicy {
        self.policy.capped()
    }
}

fn base_delay() -> Duration {
    Duration::from_millis(200)
}

fn max_delay() -> Duration {
    Duration::from_secs(30)
}
