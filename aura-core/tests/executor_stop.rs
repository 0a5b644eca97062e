//! A cancel or the max duration records the nodes that were running.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::time::Duration;

use aura_core::clock::ManualClock;
use aura_core::engine::EventKind;
use aura_core::scenario::{NodeBuilder, Scenario};
use aura_core::store::{ExecutionRecord, ExecutionStatus, NodeStatus};
use aura_testkit::{Harness, MockAction, MockApp};
use serde_json::json;

fn hanging(id: &str, max: Duration) -> Scenario {
    Scenario::builder(id, id)
        .max_duration(max)
        .node(NodeBuilder::trigger("t").next(["hang"]))
        .node(NodeBuilder::action("hang", "svc.hang"))
        .build()
}

#[tokio::test(start_paused = true)]
async fn a_cancel_records_the_running_node_as_cancelled() {
    let h = Harness::new().app(MockApp::new("svc").action(MockAction::new("hang").latency(Duration::from_secs(3600))));
    let plan = h
        .engine()
        .deploy(hanging("c", Duration::from_secs(7200)))
        .await
        .unwrap();
    let mut handle = h.engine().start(&plan, json!({})).await.unwrap();
    let mut events = handle.events();
    while let Some(e) = events.next().await {
        if matches!(&e.kind, EventKind::NodeStarted { node, .. } if &**node == "hang") {
            break;
        }
    }
    handle.cancel();
    let record = handle.wait().await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Cancelled);
    let node = record.node("hang").expect("the running node is in the record");
    assert_eq!(node.status, NodeStatus::Cancelled);
    assert_eq!(node.attempts, 1);
    assert!(node.started_at.is_some() && node.ended_at.is_some());
    assert_eq!(node.error.as_ref().unwrap().kind, "cancelled");
}

#[tokio::test(start_paused = true)]
async fn the_max_duration_records_the_running_node_as_timed_out() {
    let h = Harness::new().app(MockApp::new("svc").action(MockAction::new("hang").latency(Duration::from_secs(3600))));
    let plan = h.engine().deploy(hanging("m", Duration::from_secs(2))).await.unwrap();
    let record = h.engine().execute(&plan, json!({})).await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Failed);
    let node = record.node("hang").expect("the running node is in the record");
    assert_eq!(node.status, NodeStatus::TimedOut);
    assert_eq!(node.attempts, 1);
    assert_eq!(node.error.as_ref().unwrap().kind, "timeout");
    let stored = h.engine().store().get(record.id).await.unwrap().unwrap();
    assert_eq!(stored.node("hang").unwrap().status, NodeStatus::TimedOut);
}

/// Runs `scenario` (whose `hang` node never answers) on an engine whose clock is a
/// [`ManualClock`], moves that clock by each of `steps` once the node runs, and returns the
/// record. No tokio time is paused here: were the engine's timers on tokio's clock, the
/// execution would hang and the guard would fail the test.
async fn run_on_a_manual_clock(scenario: Scenario, steps: &[Duration]) -> ExecutionRecord {
    let clock = ManualClock::new();
    let hang = MockAction::new("hang").hang();
    let h = Harness::builder()
        .clock(clock.shared())
        .app(MockApp::new("svc").action(hang.clone()))
        .build()
        .unwrap();
    let plan = h.engine().deploy(scenario).await.unwrap();
    let handle = h.engine().start(&plan, json!({})).await.unwrap();
    hang.wait_in_flight(1).await;
    for step in steps {
        clock.advance(*step);
    }
    tokio::time::timeout(Duration::from_secs(30), handle.wait())
        .await
        .expect("the timer fired on the engine's clock")
        .unwrap()
}

#[tokio::test]
async fn the_max_duration_follows_the_engines_clock() {
    let record = run_on_a_manual_clock(hanging("mc", Duration::from_secs(60)), &[Duration::from_secs(61)]).await;
    assert_eq!(record.node("hang").unwrap().status, NodeStatus::TimedOut);
}

#[tokio::test]
async fn a_node_timeout_follows_the_engines_clock() {
    let scenario = Scenario::builder("nt", "Node timeout")
        .max_duration(Duration::from_secs(3600))
        .node(NodeBuilder::trigger("t").next(["hang"]))
        .node(NodeBuilder::action("hang", "svc.hang").timeout(Duration::from_secs(5)))
        .build();
    // Not yet at 4 s; past the timeout at 6 s.
    let record = run_on_a_manual_clock(scenario, &[Duration::from_secs(4), Duration::from_secs(2)]).await;
    assert_eq!(record.status, ExecutionStatus::Failed);
    let node = record.node("hang").unwrap();
    assert_eq!(node.status, NodeStatus::Failed);
    assert_eq!(node.error.as_ref().map(|e| e.kind.as_str()), Some("timeout"));
}
