//! Waits (`delay` nodes, `Route::Wait`): on the engine's clock, parked when long and alone,
//! in place otherwise, and stopped by a cancel or the max duration either way.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::Arc;
use std::time::Duration;

use aura_core::Registry;
use aura_core::clock::{Clock as _, ManualClock};
use aura_core::engine::{Engine, EngineBuilder, ExecuteOptions};
use aura_core::scenario::{NodeBuilder, Scenario};
use aura_core::store::{ExecutionRecord, ExecutionStatus, NodeStatus};
use aura_core::{Context, ErrorKind, Node, NodeOutput, Result};
use serde_json::{Value, json};

const HOUR: Duration = Duration::from_secs(3600);

fn engine() -> EngineBuilder {
    Engine::builder(Arc::new(Registry::new()))
}

/// `t → wait(delay) → after` (a set node reading the trigger).
fn waiting(delay: Duration, max: Duration) -> Scenario {
    Scenario::builder("waits", "Waits")
        .max_duration(max)
        .node(NodeBuilder::trigger("t").next(["wait"]))
        .node(NodeBuilder::delay("wait", delay).next(["after"]))
        .node(NodeBuilder::set(
            "after",
            json!({ "order": "{{ trigger.order }}", "waited": true }),
        ))
        .build()
}

fn status(r: &ExecutionRecord, node: &str) -> Option<NodeStatus> {
    r.node(node).map(|n| n.status)
}

#[tokio::test(start_paused = true)]
async fn a_long_delay_parks_and_goes_on_after_it() {
    let engine = engine().build();
    let plan = engine.deploy(waiting(HOUR, 2 * HOUR)).await.unwrap();
    let started = tokio::time::Instant::now();
    let handle = engine.start(&plan, json!({ "order": 7 })).await.unwrap();
    let r = handle.wait().await.unwrap();
    assert_eq!(r.status, ExecutionStatus::Completed, "{:?}", r.error);
    assert!(started.elapsed() >= HOUR, "the delay waited: {:?}", started.elapsed());
    assert_eq!(status(&r, "wait"), Some(NodeStatus::Completed));
    assert_eq!(r.node("wait").unwrap().output.as_deref(), Some(&json!({ "order": 7 })));
    assert_eq!(r.output, Some(json!({ "order": 7, "waited": true })));
    let stored = engine.store().get(r.id).await.unwrap().unwrap();
    assert_eq!(stored.status, ExecutionStatus::Completed);
    assert_eq!(stored.nodes.len(), 3, "trigger, wait and after, each once");
}

#[tokio::test(start_paused = true)]
async fn a_delay_shorter_than_park_after_waits_in_place_with_the_same_result() {
    for park_after in [Duration::ZERO, Duration::MAX] {
        let engine = engine().park_after(park_after).build();
        let plan = engine.deploy(waiting(HOUR, 2 * HOUR)).await.unwrap();
        let r = engine
            .start(&plan, json!({ "order": 1 }))
            .await
            .unwrap()
            .wait()
            .await
            .unwrap();
        assert_eq!(r.status, ExecutionStatus::Completed, "park_after {park_after:?}");
        assert_eq!(r.output, Some(json!({ "order": 1, "waited": true })));
    }
}

#[tokio::test]
async fn a_parked_execution_is_cancelled_at_once() {
    let engine = engine().build();
    let plan = engine.deploy(waiting(HOUR, 2 * HOUR)).await.unwrap();
    // Real time: were the cancel not heard while parked, this would wait an hour.
    let handle = engine.start(&plan, json!({ "order": 2 })).await.unwrap();
    let running = engine.store().get(handle.id()).await.unwrap().unwrap();
    assert_eq!(running.status, ExecutionStatus::Running, "parked, not finished");
    handle.cancel();
    let r = handle.wait().await.unwrap();
    assert_eq!(r.status, ExecutionStatus::Cancelled);
    assert_eq!(
        status(&r, "wait"),
        Some(NodeStatus::Cancelled),
        "stopped where it waited"
    );
    assert_eq!(status(&r, "after"), None, "nothing after the delay ran");
    let stored = engine.store().get(r.id).await.unwrap().unwrap();
    assert_eq!(stored.status, ExecutionStatus::Cancelled);
    assert_eq!(status(&stored, "wait"), Some(NodeStatus::Cancelled));
}

#[tokio::test(start_paused = true)]
async fn the_max_duration_ends_a_parked_execution_at_its_deadline() {
    let engine = engine().build();
    let plan = engine.deploy(waiting(HOUR, Duration::from_secs(60))).await.unwrap();
    let started = tokio::time::Instant::now();
    let r = engine.start(&plan, json!({})).await.unwrap().wait().await.unwrap();
    assert_eq!(r.status, ExecutionStatus::Failed);
    assert_eq!(r.error.as_ref().unwrap().kind, ErrorKind::Timeout.as_str());
    assert_eq!(status(&r, "wait"), Some(NodeStatus::TimedOut));
    assert_eq!(status(&r, "after"), None);
    // Virtual time: woken at the deadline, not at the end of the hour.
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(60) && waited < HOUR,
        "woke after {waited:?}"
    );
}

#[tokio::test]
async fn a_delay_follows_the_engine_clock() {
    for park_after in [Duration::from_secs(1), Duration::MAX] {
        let clock = Arc::new(ManualClock::new());
        let engine = engine().clock(clock.shared()).park_after(park_after).build();
        let plan = engine.deploy(waiting(HOUR, 2 * HOUR)).await.unwrap();
        let r = engine
            .start(&plan, json!({ "order": 3 }))
            .await
            .unwrap()
            .wait()
            .await
            .unwrap();
        assert_eq!(
            r.status,
            ExecutionStatus::Completed,
            "park_after {park_after:?}: {:?}",
            r.error
        );
        assert!(
            clock.now() >= HOUR,
            "the delay moved the manual clock: {:?}",
            clock.now()
        );
    }
}

#[tokio::test(start_paused = true)]
async fn execute_parks_and_goes_on_too() {
    let engine = engine().build();
    let plan = engine.deploy(waiting(HOUR, 2 * HOUR)).await.unwrap();
    let r = engine.execute(&plan, json!({ "order": 4 })).await.unwrap();
    assert_eq!(r.status, ExecutionStatus::Completed);
    assert_eq!(r.output, Some(json!({ "order": 4, "waited": true })));
}

#[tokio::test(start_paused = true)]
async fn a_delay_beside_a_running_branch_and_in_an_iterate_body_waits_in_place() {
    let engine = engine().build();
    let s = Scenario::builder("branches", "Branches")
        .max_duration(2 * HOUR)
        .node(NodeBuilder::trigger("t").next(["slow", "quick", "each"]))
        .node(NodeBuilder::delay("slow", HOUR))
        .node(NodeBuilder::set("quick", json!({ "q": 1 })))
        .node(
            NodeBuilder::iterate("each", 2)
                .input(json!("{{ trigger.items }}"))
                .next(["pause"]),
        )
        .node(NodeBuilder::delay("pause", Duration::from_secs(30)).next(["collect"]))
        .node(NodeBuilder::aggregate("collect", "each"))
        .build();
    let plan = engine.deploy(s).await.unwrap();
    let r = engine
        .start(&plan, json!({ "items": [1, 2, 3] }))
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert_eq!(r.status, ExecutionStatus::Completed, "{:?}", r.error);
    assert_eq!(status(&r, "slow"), Some(NodeStatus::Completed));
    assert_eq!(status(&r, "quick"), Some(NodeStatus::Completed));
    let collected = r.node("collect").unwrap().output.clone().unwrap();
    assert_eq!(*collected, json!([1, 2, 3]));
}

#[tokio::test(start_paused = true)]
async fn a_parked_execution_keeps_its_concurrency_slot() {
    let engine = engine().build();
    let s = Scenario::builder("one", "One at a time")
        .max_concurrent(1)
        .max_duration(4 * HOUR)
        .node(NodeBuilder::trigger("t").next(["wait"]))
        .node(NodeBuilder::delay("wait", HOUR))
        .build();
    let plan = engine.deploy(s).await.unwrap();
    let start = tokio::time::Instant::now();
    let first = engine.start(&plan, json!({ "n": 1 })).await.unwrap();
    let second = engine.start(&plan, json!({ "n": 2 })).await.unwrap();
    let a = first.wait().await.unwrap();
    let b = second.wait().await.unwrap();
    assert_eq!(
        (a.status, b.status),
        (ExecutionStatus::Completed, ExecutionStatus::Completed)
    );
    // One after the other: the second waited for the first's slot, then for its own hour.
    assert!(start.elapsed() >= 2 * HOUR, "ran one at a time: {:?}", start.elapsed());
    assert!(b.node("wait").unwrap().started_at >= a.node("wait").unwrap().ended_at);
}

#[tokio::test(start_paused = true)]
async fn a_breakpoint_after_a_parked_delay_still_stops_the_execution() {
    let engine = engine().build();
    let plan = engine.deploy(waiting(HOUR, 2 * HOUR)).await.unwrap();
    let handle = engine
        .start_with(&plan, json!({ "order": 5 }), ExecuteOptions::new().breakpoint("wait"))
        .await
        .unwrap();
    assert_eq!(handle.paused().await.as_deref(), Some("wait"));
    handle.continue_run();
    let r = handle.wait().await.unwrap();
    assert_eq!(r.status, ExecutionStatus::Completed);
    assert_eq!(r.output, Some(json!({ "order": 5, "waited": true })));
}

/// A custom node asking the engine to wait, with a route of its own afterwards: not possible
/// (a wait takes the default edges), so it waits and goes on by `next`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Cooldown;

#[typetag::serde(name = "test_cooldown")]
#[aura_core::async_trait]
impl Node for Cooldown {
    async fn run(&self, _cx: &Context, input: Value) -> Result<NodeOutput> {
        Ok(NodeOutput::after(json!({ "cooled": input }), Duration::from_secs(90)))
    }
}

#[tokio::test(start_paused = true)]
async fn any_node_can_ask_the_engine_to_wait() {
    let engine = engine().build();
    let s = Scenario::builder("custom", "Custom wait")
        .node(NodeBuilder::trigger("t").next(["cool"]))
        .node(NodeBuilder::new("cool", Cooldown))
        .build();
    let plan = engine.deploy(s).await.unwrap();
    let started = tokio::time::Instant::now();
    let r = engine.start(&plan, json!(1)).await.unwrap().wait().await.unwrap();
    assert_eq!(r.status, ExecutionStatus::Completed, "{:?}", r.error);
    assert!(started.elapsed() >= Duration::from_secs(90));
    assert_eq!(r.output, Some(json!({ "cooled": 1 })));
}

#[tokio::test]
async fn while_an_execution_waits_in_memory_the_store_shows_its_results_so_far() {
    // The in-memory store writes node results with the next waited checkpoint: a wait is one.
    let engine = engine().build();
    let plan = engine.deploy(waiting(HOUR, 2 * HOUR)).await.unwrap();
    let handle = engine.start(&plan, json!({ "order": 3 })).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let running = loop {
        let running = engine.store().get(handle.id()).await.unwrap().unwrap();
        if status(&running, "t").is_some() || std::time::Instant::now() > deadline {
            break running;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(running.status, ExecutionStatus::Running);
    assert_eq!(status(&running, "t"), Some(NodeStatus::Completed), "{running:?}");
    assert_eq!(
        running.node("t").unwrap().output.as_deref(),
        Some(&json!({ "order": 3 }))
    );
    handle.cancel();
    assert_eq!(handle.wait().await.unwrap().status, ExecutionStatus::Cancelled);
}
