//! [`Harness`]: run a scenario against mock apps and check what happened, in a few lines.

use std::sync::Arc;

use aura_core::connection::{ConnectionRecord, Connections, Credentials};
use aura_core::engine::{Engine, ExecuteOptions};
use aura_core::scenario::Scenario;
use aura_core::store::{ExecutionRecord, ExecutionStatus, NodeResult, NodeStatus};
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
    /// An empty harness.
    pub fn new() -> Self {
        let registry = Arc::new(Registry::new());
        let connections = Arc::new(Connections::new());
        let engine = Engine::builder(registry.clone())
            .connections(connections.clone())
            .build();
        Self {
            registry,
            connections,
            engine,
        }
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
