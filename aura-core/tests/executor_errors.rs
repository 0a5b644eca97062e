//! Errors survive their records: what `record.result()` gives back is the error the node had,
//! and a child scenario's error reaches its parent whole.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::time::Duration;

use aura_core::ErrorKind;
use aura_core::scenario::{NodeBuilder, RetryPolicy, Scenario};
use aura_core::store::{ExecutionRecord, ExecutionStatus};
use aura_testkit::{Failure, Harness, MockAction, MockApp};
use serde_json::{Value, json};

fn linear(id: &str, nodes: Vec<NodeBuilder>) -> Scenario {
    Scenario::builder(id, id).nodes(nodes).build()
}

#[tokio::test(start_paused = true)]
async fn the_error_from_result_keeps_node_status_body_and_retry_after() {
    let failing = MockAction::new("call").fail_times(100, Failure::upstream(503).message("the gateway is down"));
    let h = Harness::new().app(MockApp::new("svc").action(failing));
    let s = linear(
        "s",
        vec![
            NodeBuilder::trigger("t").next(["call"]),
            NodeBuilder::action("call", "svc.call"),
        ],
    );
    let record = h.run(s, json!({})).await.unwrap().record;
    let err = record.result().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert_eq!(err.context_value("node"), Some("call"));
    assert_eq!(err.status(), Some(503));
    assert_eq!(err.body_excerpt(), Some("the gateway is down"));

    let limited = MockAction::new("limited").fail_times(100, Failure::rate_limited(Some(Duration::from_secs(9))));
    let h = Harness::new().app(MockApp::new("svc").action(limited));
    let s = linear(
        "r",
        vec![
            NodeBuilder::trigger("t").next(["call"]),
            NodeBuilder::action("call", "svc.limited"),
        ],
    );
    let err = h.run(s, json!({})).await.unwrap().record.result().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(9)));
    assert_eq!(err.status(), Some(429));
}

#[tokio::test(start_paused = true)]
async fn a_childs_rate_limit_reaches_the_parent_with_retry_after_and_spent_retries() {
    let limited = MockAction::new("limited").fail_times(100, Failure::rate_limited(Some(Duration::from_secs(5))));
    let h = Harness::new().app(MockApp::new("svc").action(limited.clone()));
    let child = linear(
        "child",
        vec![
            NodeBuilder::trigger("t").next(["call"]),
            NodeBuilder::action("call", "svc.limited").retry(RetryPolicy::new(2)),
        ],
    );
    h.engine().deploy(child).await.unwrap();
    let parent = linear(
        "parent",
        vec![
            NodeBuilder::trigger("t").next(["run_child"]),
            NodeBuilder::sub_scenario("run_child", "child").retry(RetryPolicy::new(3)),
        ],
    );
    let record = h.run(parent, json!({})).await.unwrap().record;
    assert_eq!(record.status, ExecutionStatus::Failed);
    assert_eq!(
        limited.call_count(),
        3,
        "the child's three attempts, once: the parent does not re-run spent retries"
    );
    let err = record.result().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(5)));
    assert!(err.is_persistent());
    assert!(!err.is_retryable());
    let nodes: Vec<&str> = err
        .context()
        .iter()
        .filter(|(k, _)| *k == "node")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(nodes, ["call", "run_child"], "the child's node, then the parent's");
    let node = record.node("run_child").unwrap();
    assert_eq!(node.attempts, 1);
    assert_eq!(node.error.as_ref().unwrap().retry_after, Some(Duration::from_secs(5)));
}

#[tokio::test]
async fn an_execution_record_round_trips_through_json() {
    let h = Harness::new();
    let s = linear(
        "n",
        vec![
            NodeBuilder::trigger("t").next(["nothing"]),
            NodeBuilder::set("nothing", Value::Null),
        ],
    );
    let record = h.run(s, json!({})).await.unwrap().record;
    assert_eq!(record.output, Some(Value::Null));
    let text = serde_json::to_string(&record).unwrap();
    let back: ExecutionRecord = serde_json::from_str(&text).unwrap();
    assert_eq!(back, record);

    let failing = MockAction::new("call").fail_times(1, Failure::upstream(502).message("bad"));
    let h = Harness::new().app(MockApp::new("svc").action(failing));
    let s = linear(
        "f",
        vec![
            NodeBuilder::trigger("t").next(["call"]),
            NodeBuilder::action("call", "svc.call"),
        ],
    );
    let record = h.run(s, json!({})).await.unwrap().record;
    assert_eq!(record.output, None);
    let back: ExecutionRecord = serde_json::from_str(&serde_json::to_string(&record).unwrap()).unwrap();
    assert_eq!(back, record);
}
