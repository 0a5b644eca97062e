//! Executions waiting for a concurrency slot start in the order they were started.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::Arc;
use std::time::Duration;

use aura_core::Registry;
use aura_core::engine::Engine;
use aura_core::scenario::{NodeBuilder, Scenario};
use aura_core::store::ExecutionStatus;
use aura_testkit::{MockAction, MockApp};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn waiting_executions_start_in_the_order_they_were_started() {
    let work = MockAction::new("work")
        .latency(Duration::from_millis(2))
        .respond_with(|input, _| Ok(input.clone()));
    let registry = Arc::new(Registry::new());
    registry.register(MockApp::new("svc").action(work.clone())).unwrap();
    let engine = Engine::builder(registry).build();
    let s = Scenario::builder("one", "One at a time")
        .max_concurrent(1)
        .node(NodeBuilder::trigger("t").next(["work"]))
        .node(NodeBuilder::action("work", "svc.work").input(json!({ "n": "{{ trigger.n }}" })))
        .build();
    let plan = engine.deploy(s).await.unwrap();
    // Started from a worker thread (where a newly spawned task may run before older ones).
    let handles = tokio::spawn(async move {
        let mut handles = Vec::new();
        for n in 0..30 {
            handles.push(engine.start(&plan, json!({ "n": n })).await.unwrap());
        }
        handles
    })
    .await
    .unwrap();
    for h in handles {
        assert_eq!(h.wait().await.unwrap().status, ExecutionStatus::Completed);
    }
    let order: Vec<Value> = work.calls().iter().map(|c| c.input["n"].clone()).collect();
    let expected: Vec<Value> = (0..30).map(|n| json!(n)).collect();
    assert_eq!(order, expected);
}
