//! [`Harness`]: run a scenario against mock apps and check what happened, in a few lines.

use std::sync::Arc;

use aura_core::clock::Clock;
use aura_core::connection::{ConnectionRecord, Connections, Credentials};
use aura_core::engine::{Engine, ExecuteOptions};
use aura_core::scenario::Scenario;
use aura_core::store::{ExecutionRecord, ExecutionStatus, ExecutionStore, NodeResult, NodeStatus};
use aura_core::{Registry, Result};
use serde_json::Value;

use crate::app::MockApp;

/// A registry, connections and an engine for tests.
///
/// ```
/// use aura_core::scenario::{NodeBuilder, Scenario};
/// use aura_testkit::{Harness, MockAction, MockApp};
/// use serde_json::json;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> aura_core::Result<()> {
/// let harness = Harness::new().app(MockApp::new("crm").action(MockAction::new("create").returns(json!({ "id": 7 }))));
/// let scenario = Scenario::builder("s", "S")
///     .node(NodeBuilder::trigger("t").next(["create"]))
///     .node(NodeBuilder::action("create", "crm.create").input(json!({ "email": "{{ trigger.email }}" })))
///     .build();
/// let run = harness.run(scenario, json!({ "email": "a@b.test" })).await?;
/// run.assert_completed();
/// assert_eq!(run.output("create"), &json!({ "id": 7 }));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Harness {
    registry: Arc<Registry>,
    connections: Arc<Connections>,
    engine: Engine,
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

impl Harness {
    /// An empty harness: a memory store and the engine's default payload limit.
    pub fn new() -> Self {
        Self::builder().engine()
    }

    /// A harness with a chosen store, payload limit and apps.
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// use aura_core::scenario::{NodeBuilder, Scenario};
    /// use aura_core::store::MemoryStore;
    /// use aura_testkit::{Harness, MockAction, MockApp};
    /// use serde_json::json;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> aura_core::Result<()> {
    /// let store = Arc::new(MemoryStore::new());
    /// let harness = Harness::builder()
    ///     .store(store.clone())
    ///     .payload_limit(64)
    ///     .app(MockApp::new("crm").action(MockAction::new("create").returns(json!({ "note": "x".repeat(100) }))))
    ///     .build()?;
    /// let scenario = Scenario::builder("s", "S")
    ///     .node(NodeBuilder::trigger("t").next(["create"]))
    ///     .node(NodeBuilder::action("create", "crm.create"))
    ///     .build();
    /// let run = harness.run(scenario, json!({})).await?;
    /// run.assert_completed();
    /// // The stored output is over 64 bytes: it is kept truncated, with a marker.
    /// assert!(run.output("create").get("$truncated").is_some());
    /// # Ok(()) }
    /// ```
    pub fn builder() -> HarnessBuilder {
        HarnessBuilder::default()
    }

    /// Registers a mock app.
    ///
    /// # Panics
    /// When the app cannot be registered (a test setup error).
    #[must_use]
    #[allow(clippy::expect_used)] // a broken test setup should stop the test at once
    pub fn app(self, app: MockApp) -> Self {
        self.registry.register(app).expect("the mock app registers");
        self
    }

    /// Adds a connection for `app_id` with the id `id`.
    #[must_use]
    pub fn connection(self, id: &str, app_id: &str, credentials: Credentials) -> Self {
        self.connections
            .insert_record(ConnectionRecord::new(app_id, id, credentials).with_id(id));
        self
    }

    /// The registry.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The engine (memory store).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Deploys and runs a scenario once.
    pub async fn run(&self, scenario: Scenario, trigger: Value) -> Result<Run> {
        self.run_with(scenario, trigger, ExecuteOptions::default()).await
    }

    /// Deploys and runs a scenario once, with options (pinned data …).
    pub async fn run_with(&self, scenario: Scenario, trigger: Value, options: ExecuteOptions) -> Result<Run> {
        let plan = self.engine.deploy(scenario).await?;
        Ok(Run {
            record: self.engine.execute_with(&plan, trigger, options).await?,
        })
    }
}

/// Builds a [`Harness`]; made by [`Harness::builder`]. A mock app that cannot be registered
/// is reported by [`build`](Self::build).
#[derive(Default)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct HarnessBuilder {
    store: Option<Arc<dyn ExecutionStore>>,
    payload_limit: Option<usize>,
    clock: Option<Arc<dyn Clock>>,
    apps: Vec<MockApp>,
}

impl HarnessBuilder {
    /// Where the engine keeps execution records (default: a fresh memory store). Pass the
    /// store under test, or keep a clone to look at the records afterwards.
    pub fn store(mut self, store: Arc<dyn ExecutionStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Payloads bigger than this many bytes are stored truncated, with a marker (default: the
    /// engine's).
    pub fn payload_limit(mut self, bytes: usize) -> Self {
        self.payload_limit = Some(bytes);
        self
    }

    /// The clock the engine's timers (retry back-off, node timeouts, the max duration, rate
    /// limits) run on (default: the system clock). Pass a
    /// [`ManualClock`](aura_core::clock::ManualClock) to run back-offs in no time and fire
    /// timeouts by moving the clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Registers a mock app when the harness is built.
    pub fn app(mut self, app: MockApp) -> Self {
        self.apps.push(app);
        self
    }

    /// The harness.
    ///
    /// # Errors
    ///
    /// When a mock app cannot be registered (a bad id or key, two apps with one id …); the
    /// error names the app.
    pub fn build(mut self) -> Result<Harness> {
        let apps = std::mem::take(&mut self.apps);
        let harness = self.engine();
        for app in apps {
            harness.registry.register(app)?;
        }
        Ok(harness)
    }

    fn engine(self) -> Harness {
        let registry = Arc::new(Registry::new());
        let connections = Arc::new(Connections::new());
        let mut engine = Engine::builder(registry.clone()).connections(connections.clone());
        if let Some(store) = self.store {
            engine = engine.store(store);
        }
        if let Some(bytes) = self.payload_limit {
            engine = engine.payload_limit(bytes);
        }
        if let Some(clock) = self.clock {
            engine = engine.clock(clock);
        }
        Harness {
            registry,
            connections,
            engine: engine.build(),
        }
    }
}

impl std::fmt::Debug for HarnessBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HarnessBuilder")
            .field("payload_limit", &self.payload_limit)
            .field("clock", &self.clock)
            .field("apps", &self.apps.len())
            .finish_non_exhaustive()
    }
}

/// A finished execution, with assertions that explain themselves when they fail.
#[derive(Debug, Clone)]
pub struct Run {
    /// The record.
    pub record: ExecutionRecord,
}

#[allow(clippy::panic)] // assertions
impl Run {
    /// Asserts that the execution completed.
    pub fn assert_completed(&self) -> &Self {
        self.assert_status(ExecutionStatus::Completed)
    }

    /// Asserts the execution's status.
    pub fn assert_status(&self, status: ExecutionStatus) -> &Self {
        assert_eq!(
            self.record.status, status,
            "execution status: expected {status:?}, got {:?}; error: {:?}",
            self.record.status, self.record.error
        );
        self
    }

    /// Asserts a node's status (outside iterate bodies).
    pub fn assert_node(&self, node: &str, status: NodeStatus) -> &Self {
        let got = self.record.node(node).map(|n| n.status);
        assert_eq!(got, Some(status), "node {node:?}: expected {status:?}, got {got:?}");
        self
    }

    /// A node's result.
    ///
    /// # Panics
    /// When the node has no result.
    pub fn node(&self, node: &str) -> &NodeResult {
        self.record
            .node(node)
            .unwrap_or_else(|| panic!("node {node:?} has no result in {:?}", self.node_ids()))
    }

    /// A node's output.
    ///
    /// # Panics
    /// When the node has no output.
    pub fn output(&self, node: &str) -> &Value {
        self.node(node)
            .output
            .as_deref()
            .unwrap_or_else(|| panic!("node {node:?} has no output"))
    }

    fn node_ids(&self) -> Vec<&str> {
        self.record.nodes.iter().map(|n| &*n.node_id).collect()
    }
}
