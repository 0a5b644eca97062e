//! The compiler: a [`Scenario`] checked against the registry and the connections and turned
//! into a [`Plan`] that many executions share.
//!
//! It reports *every* problem at once, each as a [`Violation`](crate::Violation) whose path
//! starts with `/nodes/<node id>` and goes on to the field (`/nodes/create_contact/input/email`):
//! unknown apps, actions and connections, a connection of the wrong app, edges to unknown
//! nodes, routes a node does not have, no trigger node, cycles, unreachable nodes, expressions
//! (input mappings and the conditions of `if`, `filter`, `switch`) that do not parse, read an
//! unknown variable or a node that does not run before, mapped fields the action's input schema
//! does not have, required fields left unmapped, malformed iterate bodies, and sub-scenarios or
//! an error scenario that are not deployed (see [`CompileOptions`]).
//!
//! Duplicate edges (`next: [b, b]`, or `b` both in `next` and in `on_error.route`) compile as
//! one edge (`graph.rs` says why).
//!
//! | file | what |
//! | --- | --- |
//! | `options.rs` | [`CompileOptions`]: known scenarios, late binding |
//! | `graph.rs` | edges, the trigger, cycles, reachability, iterate bodies |
//! | `references.rs` | what expressions may read |
//! | `input.rs` | mapped fields against the input schema |
//! | `scenarios.rs` | references between scenarios, cycles of sub-scenario calls |
//! | `problems.rs` | collecting every problem |

mod graph;
mod input;
mod options;
mod problems;
mod references;
mod scenarios;

use foldhash::HashMap;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Semaphore;

pub use self::options::CompileOptions;
use self::problems::Problems;
pub(crate) use self::scenarios::{call_cycle, cycle_error};
use crate::connection::{Connection, Connections};
use crate::error::Result;
use crate::expr::Mapping;
use crate::node::{Node, NodeInfo, NodeRole, PrepareContext};
use crate::registry::Registry;
use crate::scenario::{OnError, RetryPolicy, Scenario, ScenarioStatus, Settings};

/// A compiled scenario, ready to run many times at once. Cheap to share (`Arc<Plan>`).
pub struct Plan {
    pub(crate) id: Arc<str>,
    pub(crate) name: String,
    pub(crate) version: u32,
    pub(crate) status: ScenarioStatus,
    pub(crate) settings: Settings,
    pub(crate) nodes: Vec<PlanNode>,
    pub(crate) index: HashMap<String, usize>,
    pub(crate) root: usize,
    pub(crate) concurrency: Option<Arc<Semaphore>>,
    /// Whether a node can answer a webhook caller.
    pub(crate) responds: bool,
    /// Whether every node is [pure](crate::node::NodeInfo::pure): calls nothing outside the
    /// engine.
    pub(crate) calls_nothing: bool,
    /// Whether a node retries a failed call: its executions emit events their records do
    /// not show (`NodeRetrying`), so that a handle keeps their log from the start.
    pub(crate) retries: bool,
    /// The sub-scenarios its nodes run.
    pub(crate) calls: Vec<ScenarioCall>,
    /// Its executions' metrics, registered once (hot path: no key building per execution).
    pub(crate) metrics: PlanMetrics,
    /// Its ids as each thread's executions hold them ([`Plan::ids_here`]).
    ids: thread_local::ThreadLocal<Arc<PlanIds>>,
}

/// A plan's ids (the scenario's, then each node's by index), copied for one thread. Every
/// result and node context of an execution holds a node id, and its pass the scenario id:
/// clones of the plan's own would write one count from every thread that runs the plan (a
/// cache line passed between the cores at each node); clones of a thread's copy stay on it.
pub(crate) struct PlanIds {
    pub(crate) scenario: Arc<str>,
    pub(crate) nodes: Box<[Arc<str>]>,
}

/// `aura_executions_total{scenario, status}` and `aura_execution_duration_seconds{scenario}`
/// of one plan, registered when it is compiled, with the recorder installed then (as each
/// node's `aura_node_duration_seconds`).
pub(crate) struct PlanMetrics {
    pub(crate) completed: metrics::Counter,
    pub(crate) failed: metrics::Counter,
    pub(crate) cancelled: metrics::Counter,
    pub(crate) duration: metrics::Histogram,
}

impl PlanMetrics {
    fn new(scenario_id: &str) -> Self {
        let id = scenario_id.to_owned();
        let total = |status: &'static str| metrics::counter!("aura_executions_total", "scenario" => id.clone(), "status" => status);
        Self {
            completed: total("completed"),
            failed: total("failed"),
            cancelled: total("cancelled"),
            duration: metrics::histogram!("aura_execution_duration_seconds", "scenario" => id.clone()),
        }
    }

    /// The counter of executions that ended with `status` (`None` for `Running`, which is no end).
    pub(crate) fn ended(&self, status: crate::store::ExecutionStatus) -> Option<&metrics::Counter> {
        use crate::store::ExecutionStatus;
        match status {
            ExecutionStatus::Completed => Some(&self.completed),
            ExecutionStatus::Failed => Some(&self.failed),
            ExecutionStatus::Cancelled => Some(&self.cancelled),
            ExecutionStatus::Running => None,
        }
    }
}

/// A plan's trigger node, as [`Plan::trigger`] gives it.
#[derive(Debug)]
#[non_exhaustive]
pub struct PlanTrigger<'a> {
    /// The node's id.
    pub node_id: &'a str,
    /// The node's connection (where a webhook verifier's secret comes from).
    pub connection: Option<&'a Arc<dyn Connection>>,
    /// How the runtime starts the scenario; `None` for a node that says nothing (started
    /// only by direct calls).
    pub setup: Option<crate::trigger::TriggerSetup>,
}

/// A node that runs another scenario.
#[derive(Clone, Debug)]
pub(crate) struct ScenarioCall {
    pub(crate) node: Arc<str>,
    /// The JSON pointer of the reference in the node (`/config/scenario`).
    pub(crate) field: String,
    pub(crate) scenario: String,
}

pub(crate) struct PlanNode {
    pub(crate) id: Arc<str>,
    pub(crate) node: Box<dyn Node>,
    pub(crate) info: NodeInfo,
    pub(crate) input_source: Option<Value>,
    pub(crate) mapping: Option<Mapping>,
    pub(crate) connection: Option<Arc<dyn Connection>>,
    pub(crate) next: Vec<usize>,
    pub(crate) routes: BTreeMap<String, Vec<usize>>,
    pub(crate) on_error: OnError,
    pub(crate) error_route: Vec<usize>,
    /// Every node with an edge to this one.
    pub(crate) preds: Vec<usize>,
    /// Every node this one has an edge to, once each.
    pub(crate) succ: Vec<usize>,
    pub(crate) retry: RetryPolicy,
    pub(crate) timeout: Option<Duration>,
    /// For iterate nodes: the body.
    pub(crate) body: Option<Body>,
    /// For nodes inside an iterate body: that iterate node.
    pub(crate) in_body_of: Option<usize>,
    /// `aura_node_duration_seconds{scenario, node}`, registered once (hot path: no key building).
    pub(crate) duration_metric: metrics::Histogram,
}

pub(crate) struct Body {
    pub(crate) aggregate: Option<usize>,
    pub(crate) concurrency: usize,
}

impl PlanNode {
    /// Every successor, whatever the route.
    pub(crate) fn successors(&self) -> impl Iterator<Item = usize> + '_ {
        self.next
            .iter()
            .chain(self.routes.values().flatten())
            .chain(self.error_route.iter())
            .copied()
    }
}

impl Plan {
    /// This thread's copy of the plan's ids ([`PlanIds`]).
    pub(crate) fn ids_here(&self) -> Arc<PlanIds> {
        self.ids
            .get_or(|| {
                Arc::new(PlanIds {
                    scenario: Arc::from(&*self.id),
                    nodes: self.nodes.iter().map(|n| Arc::from(&*n.id)).collect(),
                })
            })
            .clone()
    }

    /// The scenario's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The scenario's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The scenario's version.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The scenario's settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The scenario's status: the trigger runtime activates only an
    /// [`Active`](ScenarioStatus::Active) one.
    pub fn status(&self) -> ScenarioStatus {
        self.status
    }

    /// The trigger node's id.
    pub fn trigger_node_id(&self) -> &str {
        &self.nodes[self.root].id
    }

    /// The trigger node: its id, its connection, and how the trigger runtime starts the
    /// scenario (see [`crate::trigger::TriggerSetup`]).
    pub fn trigger(&self) -> PlanTrigger<'_> {
        let node = &self.nodes[self.root];
        PlanTrigger {
            node_id: &node.id,
            connection: node.connection.as_ref(),
            setup: node.node.trigger_setup(),
        }
    }

    /// The scenarios its `sub_scenario` nodes run, each once, in node order.
    pub fn sub_scenarios(&self) -> impl Iterator<Item = &str> {
        let mut seen = Vec::new();
        self.calls.iter().map(|c| c.scenario.as_str()).filter(move |s| {
            if seen.contains(s) {
                false
            } else {
                seen.push(*s);
                true
            }
        })
    }

    /// The node ids, in definition order.
    pub fn node_ids(&self) -> impl Iterator<Item = &str> {
        self.nodes.iter().map(|n| &*n.id)
    }

    /// A canonical JSON description of the plan (nodes, kinds, configs, edges, mappings,
    /// policies). Two plans with the same description behave the same.
    pub fn describe(&self) -> Value {
        let ids = |v: &[usize]| v.iter().map(|&i| self.nodes[i].id.to_string()).collect::<Vec<_>>();
        let nodes: Vec<Value> = self
            .nodes
            .iter()
            .map(|n| {
                json!({
                    "id": &*n.id,
                    "node": serde_json::to_value(&n.node).unwrap_or(Value::Null),
                    "connection": n.connection.as_ref().map(|c| c.id().to_string()),
                    "input": n.input_source,
                    "next": ids(&n.next),
                    "routes": n.routes.iter().map(|(k, v)| (k.clone(), ids(v))).collect::<BTreeMap<_, _>>(),
                    "on_error": serde_json::to_value(&n.on_error).unwrap_or(Value::Null),
                    "retry": serde_json::to_value(&n.retry).unwrap_or(Value::Null),
                    "timeout_secs": n.timeout.map(|t| t.as_secs_f64()),
                })
            })
            .collect();
        json!({
            "id": &*self.id,
            "version": self.version,
            "settings": serde_json::to_value(&self.settings).unwrap_or(Value::Null),
            "root": &*self.nodes[self.root].id,
            "nodes": nodes,
        })
    }
}

impl fmt::Debug for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plan")
            .field("id", &self.id)
            .field("version", &self.version)
            .field("nodes", &self.nodes.iter().map(|n| &*n.id).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Compiles a scenario against a registry and a set of connections, knowing no other
/// scenario: a `sub_scenario` node or an error scenario naming another scenario is a problem
/// (use [`compile_with`] and [`CompileOptions`], or [`crate::engine::Engine::deploy`], which
/// knows the deployed scenarios).
///
/// Fails with [`crate::ErrorKind::InvalidDefinition`] listing every problem in
/// [`crate::Error::violations`], each path naming the node and the field.
pub async fn compile(scenario: Scenario, registry: &Registry, connections: &Connections) -> Result<Plan> {
    compile_with(scenario, registry, connections, &CompileOptions::default()).await
}

/// [`compile`] with deploy-time knowledge: the scenarios that exist, late binding.
pub async fn compile_with(
    scenario: Scenario,
    registry: &Registry,
    connections: &Connections,
    options: &CompileOptions,
) -> Result<Plan> {
    let mut problems = Problems::default();
    let Scenario {
        id: scenario_id,
        name,
        version,
        status,
        settings,
        nodes: defs,
        ..
    } = scenario;

    // Ids.
    let mut index = HashMap::default();
    for (i, def) in defs.iter().enumerate() {
        if def.id.is_empty() || def.id.contains('/') || def.id.contains('.') {
            problems.add(&def.id, "/id", "a node id is non-empty and has no '/' or '.'");
        }
        if index.insert(def.id.clone(), i).is_some() {
            problems.add(&def.id, "/id", "two nodes share this id");
        }
    }

    let mut nodes = Vec::with_capacity(defs.len());
    let mut calls = Vec::new();
    for def in defs {
        let mut node = def.node;
        let prepare = PrepareContext {
            registry,
            scenario_id: &scenario_id,
            node_id: &def.id,
        };
        if let Err(e) = node.prepare(&prepare).await {
            problems.error(&def.id, &e);
        }
        let info = node.info();
        for (field, scenario) in node.scenario_refs() {
            calls.push(ScenarioCall {
                node: def.id.as_str().into(),
                field: field.into_owned(),
                scenario: scenario.to_owned(),
            });
        }

        // Edges.
        let next = graph::targets(&mut problems, &index, &def.id, "/next", &def.next);
        let declared = node.routes();
        let mut routes = BTreeMap::new();
        for (route, targets) in &def.routes {
            if !declared.iter().any(|r| r == route) {
                let have = if declared.is_empty() {
                    "none".to_owned()
                } else {
                    declared.join(", ")
                };
                problems.add(
                    &def.id,
                    &format!("/routes/{route}"),
                    format!("this node has no route {route:?} (it has: {have})"),
                );
            }
            let field = format!("/routes/{route}");
            routes.insert(
                route.clone(),
                graph::targets(&mut problems, &index, &def.id, &field, targets),
            );
        }
        if !declared.is_empty() && !def.next.is_empty() {
            problems.add(
                &def.id,
                "/next",
                "a branching node leads on through `routes`, not `next`",
            );
        }
        let error_route = match &def.on_error {
            OnError::Route(targets) => graph::targets(&mut problems, &index, &def.id, "/on_error/route", targets),
            _ => Vec::new(),
        };

        // Connection.
        let connection = match &def.connection {
            Some(cid) => {
                let conn = connections.get(cid);
                match (&conn, &info.app_id) {
                    (None, _) => problems.add(&def.id, "/connection", format!("no connection {cid}")),
                    (Some(c), Some(app)) if c.app_id() != app => problems.add(
                        &def.id,
                        "/connection",
                        format!(
                            "connection {cid} belongs to app {:?}, this node calls app {app:?}",
                            c.app_id()
                        ),
                    ),
                    _ => {}
                }
                conn
            }
            None => {
                if let Some(app) = &info.app_id
                    && registry
                        .manifest(app)
                        .is_ok_and(|m| m.auth.iter().any(|a| a.kind() != "none"))
                {
                    problems.add(
                        &def.id,
                        "/connection",
                        format!("app {app:?} needs a connection and none is set"),
                    );
                }
                None
            }
        };

        // Mapping.
        let mapping = match &def.input {
            Some(template) => match Mapping::compile(template) {
                Ok(m) => Some(m),
                Err(violations) => {
                    for v in violations {
                        problems.add(&def.id, &format!("/input{}", v.path), v.message);
                    }
                    None
                }
            },
            None => None,
        };
        if let (Some(Value::Object(template)), Some(schema)) = (&def.input, node.input_schema()) {
            input::check_fields(&mut problems, &def.id, template, schema.as_json());
        }

        let retry = def
            .retry
            .clone()
            .unwrap_or_else(|| RetryPolicy::new(settings.error_policy.retries))
            .capped();
        nodes.push(PlanNode {
            id: def.id.as_str().into(),
            node,
            info,
            input_source: def.input,
            mapping,
            connection,
            next,
            routes,
            on_error: def.on_error,
            error_route,
            preds: Vec::new(),
            succ: Vec::new(),
            retry,
            timeout: def.timeout,
            body: None,
            in_body_of: None,
            duration_metric: metrics::histogram!(
                "aura_node_duration_seconds",
                "scenario" => scenario_id.clone(),
                "node" => def.id.clone()
            ),
        });
    }

    graph::link(&mut nodes);
    let triggers = graph::triggers(&mut problems, &nodes);
    graph::check(&mut problems, &nodes, &triggers);
    graph::resolve_bodies(&mut problems, &mut nodes, &index);
    references::check(&mut problems, &nodes, &index);
    scenarios::check_known(
        &mut problems,
        &scenario_id,
        settings.error_policy.error_scenario.as_deref(),
        &calls,
        options,
    );

    if let Some(err) = problems.into_error(&scenario_id) {
        return Err(err);
    }
    let concurrency = settings
        .max_concurrent
        .map(|n| Arc::new(Semaphore::new(n.max(1) as usize)));
    let responds = nodes.iter().any(|n| n.info.role == NodeRole::Respond);
    let calls_nothing = nodes.iter().all(|n| n.info.pure);
    let retries = nodes.iter().any(|n| n.retry.retries > 0);
    let metrics = PlanMetrics::new(&scenario_id);
    Ok(Plan {
        id: scenario_id.into(),
        name,
        version,
        status,
        settings,
        nodes,
        index,
        // Without problems there is exactly one trigger.
        root: triggers.first().copied().unwrap_or_default(),
        concurrency,
        responds,
        calls_nothing,
        retries,
        calls,
        metrics,
        ids: thread_local::ThreadLocal::new(),
    })
}
