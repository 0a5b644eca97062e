//! `Node::run_now`: a pure node that ends at once is run without a future, and its result is
//! recorded exactly as if it had run through `run`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use aura_core::engine::Engine;
use aura_core::node::{Node, NodeInfo, NodeOutput, SharedOutput};
use aura_core::scenario::{NodeBuilder, OnError, RetryPolicy, Scenario};
use aura_core::store::{ExecutionStatus, NodeStatus};
use aura_core::{Context, Error, Registry, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// How often each way of running was taken, per node kind below (each test its own name).
fn calls(name: &str) -> (&'static AtomicU32, &'static AtomicU32) {
    static COUNTS: std::sync::Mutex<Vec<(String, &'static AtomicU32, &'static AtomicU32)>> =
        std::sync::Mutex::new(Vec::new());
    let mut counts = COUNTS.lock().unwrap();
    if let Some((_, now, run)) = counts.iter().find(|(n, _, _)| n == name) {
        return (now, run);
    }
    let pair: (&'static AtomicU32, &'static AtomicU32) = (
        Box::leak(Box::new(AtomicU32::new(0))),
        Box::leak(Box::new(AtomicU32::new(0))),
    );
    counts.push((name.to_owned(), pair.0, pair.1));
    pair
}

/// A pure node that doubles `n`: at once, unless `n` says to wait (`None` from `run_now`), or
/// fails `fail` times first with a retryable error.
#[derive(Debug, Serialize, Deserialize)]
struct Double {
    /// Which counters it counts on.
    name: String,
    /// How many calls fail (retryable) before one succeeds.
    fail: u32,
}

impl Double {
    fn double(&self, input: &Value) -> Result<Value> {
        let (now, run) = calls(&self.name);
        let made = now.load(Ordering::SeqCst) + run.load(Ordering::SeqCst);
        if made <= self.fail {
            return Err(Error::unavailable("not yet"));
        }
        let n = input["n"].as_i64().ok_or_else(|| Error::invalid_definition("no n"))?;
        Ok(json!({ "n": n * 2 }))
    }
}

#[typetag::serde(name = "test_double_now")]
#[async_trait::async_trait]
impl Node for Double {
    fn info(&self) -> NodeInfo {
        NodeInfo::pure_step()
    }

    async fn run(&self, _cx: &Context, input: Value) -> Result<NodeOutput> {
        calls(&self.name).1.fetch_add(1, Ordering::SeqCst);
        self.double(&input).map(NodeOutput::next)
    }

    fn run_now(&self, _cx: &Context, input: &Arc<Value>) -> Option<Result<SharedOutput>> {
        if input["wait"] == json!(true) {
            return None;
        }
        calls(&self.name).0.fetch_add(1, Ordering::SeqCst);
        Some(self.double(input).map(|v| SharedOutput::next(Arc::new(v))))
    }
}

fn scenario(name: &str, fail: u32, node: impl FnOnce(NodeBuilder) -> NodeBuilder) -> Scenario {
    let double = Double {
        name: name.to_owned(),
        fail,
    };
    Scenario::builder(name, name)
        .node(NodeBuilder::trigger("t").next(["double"]))
        .node(node(NodeBuilder::new("double", double)).next(["reply"]))
        .node(NodeBuilder::respond("reply", 200).input(json!({ "doubled": "{{ steps.double.output.n }}" })))
        .build()
}

async fn engine() -> Engine {
    Engine::builder(Arc::new(Registry::new())).build()
}

#[tokio::test]
async fn a_pure_node_that_ends_at_once_is_run_now_and_recorded_as_if_run() {
    let engine = engine().await;
    let plan = engine.deploy(scenario("now_once", 0, |n| n)).await.unwrap();
    let mut handle = engine.start(&plan, json!({ "n": 21 })).await.unwrap();
    let response = handle.response().await.unwrap();
    assert_eq!(*response.body, json!({ "doubled": 42 }));
    let record = handle.wait().await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Completed);
    let (now, run) = calls("now_once");
    assert_eq!(
        (now.load(Ordering::SeqCst), run.load(Ordering::SeqCst)),
        (1, 0),
        "run_now, not run"
    );
    let node = record.nodes.iter().find(|n| &*n.node_id == "double").unwrap();
    assert_eq!(node.status, NodeStatus::Completed);
    assert_eq!(*node.input, json!({ "n": 21 }));
    assert_eq!(node.output.as_deref(), Some(&json!({ "n": 42 })));
    assert_eq!(node.attempts, 1);
    let (started, ended) = (node.started_at.unwrap(), node.ended_at.unwrap());
    assert!(started <= ended && record.started_at <= started, "{started} {ended}");
    // The record in the store says the same.
    let stored = engine.store().get(record.id).await.unwrap().unwrap();
    assert_eq!(stored.nodes, record.nodes);
}

#[tokio::test]
async fn a_node_that_cannot_end_at_once_is_run_as_before() {
    let engine = engine().await;
    let plan = engine.deploy(scenario("now_none", 0, |n| n)).await.unwrap();
    let record = engine.execute(&plan, json!({ "n": 5, "wait": true })).await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Completed);
    let (now, run) = calls("now_none");
    assert_eq!(
        (now.load(Ordering::SeqCst), run.load(Ordering::SeqCst)),
        (0, 1),
        "run, through run_shared"
    );
    let node = record.nodes.iter().find(|n| &*n.node_id == "double").unwrap();
    assert_eq!(node.output.as_deref(), Some(&json!({ "n": 10 })));
}

#[tokio::test]
async fn an_error_from_run_now_fails_the_node_like_any_error() {
    let engine = engine().await;
    let plan = engine
        .deploy(scenario("now_fails", 1, |n| n.on_error(OnError::Continue)))
        .await
        .unwrap();
    let record = engine.execute(&plan, json!({ "n": 1 })).await.unwrap();
    let node = record.nodes.iter().find(|n| &*n.node_id == "double").unwrap();
    assert_eq!(node.status, NodeStatus::Failed);
    assert_eq!(node.attempts, 1);
    assert_eq!(*node.input, json!({ "n": 1 }));
    assert!(node.started_at.is_some() && node.ended_at.is_some());
    let error = node.error.as_ref().unwrap();
    assert_eq!(error.kind, "unavailable");
    // No retry policy: the retryable error leaves as spent (persistent), as from `run`.
    assert!(!error.retryable, "{error:?}");
    // Without `continue`, it ends the execution and names the node.
    let plan = engine.deploy(scenario("now_stops", 1, |n| n)).await.unwrap();
    let record = engine.execute(&plan, json!({ "n": 1 })).await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Failed);
    let error = record.error.unwrap();
    assert!(
        error.context.iter().any(|(k, v)| k == "node" && v == "double"),
        "{error:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_node_with_a_retry_policy_is_retried_through_its_attempts() {
    let engine = engine().await;
    let retry = RetryPolicy::builder(2).base_delay(Duration::from_millis(10)).build();
    let plan = engine
        .deploy(scenario("now_retried", 1, |n| n.retry(retry)))
        .await
        .unwrap();
    let record = engine.execute(&plan, json!({ "n": 4 })).await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Completed);
    let node = record.nodes.iter().find(|n| &*n.node_id == "double").unwrap();
    assert_eq!(node.attempts, 2, "the failed call counts as an attempt");
    assert_eq!(node.output.as_deref(), Some(&json!({ "n": 8 })));
    // Both calls went through `run_shared`, whose default asks `run_now` first.
    let (now, run) = calls("now_retried");
    assert_eq!((now.load(Ordering::SeqCst), run.load(Ordering::SeqCst)), (2, 0));
}

#[tokio::test]
async fn the_built_in_nodes_run_now_as_they_run() {
    use aura_core::scenario::nodes::{FilterNode, IfNode, MergeNode, SetNode, SwitchCase, SwitchNode};
    let engine = engine().await;
    // Built through a scenario, so that their expressions are prepared and the scope is there.
    let plan = engine
        .deploy(
            Scenario::builder("builtins_now", "Built-ins")
                .node(NodeBuilder::trigger("t").next(["set"]))
                .node(NodeBuilder::set("set", json!({ "score": "{{ trigger.value }}" })).next(["if"]))
                .node(NodeBuilder::if_("if", "input.score > 10").route("true", ["switch"]))
                .node(NodeBuilder::switch("switch", [("big", "input.score > 40")]).route("big", ["filter"]))
                .node(NodeBuilder::filter("filter", "input.score == 42").next(["merge"]))
                .node(NodeBuilder::merge("merge").next(["reply"]))
                .node(NodeBuilder::respond("reply", 201))
                .build(),
        )
        .await
        .unwrap();
    let mut handle = engine.start(&plan, json!({ "value": 42 })).await.unwrap();
    let response = handle.response().await.unwrap();
    assert_eq!((response.status, &*response.body), (201, &json!({ "score": 42 })));
    let record = handle.wait().await.unwrap();
    let routes: Vec<_> = record
        .nodes
        .iter()
        .map(|n| (&*n.node_id, n.route.as_deref(), n.status))
        .collect();
    assert_eq!(
        routes,
        vec![
            ("t", None, NodeStatus::Completed),
            ("set", None, NodeStatus::Completed),
            ("if", Some("true"), NodeStatus::Completed),
            ("switch", Some("big"), NodeStatus::Completed),
            ("filter", None, NodeStatus::Completed),
            ("merge", None, NodeStatus::Completed),
            ("reply", None, NodeStatus::Completed),
        ]
    );
    // Called directly, without a scope, the ones that need one say so, either way.
    let cx = Context::new();
    let input = Arc::new(json!({ "score": 1 }));
    for node in [
        Box::new(IfNode::new("input.score > 0")) as Box<dyn Node>,
        Box::new(FilterNode::new("input.score > 0")),
        Box::new(SwitchNode::new(vec![SwitchCase::new("a", "true")])),
    ] {
        let now = node.run_now(&cx, &input).expect("ends at once").unwrap_err();
        let run = node.run(&cx, (*input).clone()).await.unwrap_err();
        assert_eq!((now.kind(), now.message()), (run.kind(), run.message()));
    }
    for node in [Box::new(SetNode {}) as Box<dyn Node>, Box::new(MergeNode {})] {
        let now = node.run_now(&cx, &input).expect("ends at once").unwrap();
        assert!(Arc::ptr_eq(&now.value, &input), "passed on, not copied");
        assert_eq!(*now.value, node.run(&cx, (*input).clone()).await.unwrap().value);
    }
}
