//! Failover: what happens after an attempt fails. Which errors move on to the next provider
//! and which end the call, how many attempts and how long in all, how long a rate-limited
//! provider cools down, and the retry budget that keeps failover from multiplying load during
//! an outage.
//!
//! | idea | here |
//! | --- | --- |
//! | the policy and the error classes | [`FailoverPolicy`], [`OnError`] |
//! | retries as a share of requests | [`RetryBudget`] |
//! | the pause before trying a provider again | [`Backoff`] |
//!
//! The classes, by [`ErrorKind`](aura_core::ErrorKind) (overridable with
//! [`FailoverPolicy::on`]):
//!
//! | error | next provider? | counts against health | may have been accepted |
//! | --- | --- | --- | --- |
//! | `RateLimited` | yes, and the provider cools down for its `retry_after` | no | no |
//! | `Unavailable` | yes | yes | no |
//! | `Timeout`, `Upstream` 5xx or 408 | yes | yes | **yes** |
//! | `Unauthorized`, `Forbidden` | no | yes | no |
//! | `InvalidInput`, other `Upstream` 4xx, `NotFound`, `Conflict` … | no: fail at once | no | no |
//! | `Cancelled` | no | no | no |
//!
//! An error that may have been accepted ends the call when the operation is not idempotent and
//! the request carries no idempotency key: running it again could do the thing twice.

mod backoff;
mod policy;
mod retry_budget;

pub use self::backoff::Backoff;
pub use self::policy::{FailoverPolicy, OnError};
pub use self::retry_budget::RetryBudget;
pub(crate) use self::retry_budget::RetryBudgetState;
