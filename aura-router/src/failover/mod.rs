//! Failover: what happens after an attempt fails. Which errors move on to the next provider
//! and which end the call, how many attempts and how long in all, how long a rate-limited
//! provider cools down, and the retry budget that keeps failover from multiplying load during
//! an outage.
//!
//! | idea | here |
//! | --- | --- |
//! | the policy and the error classes | [`FailoverPolicy`], [`FailoverAction`] |
//! | retries as a share of requests | [`RetryBudget`] |
//! | the pause before trying a provider again | [`Backoff`] |
//!
//! The classes, by [`ErrorKind`](aura_core::ErrorKind) (overridable with
//! [`FailoverPolicy::on`]):
//!
//! | error | next provider? | counts against health |
//! | --- | --- | --- |
//! | `RateLimited` | yes, and the provider cools down for its `retry_after` | no |
//! | `Unavailable` (503 included), `Timeout`, `Upstream` 5xx or 408 | yes | yes |
//! | `Unauthorized`, `Forbidden` | no | yes |
//! | `InvalidInput`, other `Upstream` 4xx, `NotFound`, `Conflict` … | no: fail at once | no |
//! | `Cancelled` | no | no |
//!
//! Whether the failed request may have been accepted is aura-core's one rule,
//! [`Error::may_have_been_accepted`](aura_core::Error::may_have_been_accepted), the same the
//! executor's retries follow: only an error that proves the request never left (connect or
//! DNS failure, marked [`not_sent`](aura_core::Error::not_sent)), a rate limit or a 4xx refusal
//! is safe. An error that may have been accepted (a 503 or any 5xx answer, a timeout, a
//! dropped connection) ends the call when the operation is neither
//! [idempotent](crate::Operation::idempotent) nor given an idempotency key it
//! [honours](crate::Operation::honours_idempotency_key): running it again could do the thing
//! twice.
//!
//! When failover ends the call (every attempt used, the retry budget spent, or a retry refused
//! as unsafe), the error that comes out is [persistent](aura_core::Error::persistent): its kind,
//! status and `retry_after` stay, but it is no longer retryable, so that a scenario's retry
//! policy does not run the whole routed call again.

mod backoff;
mod policy;
mod retry_budget;

pub use self::backoff::Backoff;
pub use self::policy::{FailoverAction, FailoverPolicy};
pub use self::retry_budget::RetryBudget;
pub(crate) use self::retry_budget::RetryBudgetState;
