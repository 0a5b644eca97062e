//! The trigger runtime: what starts scenarios by themselves — webhook routes, schedules, polls —
//! and the manual entry point.
//!
//! ```
//! use std::sync::Arc;
//! use aura_core::engine::Engine;
//! use aura_core::scenario::Scenario;
//! use aura_core::runtime::TriggerRuntime;
//! use aura_core::trigger::WebhookRequest;
//! use aura_core::Registry;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> aura_core::Result<()> {
//! let engine = Engine::builder(Arc::new(Registry::new())).build();
//! let triggers = TriggerRuntime::new(engine);
//! let scenario = Scenario::from_yaml(r#"
//! id: orders
//! name: Orders
//! nodes:
//!   - { id: hook, kind: trigger, config: { webhook: { path: shop/orders } }, next: [reply] }
//!   - { id: reply, kind: respond, input: { received: "{{ trigger.id }}" } }
//! "#)?;
//! triggers.deploy(scenario).await?; // compiles, deploys, serves POST <mount>/shop/orders
//!
//! // A host's HTTP server hands each request over (or mounts `triggers.router()` in axum).
//! let request = WebhookRequest::post("/shop/orders", r#"{"id": 7}"#).build()?;
//! let response = triggers.handle(request, None).await;
//! assert_eq!(response.status(), 200);
//! assert_eq!(response.body().as_ref(), br#"{"received":7}"#);
//! triggers.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # What it guarantees
//!
//! - **Activation is atomic.** [`TriggerRuntime::activate`] registers a deployed scenario's
//!   trigger; activating a new version replaces the old one without a moment where both
//!   fire (the old schedule or poll loop has stopped before the new one starts; a webhook
//!   route is swapped in one write, requests already in flight finish on the version they
//!   started). A scenario whose [status](crate::scenario::ScenarioStatus) is not `active`
//!   fires nothing: activating it removes what it had.
//! - **Nothing is lost, nothing runs twice.** A poll's new items and its cursor are one
//!   transaction of the store ([`TriggerStateStore::commit_poll`]); a retried webhook
//!   delivery (same delivery id) and a schedule tick fired by two workers sharing a store
//!   create one execution between them. On a durable store every execution is stored before
//!   a webhook's caller gets a `2xx`.
//! - **Bounded.** At most [`TriggerRuntimeBuilder::max_in_flight`] webhook executions live at
//!   once; past that a request gets `503` with `Retry-After` instead of queueing. Offered 68×
//!   what it can sustain (the workspace's `overload` bench), it accepts the sustainable rate,
//!   refuses the rest at once, and its memory stays flat.
//! - **Time is the engine's [`Clock`]**, so tests drive cron, polls and back-off with a
//!   [`ManualClock`](crate::clock::ManualClock) and [`TriggerRuntimeBuilder::epoch`].
//!
//! | file | what |
//! | --- | --- |
//! | `builder.rs` | the settings ([`TriggerRuntimeBuilder`]) |
//! | `route.rs` | a webhook route: its plan, methods, verifier (secrets from the connection) |
//! | `receive.rs` | a request's way from path to response |
//! | `body.rs` | request bodies as trigger data |
//! | `arrive.rs` | committing items with their dedupe keys, and running them |
//! | `schedule.rs` | the schedule loop and its missed-firing policy |
//! | `poll.rs` | the poll loop |
//! | `events.rs`, `health.rs` | what the runtime reports, and the status kept from it |
//! | `subscribe.rs` | registering a webhook with its service |
//! | `axum.rs` | the `axum::Router` (feature `webhook-axum`) |

mod arrive;
#[cfg(feature = "webhook-axum")]
mod axum;
mod body;
mod builder;
mod events;
mod health;
mod poll;
mod receive;
mod route;
mod schedule;
mod subscribe;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::RwLock;
use serde_json::Value;
use tokio::sync::{Mutex, Semaphore, broadcast};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use self::builder::Options;
pub use self::builder::TriggerRuntimeBuilder;
pub use self::events::{TriggerEvent, TriggerEventKind};
pub use self::health::{TriggerFailure, TriggerStatus};
pub use self::receive::WebhookResponse;
use self::route::Route;
use crate::clock::Clock;
use crate::compile::Plan;
use crate::engine::{Engine, ExecutionHandle};
use crate::error::{Error, Result};
use crate::scenario::{Scenario, ScenarioStatus};
use crate::store::{TriggerKey, TriggerStateStore};
use crate::trigger::TriggerSetup;

/// Starts scenarios on their webhooks, schedules and polls (see the module docs). Cheap to
/// clone; clones share everything.
#[derive(Clone)]
pub struct TriggerRuntime {
    shared: Arc<Shared>,
}

struct Shared {
    engine: Engine,
    clock: Arc<dyn Clock>,
    /// The wall time at the clock's origin: `now = epoch + clock.now()`.
    epoch: DateTime<Utc>,
    options: Options,
    /// The webhook routes, by path.
    routes: RwLock<HashMap<String, Arc<Route>>>,
    /// What each active scenario registered; the lock serializes activations.
    active: Mutex<HashMap<String, Active>>,
    /// Cancelled by [`TriggerRuntime::shutdown`].
    stopping: CancellationToken,
    /// The loops and the webhook executions in flight, waited for at shutdown.
    tracker: TaskTracker,
    /// Room for webhook executions in flight.
    in_flight: Arc<Semaphore>,
    /// The largest body any route takes (the runtime's limit, or a route's bigger one).
    largest_body: std::sync::atomic::AtomicUsize,
    events: broadcast::Sender<TriggerEvent>,
    /// How each active scenario's trigger is doing, from the events above.
    health: parking_lot::Mutex<HashMap<String, TriggerStatus>>,
    /// Whether the task pruning expired dedupe keys runs.
    pruning: std::sync::OnceLock<()>,
}

/// What an active scenario registered.
struct Active {
    plan: Arc<Plan>,
    path: Option<String>,
    /// The schedule or poll loop: its stop, and its end.
    looping: Option<(CancellationToken, tokio::task::JoinHandle<()>)>,
}

/// What [`TriggerRuntime::activate`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Activation {
    /// Serves a webhook at this path (under the host's mount point).
    Webhook {
        /// The path, without a leading `/`.
        path: String,
    },
    /// Fires on a schedule; the next firing.
    Schedule {
        /// When it fires next.
        next: Option<DateTime<Utc>>,
    },
    /// Polls its app trigger.
    Poll,
    /// Starts only when called ([`TriggerRuntime::fire`]).
    Manual,
    /// Not active (draft, paused or in error): nothing registered.
    Inactive(ScenarioStatus),
}

impl TriggerRuntime {
    /// The engine it starts executions on.
    pub fn engine(&self) -> &Engine {
        &self.shared.engine
    }

    /// The wall time, on the engine's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.shared.now()
    }

    /// What the runtime reports from now on: activations, firings, duplicates, poll errors.
    pub fn subscribe(&self) -> broadcast::Receiver<TriggerEvent> {
        self.shared.events.subscribe()
    }

    /// Deploys `scenario` in the engine ([`Engine::deploy`]) and activates it.
    pub async fn deploy(&self, scenario: Scenario) -> Result<Arc<Plan>> {
        let plan = self.shared.engine.deploy(scenario).await?;
        self.activate(&plan).await?;
        Ok(plan)
    }

    /// Activates every scenario deployed in the engine (after [`Engine::load_deployed`] at
    /// start-up): the first error stops it, naming its scenario.
    pub async fn activate_all(&self) -> Result<Vec<(String, Activation)>> {
        let mut done = Vec::new();
        for plan in self.shared.engine.plans() {
            let activation = self.activate(&plan).await?;
            done.push((plan.id().to_owned(), activation));
        }
        Ok(done)
    }

    /// Registers `plan`'s trigger, replacing what an older version of the scenario registered
    /// (see the module docs); a scenario that is not active has what it had removed.
    ///
    /// # Errors
    ///
    /// A webhook path another active scenario serves is a [`Conflict`](crate::ErrorKind::Conflict)
    /// naming the path and that scenario; a verifier without a secret in the trigger node's
    /// connection, or a schedule, poll or dedupe on a store that keeps no trigger state, is an
    /// [`InvalidDefinition`](crate::ErrorKind::InvalidDefinition) naming the scenario and the
    /// node. On these errors the older version stays as it was. A subscription the service
    /// refuses ([`TriggerRuntimeBuilder::public_url`]) is returned as the error once the new
    /// version serves already (the service can be set up by hand; the next activation tries
    /// again).
    pub async fn activate(&self, plan: &Arc<Plan>) -> Result<Activation> {
        let shared = &self.shared;
        if shared.stopping.is_cancelled() {
            return Err(Error::unavailable("the trigger runtime is shutting down"));
        }
        let mut active = shared.active.lock().await;
        if plan.status() != ScenarioStatus::Active {
            if let Some(old) = active.remove(plan.id()) {
                shared.retire(old).await;
            }
            shared.emit(plan, TriggerEventKind::Deactivated);
            return Ok(Activation::Inactive(plan.status()));
        }
        let trigger = plan.trigger();
        let key = TriggerKey::new(plan.id(), trigger.node_id);
        let locate = |e: Error| {
            e.with_context("scenario", plan.id().to_owned())
                .with_context("node", trigger.node_id.to_owned())
        };
        // Everything that can fail is checked before the old version is touched.
        let (activation, route, looping) = match &trigger.setup {
            Some(TriggerSetup::Webhook(webhook)) => {
                let route = Route::new(plan, key, webhook, trigger.connection).map_err(locate)?;
                if let Some(owner) = shared.routes.read().get(&route.path)
                    && owner.plan.id() != plan.id()
                {
                    return Err(locate(
                        Error::conflict("another active scenario serves this webhook path")
                            .with_context("path", route.path.clone())
                            .with_context("served_by", owner.plan.id().to_owned()),
                    ));
                }
                let path = route.path.clone();
                (Activation::Webhook { path }, Some(Arc::new(route)), None)
            }
            Some(TriggerSetup::Schedule(schedule)) => {
                shared.state().map_err(locate)?;
                let next = schedule.next_after(shared.now());
                let job = schedule::Job::new(plan.clone(), key, schedule.clone());
                (Activation::Schedule { next }, None, Some(Loop::Schedule(job)))
            }
            Some(TriggerSetup::Poll(poll)) => {
                shared.state().map_err(locate)?;
                let job = poll::Job::new(plan.clone(), key, poll.clone(), trigger.connection.cloned());
                (Activation::Poll, None, Some(Loop::Poll(job)))
            }
            None => (Activation::Manual, None, None),
        };
        if let Some(route) = &route
            && route.dedupes()
        {
            shared.state().map_err(locate)?;
        }
        // The old version stops firing before the new one starts.
        let old = active.remove(plan.id());
        let old_path = old.as_ref().and_then(|o| o.path.clone());
        if let Some(old) = old {
            shared.stop_loop(old.looping).await;
        }
        {
            let mut routes = shared.routes.write();
            if let Some(path) = &old_path {
                routes.remove(path);
            }
            if let Some(route) = &route {
                routes.insert(route.path.clone(), route.clone());
            }
            let largest = routes
                .values()
                .filter_map(|r| r.body_limit)
                .fold(shared.options.body_limit, usize::max);
            shared.largest_body.store(largest, std::sync::atomic::Ordering::Relaxed);
        }
        let looping = looping.map(|job| {
            let stop = shared.stopping.child_token();
            let task = match job {
                Loop::Schedule(job) => shared
                    .tracker
                    .spawn(schedule::run(self.shared.clone(), job, stop.clone())),
                Loop::Poll(job) => shared.tracker.spawn(poll::run(self.shared.clone(), job, stop.clone())),
            };
            (stop, task)
        });
        active.insert(
            plan.id().to_owned(),
            Active {
                plan: plan.clone(),
                path: route.as_ref().map(|r| r.path.clone()),
                looping,
            },
        );
        shared.emit(plan, TriggerEventKind::Activated);
        // Registered with its service once it serves (some services call at once to check).
        if let Some(route) = &route
            && let Err(e) = subscribe::subscribe(shared, route).await
        {
            tracing::warn!(scenario = %plan.id(), error = %e, "a webhook could not be registered with its service");
            return Err(locate(e));
        }
        if shared.state().is_ok() {
            shared.pruning.get_or_init(|| {
                shared.tracker.spawn(prune(self.shared.clone()));
            });
        }
        Ok(activation)
    }

    /// Removes what `scenario_id` registered (its route, its loop, stopped before this
    /// returns). `false` when it had nothing active.
    pub async fn deactivate(&self, scenario_id: &str) -> bool {
        let mut active = self.shared.active.lock().await;
        let Some(old) = active.remove(scenario_id) else {
            return false;
        };
        let plan = old.plan.clone();
        self.shared.retire(old).await;
        self.shared.emit(&plan, TriggerEventKind::Deactivated);
        true
    }

    /// How an active scenario's trigger is doing (last firing, last poll, failures in a
    /// row, the last error and when the next try comes); `None` when it is not active.
    pub fn status(&self, scenario_id: &str) -> Option<TriggerStatus> {
        self.shared.health.lock().get(scenario_id).cloned()
    }

    /// The active scenarios, each with its plan.
    pub async fn active(&self) -> Vec<Arc<Plan>> {
        self.shared
            .active
            .lock()
            .await
            .values()
            .map(|a| a.plan.clone())
            .collect()
    }

    /// Starts an active scenario by hand with `data` (checked against its app trigger's
    /// schema, if it has one): the manual entry point. A scenario that is not active is a
    /// [`Conflict`](crate::ErrorKind::Conflict).
    pub async fn fire(&self, scenario_id: &str, data: Value) -> Result<ExecutionHandle> {
        let plan = self
            .shared
            .active
            .lock()
            .await
            .get(scenario_id)
            .map(|a| a.plan.clone())
            .ok_or_else(|| {
                Error::conflict("the scenario is not active in this trigger runtime")
                    .with_context("scenario", scenario_id.to_owned())
            })?;
        self.shared.engine.start(&plan, data).await
    }

    /// Stops: webhook requests get `503` from now on, schedules and polls stop, and this
    /// returns once the loops have ended and the webhook executions in flight have finished
    /// (each is checkpointed in the store as it goes, so a durable store holds where they
    /// stand at every step).
    pub async fn shutdown(&self) {
        let shared = &self.shared;
        shared.stopping.cancel();
        let mut active = shared.active.lock().await;
        for (_, old) in active.drain() {
            shared.stop_loop(old.looping).await;
        }
        shared.routes.write().clear();
        drop(active);
        shared.tracker.close();
        shared.tracker.wait().await;
    }
}

/// How often expired dedupe keys are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// Deletes expired dedupe keys (of deliveries, polled items, schedule ticks) every ten
/// minutes, in batches, until the runtime stops.
async fn prune(shared: Arc<Shared>) {
    const BATCH: usize = 10_000;
    loop {
        tokio::select! {
            () = shared.stopping.cancelled() => return,
            () = shared.clock.deadline(PRUNE_EVERY) => {}
        }
        let Ok(state) = shared.state() else { return };
        loop {
            match state.prune_dedupe(shared.now(), BATCH).await {
                Ok(n) if n == BATCH && !shared.stopping.is_cancelled() => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "expired dedupe keys could not be pruned; trying again later");
                    break;
                }
            }
        }
    }
}

enum Loop {
    Schedule(schedule::Job),
    Poll(poll::Job),
}

impl Shared {
    fn now(&self) -> DateTime<Utc> {
        self.epoch + chrono::Duration::from_std(self.clock.now()).unwrap_or(chrono::Duration::zero())
    }

    /// The largest body a route takes: what a server reads at most.
    #[cfg_attr(not(feature = "webhook-axum"), allow(dead_code))]
    fn largest_body_limit(&self) -> usize {
        self.largest_body.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The store's trigger state, which schedules, polls and deduped webhooks need.
    fn state(&self) -> Result<&dyn TriggerStateStore> {
        self.engine.store().trigger_state().ok_or_else(|| {
            Error::invalid_definition(
                "the engine's store keeps no trigger state (cursors, dedupe keys), which schedules, \
                 polls and deduplicated webhooks need",
            )
        })
    }

    fn emit(&self, plan: &Plan, kind: TriggerEventKind) {
        let at = self.now();
        {
            let mut health = self.health.lock();
            match kind {
                TriggerEventKind::Deactivated => {
                    health.remove(plan.id());
                }
                _ => match health.get_mut(plan.id()) {
                    Some(status) => status.note(at, &kind),
                    None => {
                        let mut status = TriggerStatus::default();
                        status.note(at, &kind);
                        health.insert(plan.id().to_owned(), status);
                    }
                },
            }
        }
        if self.events.receiver_count() > 0 {
            let _ = self.events.send(TriggerEvent {
                scenario_id: plan.id().to_owned(),
                trigger_id: plan.trigger_node_id().to_owned(),
                at,
                kind,
            });
        }
    }

    /// Removes what a scenario registered, its subscription with its service included.
    async fn retire(&self, old: Active) {
        self.stop_loop(old.looping).await;
        let Some(path) = old.path else { return };
        let route = self.routes.write().remove(&path);
        if let Some(route) = route
            && let Err(e) = subscribe::unsubscribe(self, &route).await
        {
            tracing::warn!(scenario = %old.plan.id(), error = %e, "a webhook's subscription could not be removed");
        }
    }

    async fn stop_loop(&self, looping: Option<(CancellationToken, tokio::task::JoinHandle<()>)>) {
        if let Some((stop, task)) = looping {
            stop.cancel();
            if let Err(e) = task.await {
                tracing::warn!(error = %e, "a trigger loop ended with a panic");
            }
        }
    }

    /// Reports a failed try of a loop (a poll, a schedule's commit) and says how long to wait
    /// before the next: the back-off's next step.
    fn failed(
        &self,
        plan: &Plan,
        e: &Error,
        backoff: &mut impl Iterator<Item = Duration>,
        failures: &mut u32,
        what: &'static str,
    ) -> Duration {
        *failures += 1;
        let retry_in = backoff.next().unwrap_or(Duration::from_secs(300));
        tracing::warn!(scenario = %plan.id(), error = %e, "{what} failed; trying again");
        self.emit(
            plan,
            TriggerEventKind::Failed {
                error: e.kind().as_str(),
                message: e.message().to_owned(),
                retry_in,
                failures: *failures,
            },
        );
        retry_in
    }

    /// Notes an execution started by a trigger.
    fn fired(&self, plan: &Plan, execution_id: Uuid) {
        self.emit(plan, TriggerEventKind::Fired { execution_id });
    }
}

impl std::fmt::Debug for TriggerRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let routes: Vec<String> = self.shared.routes.read().keys().cloned().collect();
        f.debug_struct("TriggerRuntime")
            .field("routes", &routes)
            .finish_non_exhaustive()
    }
}
