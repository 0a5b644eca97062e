//! Building scenarios in Rust.

use std::time::Duration;

use serde_json::Value;

use super::nodes::{
    ActionNode, AggregateNode, DelayNode, FilterNode, IfNode, IterateNode, MergeNode, RespondNode, SetNode,
    SubScenarioNode, SwitchCase, SwitchNode, TriggerNode,
};
use super::{NodeDef, OnError, RetryPolicy, Scenario, ScenarioStatus, Settings};
use crate::node::Node;

/// Builds a [`Scenario`] in Rust. The result is the same model JSON and YAML load into.
///
/// ```
/// use aura_core::scenario::{Scenario, NodeBuilder};
/// use serde_json::json;
///
/// let scenario = Scenario::builder("greet", "Greet new users")
///     .node(NodeBuilder::trigger("signup").next(["hello"]))
///     .node(NodeBuilder::action("hello", "mail.send").input(json!({ "to": "{{ trigger.email }}" })))
///     .build();
/// assert_eq!(scenario.nodes.len(), 2);
/// ```
#[derive(Debug)]
pub struct ScenarioBuilder {
    scenario: Scenario,
}

impl ScenarioBuilder {
    /// A scenario with an id and a name.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            scenario: Scenario {
                id: id.into(),
                name: name.into(),
                description: String::new(),
                version: 1,
                status: ScenarioStatus::Active,
                settings: Settings::default(),
                nodes: Vec::new(),
            },
        }
    }

    /// Sets the description.
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.scenario.description = description.into();
        self
    }

    /// Sets the version.
    #[must_use]
    pub fn version(mut self, version: u32) -> Self {
        self.scenario.version = version;
        self
    }

    /// Sets the status.
    #[must_use]
    pub fn status(mut self, status: ScenarioStatus) -> Self {
        self.scenario.status = status;
        self
    }

    /// Sets the maximum duration of an execution.
    #[must_use]
    pub fn max_duration(mut self, max: Duration) -> Self {
        self.scenario.settings.max_duration = max;
        self
    }

    /// Sets how many executions may run at once.
    #[must_use]
    pub fn max_concurrent(mut self, max: u32) -> Self {
        self.scenario.settings.max_concurrent = Some(max);
        self
    }

    /// Sets how many times retryable node errors are retried.
    #[must_use]
    pub fn retries(mut self, retries: u32) -> Self {
        self.scenario.settings.error_policy.retries = retries;
        self
    }

    /// Sets whether an action that is not idempotent and was in flight when the process
    /// stopped is called again on recovery ([`ErrorPolicy::rerun_in_flight`](super::ErrorPolicy::rerun_in_flight)).
    #[must_use]
    pub fn rerun_in_flight(mut self, rerun: bool) -> Self {
        self.scenario.settings.error_policy.rerun_in_flight = rerun;
        self
    }

    /// Sets the scenario run with a failed execution's details.
    #[must_use]
    pub fn error_scenario(mut self, id: impl Into<String>) -> Self {
        self.scenario.settings.error_policy.error_scenario = Some(id.into());
        self
    }

    /// Adds a node.
    #[must_use]
    pub fn node(mut self, node: NodeBuilder) -> Self {
        self.scenario.nodes.push(node.def);
        self
    }

    /// Adds several nodes, in order.
    #[must_use]
    pub fn nodes(mut self, nodes: impl IntoIterator<Item = NodeBuilder>) -> Self {
        self.scenario.nodes.extend(nodes.into_iter().map(|n| n.def));
        self
    }

    /// The scenario.
    pub fn build(self) -> Scenario {
        self.scenario
    }
}

/// Builds one [`NodeDef`]; start from the constructor named after the node kind.
#[derive(Debug)]
pub struct NodeBuilder {
    def: NodeDef,
}

impl NodeBuilder {
    /// A node of any kind, built-in or user-defined.
    pub fn new(id: impl Into<String>, node: impl Node + 'static) -> Self {
        Self {
            def: NodeDef {
                id: id.into(),
                node: Box::new(node),
                connection: None,
                input: None,
                next: Vec::new(),
                routes: Default::default(),
                on_error: OnError::Stop,
                retry: None,
                timeout: None,
            },
        }
    }

    /// The trigger node: the scenario's entry.
    pub fn trigger(id: impl Into<String>) -> Self {
        Self::new(id, TriggerNode::new(None))
    }

    /// A trigger node whose data must fit an app trigger's output schema (`"forms.submission"`).
    pub fn app_trigger(id: impl Into<String>, reference: impl Into<String>) -> Self {
        Self::new(id, TriggerNode::new(Some(reference.into())))
    }

    /// An action node (`"crm.create_contact"`).
    pub fn action(id: impl Into<String>, reference: impl Into<String>) -> Self {
        Self::new(id, ActionNode::new(reference))
    }

    /// A set node: its output is its mapped input.
    pub fn set(id: impl Into<String>, input: Value) -> Self {
        Self::new(id, SetNode {}).input(input)
    }

    /// An if node: routes `"true"` and `"false"`.
    pub fn if_(id: impl Into<String>, condition: impl Into<String>) -> Self {
        Self::new(id, IfNode::new(condition))
    }

    /// A switch node: the first case whose condition holds names the route, else `"default"`.
    pub fn switch<R: Into<String>, C: Into<String>>(
        id: impl Into<String>,
        cases: impl IntoIterator<Item = (R, C)>,
    ) -> Self {
        let cases = cases
            .into_iter()
            .map(|(route, when)| SwitchCase::new(route, when))
            .collect();
        Self::new(id, SwitchNode::new(cases))
    }

    /// A filter node: the branch ends here unless the condition holds.
    pub fn filter(id: impl Into<String>, condition: impl Into<String>) -> Self {
        Self::new(id, FilterNode::new(condition))
    }

    /// A code node: runs a JavaScript function body in a sandbox (see [`crate::code`]).
    #[cfg(feature = "code-js")]
    pub fn code(id: impl Into<String>, code: impl Into<String>) -> Self {
        Self::new(id, super::nodes::CodeNode::new(code))
    }

    /// An iterate node: the nodes after it run once per element of its input array.
    pub fn iterate(id: impl Into<String>, concurrency: usize) -> Self {
        Self::new(id, IterateNode { concurrency })
    }

    /// An aggregate node closing the body of `iterate`.
    pub fn aggregate(id: impl Into<String>, iterate: impl Into<String>) -> Self {
        Self::new(
            id,
            AggregateNode {
                iterate: iterate.into(),
            },
        )
    }

    /// A merge node: waits for every incoming branch; its output has each one's output by id.
    pub fn merge(id: impl Into<String>) -> Self {
        Self::new(id, MergeNode {})
    }

    /// Runs another deployed scenario with its input; its output is that run's output.
    pub fn sub_scenario(id: impl Into<String>, scenario: impl Into<String>) -> Self {
        Self::new(
            id,
            SubScenarioNode {
                scenario: scenario.into(),
            },
        )
    }

    /// Waits.
    pub fn delay(id: impl Into<String>, duration: Duration) -> Self {
        Self::new(
            id,
            DelayNode {
                seconds: duration.as_secs_f64(),
            },
        )
    }

    /// Sets what a webhook caller gets back (its input, with an HTTP status).
    pub fn respond(id: impl Into<String>, status: u16) -> Self {
        Self::new(id, RespondNode { status })
    }

    /// Sets the connection.
    #[must_use]
    pub fn connection(mut self, id: impl Into<crate::ConnectionId>) -> Self {
        self.def.connection = Some(id.into());
        self
    }

    /// Sets the input mapping.
    #[must_use]
    pub fn input(mut self, mapping: Value) -> Self {
        self.def.input = Some(mapping);
        self
    }

    /// Adds successors.
    #[must_use]
    pub fn next<S: Into<String>>(mut self, ids: impl IntoIterator<Item = S>) -> Self {
        self.def.next.extend(ids.into_iter().map(Into::into));
        self
    }

    /// Adds successors to a named route.
    #[must_use]
    pub fn route<S: Into<String>>(mut self, route: impl Into<String>, ids: impl IntoIterator<Item = S>) -> Self {
        self.def
            .routes
            .entry(route.into())
            .or_default()
            .extend(ids.into_iter().map(Into::into));
        self
    }

    /// Sets what happens on failure.
    #[must_use]
    pub fn on_error(mut self, on_error: OnError) -> Self {
        self.def.on_error = on_error;
        self
    }

    /// Sets the node's retry policy.
    #[must_use]
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.def.retry = Some(retry);
        self
    }

    /// Sets the timeout of one attempt.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.def.timeout = Some(timeout);
        self
    }
}
