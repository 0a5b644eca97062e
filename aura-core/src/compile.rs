//! The compiler: a [`Scenario`] checked against the registry and the connections and turned
//! into a [`Plan`] that many executions share.
//!
//! It reports *every* problem at once, each as a [`Violation`] whose path starts with
//! `/nodes/<node id>` and goes on to the field (`/nodes/create_contact/input/email`): unknown
//! apps, actions and connections, a connection of the wrong app, edges to unknown nodes,
//! routes a node does not have, cycles, unreachable nodes, expressions that do not parse or
//! read a node that is not upstream, mapped fields the action's input schema does not have,
//! required fields left unmapped, and malformed iterate bodies.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::connection::{Connection, Connections};
use crate::error::{Error, Result, Violation};
use crate::expr::{Mapping, VARIABLES};
use crate::node::{Node, NodeInfo, NodeRole, PrepareContext};
use crate::registry::Registry;
use crate::scenario::{OnError, RetryPolicy, Scenario, Settings};

/// A compiled scenario, ready to run many times at once. Cheap to share (`Arc<Plan>`).
pub struct Plan {
    pub(crate) id: Arc<str>,
    pub(crate) name: String,
    pub(crate) version: u32,
    pub(crate) settings: Settings,
    pub(crate) nodes: Vec<PlanNode>,
    pub(crate) index: HashMap<String, usize>,
    pub(crate) root: usize,
    pub(crate) concurrency: Option<Arc<Semaphore>>,
    /// Whether a node can answer a webhook caller.
    pub(crate) responds: bool,
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

struct Problems(Vec<Violation>);

impl Problems {
    fn add(&mut self, node: &str, field: &str, message: impl Into<String>) {
        self.0.push(Violation::new(format!("/nodes/{node}{field}"), message));
    }

    fn error(&mut self, node: &str, err: &Error) {
        let field = err.context_value("field").unwrap_or_default().to_owned();
        let mut message = err.message().to_owned();
        for (k, v) in err.context() {
            if *k != "field" && *k != "node" {
                message.push_str(&format!(" ({k}: {v})"));
            }
        }
        self.add(node, &field, message);
        for v in err.violations() {
            self.add(node, &format!("{field}{}", v.path), v.message.clone());
        }
    }
}

/// Compiles a scenario against a registry and a set of connections.
///
/// Fails with [`crate::ErrorKind::InvalidDefinition`] listing every problem in
/// [`Error::violations`], each path naming the node and the field.
pub async fn compile(scenario: Scenario, registry: &Registry, connections: &Connections) -> Result<Plan> {
    let mut problems = Problems(Vec::new());
    let Scenario {
        id: scenario_id,
        name,
        version,
        settings,
        nodes: defs,
        ..
    } = scenario;

    // Ids.
    let mut index = HashMap::new();
    for (i, def) in defs.iter().enumerate() {
        if def.id.is_empty() || def.id.contains('/') || def.id.contains('.') {
            problems.add(&def.id, "/id", "a node id is non-empty and has no '/' or '.'");
        }
        if index.insert(def.id.clone(), i).is_some() {
            problems.add(&def.id, "/id", "two nodes share this id");
        }
    }
    let lookup = |problems: &mut Problems, from: &str, field: &str, to: &str| -> Option<usize> {
        let found = index.get(to).copied();
        if found.is_none() {
            problems.add(
                from,
                field,
                format!("leads to {to:?}, which is not a node of this scenario"),
            );
        }
        found
    };

    let mut nodes = Vec::with_capacity(defs.len());
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

        // Edges.
        let next: Vec<usize> = def
            .next
            .iter()
            .enumerate()
            .filter_map(|(j, to)| lookup(&mut problems, &def.id, &format!("/next/{j}"), to))
            .collect();
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
            let t = targets
                .iter()
                .enumerate()
                .filter_map(|(j, to)| lookup(&mut problems, &def.id, &format!("/routes/{route}/{j}"), to))
                .collect();
            routes.insert(route.clone(), t);
        }
        if !declared.is_empty() && !def.next.is_empty() {
            problems.add(
                &def.id,
                "/next",
                "a branching node leads on through `routes`, not `next`",
            );
        }
        let error_route = match &def.on_error {
            OnError::Route(targets) => targets
                .iter()
                .enumerate()
                .filter_map(|(j, to)| lookup(&mut problems, &def.id, &format!("/on_error/route/{j}"), to))
                .collect(),
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
            check_fields(&mut problems, &def.id, template, schema.as_json());
        }

        let retry = def
            .retry
            .clone()
            .unwrap_or_else(|| RetryPolicy::new(settings.error_policy.retries));
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

    for i in 0..nodes.len() {
        let mut succ: Vec<usize> = nodes[i].successors().collect();
        succ.sort_unstable();
        succ.dedup();
        for &s in &succ {
            nodes[s].preds.push(i);
        }
        nodes[i].succ = succ;
    }

    // The trigger.
    let triggers: Vec<usize> = (0..nodes.len())
        .filter(|&i| nodes[i].info.role == NodeRole::Trigger)
        .collect();
    let root = match triggers.as_slice() {
        [only] => *only,
        [] => {
            problems.0.push(Violation::new(
                "/nodes",
                "a scenario needs exactly one trigger node; it has none",
            ));
            0
        }
        [first, rest @ ..] => {
            for &r in rest {
                problems.add(&nodes[r].id, "/kind", "a scenario has exactly one trigger node");
            }
            *first
        }
    };
    if !nodes.is_empty() && !nodes[root].preds.is_empty() {
        problems.add(&nodes[root].id, "", "nothing may lead into the trigger node");
    }

    if !nodes.is_empty() {
        check_graph(&mut problems, &nodes, root);
        resolve_bodies(&mut problems, &mut nodes, &index);
        check_references(&mut problems, &nodes, &index);
    }

    if !problems.0.is_empty() {
        let n = problems.0.len();
        return Err(Error::invalid_definition(format!(
            "scenario {scenario_id:?} does not compile: {n} problem{}",
            if n == 1 { "" } else { "s" }
        ))
        .with_context("scenario", scenario_id)
        .with_violations(problems.0));
    }
    let concurrency = settings
        .max_concurrent
        .map(|n| Arc::new(Semaphore::new(n.max(1) as usize)));
    let responds = nodes.iter().any(|n| n.info.role == NodeRole::Respond);
    Ok(Plan {
        id: scenario_id.into(),
        name,
        version,
        settings,
        nodes,
        index,
        root,
        concurrency,
        responds,
    })
}

/// Mapped fields the schema lacks, required fields left unmapped.
fn check_fields(problems: &mut Problems, node: &str, template: &serde_json::Map<String, Value>, schema: &Value) {
    let fields: Vec<&str> = template.keys().map(String::as_str).collect();
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        let open = matches!(
            schema.get("additionalProperties"),
            Some(Value::Bool(true)) | Some(Value::Object(_))
        );
        if !open {
            for f in &fields {
                if !props.contains_key(*f) {
                    let known: Vec<&str> = props.keys().map(String::as_str).collect();
                    problems.add(
                        node,
                        &format!("/input/{f}"),
                        format!("the input has no field {f:?} (it has: {})", known.join(", ")),
                    );
                }
            }
        }
    }
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for r in required.iter().filter_map(Value::as_str) {
            if !fields.contains(&r) {
                problems.add(
                    node,
                    &format!("/input/{r}"),
                    format!("required field {r:?} is not mapped"),
                );
            }
        }
    }
}

/// Cycles and unreachable nodes.
fn check_graph(problems: &mut Problems, nodes: &[PlanNode], root: usize) {
    // Kahn's algorithm: what remains is on or behind a cycle.
    let mut indegree: Vec<usize> = nodes.iter().map(|n| n.preds.len()).collect();
    let mut queue: VecDeque<usize> = (0..nodes.len()).filter(|&i| indegree[i] == 0).collect();
    let mut seen = 0;
    while let Some(i) = queue.pop_front() {
        seen += 1;
        for s in nodes[i].successors() {
            indegree[s] -= 1;
            if indegree[s] == 0 {
                queue.push_back(s);
            }
        }
    }
    if seen < nodes.len() {
        for (i, n) in nodes.iter().enumerate() {
            if indegree[i] > 0 {
                problems.add(&n.id, "", "is part of (or follows) a cycle");
            }
        }
    }
    let mut reachable = vec![false; nodes.len()];
    let mut stack = vec![root];
    while let Some(i) = stack.pop() {
        if !std::mem::replace(&mut reachable[i], true) {
            stack.extend(nodes[i].successors());
        }
    }
    for (i, n) in nodes.iter().enumerate() {
        if !reachable[i] {
            problems.add(&n.id, "", "cannot be reached from the trigger");
        }
    }
}

/// Finds each iterate node's body and aggregate.
fn resolve_bodies(problems: &mut Problems, nodes: &mut [PlanNode], index: &HashMap<String, usize>) {
    let mut aggregates: HashMap<usize, usize> = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        if let NodeRole::Aggregate { iterate } = &n.info.role {
            match index.get(iterate) {
                Some(&it) if matches!(nodes[it].info.role, NodeRole::Iterate { .. }) => {
                    if aggregates.insert(it, i).is_some() {
                        problems.add(
                            &n.id,
                            "/config/iterate",
                            format!("iterate {iterate:?} already has an aggregate"),
                        );
                    }
                }
                _ => problems.add(&n.id, "/config/iterate", format!("{iterate:?} is not an iterate node")),
            }
        }
    }
    let mut bodies: Vec<(usize, BTreeSet<usize>)> = Vec::new();
    for it in 0..nodes.len() {
        let NodeRole::Iterate { concurrency } = nodes[it].info.role else {
            continue;
        };
        let aggregate = aggregates.get(&it).copied();
        let entries: Vec<usize> = nodes[it].successors().collect();
        let mut body = BTreeSet::new();
        let mut stack = entries.clone();
        let mut reaches_aggregate = false;
        while let Some(i) = stack.pop() {
            if Some(i) == aggregate {
                reaches_aggregate = true;
                continue;
            }
            if body.insert(i) {
                stack.extend(nodes[i].successors());
            }
        }
        if let Some(agg) = aggregate {
            if !reaches_aggregate {
                problems.add(
                    &nodes[agg].id,
                    "",
                    format!("cannot be reached from the body of iterate {:?}", nodes[it].id),
                );
            }
            for &p in &nodes[agg].preds {
                if !body.contains(&p) {
                    problems.add(
                        &nodes[agg].id,
                        "",
                        format!("only nodes in the body of {:?} may lead to it", nodes[it].id),
                    );
                }
            }
            if entries.contains(&agg) {
                problems.add(
                    &nodes[it].id,
                    "/next",
                    "an iterate body needs at least one node before its aggregate",
                );
            }
        }
        for &b in &body {
            for &p in &nodes[b].preds {
                if p != it && !body.contains(&p) {
                    problems.add(
                        &nodes[b].id,
                        "",
                        format!(
                            "is inside the body of iterate {:?} but reached from outside it",
                            nodes[it].id
                        ),
                    );
                }
            }
        }
        bodies.push((it, body));
        nodes[it].body = Some(Body { aggregate, concurrency });
    }
    // A node inside nested bodies belongs to the innermost one: the smallest body holding it.
    bodies.sort_by_key(|(_, body)| std::cmp::Reverse(body.len()));
    for (it, body) in bodies {
        for b in body {
            nodes[b].in_body_of = Some(it);
        }
    }
}

/// Expressions may read `steps.<id>` only for nodes upstream of them.
fn check_references(problems: &mut Problems, nodes: &[PlanNode], index: &HashMap<String, usize>) {
    let mut ancestors: Vec<Option<BTreeSet<usize>>> = vec![None; nodes.len()];
    fn upstream(
        i: usize,
        nodes: &[PlanNode],
        memo: &mut Vec<Option<BTreeSet<usize>>>,
        guard: &mut Vec<bool>,
    ) -> BTreeSet<usize> {
        if let Some(set) = &memo[i] {
            return set.clone();
        }
        let mut set = BTreeSet::new();
        if guard[i] {
            return set; // a cycle, reported elsewhere
        }
        guard[i] = true;
        for &p in &nodes[i].preds {
            set.insert(p);
            set.extend(upstream(p, nodes, memo, guard));
        }
        guard[i] = false;
        memo[i] = Some(set.clone());
        set
    }
    let mut guard = vec![false; nodes.len()];
    for (i, n) in nodes.iter().enumerate() {
        let Some(mapping) = &n.mapping else { continue };
        let up = upstream(i, nodes, &mut ancestors, &mut guard);
        for (field, vars) in mapping.variables() {
            for var in vars {
                let mut parts = var.split('.');
                let root = parts.next().unwrap_or_default();
                if !VARIABLES.contains(&root) {
                    problems.add(
                        &n.id,
                        &format!("/input{field}"),
                        format!("unknown variable {root:?} (known: {})", VARIABLES.join(", ")),
                    );
                    continue;
                }
                if root == "steps"
                    && let Some(step) = parts.next()
                {
                    match index.get(step) {
                        None => problems.add(
                            &n.id,
                            &format!("/input{field}"),
                            format!("reads steps.{step}, which is not a node"),
                        ),
                        Some(s) if !up.contains(s) => problems.add(
                            &n.id,
                            &format!("/input{field}"),
                            format!("reads steps.{step}, which does not run before this node"),
                        ),
                        _ => {}
                    }
                }
                if (root == "item" || root == "index")
                    && n.in_body_of.is_none()
                    && !matches!(n.info.role, NodeRole::Aggregate { .. })
                {
                    problems.add(
                        &n.id,
                        &format!("/input{field}"),
                        format!("reads {root}, which exists only inside an iterate body"),
                    );
                }
            }
        }
    }
}
