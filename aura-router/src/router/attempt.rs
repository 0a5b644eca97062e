//! One attempt: claiming a provider's limits, calling it, and timing the call.

use std::sync::atomic::Ordering;
use std::time::Duration;

use aura_core::{Context, Error, Result};
use serde_json::Value;

use crate::clock::{Clock, to_nanos};
use crate::decision::Exclusion;
use crate::select::Candidate;
use crate::table::{Group, OpState, ProviderState};
use crate::track::Reserved;

/// Counts a call in flight at a provider and its operation until dropped, so that a
/// cancelled call is uncounted as surely as a finished one; and gives back a half-open probe
/// it holds if it is dropped before the call ends (a routed call dropped by its caller).
pub(crate) struct InFlight<'t> {
    provider: &'t ProviderState,
    op: &'t OpState,
    probe: bool,
    finished: bool,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.provider.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.op.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
        if self.probe && !self.finished {
            self.op.health.release_probe();
        }
    }
}

/// A claimed attempt: counted in flight, with room in the rate limit, its expected cost
/// reserved in the budgets and, for a half-open operation, its single probe.
pub(crate) struct Claim<'t> {
    pub(crate) guard: InFlight<'t>,
    pub(crate) probe: bool,
    pub(crate) reservation: Reservation,
}

/// What an attempt holds in the provider's and the capability's budgets until it settles.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Reservation {
    provider: Option<Reserved>,
    capability: Option<Reserved>,
}

impl Reservation {
    /// Replaces what is held by what the call actually cost (0 for a failed call: the
    /// reservation is given back).
    pub(crate) fn settle(self, provider: &ProviderState, group: &Group, now: u64, actual: f64) {
        if let (Some(held), Some(budget)) = (self.provider, &provider.budget) {
            budget.settle(held, now, actual);
        }
        if let (Some(held), Some(budget)) = (self.capability, &group.capability.budget) {
            budget.settle(held, now, actual);
        }
    }
}

/// Claims what an attempt on `c` needs at `now`, or says why it cannot go after all (another
/// call took the last slot, token, probe or budget since the filter ran). `panic`: it goes
/// under the panic rule, so it takes no probe. `expected_units`: the request's, for the cost
/// reserved in the budgets.
pub(crate) fn claim<'t>(
    c: &Candidate<'t>,
    group: &Group,
    expected_units: Option<f64>,
    now: u64,
    panic: bool,
) -> Result<Claim<'t>, Exclusion> {
    let provider = c.provider;
    let before = provider.in_flight.fetch_add(1, Ordering::Relaxed);
    c.op().stats.in_flight.fetch_add(1, Ordering::Relaxed);
    let mut guard = InFlight {
        provider,
        op: c.op(),
        probe: false,
        finished: false,
    };
    if let Some(limit) = provider.def.max_in_flight
        && before >= limit as u64
    {
        return Err(Exclusion::AtMaxInFlight { limit });
    }
    if let Some(limiter) = &provider.limiter
        && let Err(next) = limiter.try_acquire(Duration::from_nanos(now))
    {
        return Err(Exclusion::RateLimited { next });
    }
    let probe = !panic && c.half_open;
    if probe && !c.op().health.try_claim_probe(now) {
        return Err(Exclusion::ProbeInFlight);
    }
    guard.probe = probe;
    // Last, so that nothing above has to give a reservation back; a refusal here drops the
    // guard, which gives the probe back.
    let reservation = reserve(c, group, expected_units, now)?;
    Ok(Claim {
        guard,
        probe,
        reservation,
    })
}

/// Reserves the attempt's expected cost in the provider's budget and the capability's, both
/// or neither.
fn reserve(c: &Candidate<'_>, group: &Group, expected_units: Option<f64>, now: u64) -> Result<Reservation, Exclusion> {
    let (provider_budget, capability_budget) = (&c.provider.budget, &group.capability.budget);
    if provider_budget.is_none() && capability_budget.is_none() {
        return Ok(Reservation::default());
    }
    let op = c.op();
    let expected = op.cost.expected(expected_units, op.stats.variable_cost.load());
    let mut reservation = Reservation::default();
    if let Some(budget) = provider_budget {
        let held = budget
            .reserve(now, expected)
            .map_err(|until| Exclusion::ProviderBudgetSpent {
                until: Duration::from_nanos(until),
            })?;
        reservation.provider = Some(held);
    }
    if let Some(budget) = capability_budget {
        match budget.reserve(now, expected) {
            Ok(held) => reservation.capability = Some(held),
            Err(until) => {
                reservation.settle(c.provider, group, now, 0.0);
                return Err(Exclusion::CapabilityBudgetSpent {
                    until: Duration::from_nanos(until),
                });
            }
        }
    }
    Ok(reservation)
}

/// How an attempt ended.
pub(crate) struct Done {
    pub(crate) slot: usize,
    pub(crate) started: u64,
    pub(crate) ended: u64,
    pub(crate) result: Result<Value>,
}

/// Calls the operation with `cx` and `input`, timing it on `clock`; with a `timeout`, a call
/// that takes longer ends in a timeout error. The guard is released when the call ends or the
/// future is dropped.
pub(crate) async fn attempt(
    slot: usize,
    op: &OpState,
    cx: Context,
    input: Value,
    clock: &dyn Clock,
    timeout: Option<Duration>,
    mut guard: InFlight<'_>,
) -> Done {
    let started = to_nanos(clock.now());
    let call = (op.handler.0)(cx, input);
    let result = match timeout {
        None => call.await,
        Some(limit) => {
            let timer = clock.sleep(limit);
            tokio::select! {
                biased;
                result = call => result,
                () = timer => Err(Error::timeout(format!("the attempt took longer than {limit:?}"))),
            }
        }
    };
    let ended = to_nanos(clock.now());
    // The probe's outcome is recorded by the loop, synchronously, as soon as this returns.
    guard.finished = true;
    drop(guard);
    Done {
        slot,
        started,
        ended,
        result,
    }
}
