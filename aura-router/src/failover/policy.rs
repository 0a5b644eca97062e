//! [`FailoverPolicy`]: which errors fail over, attempts, deadlines and cool-downs; and the one
//! place where an error is classified.

use std::time::Duration;

use aura_core::{Error, ErrorKind};
use serde::{Deserialize, Serialize};

use super::{Backoff, RetryBudget};
use crate::health::Verdict;

/// What the router does after an attempt fails with a given error (named apart from the
/// scenario model's `aura_core::scenario::OnError`, which says what an execution does after a
/// node fails).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailoverAction {
    /// Try the next best provider at once.
    Failover,
    /// Give up and return this error.
    Fail,
}

/// How a call fails over. Set on the router ([`RouterBuilder::failover`](crate::RouterBuilder::failover));
/// a request can lower `max_attempts` and set its own deadline.
#[derive(Clone, Debug, PartialEq)]
pub struct FailoverPolicy {
    /// Attempts per call, first included (default 3).
    pub max_attempts: u32,
    /// The longest a call may take, all attempts and pauses included (default: none; the
    /// caller's context may still cancel it).
    pub deadline: Option<Duration>,
    /// The longest one attempt may take before it counts as a timeout (default: none).
    pub attempt_timeout: Option<Duration>,
    /// How long a rate-limited provider cools down when it did not say (default 5 s).
    pub default_cooldown: Duration,
    /// The longest cool-down, whatever the provider asked for (default 300 s).
    pub max_cooldown: Duration,
    /// The pause before a provider that failed this call is tried again.
    pub backoff: Backoff,
    /// Retries allowed as a share of requests, per capability.
    pub retry_budget: RetryBudget,
    overrides: Vec<(ErrorKind, FailoverAction)>,
}

impl Default for FailoverPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            deadline: None,
            attempt_timeout: None,
            default_cooldown: Duration::from_secs(5),
            max_cooldown: Duration::from_secs(300),
            backoff: Backoff::default(),
            retry_budget: RetryBudget::default(),
            overrides: Vec::new(),
        }
    }
}

/// What one error means for the call, the provider and the operation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Classified {
    pub(crate) on: FailoverAction,
    pub(crate) verdict: Verdict,
    /// Cool the provider down for this long.
    pub(crate) cooldown: Option<Duration>,
}

impl FailoverPolicy {
    /// Sets the attempts per call (at least 1).
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Sets the overall deadline.
    #[must_use]
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Sets the per-attempt timeout.
    #[must_use]
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = Some(timeout);
        self
    }

    /// Sets the retry budget.
    #[must_use]
    pub fn retry_budget(mut self, budget: RetryBudget) -> Self {
        self.retry_budget = budget;
        self
    }

    /// Sets the back-off.
    #[must_use]
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Sets the cool-down of a rate-limited provider that gave no `retry_after`.
    #[must_use]
    pub fn default_cooldown(mut self, cooldown: Duration) -> Self {
        self.default_cooldown = cooldown;
        self
    }

    /// Overrides what an error kind does (for instance, fail over on `Unauthorized` when each
    /// provider has its own key).
    #[must_use]
    pub fn on(mut self, kind: ErrorKind, then: FailoverAction) -> Self {
        self.overrides.retain(|(k, _)| *k != kind);
        self.overrides.push((kind, then));
        self
    }

    /// Classifies an error (see the [module docs](crate::failover) for the table).
    pub(crate) fn classify(&self, err: &Error) -> Classified {
        let server_error = err.status().is_some_and(|s| s >= 500 || s == 408);
        let (on, verdict) = match err.kind() {
            ErrorKind::RateLimited => (FailoverAction::Failover, Verdict::Neutral),
            ErrorKind::Unavailable | ErrorKind::Timeout => (FailoverAction::Failover, Verdict::Failure),
            ErrorKind::Upstream if server_error => (FailoverAction::Failover, Verdict::Failure),
            ErrorKind::Unauthorized | ErrorKind::Forbidden => (FailoverAction::Fail, Verdict::Failure),
            _ => (FailoverAction::Fail, Verdict::Neutral),
        };
        let on = self
            .overrides
            .iter()
            .find(|(k, _)| *k == err.kind())
            .map_or(on, |(_, then)| *then);
        let cooldown = (err.kind() == ErrorKind::RateLimited).then(|| {
            err.retry_after()
                .unwrap_or(self.default_cooldown)
                .min(self.max_cooldown)
        });
        Classified { on, verdict, cooldown }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        let p = FailoverPolicy::default();
        let c = p.classify(&Error::rate_limited("slow", Some(Duration::from_secs(2))));
        assert_eq!(
            (c.on, c.verdict, c.cooldown),
            (FailoverAction::Failover, Verdict::Neutral, Some(Duration::from_secs(2)))
        );
        let c = p.classify(&Error::upstream(503, ""));
        assert_eq!((c.on, c.verdict), (FailoverAction::Failover, Verdict::Failure));
        let c = p.classify(&Error::upstream(500, ""));
        assert_eq!((c.on, c.verdict), (FailoverAction::Failover, Verdict::Failure));
        let c = p.classify(&Error::unavailable("down"));
        assert_eq!(c.on, FailoverAction::Failover);
        let c = p.classify(&Error::invalid_input("bad", vec![]));
        assert_eq!((c.on, c.verdict), (FailoverAction::Fail, Verdict::Neutral));
        let c = p.classify(&Error::upstream(400, ""));
        assert_eq!(c.on, FailoverAction::Fail);
        let p = p.on(ErrorKind::Unauthorized, FailoverAction::Failover);
        assert_eq!(p.classify(&Error::unauthorized("key")).on, FailoverAction::Failover);
    }
}
