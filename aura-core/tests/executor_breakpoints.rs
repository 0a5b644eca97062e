//! Breakpoints inside iterate bodies: each element stops in turn, each `continue_run` lets
//! one go on.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::Arc;
use std::time::Duration;

use aura_core::Registry;
use aura_core::engine::{Engine, ExecuteOptions};
use aura_core::scenario::{NodeBuilder, Scenario};
use aura_core::store::ExecutionStatus;
use aura_testkit::{MockAction, MockApp};
use serde_json::json;

/// A hang guard only: the test asserts what happens, never how fast.
const GUARD: Duration = Duration::from_secs(20);

#[tokio::test]
async fn a_breakpoint_in_a_concurrent_iterate_body_stops_once_per_element() {
    let work = MockAction::new("work").respond_with(|input, _| Ok(input.clone()));
    let registry = Arc::new(Registry::new());
    registry.register(MockApp::new("svc").action(work.clone())).unwrap();
    let engine = Engine::builder(registry).build();
    let s = Scenario::builder("it", "It")
        .node(NodeBuilder::trigger("t").next(["each"]))
        .node(
            NodeBuilder::iterate("each", 3)
                .input(json!("{{ trigger.items }}"))
                .next(["work"]),
        )
        .node(NodeBuilder::action("work", "svc.work").input(json!({ "n": "{{ item }}" })))
        .build();
    let plan = engine.deploy(s).await.unwrap();
    let handle = engine
        .start_with(
            &plan,
            json!({ "items": [1, 2, 3] }),
            ExecuteOptions::new().breakpoint("work"),
        )
        .await
        .unwrap();
    let mut stops = 0;
    while let Some(node) = tokio::time::timeout(GUARD, handle.paused())
        .await
        .expect("hung at a breakpoint")
    {
        assert_eq!(node, "work");
        stops += 1;
        assert!(stops <= 3, "more stops than elements");
        handle.continue_run();
    }
    assert_eq!(stops, 3);
    let record = tokio::time::timeout(GUARD, handle.wait()).await.expect("hung").unwrap();
    assert_eq!(record.status, ExecutionStatus::Completed);
    assert_eq!(work.call_count(), 3);
}
