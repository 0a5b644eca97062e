//! How an attempt's end is recorded — stats, health, cool-down, budgets, metrics, the decision
//! — and what it means for the call; and the cancellation of attempts still running.

use std::sync::Arc;
use std::time::Duration;

use aura_core::{Context, Error, Result};
use serde_json::Value;

use super::Router;
use super::attempt::{Done, Reservation};
use super::execute::{Mode, Step};
use crate::clock::to_nanos;
use crate::decision::{AttemptOutcome, Decision, Note};
use crate::failover::FailoverAction;
use crate::health::{Transition, Verdict};
use crate::provider::ProviderId;
use crate::request::Request;
use crate::select::Candidate;
use crate::table::Group;

/// One attempt in flight or done.
pub(super) struct Slot<'t> {
    pub(super) cand: Candidate<'t>,
    pub(super) cx: Context,
    pub(super) attempt: usize,
    pub(super) probe: bool,
    pub(super) panic: bool,
    /// The expected cost held in the budgets until the attempt ends.
    pub(super) reservation: Reservation,
    pub(super) done: bool,
}

/// The state of one call's loop that completions and cancellations touch.
pub(super) struct Exec<'t, 'r> {
    pub(super) router: &'r Router,
    pub(super) group: &'t Group,
    pub(super) request: &'r Request,
    pub(super) mode: Mode,
    pub(super) has_key: bool,
    pub(super) slots: Vec<Slot<'t>>,
    pub(super) running: usize,
    pub(super) results: Vec<(ProviderId, Result<Value>)>,
}

impl Exec<'_, '_> {
    /// Records how an attempt ended — stats, health, cool-down, budgets, metrics, the decision
    /// — and says what it means for the call.
    pub(super) fn complete(&mut self, done: Done, decision: &mut Decision) -> Step {
        let router = self.router;
        let settings = &router.settings;
        let now = done.ended;
        let slot = &mut self.slots[done.slot];
        slot.done = true;
        self.running -= 1;
        let (provider, op) = (slot.cand.provider, slot.cand.op());
        let latency = done.ended.saturating_sub(done.started);
        let record = &mut decision.attempts[slot.attempt];
        record.latency = Duration::from_nanos(latency);
        let id = provider.def.id.clone();
        match done.result {
            Ok(value) => {
                let cost = op.cost.cost_of(&value);
                op.stats.success(
                    latency,
                    now,
                    settings.tau,
                    cost.amount,
                    cost.amount - op.cost.per_call,
                    cost.units,
                );
                slot.reservation.settle(provider, self.group, now, cost.amount);
                let transition = op
                    .health
                    .record(Verdict::Success, slot.probe, slot.panic, now, &settings.health);
                on_transition(transition, provider, op);
                record.outcome = AttemptOutcome::Success;
                record.cost = cost.amount;
                attempt_metrics(&id, op, "success", latency, cost.amount);
                if self.mode == Mode::All {
                    self.results.push((id, Ok(value)));
                    Step::Kept
                } else {
                    Step::Won(id, value)
                }
            }
            Err(error) => {
                let class = settings.failover.classify(&error);
                op.stats.error(latency, now, settings.tau);
                // A failed call costs nothing: its reservation is given back.
                slot.reservation.settle(provider, self.group, now, 0.0);
                let transition = op
                    .health
                    .record(class.verdict, slot.probe, slot.panic, now, &settings.health);
                on_transition(transition, provider, op);
                if let Some(cooldown) = class.cooldown {
                    let until = now.saturating_add(to_nanos(cooldown));
                    provider
                        .hot
                        .cooldown_until
                        .fetch_max(until, std::sync::atomic::Ordering::Relaxed);
                }
                record.outcome = AttemptOutcome::Failed {
                    kind: error.kind(),
                    message: error.to_string(),
                    then: class.on,
                };
                attempt_metrics(&id, op, error.kind().as_str(), latency, 0.0);
                tracing::debug!(provider = %id, error = %error, then = ?class.on, "routed attempt failed");
                let error = if error.context_value("provider").is_some() {
                    error
                } else {
                    error.with_context("provider", id.to_string())
                };
                if self.mode == Mode::All {
                    self.results.push((id, Err(error)));
                    return Step::Kept;
                }
                match class.on {
                    FailoverAction::Fail => Step::Fatal(error),
                    FailoverAction::Failover => {
                        // The one rule of aura-core, shared with the executor's retries.
                        let unsafe_to_retry = error.may_have_been_accepted() && !op.repeatable(self.has_key);
                        if unsafe_to_retry {
                            decision
                                .notes
                                .push(Note::NotRetriedMayHaveBeenAccepted { provider: id });
                        }
                        Step::Failed { error, unsafe_to_retry }
                    }
                }
            }
        }
    }

    /// Cancels every attempt still running: its context is cancelled, it is recorded as
    /// cancelled and charged its expected cost, a probe it held is given back. With
    /// `as_results` (a broadcast's deadline), each also gets a timeout result.
    pub(super) fn cancel_running(&mut self, decision: &mut Decision, as_results: bool) {
        let router = self.router;
        let now = to_nanos(router.clock.now());
        for slot in self.slots.iter_mut().filter(|s| !s.done) {
            slot.done = true;
            slot.cx.cancellation().cancel();
            let (provider, op) = (slot.cand.provider, slot.cand.op());
            let estimate = op
                .cost
                .expected(self.request.expected_units, op.stats.variable_cost.load());
            op.stats.cancel(estimate);
            slot.reservation.settle(provider, self.group, now, estimate);
            let transition = op
                .health
                .record(Verdict::Neutral, slot.probe, slot.panic, now, &router.settings.health);
            on_transition(transition, provider, op);
            let record = &mut decision.attempts[slot.attempt];
            record.latency = Duration::from_nanos(now).saturating_sub(record.started);
            record.outcome = AttemptOutcome::Cancelled;
            record.cost = estimate;
            attempt_metrics(&provider.def.id, op, "cancelled", to_nanos(record.latency), estimate);
            if as_results {
                self.results.push((
                    provider.def.id.clone(),
                    Err(Error::timeout("the deadline passed before this provider answered")
                        .with_context("provider", provider.def.id.to_string())),
                ));
            }
        }
        self.running = 0;
    }
}

pub(super) fn on_transition(
    transition: Option<Transition>,
    provider: &crate::table::ProviderState,
    op: &crate::table::OpState,
) {
    provider.count_transition(transition);
    let id = &provider.def.id;
    match transition {
        Some(Transition::Ejected { until, ejections, .. }) => {
            tracing::warn!(
                provider = %id,
                capability = %op.capability,
                operation = %op.name,
                until = ?Duration::from_nanos(until),
                ejections,
                "provider operation ejected"
            );
            metrics::counter!("aura_router_ejections_total", "provider" => id.shared(), "capability" => op.capability.clone(), "operation" => op.name.clone()).increment(1);
        }
        Some(Transition::Recovered) => {
            tracing::info!(provider = %id, capability = %op.capability, operation = %op.name, "provider operation recovered");
            metrics::counter!("aura_router_recoveries_total", "provider" => id.shared(), "capability" => op.capability.clone(), "operation" => op.name.clone()).increment(1);
        }
        None => {}
    }
}

fn attempt_metrics(id: &ProviderId, op: &crate::table::OpState, outcome: &'static str, latency: u64, cost: f64) {
    let labels = [
        ("provider", id.shared()),
        ("capability", op.capability.clone()),
        ("operation", op.name.clone()),
    ];
    metrics::counter!("aura_router_attempts_total", labels_with(&labels, outcome)).increment(1);
    metrics::histogram!("aura_router_attempt_seconds", labels_as(&labels)).record(latency as f64 / 1e9);
    if cost != 0.0 {
        metrics::histogram!("aura_router_attempt_cost", labels_as(&labels)).record(cost);
    }
}

fn labels_as(labels: &[(&'static str, Arc<str>); 3]) -> Vec<metrics::Label> {
    labels.iter().map(|(k, v)| metrics::Label::new(*k, v.clone())).collect()
}

fn labels_with(labels: &[(&'static str, Arc<str>); 3], outcome: &'static str) -> Vec<metrics::Label> {
    let mut out = labels_as(labels);
    out.push(metrics::Label::new("outcome", outcome));
    out
}
