//! The engine: runs compiled scenarios, many at once, with a record of every step.
//!
//! ```
//! use std::sync::Arc;
//! use aura_core::engine::Engine;
//! use aura_core::scenario::{NodeBuilder, Scenario};
//! use aura_core::store::ExecutionStatus;
//! use aura_core::Registry;
//! use serde_json::json;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> aura_core::Result<()> {
//! let engine = Engine::builder(Arc::new(Registry::new())).build();
//! let scenario = Scenario::builder("hello", "Hello")
//!     .node(NodeBuilder::trigger("start").next(["greet"]))
//!     .node(NodeBuilder::set("greet", json!({ "text": "Hello, {{ trigger.name }}!" })))
//!     .build();
//! let plan = engine.deploy(scenario).await?;
//! let record = engine.execute(&plan, json!({ "name": "Ada" })).await?;
//! assert_eq!(record.status, ExecutionStatus::Completed);
//! assert_eq!(record.output, Some(json!({ "text": "Hello, Ada!" })));
//! # Ok(()) }
//! ```
//!
//! Per node: the input is built from its mapping and validated; retryable errors are retried
//! with exponential backoff and jitter (backon), honouring `Retry-After`; each attempt may have
//! a timeout; calls through a connection respect its rate limit (`crate::rate_limit`); cacheable actions
//! reuse results. Per scenario: at most `max_concurrent` executions run (extra ones wait, in
//! order; across processes, workers claim within the limit: [`ExecutionStore::claim_next`])
//! and each may run `max_duration`. Independent branches run concurrently. Every node's
//! result is checkpointed in the [`ExecutionStore`] before its successors start — except that a
//! pure node's (one that calls nothing: `set`, `if` …) is written with the next checkpoint the
//! engine waits for, since after a crash it can simply run again
//! ([`crate::node::NodeInfo::pure`]).

mod arrival;
mod builder;
mod events;
mod handle;
mod keep;
mod limits;
mod recover;
mod redact;
mod retention;
mod run;
mod worker;

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use serde_json::Value;
use tokio::sync::broadcast;
use uuid::Uuid;

pub use self::builder::EngineBuilder;
pub use self::events::{EventKind, ExecutionEvent};
pub use self::handle::{Events, ExecutionHandle};
pub use self::keep::Keep;
use self::limits::{RateLimiters, ResultCache};
pub use self::retention::Retention;
pub use self::worker::WorkReport;
use crate::clock::Clock;
use crate::compile::{CompileOptions, Plan, call_cycle, compile_with, cycle_error};
use crate::connection::Connections;
use crate::error::{Error, Result};
use crate::registry::Registry;
use crate::scenario::Scenario;
use crate::store::{DeployedScenario, ExecutionRecord, ExecutionStatus, ExecutionStore, Lease, ScenarioStore};
/// The token that stops a worker ([`Engine::work`]): re-exported from `tokio-util`.
pub use tokio_util::sync::CancellationToken;

/// Runs scenarios. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    registry: Arc<Registry>,
    connections: Arc<Connections>,
    store: Arc<dyn ExecutionStore>,
    plans: RwLock<HashMap<String, Arc<Plan>>>,
    /// Where deployed scenarios are kept, versioned ([`EngineBuilder::scenarios`]).
    scenarios: Option<Arc<dyn ScenarioStore>>,
    /// Plans of versions older than the deployed one, compiled from the scenario store for
    /// re-runs and recoveries of executions that recorded them.
    versions: RwLock<HashMap<(String, u32), Arc<Plan>>>,
    /// Every execution's events, for [`Engine::subscribe`].
    events: broadcast::Sender<ExecutionEvent>,
    /// Whether anyone ever subscribed to `events`: until then, nothing is sent there.
    subscribed: std::sync::atomic::AtomicBool,
    /// How many events a subscriber may fall behind (and an execution keeps for its handle).
    event_capacity: usize,
    /// Which records go to the store.
    keep: Keep,
    /// Completed executions seen, for [`Keep::sampled`].
    completed: std::sync::atomic::AtomicU64,
    limiters: RateLimiters,
    cache: ResultCache,
    /// The client the host gave; `None` leaves every context on the per-runtime default.
    http: Option<reqwest::Client>,
    payload_limit: usize,
    /// The redactor of every execution whose plan has no connection (its secrets never
    /// change): one for all of them instead of one per execution.
    plain_redactor: Arc<redact::Redactor>,
    /// What the host attached for every node's context (a router, a database pool …).
    extensions: Arc<http::Extensions>,
    /// The time retry back-off and max durations follow.
    clock: Arc<dyn Clock>,
    /// Who this engine is when it claims executions to recover.
    owner: String,
    /// How deep sub-scenarios may nest.
    max_depth: u32,
    /// The shortest wait that parks an execution ([`EngineBuilder::park_after`]).
    park_after: std::time::Duration,
    /// The shortest wait that parks an execution in the store
    /// ([`EngineBuilder::park_in_store_after`]).
    park_in_store_after: std::time::Duration,
    /// How long a lease on an execution lasts (renewed by the heartbeat while it runs).
    lease: std::time::Duration,
    /// The heartbeat that renews this engine's leases, started with its first lease.
    heartbeat: std::sync::OnceLock<()>,
    /// The most executions one worker runs at once ([`EngineBuilder::worker_capacity`]).
    worker_capacity: usize,
    /// How often an idle worker looks for work without being woken.
    poll_interval: std::time::Duration,
    /// Whether scenarios may refer to scenarios not deployed yet ([`EngineBuilder::late_binding`]).
    late_binding: bool,
    /// How sub-scenario nodes reach this engine (made on first use: it points back here).
    sub_scenarios: std::sync::OnceLock<crate::scenario::nodes::SubScenarios>,
    /// Cancelled when the engine is dropped: the end of the engine's own tasks (retention,
    /// the follow of an execution parked in the store).
    pub(crate) stopped: CancellationToken,
    _stop: tokio_util::sync::DropGuard,
}

/// How to run one execution: pinned data, a breakpoint.
#[derive(Clone, Debug, Default)]
pub struct ExecuteOptions {
    pub(crate) pinned: HashMap<String, Pinned>,
    pub(crate) breakpoint: Option<String>,
    pub(crate) execution_id: Option<Uuid>,
    pub(crate) rerun_of: Option<Uuid>,
    pub(crate) parent_cancel: Option<CancellationToken>,
    /// Outputs a re-run or resume reuses inside iterate bodies, per (node, element).
    pub(crate) reused: HashMap<(Arc<str>, usize), Pinned>,
    /// The lease the execution runs under (taken at its creation, or by the claim of a
    /// resume), given up when it ends.
    pub(crate) lease: Option<Lease>,
    /// How deep in sub-scenarios this execution runs (0: top level).
    pub(crate) depth: u32,
    /// Whether this execution is an error scenario handling another's failure.
    pub(crate) handles_error: bool,
    /// On recovery: the nodes (and elements) that were saved as running, not idempotent, when
    /// the process stopped: they may have run.
    pub(crate) in_flight: std::collections::HashSet<(Arc<str>, Option<usize>)>,
    /// An execution taken up after it parked in the store by the engine whose handle follows
    /// it: that handle's event log and response slot, so that the handle sees its end.
    pub(crate) followed: Option<run::Followed>,
    /// On recovery: the nodes (and elements) whose retry was parked, with when it is due and
    /// the attempts made so far.
    pub(crate) retry_at: HashMap<(Arc<str>, Option<usize>), ParkedRetry>,
}

/// A retry parked in a record: when it is due, and the attempts made before.
pub(crate) type ParkedRetry = (chrono::DateTime<chrono::Utc>, u32);

#[derive(Clone, Debug)]
pub(crate) struct Pinned {
    pub(crate) output: Arc<Value>,
    pub(crate) route: Option<String>,
    /// A resumed [waiting](crate::store::NodeStatus::Waiting) node: when its wait ends. The
    /// node is not called again; its successors run once this time has come.
    pub(crate) wakes_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl ExecuteOptions {
    /// No pins, no breakpoint.
    pub fn new() -> Self {
        Self::default()
    }

    /// Gives a node's output: the node is not called (its successors see this output).
    #[must_use]
    pub fn pin(mut self, node: impl Into<String>, output: Value) -> Self {
        self.pinned.insert(
            node.into(),
            Pinned {
                output: Arc::new(output),
                route: None,
                wakes_at: None,
            },
        );
        self
    }

    /// Gives a branching node's output and the route it takes.
    #[must_use]
    pub fn pin_route(mut self, node: impl Into<String>, output: Value, route: impl Into<String>) -> Self {
        self.pinned.insert(
            node.into(),
            Pinned {
                output: Arc::new(output),
                route: Some(route.into()),
                wakes_at: None,
            },
        );
        self
    }

    /// Stops after `node` completes, until [`ExecutionHandle::continue_run`] is called.
    #[must_use]
    pub fn breakpoint(mut self, node: impl Into<String>) -> Self {
        self.breakpoint = Some(node.into());
        self
    }
}

impl Engine {
    /// Starts building an engine over a registry.
    pub fn builder(registry: Arc<Registry>) -> EngineBuilder {
        EngineBuilder::new(registry)
    }

    /// The registry.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.inner.registry
    }

    /// The connections.
    pub fn connections(&self) -> &Arc<Connections> {
        &self.inner.connections
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn ExecutionStore> {
        &self.inner.store
    }

    /// Compiles a scenario without deploying it. Its sub-scenarios and error scenario must be
    /// deployed already (or itself), unless the engine allows late binding.
    pub async fn compile(&self, scenario: Scenario) -> Result<Arc<Plan>> {
        let options = CompileOptions::new()
            .known_scenarios(
                self.inner
                    .plans
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .keys()
                    .cloned(),
            )
            .late_binding(self.inner.late_binding);
        Ok(Arc::new(
            compile_with(scenario, &self.inner.registry, &self.inner.connections, &options).await?,
        ))
    }

    /// Compiles a scenario and deploys it under its id (replacing an older one), so that
    /// sub-scenario nodes, error scenarios, re-runs and resumes can find it.
    ///
    /// Sub-scenarios and the error scenario it names must be deployed first (or be the scenario
    /// itself), and a deploy that would close a cycle of sub-scenario calls (`a -> b -> a`) is
    /// refused with an [`crate::ErrorKind::InvalidDefinition`] error listing the cycle (context
    /// `cycle`), unless the engine allows late binding ([`EngineBuilder::late_binding`]).
    ///
    /// With a scenario store ([`EngineBuilder::scenarios`]), the definition is kept there under
    /// its id and version before the deploy answers; the same version with another definition
    /// is refused with a [`crate::ErrorKind::Conflict`] naming the scenario and the version, and
    /// the deployed plan stays as it was.
    pub async fn deploy(&self, scenario: Scenario) -> Result<Arc<Plan>> {
        let deployed = match &self.inner.scenarios {
            Some(_) => Some(DeployedScenario::of(&scenario)?),
            None => None,
        };
        let plan = self.compile(scenario).await?;
        if let (Some(store), Some(deployed)) = (&self.inner.scenarios, &deployed) {
            // Refused before it is kept, when it closes a cycle.
            if !self.inner.late_binding {
                let plans = self.inner.plans.read().unwrap_or_else(PoisonError::into_inner);
                if let Some(cycle) = call_cycle(&plan, &plans) {
                    return Err(cycle_error(&plan, &cycle));
                }
            }
            store.save_scenario(deployed).await?;
        }
        let mut plans = self.inner.plans.write().unwrap_or_else(PoisonError::into_inner);
        // Checked under the write lock, so two deploys cannot close a cycle between them.
        if let Some(cycle) = call_cycle(&plan, &plans) {
            let err = cycle_error(&plan, &cycle);
            if !self.inner.late_binding {
                return Err(err);
            }
            tracing::warn!(scenario = %plan.id(), error = %err, "deployed with a cycle of sub-scenario calls");
        }
        plans.insert(plan.id().to_owned(), plan.clone());
        Ok(plan)
    }

    /// A deployed scenario.
    pub fn plan(&self, scenario_id: &str) -> Option<Arc<Plan>> {
        self.inner
            .plans
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(scenario_id)
            .cloned()
    }

    /// Runs a scenario and waits for the end. The record says how it went: a failed execution
    /// is an `Ok` record with status `failed` and its error. `Err` means the execution could
    /// not be run or recorded at all.
    ///
    /// The execution runs on the caller's task (no task is spawned for it).
    pub async fn execute(&self, plan: &Arc<Plan>, trigger: Value) -> Result<ExecutionRecord> {
        run::execute(self.inner.clone(), plan.clone(), trigger, ExecuteOptions::default()).await
    }

    /// [`Engine::execute`] with options.
    pub async fn execute_with(
        &self,
        plan: &Arc<Plan>,
        trigger: Value,
        options: ExecuteOptions,
    ) -> Result<ExecutionRecord> {
        run::execute(self.inner.clone(), plan.clone(), trigger, options).await
    }

    /// Starts a scenario: records the execution, runs it on the caller's task as far as it goes
    /// without waiting, and returns a handle to follow the rest (which goes on in a task).
    pub async fn start(&self, plan: &Arc<Plan>, trigger: Value) -> Result<ExecutionHandle> {
        self.start_with(plan, trigger, ExecuteOptions::default()).await
    }

    /// [`Engine::start`] with options.
    pub async fn start_with(
        &self,
        plan: &Arc<Plan>,
        trigger: Value,
        options: ExecuteOptions,
    ) -> Result<ExecutionHandle> {
        run::start(self.inner.clone(), plan.clone(), trigger, options, None).await
    }

    /// Every event of every execution from now on. (Until the first call, the engine sends
    /// no engine-wide events at all; [`ExecutionHandle::events`] follows one execution.)
    pub fn subscribe(&self) -> broadcast::Receiver<ExecutionEvent> {
        let rx = self.inner.events.subscribe();
        self.inner.subscribed.store(true, std::sync::atomic::Ordering::Relaxed);
        rx
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plans: Vec<String> = self
            .inner
            .plans
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect();
        f.debug_struct("Engine")
            .field("scenarios", &plans)
            .finish_non_exhaustive()
    }
}

impl ExecutionRecord {
    /// The output when the execution completed, its error otherwise.
    pub fn result(&self) -> Result<Option<&Value>> {
        match (self.status, &self.error) {
            (ExecutionStatus::Completed, _) => Ok(self.output.as_ref()),
            (_, Some(e)) => Err(e.to_error().with_context("execution", self.id.to_string())),
            (status, None) => Err(Error::internal(format!(
                "the execution ended {status:?} without an error"
            ))),
        }
    }
}
