//! [`Budget`]: a spending limit over a time window, set on a provider
//! ([`ProviderBuilder::budget`](super::ProviderBuilder::budget)) or on every provider of a
//! capability ([`RouterBuilder::capability_budget`](crate::RouterBuilder::capability_budget)).
//! It is configuration, like [`RateLimit`](super::RateLimit); what is spent in each window is
//! tracked in [`crate::track`].

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// At most `limit` spent per `window`.
///
/// Windows are fixed periods of the router's clock (with a one-hour window, spending starts
/// again at every whole hour since the clock's origin). A budget is checked before dispatch:
/// once spent, its provider (or every provider of its capability) gets no traffic until the
/// next window. Each call reserves its expected cost before it is sent (the per-call price plus
/// the expected units, see [`Request::expected_units`](crate::Request::expected_units)) and
/// settles the actual cost when it ends: a failed call gives its reservation back, a call that
/// cost more or less than expected is charged the difference. So many calls at once cannot
/// all pass the same check: the budget is overshot only by what calls cost beyond their
/// estimate (at most one call's cost when every call costs about what it is expected to). A
/// call whose units are unknown (a metered operation, no
/// [`expected_units`](crate::Request::expected_units) and no call seen yet) reserves only its
/// per-call price; a call its caller drops keeps its reservation, as a cancelled one is charged
/// its expected cost.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// The most that may be spent per window.
    pub limit: f64,
    /// The window.
    pub window: Duration,
}

impl Budget {
    /// `limit` per `window` (a zero window is taken as one nanosecond).
    pub fn new(limit: f64, window: Duration) -> Self {
        Self {
            limit,
            window: window.max(Duration::from_nanos(1)),
        }
    }
}
