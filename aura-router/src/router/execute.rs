//! The call loop: pick, claim, call; on failure classify and fail over; run several at once,
//! hedge, stop at the deadline; record everything in the decision.

use std::sync::Arc;
use std::time::Duration;

use aura_core::{Context, Error, Result};
use futures::FutureExt as _;
use futures::stream::{FuturesUnordered, StreamExt as _};
use serde_json::Value;

use super::Router;
use super::answer::{Broadcast, RouteError, Routed};
use super::attempt::{self, Done};
use super::complete::{Exec, Slot};
use super::plan::{self, Pool};
use crate::clock::{Sleep, to_nanos};
use crate::decision::{AttemptKind, AttemptOutcome, AttemptRecord, Decision, Note, Rows};
use crate::provider::ProviderId;
use crate::request::Request;
use crate::select::{CallView, Strategy};
use crate::table::Table;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    Single,
    Parallel(usize),
    All,
}

enum Finish {
    Winner(ProviderId, Value),
    All(Vec<(ProviderId, Result<Value>)>),
    Failed(Error),
}

enum Event {
    Done(Done),
    Hedge,
    Deadline,
    Cancelled,
}

/// What a completion means for the loop.
pub(super) enum Step {
    Won(ProviderId, Value),
    /// Collected (broadcast) or recorded after the end.
    Kept,
    /// Failed; move on unless `unsafe_to_retry`.
    Failed {
        error: Error,
        unsafe_to_retry: bool,
    },
    /// Failed in a way that ends the call.
    Fatal(Error),
}

impl Router {
    /// Calls the best provider for `request`, failing over to the next on retryable errors
    /// (see [`FailoverPolicy`](crate::FailoverPolicy)), and returns the first answer with the
    /// decision record.
    pub async fn execute(&self, request: Request) -> Result<Routed, RouteError> {
        self.routed(request, Mode::Single).await
    }

    /// Calls the `n` best providers at once; the first success wins and the others are
    /// cancelled (their cost still counts). Failed ones are replaced by the next candidates
    /// while the retry budget allows and the call has attempts left: `n` first attempts plus
    /// the policy's `max_attempts - 1` failovers (so `execute_parallel(request, 5)` under the
    /// default policy starts 5 providers and may fail over twice).
    ///
    /// Fewer than `n` run at once when fewer are eligible (the decision notes
    /// [`Note::FewerProvidersThanAsked`](crate::Note::FewerProvidersThanAsked)), and an
    /// operation that is not idempotent runs on one provider at a time unless the request
    /// carries an idempotency key the operation honours (noted as [`Note::ParallelismReduced`](crate::Note::ParallelismReduced)).
    pub async fn execute_parallel(&self, request: Request, n: usize) -> Result<Routed, RouteError> {
        self.routed(request, Mode::Parallel(n.max(1))).await
    }

    /// Calls every eligible provider at once and returns every answer that comes before the
    /// request's (or the policy's) deadline; those still running then are cancelled and get a
    /// timeout error. A broadcast: each provider is called once, on purpose, so there is no
    /// failover and no idempotency limit. Fails only when no provider is eligible.
    pub async fn execute_all(&self, request: Request) -> Result<Broadcast, RouteError> {
        let (finish, decision) = self.run(request, Mode::All).await;
        match finish {
            Finish::All(results) => Ok(Broadcast { results, decision }),
            Finish::Winner(provider, value) => Ok(Broadcast {
                results: vec![(provider, Ok(value))],
                decision,
            }),
            Finish::Failed(error) => Err(RouteError {
                error,
                decision: Box::new(decision),
            }),
        }
    }

    /// A dry run: filters and scores the providers for `request` as a call would, and names
    /// the one that would be tried first, without calling anything or spending any budget,
    /// rate limit or probe.
    pub fn select(&self, request: &Request) -> Decision {
        let table = self.load_table();
        let started = self.clock.now();
        let now = to_nanos(started);
        let strategy: &dyn Strategy = request.strategy.as_deref().unwrap_or(&*self.settings.strategy);
        let Some(group) = table.group(&request.capability, &request.operation) else {
            return empty_decision(table.clone(), request, strategy, started);
        };
        let mut rows = Rows::default();
        let view = self.view(now, request);
        let filtered = plan::filter(&table, group, request, now, &view, &mut rows);
        let panic = filtered.panic;
        let mut pool = Pool::new(filtered, strategy);
        let mut rng = self.call_rng();
        let picked = pool
            .next(&request.preferred, strategy, panic, &mut rng)
            .map(|c| c.id().clone());
        let (records, scores) = pool.into_scores();
        rows.set_scores(records, scores);
        let mut decision = Decision::new(table.clone(), group, strategy.name(), rows, picked, started);
        if panic {
            decision.notes.push(Note::Panic);
        }
        decision.rows.finish();
        decision
    }

    async fn routed(&self, request: Request, mode: Mode) -> Result<Routed, RouteError> {
        let (finish, decision) = self.run(request, mode).await;
        match finish {
            Finish::Winner(provider, value) => Ok(Routed {
                value,
                provider,
                decision,
            }),
            Finish::All(_) => Err(RouteError {
                error: Error::internal("a single call ended as a broadcast"),
                decision: Box::new(decision),
            }),
            Finish::Failed(error) => Err(RouteError {
                error,
                decision: Box::new(decision),
            }),
        }
    }

    fn view(&self, now: u64, request: &Request) -> CallView {
        CallView {
            now,
            total_weight: std::sync::atomic::AtomicU64::new(0),
            expected_units: request.expected_units,
            tau: self.settings.tau,
            default_latency: self.settings.default_latency,
        }
    }

    async fn run(&self, request: Request, mode: Mode) -> (Finish, Decision) {
        let clock = &*self.clock;
        let settings = &self.settings;
        let policy = &settings.failover;
        let started = clock.now();
        let now = to_nanos(started);
        let table = self.load_table();
        let strategy: &dyn Strategy = request.strategy.as_deref().unwrap_or(&*settings.strategy);
        let Some(group) = table.group(&request.capability, &request.operation) else {
            let decision = empty_decision(table.clone(), &request, strategy, started);
            let error = plan::no_candidate_error(&Rows::default(), &request.capability, &request.operation, now);
            return self.finish(Finish::Failed(error), decision, None);
        };
        group.capability.retries.deposit(now);

        let mut rows = Rows::default();
        let view = self.view(now, &request);
        let filtered = plan::filter(&table, group, &request, now, &view, &mut rows);
        let mut panic = filtered.panic;
        let mut pool = Pool::new(filtered, strategy);
        let mut decision = Decision::new(table.clone(), group, strategy.name(), rows, None, started);
        if panic {
            decision.notes.push(Note::Panic);
            metrics::counter!("aura_router_panic_total", "capability" => group.capability.name.clone(), "operation" => group.operation.clone()).increment(1);
        }

        let cx = request.context.clone().unwrap_or_default();
        let has_key = request.effective_idempotency_key().is_some();
        let concurrency_safe = pool.remaining().all(|c| c.op().repeatable(has_key));
        let mut target = match mode {
            Mode::Single => 1,
            Mode::Parallel(n) if n > 1 && !concurrency_safe => {
                decision.notes.push(Note::ParallelismReduced { asked: n, allowed: 1 });
                1
            }
            Mode::Parallel(n) => {
                let eligible = pool.remaining().count();
                if eligible < n {
                    decision
                        .notes
                        .push(Note::FewerProvidersThanAsked { asked: n, eligible });
                }
                n
            }
            Mode::All => usize::MAX,
        };
        // The first wave (`target` attempts at once) plus the policy's retries after it: one
        // call's `max_attempts - 1` failovers, whether it started with one provider or `n`.
        let max_attempts = match mode {
            Mode::All => u32::MAX,
            _ => {
                let retries = request
                    .max_attempts
                    .map_or(policy.max_attempts, |n| n.min(policy.max_attempts))
                    .max(1)
                    - 1;
                u32::try_from(target).unwrap_or(u32::MAX).saturating_add(retries)
            }
        };
        let hedging = match (mode, request.hedge) {
            (Mode::Single, Some(true)) if concurrency_safe => Some(settings.hedging.unwrap_or_default()),
            (Mode::Single, None) if concurrency_safe => settings.hedging,
            _ => None,
        };

        let mut exec = Exec {
            router: self,
            group,
            request: &request,
            mode,
            has_key,
            slots: Vec::new(),
            running: 0,
            results: Vec::new(),
        };
        let mut rng = self.call_rng();
        let mut inflight = FuturesUnordered::new();
        let mut hedge_timer: Option<Sleep> = None;
        let mut hedge_delay = Duration::ZERO;
        let mut hedge_pending = false;
        let deadline = request.deadline.or(policy.deadline);
        let mut deadline_timer: Option<Sleep> = deadline.map(|d| clock.sleep(d));
        let mut launched = 0u32;
        let mut failures = 0u32;
        let mut last_error: Option<Error> = None;
        let mut stop = false;
        let mut round = 0u32;

        let finish = 'run: loop {
            while !stop && exec.running < target && launched < max_attempts {
                let now = to_nanos(clock.now());
                let Some(cand) = pool.next(&request.preferred, strategy, panic, &mut rng) else {
                    break;
                };
                let kind = if hedge_pending {
                    AttemptKind::Hedge
                } else if failures > 0 {
                    AttemptKind::Failover
                } else if mode == Mode::Single {
                    AttemptKind::First
                } else {
                    AttemptKind::Parallel
                };
                if kind == AttemptKind::Failover && !group.capability.retries.withdraw(now) {
                    decision.notes.push(Note::RetryBudgetExhausted);
                    metrics::counter!("aura_router_retry_budget_exhausted_total", "capability" => group.capability.name.clone()).increment(1);
                    stop = true;
                    break;
                }
                let claim = match attempt::claim(&cand, group, request.expected_units, now, panic) {
                    Ok(claim) => claim,
                    Err(why) => {
                        decision.rows.exclude(cand.record, why);
                        continue;
                    }
                };
                hedge_pending = false;
                let slot = exec.slots.len();
                let attempt_cx = attempt_context(&cx, launched + 1, request.idempotency_key.as_deref());
                decision.attempts.push(AttemptRecord {
                    provider: cand.id().clone(),
                    kind,
                    probe: claim.probe,
                    panic,
                    started: Duration::from_nanos(now),
                    latency: Duration::ZERO,
                    outcome: AttemptOutcome::Cancelled,
                    cost: 0.0,
                });
                inflight.push(attempt::attempt(
                    slot,
                    cand.op(),
                    attempt_cx.clone(),
                    request.input.clone(),
                    clock,
                    policy.attempt_timeout,
                    claim.guard,
                ));
                exec.slots.push(Slot {
                    cand,
                    cx: attempt_cx,
                    attempt: decision.attempts.len() - 1,
                    probe: claim.probe,
                    panic,
                    reservation: claim.reservation,
                    done: false,
                });
                exec.running += 1;
                launched += 1;
                if launched == 1
                    && let Some(delay) = hedging.and_then(|h| h.delay(cand.op()))
                {
                    hedge_timer = Some(clock.sleep(delay));
                    hedge_delay = delay;
                }
            }

            if exec.running == 0 {
                // Every candidate has been tried once: pause, then try the ones that are still
                // eligible again, while attempts are left.
                let retry_round = !stop && failures > 0 && launched < max_attempts && mode != Mode::All;
                if retry_round && pool.is_empty() {
                    let now = to_nanos(clock.now());
                    let filtered = plan::filter(&table, group, &request, now, &view, &mut decision.rows);
                    if filtered.panic && !panic {
                        decision.notes.push(Note::Panic);
                    }
                    panic = filtered.panic;
                    pool = Pool::new(filtered, strategy);
                    if !pool.is_empty() {
                        round += 1;
                        let pause = policy.backoff.delay(round, &mut rng);
                        decision.notes.push(Note::Backoff { pause });
                        let mut sleep = clock.sleep(pause);
                        tokio::select! {
                            biased;
                            () = &mut sleep => {}
                            () = wait(&mut deadline_timer) => {
                                let deadline = deadline.unwrap_or_default();
                                decision.notes.push(Note::DeadlinePassed { deadline });
                                break 'run Finish::Failed(deadline_error(deadline, launched, last_error.as_ref()));
                            }
                            () = cx.cancellation().cancelled() => {
                                break 'run Finish::Failed(Error::cancelled("the routed call was cancelled"));
                            }
                        }
                        continue 'run;
                    }
                }
                if launched >= max_attempts && last_error.is_some() && mode != Mode::All {
                    decision.notes.push(Note::MaxAttemptsReached { attempts: launched });
                }
                break 'run match (last_error.take(), mode) {
                    (_, Mode::All) if launched > 0 => Finish::All(std::mem::take(&mut exec.results)),
                    // Failover is over: retried (or refused a retry), the error must not look
                    // retryable to the next layer.
                    (Some(error), _) if launched > 1 || stop => Finish::Failed(exhausted(error)),
                    (Some(error), _) => Finish::Failed(error),
                    (None, _) => Finish::Failed(plan::no_candidate_error(
                        &decision.rows,
                        &group.capability.name,
                        &group.operation,
                        to_nanos(clock.now()),
                    )),
                };
            }

            let event = tokio::select! {
                biased;
                Some(done) = inflight.next() => Event::Done(done),
                () = wait(&mut hedge_timer) => Event::Hedge,
                () = wait(&mut deadline_timer) => Event::Deadline,
                () = cx.cancellation().cancelled() => Event::Cancelled,
            };
            match event {
                Event::Done(done) => match exec.complete(done, &mut decision) {
                    Step::Won(provider, value) => break 'run Finish::Winner(provider, value),
                    Step::Kept => {}
                    Step::Fatal(error) => break 'run Finish::Failed(error),
                    Step::Failed { error, unsafe_to_retry } => {
                        failures += 1;
                        if unsafe_to_retry {
                            stop = true;
                        }
                        last_error = Some(error);
                    }
                },
                Event::Hedge => {
                    hedge_timer = None;
                    if exec.running == 1 && launched < max_attempts && !pool.is_empty() {
                        if group.capability.retries.withdraw(to_nanos(clock.now())) {
                            decision.notes.push(Note::Hedged { after: hedge_delay });
                            hedge_pending = true;
                            target += 1;
                        } else {
                            decision.notes.push(Note::RetryBudgetExhausted);
                        }
                    }
                }
                Event::Deadline => {
                    let deadline = deadline.unwrap_or_default();
                    decision.notes.push(Note::DeadlinePassed { deadline });
                    if mode == Mode::All {
                        exec.cancel_running(&mut decision, true);
                        break 'run Finish::All(std::mem::take(&mut exec.results));
                    }
                    break 'run Finish::Failed(deadline_error(deadline, launched, last_error.as_ref()));
                }
                Event::Cancelled => break 'run Finish::Failed(Error::cancelled("the routed call was cancelled")),
            }
        };

        // Answers that are already in count as they are; whatever still runs is cancelled.
        while exec.running > 0 {
            match inflight.next().now_or_never() {
                Some(Some(done)) => {
                    exec.mode = Mode::All;
                    let _ = exec.complete(done, &mut decision);
                }
                _ => break,
            }
        }
        exec.cancel_running(&mut decision, false);
        drop(inflight);
        let (records, scores) = pool.into_scores();
        decision.rows.set_scores(records, scores);
        let picked = match &finish {
            Finish::Winner(provider, _) => Some(provider.clone()),
            _ => None,
        };
        self.finish(finish, decision, picked)
    }

    fn finish(&self, finish: Finish, mut decision: Decision, picked: Option<ProviderId>) -> (Finish, Decision) {
        decision.picked = picked;
        decision.rows.finish();
        decision.elapsed = self.clock.now().saturating_sub(decision.started);
        let outcome = match &finish {
            Finish::Winner(..) | Finish::All(_) => "ok",
            Finish::Failed(e) => e.kind().as_str(),
        };
        metrics::counter!(
            "aura_router_requests_total",
            "capability" => decision.capability.clone(),
            "operation" => decision.operation.clone(),
            "outcome" => outcome,
        )
        .increment(1);
        tracing::debug!(
            capability = %decision.capability,
            operation = %decision.operation,
            picked = decision.picked.as_ref().map(ProviderId::as_str),
            attempts = decision.attempts.len(),
            outcome,
            "routed call"
        );
        if let Some(hook) = &self.settings.on_decision {
            hook(&decision);
        }
        (finish, decision)
    }
}

/// The context of one attempt: the call's, with its own cancellation (a child of the call's),
/// its attempt number and the request's idempotency key.
fn attempt_context(cx: &Context, attempt: u32, key: Option<&str>) -> Context {
    let mut builder = cx
        .to_builder()
        .attempt(attempt)
        .cancellation(cx.cancellation().child_token());
    if let Some(key) = key {
        builder = builder.idempotency_key(key);
    }
    builder.build()
}

/// Waits for an optional timer; never ends without one.
async fn wait(timer: &mut Option<Sleep>) {
    match timer {
        Some(sleep) => sleep.await,
        None => std::future::pending().await,
    }
}

/// The last error of a call whose failover is over: a temporary one becomes
/// [persistent](Error::persistent) (kind, status and `retry_after` kept), so that a scenario's
/// retry policy does not run the whole routed call again.
fn exhausted(error: Error) -> Error {
    if error.is_retryable() {
        error.persistent()
    } else {
        error
    }
}

fn deadline_error(deadline: Duration, attempts: u32, last: Option<&Error>) -> Error {
    let mut error = Error::timeout(format!(
        "the routed call's deadline of {deadline:?} passed after {attempts} attempt(s)"
    ));
    if let Some(last) = last {
        error = error.with_context("last_error", last.to_string());
    }
    error
}

fn empty_decision(table: Arc<Table>, request: &Request, strategy: &dyn Strategy, started: Duration) -> Decision {
    Decision {
        table,
        capability: Arc::from(&*request.capability),
        operation: Arc::from(&*request.operation),
        strategy: strategy.name(),
        rows: Rows::default(),
        attempts: Vec::new(),
        notes: Vec::new(),
        picked: None,
        started,
        elapsed: Duration::ZERO,
    }
}
