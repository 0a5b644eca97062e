//! `RetryPolicy`: delays capped by `max_delay` from the first retry on.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::Arc;
use std::time::Duration;

use aura_core::engine::{Engine, EventKind};
use aura_core::scenario::{NodeBuilder, RetryPolicy, Scenario};
use aura_core::store::ExecutionStatus;
use aura_core::{ErrorKind, Registry};
use aura_testkit::{MockAction, MockApp};
use serde_json::json;

#[test]
fn the_builder_caps_a_base_delay_larger_than_the_max() {
    let policy = RetryPolicy::builder(3)
        .base_delay(Duration::from_secs(10))
        .max_delay(Duration::from_secs(1))
        .build();
    assert_eq!(policy.retries, 3);
    assert_eq!(policy.base_delay, Duration::from_secs(1));
    assert_eq!(policy.max_delay, Duration::from_secs(1));
    for retry in 1..=3 {
        assert_eq!(policy.delay(retry), Duration::from_secs(1));
    }
}

#[test]
fn the_builder_doubles_up_to_the_max() {
    let policy = RetryPolicy::builder(6)
        .base_delay(Duration::from_millis(100))
        .max_delay(Duration::from_millis(500))
        .build();
    let delays: Vec<u128> = (1..=5).map(|r| policy.delay(r).as_millis()).collect();
    assert_eq!(delays, vec![100, 200, 400, 500, 500]);
    assert_eq!(RetryPolicy::builder(2).build(), RetryPolicy::new(2));
    assert_eq!(policy.delay(u32::MAX), Duration::from_millis(500));
}

#[tokio::test]
async fn a_policy_read_from_json_is_capped_in_the_plan() {
    let s = Scenario::from_json(
        r#"{ "id": "s", "name": "S", "nodes": [
            { "id": "t", "kind": "trigger", "next": ["a"] },
            { "id": "a", "kind": "set", "retry": { "retries": 2, "base_delay_ms": 60000, "max_delay_ms": 1000 } } ] }"#,
    )
    .unwrap();
    let engine = Engine::builder(Arc::new(Registry::new())).build();
    let plan = engine.compile(s).await.unwrap();
    let retry = &plan.describe()["nodes"][1]["retry"];
    assert_eq!(retry["base_delay_ms"], json!(1000), "{retry}");
}

#[tokio::test(start_paused = true)]
async fn the_first_retry_waits_at_most_the_max_delay_plus_jitter() {
    let flaky = MockAction::new("call")
        .idempotent(true)
        .fail_times(1, ErrorKind::Unavailable)
        .then_return(json!("ok"));
    let registry = Registry::new();
    registry.register(MockApp::new("svc").action(flaky.clone())).unwrap();
    let engine = Engine::builder(Arc::new(registry)).build();
    let retry = RetryPolicy {
        retries: 1,
        base_delay: Duration::from_secs(600),
        max_delay: Duration::from_secs(1),
    };
    let s = Scenario::builder("s", "S")
        .node(NodeBuilder::trigger("t").next(["a"]))
        .node(NodeBuilder::action("a", "svc.call").retry(retry))
        .build();
    let plan = engine.deploy(s).await.unwrap();
    let mut events = engine.subscribe();
    let r = engine.execute(&plan, json!({})).await.unwrap();
    assert_eq!(r.status, ExecutionStatus::Completed, "{r:#?}");
    let mut delays = Vec::new();
    while let Ok(e) = events.try_recv() {
        if let EventKind::NodeRetrying { delay, .. } = e.kind {
            delays.push(delay);
        }
    }
    assert_eq!(delays.len(), 1);
    // Jitter adds at most the delay itself: capped at 1 s, the wait is below 2 s (not 600 s).
    assert!(delays[0] < Duration::from_secs(2), "{delays:?}");
}
