//! One call's view of its providers: the hard constraints that exclude some ([`filter`]), the
//! candidates left and their scores ([`Pool`]), and the order a strategy tries them in.

use std::sync::atomic::Ordering;
use std::time::Duration;

use aura_core::Error;
use rand::rngs::SmallRng;

use crate::decision::{Exclusion, Rows};
use crate::health::HealthStatus;
use crate::request::Request;
use crate::select::{CallView, Candidate, Strategy, best};
use crate::table::{Group, OpState, ProviderState, Table};
use crate::table::{LIMIT_BUDGET, LIMIT_IN_FLIGHT, LIMIT_RATE};
use crate::track::BudgetState;

/// The outcome of filtering: the eligible candidates, and whether they are there under the
/// panic rule.
pub(crate) struct Filtered<'t> {
    pub(crate) candidates: Vec<Candidate<'t>>,
    pub(crate) panic: bool,
}

/// Applies the hard constraints to every member of `group` at `now`, writing one row per
/// member, and returns the eligible ones as candidates. When
/// none is eligible but some were excluded only for their health, those are admitted under
/// the panic rule (least bad first).
///
/// This runs for every provider of the operation on every call, in one pass: the common path
/// (nothing excluded) reads one cache line of each provider and writes 16 bytes of decision
/// row and one candidate.
pub(crate) fn filter<'t>(
    table: &'t Table,
    group: &Group,
    request: &Request,
    now: u64,
    view: &'t CallView,
    rows: &mut Rows,
) -> Filtered<'t> {
    rows.reset(group.members.len());
    let mut candidates = Vec::with_capacity(group.members.len());
    let capability_budget = group.capability.budget.as_ref();
    let constrained = !request.denied.is_empty() || request.allowed.is_some() || !request.tags.is_empty();
    let mut unhealthy = 0usize;
    // The request asks for nothing that needs a look beyond a provider's hot cache line.
    let plain = !constrained && request.max_price.is_none() && capability_budget.is_none();
    for (row, member) in group.members.iter().enumerate() {
        let row = crate::table::index(row);
        let hot = member.hot();
        // Only the pointer: the provider's own memory is not read on the common path.
        let provider = &*table.providers[member.provider as usize];
        let weight = hot.weight();
        // The common case, kept short so that many providers are looked at at once: a plain
        // request, a provider with weight, no limits, not cooling down, all healthy.
        if plain && weight > 0 && hot.limits() == 0 && hot.unhealthy_ops() == 0 && hot.cooldown_until() <= now {
            candidates.push(Candidate {
                provider,
                op: member.op,
                weight,
                half_open: false,
                call: view,
                record: row,
            });
            continue;
        }
        let op = &provider.ops[member.op as usize];
        let limits = hot.limits();
        let mut half_open = false;
        let exclusion = if constrained && let Some(why) = constraint(provider, request) {
            Some(why)
        } else if weight == 0 {
            Some(Exclusion::ZeroWeight)
        } else if let Some(why) = request.max_price.and_then(|max| {
            let expected = op.cost.expected(request.expected_units, op.stats.variable_cost.load());
            (expected > max).then_some(Exclusion::OverMaxPrice { expected, max })
        }) {
            Some(why)
        } else if let Some(b) = capability_budget.filter(|b| over_budget(b, op, request, now)) {
            Some(Exclusion::CapabilityBudgetSpent {
                until: Duration::from_nanos(b.window_end(now)),
            })
        } else if limits & LIMIT_BUDGET != 0
            && let Some(b) = provider.budget.as_ref().filter(|b| over_budget(b, op, request, now))
        {
            Some(Exclusion::ProviderBudgetSpent {
                until: Duration::from_nanos(b.window_end(now)),
            })
        } else if hot.cooldown_until() > now {
            Some(Exclusion::CoolingDown {
                until: Duration::from_nanos(hot.cooldown_until()),
            })
        } else if limits & LIMIT_IN_FLIGHT != 0
            && let Some(limit) = provider
                .def
                .max_in_flight
                .filter(|&max| provider.in_flight.load(Ordering::Relaxed) >= max as u64)
        {
            Some(Exclusion::AtMaxInFlight { limit })
        } else if limits & LIMIT_RATE != 0
            && let Some(limiter) = provider
                .limiter
                .as_ref()
                .filter(|l| !l.has_room(Duration::from_nanos(now)))
        {
            Some(Exclusion::RateLimited {
                next: limiter.next_free(),
            })
        } else if hot.unhealthy_ops() == 0 {
            // Every operation of this provider is healthy: no need to look at this one.
            None
        } else {
            match op.health.status(now) {
                HealthStatus::Healthy => None,
                HealthStatus::HalfOpen => {
                    half_open = true;
                    None
                }
                HealthStatus::Ejected { until } => {
                    unhealthy += 1;
                    Some(Exclusion::Ejected { until })
                }
                HealthStatus::Probing => {
                    unhealthy += 1;
                    Some(Exclusion::ProbeInFlight)
                }
            }
        };
        match exclusion {
            None => {
                candidates.push(Candidate {
                    provider,
                    op: member.op,
                    weight,
                    half_open,
                    call: view,
                    record: row,
                });
            }
            Some(why) => rows.exclude(row, why),
        }
    }
    let mut panic = false;
    if candidates.is_empty() && unhealthy > 0 {
        panic = true;
        let unhealthy: Vec<u32> = rows
            .excluded_rows()
            .filter(|(_, why)| matches!(why, Exclusion::Ejected { .. } | Exclusion::ProbeInFlight))
            .map(|(row, _)| row)
            .collect();
        for row in unhealthy {
            // Rows are written in member order: row i is member i.
            let Some(member) = group.members.get(row as usize) else {
                continue;
            };
            let provider = &*table.providers[member.provider as usize];
            let weight = provider.weight();
            candidates.push(Candidate {
                provider,
                op: member.op,
                weight,
                half_open: false,
                call: view,
                record: row,
            });
        }
    }
    if panic {
        rows.set_panic();
    }
    Filtered { candidates, panic }
}

/// The request's own constraints on who may serve it: denied, allowed, tags.
fn constraint(provider: &ProviderState, request: &Request) -> Option<Exclusion> {
    let id = provider.def.id.as_str();
    if request.denied.iter().any(|d| &**d == id) {
        Some(Exclusion::Denied)
    } else if request.allowed.as_ref().is_some_and(|a| !a.iter().any(|x| &**x == id)) {
        Some(Exclusion::NotAllowed)
    } else {
        request
            .tags
            .iter()
            .find(|(k, v)| provider.def.tag(k) != Some(&**v))
            .map(|(key, value)| Exclusion::MissingTag {
                key: key.clone(),
                value: value.clone(),
            })
    }
}

/// Whether a call to `op` would overrun `budget`: it is spent, or what is left is less than
/// the call is expected to cost.
fn over_budget(budget: &BudgetState, op: &OpState, request: &Request, now: u64) -> bool {
    let remaining = budget.remaining(now);
    remaining <= 0.0 || op.cost.expected(request.expected_units, op.stats.variable_cost.load()) > remaining
}

/// The eligible candidates and their scores, and which have been tried.
///
/// The first pick reads the candidates as the filter left them; only a later pick (a
/// failover, a parallel call) pays for copying out the ones not yet tried.
pub(crate) struct Pool<'t> {
    candidates: Vec<Candidate<'t>>,
    scores: Vec<f64>,
    /// Indices into `candidates`, in the order they were picked.
    tried: Vec<usize>,
}

impl<'t> Pool<'t> {
    /// Scores the eligible candidates.
    pub(crate) fn new(filtered: Filtered<'t>, strategy: &dyn Strategy) -> Self {
        let Filtered { candidates, panic } = filtered;
        // The total weight, for weight shares: summed here rather than in the filter's loop,
        // where it would be one more dependency between providers.
        if let Some(first) = candidates.first() {
            let total: u64 = candidates.iter().map(|c| u64::from(c.weight)).sum();
            first.call.set_total_weight(total as f64);
        }
        let mut scores = Vec::with_capacity(candidates.len());
        if panic {
            scores.extend(candidates.iter().map(least_bad));
        } else {
            strategy.score_all(&candidates, &mut scores);
        }
        // A strategy that scored too few (or too many) gets NaN for the rest: never picked.
        scores.resize(candidates.len(), f64::NAN);
        Self {
            candidates,
            scores,
            tried: Vec::new(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.tried.len() >= self.candidates.len()
    }

    /// The candidates not yet tried.
    pub(crate) fn remaining(&self) -> impl Iterator<Item = &Candidate<'t>> + '_ {
        self.candidates
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.tried.contains(i))
            .map(|(_, c)| c)
    }

    /// The next candidate to try: the first preferred one not tried yet, else the strategy's
    /// pick among those not tried (under the panic rule: the least bad).
    pub(crate) fn next(
        &mut self,
        preferred: &[std::sync::Arc<str>],
        strategy: &dyn Strategy,
        panic: bool,
        rng: &mut SmallRng,
    ) -> Option<Candidate<'t>> {
        let open = |i: &usize| !self.tried.contains(i);
        let preferred = preferred
            .iter()
            .find_map(|p| (0..self.candidates.len()).find(|i| open(i) && self.candidates[*i].id().as_str() == &**p));
        let i = match preferred {
            Some(i) => i,
            None if self.tried.is_empty() => pick(&self.candidates, &self.scores, strategy, panic, rng)?,
            None => {
                let map: Vec<usize> = (0..self.candidates.len()).filter(open).collect();
                let candidates: Vec<Candidate<'t>> = map.iter().map(|&i| self.candidates[i]).collect();
                let scores: Vec<f64> = map.iter().map(|&i| self.scores[i]).collect();
                *map.get(pick(&candidates, &scores, strategy, panic, rng)?)?
            }
        };
        let picked = *self.candidates.get(i)?;
        self.tried.push(i);
        Some(picked)
    }

    /// The scored rows (ascending) and their scores, for the decision record.
    pub(crate) fn into_scores(self) -> (Vec<u32>, Vec<f64>) {
        (self.candidates.iter().map(|c| c.record).collect(), self.scores)
    }
}

fn pick(
    candidates: &[Candidate<'_>],
    scores: &[f64],
    strategy: &dyn Strategy,
    panic: bool,
    rng: &mut SmallRng,
) -> Option<usize> {
    if candidates.is_empty() {
        return None;
    }
    let i = if panic {
        best(scores)?
    } else {
        strategy.pick(candidates, scores, rng)?
    };
    (i < candidates.len()).then_some(i)
}

/// Under the panic rule: the sooner its ejection ends, the better.
fn least_bad(c: &Candidate<'_>) -> f64 {
    let now = c.call.now;
    match c.op().health.status(now) {
        HealthStatus::Ejected { until } => -(until.saturating_sub(Duration::from_nanos(now))).as_secs_f64(),
        _ => 0.0,
    }
}

/// The error for a call that no provider could take, from why each was excluded: a
/// cool-down or rate limit gives `RateLimited` with the soonest time one frees up, a budget
/// `RateLimited` until its window ends, in-flight limits `Unavailable`, anything else (the
/// request's own constraints) `NotFound`.
pub(crate) fn no_candidate_error(rows: &Rows, capability: &str, operation: &str, now: u64) -> Error {
    let now = Duration::from_nanos(now);
    let mut soonest: Option<Duration> = None;
    let mut busy = false;
    for exclusion in rows.exclusions() {
        match exclusion {
            Exclusion::CoolingDown { until: at }
            | Exclusion::RateLimited { next: at }
            | Exclusion::ProviderBudgetSpent { until: at }
            | Exclusion::CapabilityBudgetSpent { until: at } => {
                let wait = at.saturating_sub(now);
                soonest = Some(soonest.map_or(wait, |s| s.min(wait)));
            }
            Exclusion::AtMaxInFlight { .. } | Exclusion::ProbeInFlight => busy = true,
            _ => {}
        }
    }
    let route = format!("{capability}.{operation}");
    if let Some(wait) = soonest {
        Error::rate_limited(
            format!("every provider of {route} is rate limited, cooling down or out of budget"),
            Some(wait),
        )
    } else if busy {
        Error::unavailable(format!("every provider of {route} is at its limit of calls in flight"))
    } else if rows.is_empty() {
        Error::not_found(format!("no provider serves {route}"))
    } else {
        Error::not_found(format!("no provider of {route} meets the request's constraints"))
    }
    .with_context("route", route)
}
