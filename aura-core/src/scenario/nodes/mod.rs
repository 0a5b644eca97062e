//! The built-in node kinds. Each is a [`Node`] registered with typetag under its `kind` name:
//!
//! | kind | config | does |
//! | --- | --- | --- |
//! | `trigger` | `trigger?: "app.key"` | the entry; its output is the trigger data (checked against the app trigger's schema) |
//! | `action` | `action: "app.key"` | calls an app action with its input |
//! | `set` | — | outputs its mapped input |
//! | `if` | `condition` | routes `"true"` / `"false"` |
//! | `switch` | `cases: [{route, when}]` | routes to the first case that holds, else `"default"` |
//! | `filter` | `condition` | ends the branch unless the condition holds |
//! | `iterate` | `concurrency` | runs the following nodes once per element of its input array |
//! | `aggregate` | `iterate` | collects the iterate body's results into an array |
//! | `merge` | — | waits for every incoming branch; outputs their outputs by node id |
//! | `sub_scenario` | `scenario` | runs another deployed scenario, outputs its result |
//! | `delay` | `seconds` | waits |
//! | `respond` | `status` | sets what a webhook caller gets back: its input, with the status |
//! | `code` | `code` | runs a JavaScript function body in a sandbox, outputs what it returns (feature `code-js`, see `aura_core::code`) |
//!
//! Conditions are minijinja expressions over `trigger`, `steps`, `item`, `index`, `execution`
//! and the node's own `input`; the compiler checks what they read exactly like input mappings
//! (see [`Node::expressions`]). A `sub_scenario` node's scenario must be deployed first, unless
//! the engine allows late binding (see [`Node::scenario_refs`]).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::action::Action;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::expr::{Expr, Scope};
use crate::node::{Node, NodeInfo, NodeOutput, NodeRole, PrepareContext, SharedOutput};
use crate::schema::Schema;

#[cfg(feature = "code-js")]
mod code;
mod response;
mod trigger;
#[cfg(feature = "code-js")]
pub use self::code::CodeNode;
pub(crate) use self::response::ResponseReader;
pub use self::response::ResponseSlot;
pub use self::trigger::TriggerNode;

fn scope(cx: &Context) -> Result<&Scope> {
    cx.extension::<Scope>()
        .ok_or_else(|| Error::internal("no expression scope in the context: run this node through the engine"))
}

fn compile_condition(source: &str) -> Result<Expr> {
    Expr::compile(source).map_err(|e| e.with_context("field", "/config/condition"))
}

/// A prepared condition as [`Node::expressions`] lists it.
fn condition_field(condition: &Option<Expr>) -> Vec<(Cow<'static, str>, &Expr)> {
    condition
        .iter()
        .map(|e| (Cow::Borrowed("/config/condition"), e))
        .collect()
}

/// Whether a prepared condition holds for this node's input.
fn holds(condition: &Option<Expr>, cx: &Context, input: &Value) -> Result<bool> {
    let expr = condition
        .as_ref()
        .ok_or_else(|| Error::internal("the node was not prepared").with_context("field", "/config/condition"))?;
    expr.eval_bool_on(scope(cx)?, input)
}

/// Calls an app action.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionNode {
    /// `"app.action"`.
    pub action: String,
    #[serde(skip)]
    resolved: Option<(Action, Option<crate::app::RateLimit>)>,
}

impl ActionNode {
    /// An action node for `"app.action"`.
    pub fn new(action: impl Into<String>) -> Self {
        Self {
            action: action.into(),
            resolved: None,
        }
    }
}

#[typetag::serde(name = "action")]
#[async_trait]
impl Node for ActionNode {
    async fn prepare(&mut self, cx: &PrepareContext<'_>) -> Result<()> {
        let action = cx
            .registry
            .action(&self.action)
            .await
            .map_err(|e| e.with_context("field", "/config/action"))?;
        let rate_limit = cx.registry.manifest(action.app_id()).ok().and_then(|m| m.rate_limit);
        self.resolved = Some((action, rate_limit));
        Ok(())
    }

    fn info(&self) -> NodeInfo {
        match &self.resolved {
            Some((action, rate_limit)) => NodeInfo {
                role: NodeRole::Step,
                app_id: Some(action.app_id().to_owned()),
                reference: Some(action.reference().to_owned()),
                idempotent: action.is_idempotent(),
                cache_ttl: action.cache_ttl(),
                rate_limit: *rate_limit,
                pure: false,
            },
            None => NodeInfo {
                reference: Some(self.action.clone()),
                ..NodeInfo::default()
            },
        }
    }

    fn input_schema(&self) -> Option<&Schema> {
        self.resolved.as_ref().map(|(a, _)| a.input_schema())
    }

    fn output_schema(&self) -> Option<&Schema> {
        self.resolved.as_ref().map(|(a, _)| a.output_schema())
    }

    async fn run(&self, cx: &Context, input: Value) -> Result<NodeOutput> {
        let (action, _) = self
            .resolved
            .as_ref()
            .ok_or_else(|| Error::internal("the action node was not prepared"))?;
        Ok(NodeOutput::next(action.call(cx.clone(), input).await?))
    }

    async fn run_shared(&self, cx: &Context, input: Arc<Value>) -> Result<SharedOutput> {
        let (action, _) = self
            .resolved
            .as_ref()
            .ok_or_else(|| Error::internal("the action node was not prepared"))?;
        Ok(SharedOutput::next(Arc::new(action.call_shared_ref(cx, input).await?)))
    }
}

/// Outputs its mapped input.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetNode {}

#[typetag::serde(name = "set")]
#[async_trait]
impl Node for SetNode {
    fn info(&self) -> NodeInfo {
        NodeInfo::pure_step()
    }

    async fn run(&self, _cx: &Context, input: Value) -> Result<NodeOutput> {
        Ok(NodeOutput::next(input))
    }

    fn run_now(&self, _cx: &Context, input: &Arc<Value>) -> Option<Result<SharedOutput>> {
        Some(Ok(SharedOutput::next(input.clone())))
    }
}

/// Routes `"true"` or `"false"`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IfNode {
    /// A minijinja expression.
    pub condition: String,
    #[serde(skip)]
    compiled: Option<Expr>,
}

impl IfNode {
    /// An if node.
    pub fn new(condition: impl Into<String>) -> Self {
        Self {
            condition: condition.into(),
            compiled: None,
        }
    }
}

const TRUE_FALSE: &[Cow<'static, str>] = &[Cow::Borrowed("true"), Cow::Borrowed("false")];

#[typetag::serde(name = "if")]
#[async_trait]
impl Node for IfNode {
    async fn prepare(&mut self, _cx: &PrepareContext<'_>) -> Result<()> {
        self.compiled = Some(compile_condition(&self.condition)?);
        Ok(())
    }

    fn info(&self) -> NodeInfo {
        NodeInfo::pure_step()
    }

    fn routes(&self) -> Cow<'static, [Cow<'static, str>]> {
        Cow::Borrowed(TRUE_FALSE)
    }

    fn expressions(&self) -> Vec<(Cow<'static, str>, &Expr)> {
        condition_field(&self.compiled)
    }

    async fn run(&self, cx: &Context, input: Value) -> Result<NodeOutput> {
        let route = if holds(&self.compiled, cx, &input)? {
            "true"
        } else {
            "false"
        };
        Ok(NodeOutput::branch(input, route))
    }

    fn run_now(&self, cx: &Context, input: &Arc<Value>) -> Option<Result<SharedOutput>> {
        Some(
            holds(&self.compiled, cx, input)
                .map(|holds| SharedOutput::branch(input.clone(), if holds { "true" } else { "false" })),
        )
    }
}

/// One case of a switch.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchCase {
    /// The route taken when the condition holds.
    pub route: String,
    /// A minijinja expression.
    pub when: String,
    #[serde(skip)]
    compiled: Option<Expr>,
}

impl SwitchCase {
    /// A case.
    pub fn new(route: impl Into<String>, when: impl Into<String>) -> Self {
        Self {
            route: route.into(),
            when: when.into(),
            compiled: None,
        }
    }
}

/// Routes to the first case that holds, else `"default"`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchNode {
    /// The cases, in order.
    pub cases: Vec<SwitchCase>,
    #[serde(skip)]
    routes: Vec<Cow<'static, str>>,
}

impl SwitchNode {
    /// A switch node.
    pub fn new(cases: Vec<SwitchCase>) -> Self {
        Self {
            cases,
            routes: Vec::new(),
        }
    }
}

#[typetag::serde(name = "switch")]
#[async_trait]
impl Node for SwitchNode {
    async fn prepare(&mut self, _cx: &PrepareContext<'_>) -> Result<()> {
        for (i, case) in self.cases.iter_mut().enumerate() {
            case.compiled = Some(
                Expr::compile(&case.when).map_err(|e| e.with_context("field", format!("/config/cases/{i}/when")))?,
            );
        }
        self.routes = self.cases.iter().map(|c| Cow::Owned(c.route.clone())).collect();
        self.routes.push(Cow::Borrowed("default"));
        Ok(())
    }

    fn info(&self) -> NodeInfo {
        NodeInfo::pure_step()
    }

    fn routes(&self) -> Cow<'static, [Cow<'static, str>]> {
        Cow::Owned(self.routes.clone())
    }

    fn expressions(&self) -> Vec<(Cow<'static, str>, &Expr)> {
        self.cases
            .iter()
            .enumerate()
            .filter_map(|(i, case)| Some((Cow::Owned(format!("/config/cases/{i}/when")), case.compiled.as_ref()?)))
            .collect()
    }

    async fn run(&self, cx: &Context, input: Value) -> Result<NodeOutput> {
        let route = self.route(cx, &input)?;
        Ok(NodeOutput::branch(input, route))
    }

    fn run_now(&self, cx: &Context, input: &Arc<Value>) -> Option<Result<SharedOutput>> {
        Some(
            self.route(cx, input)
                .map(|route| SharedOutput::branch(input.clone(), route)),
        )
    }
}

impl SwitchNode {
    /// The route of the first case that holds for `input`, else `"default"`.
    fn route(&self, cx: &Context, input: &Value) -> Result<Cow<'static, str>> {
        let scope = scope(cx)?.clone().with_input(input);
        for (i, case) in self.cases.iter().enumerate() {
            let expr = case
                .compiled
                .as_ref()
                .ok_or_else(|| Error::internal("the switch node was not prepared"))?;
            if expr
                .eval_bool(&scope)
                .map_err(|e| e.with_context("field", format!("/config/cases/{i}/when")))?
            {
                return Ok(Cow::Owned(case.route.clone()));
            }
        }
        Ok(Cow::Borrowed("default"))
    }
}

/// Ends the branch unless the condition holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterNode {
    /// A minijinja expression.
    pub condition: String,
    #[serde(skip)]
    compiled: Option<Expr>,
}

impl FilterNode {
    /// A filter node.
    pub fn new(condition: impl Into<String>) -> Self {
        Self {
            condition: condition.into(),
            compiled: None,
        }
    }
}

#[typetag::serde(name = "filter")]
#[async_trait]
impl Node for FilterNode {
    async fn prepare(&mut self, _cx: &PrepareContext<'_>) -> Result<()> {
        self.compiled = Some(compile_condition(&self.condition)?);
        Ok(())
    }

    fn info(&self) -> NodeInfo {
        NodeInfo::pure_step()
    }

    fn expressions(&self) -> Vec<(Cow<'static, str>, &Expr)> {
        condition_field(&self.compiled)
    }

    async fn run(&self, cx: &Context, input: Value) -> Result<NodeOutput> {
        if holds(&self.compiled, cx, &input)? {
            Ok(NodeOutput::next(input))
        } else {
            Ok(NodeOutput::stop(input))
        }
    }

    fn run_now(&self, cx: &Context, input: &Arc<Value>) -> Option<Result<SharedOutput>> {
        Some(holds(&self.compiled, cx, input).map(|holds| match holds {
            true => SharedOutput::next(input.clone()),
            false => SharedOutput::stop(input.clone()),
        }))
    }
}

/// Runs the nodes after it once per element of its input array.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IterateNode {
    /// How many elements run at once (default 1: in order).
    #[serde(default = "one")]
    pub concurrency: usize,
}

fn one() -> usize {
    1
}

#[typetag::serde(name = "iterate")]
#[async_trait]
impl Node for IterateNode {
    fn info(&self) -> NodeInfo {
        NodeInfo {
            role: NodeRole::Iterate {
                concurrency: self.concurrency.max(1),
            },
            idempotent: true,
            ..NodeInfo::default()
        }
    }

    async fn run(&self, _cx: &Context, input: Value) -> Result<NodeOutput> {
        match input {
            Value::Array(_) => Ok(NodeOutput::next(input)),
            other => Err(Error::invalid_input(
                format!("iterate needs an array, got {}", kind_name(&other)),
                vec![crate::error::Violation::new("", "must be an array")],
            )),
        }
    }
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Collects an iterate body's results: its input is evaluated once per element; its output is
/// the array of those.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateNode {
    /// The iterate node whose body it closes.
    pub iterate: String,
}

#[typetag::serde(name = "aggregate")]
#[async_trait]
impl Node for AggregateNode {
    fn info(&self) -> NodeInfo {
        NodeInfo {
            role: NodeRole::Aggregate {
                iterate: self.iterate.clone(),
            },
            idempotent: true,
            ..NodeInfo::default()
        }
    }

    async fn run(&self, _cx: &Context, input: Value) -> Result<NodeOutput> {
        Ok(NodeOutput::next(input))
    }

    async fn run_shared(&self, _cx: &Context, input: Arc<Value>) -> Result<SharedOutput> {
        Ok(SharedOutput::next(input))
    }
}

/// Waits for every incoming branch.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeNode {}

#[typetag::serde(name = "merge")]
#[async_trait]
impl Node for MergeNode {
    fn info(&self) -> NodeInfo {
        NodeInfo::pure_step()
    }

    async fn run(&self, _cx: &Context, input: Value) -> Result<NodeOutput> {
        Ok(NodeOutput::next(input))
    }

    fn run_now(&self, _cx: &Context, input: &Arc<Value>) -> Option<Result<SharedOutput>> {
        Some(Ok(SharedOutput::next(input.clone())))
    }
}

/// Runs scenarios for [`SubScenarioNode`]; the engine puts one in every node's context.
pub(crate) trait SubScenarioRunner: Send + Sync {
    /// Runs the deployed scenario `scenario_id` with `input` as trigger data and returns its
    /// output.
    fn run(&self, scenario_id: &str, input: Value, parent: &Context) -> BoxFuture<'static, Result<Value>>;
}

/// The context extension through which [`SubScenarioNode`] reaches the engine.
#[derive(Clone)]
pub struct SubScenarios(pub(crate) Arc<dyn SubScenarioRunner>);

/// Runs another scenario.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubScenarioNode {
    /// The deployed scenario's id.
    pub scenario: String,
}

#[typetag::serde(name = "sub_scenario")]
#[async_trait]
impl Node for SubScenarioNode {
    fn scenario_refs(&self) -> Vec<(Cow<'static, str>, &str)> {
        vec![(Cow::Borrowed("/config/scenario"), self.scenario.as_str())]
    }

    async fn run(&self, cx: &Context, input: Value) -> Result<NodeOutput> {
        let runner = cx.extension::<SubScenarios>().ok_or_else(|| {
            Error::internal("no sub-scenario runner in the context: run this node through the engine")
        })?;
        Ok(NodeOutput::next(runner.0.run(&self.scenario, input, cx).await?))
    }
}

/// Waits, then passes its input on.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelayNode {
    /// How long.
    pub seconds: f64,
}

#[typetag::serde(name = "delay")]
#[async_trait]
impl Node for DelayNode {
    async fn prepare(&mut self, _cx: &PrepareContext<'_>) -> Result<()> {
        Duration::try_from_secs_f64(self.seconds).map(|_| ()).map_err(|_| {
            Error::invalid_definition("a delay is a non-negative number of seconds")
                .with_context("field", "/config/seconds")
        })
    }

    fn info(&self) -> NodeInfo {
        NodeInfo {
            idempotent: true,
            ..NodeInfo::default()
        }
    }

    /// Passes its input on after the delay: the engine waits, on its clock (see
    /// [`Route::Wait`](crate::node::Route::Wait): a long delay is parked).
    async fn run(&self, _cx: &Context, input: Value) -> Result<NodeOutput> {
        let wait = Duration::try_from_secs_f64(self.seconds).unwrap_or_default();
        Ok(NodeOutput::after(input, wait))
    }

    async fn run_shared(&self, _cx: &Context, input: Arc<Value>) -> Result<SharedOutput> {
        let wait = Duration::try_from_secs_f64(self.seconds).unwrap_or_default();
        Ok(SharedOutput::after(input, wait))
    }
}

/// What a webhook caller gets back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The body: shared with the respond node's input, not copied (read it through `*`).
    pub body: Arc<Value>,
}

/// Sets what a webhook caller gets back.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RespondNode {
    /// The HTTP status (default 200).
    #[serde(default = "ok_status")]
    pub status: u16,
}

fn ok_status() -> u16 {
    200
}

#[typetag::serde(name = "respond")]
#[async_trait]
impl Node for RespondNode {
    async fn prepare(&mut self, _cx: &PrepareContext<'_>) -> Result<()> {
        if http::StatusCode::from_u16(self.status).is_err() {
            return Err(Error::invalid_definition("not an HTTP status").with_context("field", "/config/status"));
        }
        Ok(())
    }

    fn info(&self) -> NodeInfo {
        NodeInfo {
            pure: true,
            role: NodeRole::Respond,
            idempotent: true,
            ..NodeInfo::default()
        }
    }

    async fn run(&self, cx: &Context, input: Value) -> Result<NodeOutput> {
        self.run_shared(cx, Arc::new(input)).await.map(NodeOutput::from)
    }

    /// The response shares the input; the node's output (`{"status", "body"}`) is the one copy.
    fn run_now(&self, cx: &Context, input: &Arc<Value>) -> Option<Result<SharedOutput>> {
        // Built by hand: `json!` would serialize the body into a new value, slower than a clone.
        let mut output = Map::with_capacity(2);
        output.insert("status".to_owned(), Value::from(self.status));
        output.insert("body".to_owned(), Value::clone(input));
        let output = Value::Object(output);
        if let Some(slot) = cx.extension::<ResponseSlot>() {
            slot.set(Response {
                status: self.status,
                body: input.clone(),
            });
        }
        Some(Ok(SharedOutput::next(Arc::new(output))))
    }
}
