//! Nodes: what the executor runs, one step of a scenario.
//!
//! A node gets its input (already built from the scenario's mappings) and a [`Context`], and
//! returns its output and which way to go on ([`Route`]). The engine ships the built-in kinds
//! (action, set, if, switch, filter, iterate …); users add their own by implementing [`Node`]
//! for a serde type and tagging the impl with `#[typetag::serde]`. A scenario's JSON node
//! `{"kind": "<name>", "config": {…}}` then deserializes straight into a `Box<dyn Node>`:
//!
//! ```
//! use aura_core::{Context, Result};
//! use aura_core::node::{Node, NodeOutput};
//! use serde_json::{Value, json};
//!
//! #[derive(Debug, serde::Serialize, serde::Deserialize)]
//! struct Uppercase {
//!     field: String,
//! }
//!
//! #[typetag::serde(name = "uppercase")]
//! #[async_trait::async_trait]
//! impl Node for Uppercase {
//!     async fn run(&self, _cx: &Context, input: Value) -> Result<NodeOutput> {
//!         let text = input[&self.field].as_str().unwrap_or_default().to_uppercase();
//!         Ok(NodeOutput::next(json!({ &self.field: text })))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<()> {
//! let node: Box<dyn Node> = serde_json::from_value(json!({
//!     "kind": "uppercase",
//!     "config": { "field": "name" }
//! })).unwrap();
//! let out = node.run(&Context::new(), json!({ "name": "ada" })).await?;
//! assert_eq!(out.value, json!({ "name": "ADA" }));
//! # Ok(()) }
//! ```

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use crate::context::Context;
use crate::error::Result;
use crate::expr::Expr;
use crate::registry::Registry;
use crate::schema::Schema;

/// One step of a scenario.
///
/// `#[typetag::serde(tag = "kind", content = "config")]`: a node serializes as
/// `{"kind": "<name>", "config": <the node's own fields>}`.
#[typetag::serde(tag = "kind", content = "config")]
#[async_trait]
pub trait Node: Send + Sync + fmt::Debug {
    /// Called once when the scenario is compiled, before any run: resolve references against
    /// the registry, check the configuration. Errors should name the field
    /// ([`crate::Error::with_context`]); the compiler adds the node id. Default: nothing to do.
    async fn prepare(&mut self, cx: &PrepareContext<'_>) -> Result<()> {
        let _ = cx;
        Ok(())
    }

    /// The named routes a branching node can take (`["true", "false"]` for an if). The
    /// compiler checks that a scenario's edges use only these. Default: none, the node only
    /// goes on to its successors or stops.
    fn routes(&self) -> Cow<'static, [Cow<'static, str>]> {
        Cow::Borrowed(&[])
    }

    /// What the executor needs to know about the node beyond running it: its role in the graph,
    /// the app it talks to, whether it is safe to repeat and to cache. Default: a plain step.
    fn info(&self) -> NodeInfo {
        NodeInfo::default()
    }

    /// The schema of the input the node expects, when it has one, so that the compiler can
    /// check mappings. Default: none.
    fn input_schema(&self) -> Option<&Schema> {
        None
    }

    /// The schema of the node's output, when known, for checking downstream mappings.
    fn output_schema(&self) -> Option<&Schema> {
        None
    }

    /// The expressions of the node's configuration (an if's condition, a switch's cases), each
    /// with the JSON pointer of its field (`/config/condition`), once [`Node::prepare`] has run.
    /// The compiler checks what they read exactly like input mappings: known variables, only
    /// `steps.<id>` of nodes that run before this one. Default: none.
    fn expressions(&self) -> Vec<(Cow<'static, str>, &Expr)> {
        Vec::new()
    }

    /// What the node's configuration reads that is not in [`Node::expressions`] (a code
    /// node's script), as dotted variable paths (`steps.score`) per field pointer
    /// (`/config/code`). The compiler checks them like expressions' variables. Default: none.
    fn reads(&self) -> Vec<(Cow<'static, str>, BTreeSet<String>)> {
        Vec::new()
    }

    /// The other scenarios the node runs, each with the JSON pointer of its field
    /// (`("/config/scenario", "child")`): a deploy checks that they exist and that no cycle of
    /// sub-scenario calls forms. Default: none.
    fn scenario_refs(&self) -> Vec<(Cow<'static, str>, &str)> {
        Vec::new()
    }

    /// For a trigger node: how the trigger runtime starts the scenario (a webhook route, a
    /// schedule, a poll). Default: none (the built-in `trigger` node gives its setup).
    fn trigger_setup(&self) -> Option<crate::trigger::TriggerSetup> {
        None
    }

    /// Runs the step.
    async fn run(&self, cx: &Context, input: Value) -> Result<NodeOutput>;

    /// Runs the step on an input it shares with the engine (which keeps it for the record):
    /// what the executor calls. The default runs [`Node::run_now`] if it gives a result, else
    /// gives [`Node::run`] its own copy of the input; a node that only reads its input, or
    /// passes it on as its output, and may wait overrides this to save the copy (the built-in
    /// action node does).
    async fn run_shared(&self, cx: &Context, input: Arc<Value>) -> Result<SharedOutput> {
        if let Some(out) = self.run_now(cx, &input) {
            return out;
        }
        self.run(cx, Arc::unwrap_or_clone(input)).await.map(SharedOutput::from)
    }

    /// Runs the step at once, when it ends without waiting for anything (no I/O, no timer, no
    /// other task) and can read its input where it is: its result, or `None` to be run by
    /// [`Node::run_shared`]. It must give the result `run` would.
    ///
    /// The executor calls it first for a [pure](NodeInfo#structfield.pure) node that has no
    /// retry policy, no cache and no connection: such a node then costs no future, and is not
    /// recorded as running before it ends (nothing can see it run). The built-in `trigger`, `set`, `if`,
    /// `switch`, `filter`, `merge` and `respond` nodes run this way. Default: `None`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use aura_core::{Context, Result};
    /// use aura_core::node::{Node, NodeInfo, NodeOutput, SharedOutput};
    /// use serde_json::{Value, json};
    ///
    /// /// Passes its input on when it is an object, else stops the branch.
    /// #[derive(Debug, serde::Serialize, serde::Deserialize)]
    /// struct OnlyObjects;
    ///
    /// #[typetag::serde(name = "only_objects")]
    /// #[async_trait::async_trait]
    /// impl Node for OnlyObjects {
    ///     fn info(&self) -> NodeInfo {
    ///         NodeInfo::pure_step()
    ///     }
    ///
    ///     async fn run(&self, cx: &Context, input: Value) -> Result<NodeOutput> {
    ///         self.run_shared(cx, Arc::new(input)).await.map(NodeOutput::from)
    ///     }
    ///
    ///     fn run_now(&self, _cx: &Context, input: &Arc<Value>) -> Option<Result<SharedOutput>> {
    ///         Some(Ok(if input.is_object() {
    ///             SharedOutput::next(input.clone())
    ///         } else {
    ///             SharedOutput::stop(input.clone())
    ///         }))
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<()> {
    /// let out = OnlyObjects.run(&Context::new(), json!({ "a": 1 })).await?;
    /// assert_eq!(out.value, json!({ "a": 1 }));
    /// # Ok(()) }
    /// ```
    fn run_now(&self, cx: &Context, input: &Arc<Value>) -> Option<Result<SharedOutput>> {
        let _ = (cx, input);
        None
    }
}

/// What the executor knows about a node: see [`Node::info`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeInfo {
    /// Its role in the graph.
    pub role: NodeRole,
    /// The app it calls, if any: its connection must belong to this app.
    pub app_id: Option<String>,
    /// What it calls (`"crm.create_contact"`), for spans, metrics and cache keys.
    pub reference: Option<String>,
    /// Whether running it twice has the effect of running it once (nodes that call nothing
    /// are; actions say so themselves).
    pub idempotent: bool,
    /// For how long a result may be reused for the same input and connection.
    pub cache_ttl: Option<std::time::Duration>,
    /// The app's documented rate limit per connection.
    pub rate_limit: Option<crate::app::RateLimit>,
    /// Whether it calls nothing outside the engine (no app, no other scenario, no wait): its
    /// result follows from its input alone, so that after a crash it may simply run again.
    /// The engine then does not wait for its checkpoint before its successors start; the
    /// result is written with the next checkpoint it does wait for (before a node that is
    /// not idempotent is called, after a node that is not pure ends, at a breakpoint, at a
    /// park in the store, with the end: see
    /// [`ExecutionStore::checkpoint_leased`](crate::store::ExecutionStore::checkpoint_leased)).
    /// Default `false`; the built-in `trigger`, `set`, `if`, `switch`, `filter`, `merge` and
    /// `respond` nodes are pure.
    pub pure: bool,
}

impl NodeInfo {
    /// A step that calls nothing outside the engine: [`pure`](NodeInfo#structfield.pure) and
    /// idempotent (the built-in `set`, `if`, `switch`, `filter`, `merge`, `respond` and `code`
    /// nodes).
    pub fn pure_step() -> Self {
        Self {
            pure: true,
            idempotent: true,
            ..Self::default()
        }
    }
}

/// A node's role in the graph of a scenario.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeRole {
    /// An ordinary step.
    #[default]
    Step,
    /// The scenario's entry point; its output is the trigger data.
    Trigger,
    /// Runs the nodes after it once per element of its output array, at most `concurrency` at
    /// a time.
    Iterate {
        /// How many elements run at once.
        concurrency: usize,
    },
    /// Sets what a webhook caller gets back.
    Respond,
    /// Collects the results of an iterate body back into an array.
    Aggregate {
        /// The iterate node whose body it closes.
        iterate: String,
    },
}

/// What [`Node::prepare`] can see.
#[derive(Debug)]
pub struct PrepareContext<'a> {
    /// The registry the scenario compiles against.
    pub registry: &'a Registry,
    /// The scenario's id.
    pub scenario_id: &'a str,
    /// The node's id.
    pub node_id: &'a str,
}

/// A node's result with a shared output: what [`Node::run_shared`] returns.
#[derive(Clone, Debug, PartialEq)]
pub struct SharedOutput {
    /// The output, shared with the engine (and, for a pass-through node, with its input).
    pub value: Arc<Value>,
    /// Where the execution goes next.
    pub route: Route,
}

impl SharedOutput {
    /// Default edges, with this output.
    pub fn next(value: Arc<Value>) -> Self {
        Self {
            value,
            route: Route::Next,
        }
    }

    /// One named route, with this output.
    pub fn branch(value: Arc<Value>, route: impl Into<Cow<'static, str>>) -> Self {
        Self {
            value,
            route: Route::Branch(route.into()),
        }
    }

    /// No edge: this branch ends, with this output.
    pub fn stop(value: Arc<Value>) -> Self {
        Self {
            value,
            route: Route::Stop,
        }
    }

    /// Default edges once `wait` has passed, with this output (see [`Route::Wait`]).
    pub fn after(value: Arc<Value>, wait: Duration) -> Self {
        Self {
            value,
            route: Route::Wait(wait),
        }
    }
}

impl From<NodeOutput> for SharedOutput {
    fn from(out: NodeOutput) -> Self {
        Self {
            value: Arc::new(out.value),
            route: out.route,
        }
    }
}

impl From<SharedOutput> for NodeOutput {
    /// The output taken out of its `Arc` (copied only if it is shared).
    fn from(out: SharedOutput) -> Self {
        Self {
            value: Arc::unwrap_or_clone(out.value),
            route: out.route,
        }
    }
}

/// A node's result: its output and where the execution goes next.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeOutput {
    /// The output, visible to later nodes' mappings.
    pub value: Value,
    /// Which way to go on.
    pub route: Route,
}

impl NodeOutput {
    /// Go on to every successor.
    pub fn next(value: Value) -> Self {
        Self {
            value,
            route: Route::Next,
        }
    }

    /// Take one named route (an if's `"true"`, a switch's case).
    pub fn branch(value: Value, route: impl Into<Cow<'static, str>>) -> Self {
        Self {
            value,
            route: Route::Branch(route.into()),
        }
    }

    /// End this branch here (a filter that did not pass).
    pub fn stop(value: Value) -> Self {
        Self {
            value,
            route: Route::Stop,
        }
    }

    /// Go on to every successor once `wait` has passed (a delay): the engine does the waiting,
    /// see [`Route::Wait`].
    pub fn after(value: Value, wait: Duration) -> Self {
        Self {
            value,
            route: Route::Wait(wait),
        }
    }
}

/// Which outgoing edges of a node the execution follows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// Every default edge.
    Next,
    /// The edges of one named route.
    Branch(Cow<'static, str>),
    /// None: this branch ends.
    Stop,
    /// Every default edge, once this long has passed on the engine's
    /// [`Clock`](crate::clock::Clock). The node stays running while the engine waits (a cancel
    /// or the execution's max duration stops it there), and ends completed with its output
    /// when the wait is over. A wait of at least
    /// [`EngineBuilder::park_after`](crate::engine::EngineBuilder::park_after) on an execution
    /// with nothing else in flight is *parked*: the execution's running state is set aside and
    /// only a timer is left, so that many executions waiting a long time take little memory.
    Wait(Duration),
}
