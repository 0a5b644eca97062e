//! Testing scenarios with the testkit: async responders, calls in flight, cancellation, and a
//! harness with a chosen store and payload limit.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::Arc;
use std::time::Duration;

use aura_core::scenario::{NodeBuilder, Scenario};
use aura_core::store::{ExecutionStatus, ExecutionStore, MemoryStore, NodeStatus};
use aura_core::{Context, ErrorKind, Registry};
use aura_testkit::{Harness, MockAction, MockApp};
use serde_json::json;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn an_async_responder_sees_the_context_and_the_input() {
    let lookup = MockAction::new("lookup").respond_async(|cx, input, n| async move {
        tokio::task::yield_now().await;
        Ok(json!({ "id": input["id"], "call": n, "node": cx.node_id() }))
    });
    let harness = Harness::new().app(MockApp::new("crm").action(lookup.clone()));
    let scenario = Scenario::builder("s", "S")
        .node(NodeBuilder::trigger("t").next(["find"]))
        .node(NodeBuilder::action("find", "crm.lookup").input(json!({ "id": "{{ trigger.id }}" })))
        .build();
    let run = harness.run(scenario, json!({ "id": 7 })).await.unwrap();
    run.assert_completed();
    assert_eq!(run.output("find"), &json!({ "id": 7, "call": 1, "node": "find" }));
    assert_eq!(lookup.call_count(), 1);
    assert_eq!(lookup.in_flight(), 0);
}

#[tokio::test]
async fn in_flight_counts_concurrent_calls_of_an_iterate_body() {
    // Every call waits for a permit; the test lets them go only once three run at once.
    let gate = Arc::new(Semaphore::new(0));
    let work = {
        let gate = gate.clone();
        MockAction::new("work").respond_async(move |_cx, input, _| {
            let gate = gate.clone();
            async move {
                gate.acquire().await.expect("the gate stays open").forget();
                Ok(input)
            }
        })
    };
    let harness = Harness::new().app(MockApp::new("crm").action(work.clone()));
    let scenario = Scenario::builder("fan", "Fan out")
        .node(NodeBuilder::trigger("t").next(["each"]))
        .node(
            NodeBuilder::iterate("each", 3)
                .input(json!("{{ trigger.items }}"))
                .next(["work"]),
        )
        .node(NodeBuilder::action("work", "crm.work").input(json!({ "n": "{{ item }}" })))
        .build();
    let plan = harness.engine().deploy(scenario).await.unwrap();
    let handle = harness
        .engine()
        .start(&plan, json!({ "items": [1, 2, 3, 4, 5, 6] }))
        .await
        .unwrap();
    work.wait_in_flight(3).await;
    assert_eq!(work.in_flight(), 3);
    gate.add_permits(6);
    let record = handle.wait().await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Completed, "{:?}", record.error);
    assert_eq!(work.call_count(), 6);
    assert_eq!(work.max_in_flight(), 3);
    assert_eq!(work.in_flight(), 0);
    assert_eq!(work.cancellations(), 0);
}

#[tokio::test]
async fn a_hanging_action_sees_the_cancellation_of_its_context() {
    let slow = MockAction::new("slow").hang();
    let registry = Registry::new();
    registry.register(MockApp::new("crm").action(slow.clone())).unwrap();
    let action = registry.action("crm.slow").await.unwrap();

    let cancel = CancellationToken::new();
    let cx = Context::builder().cancellation(cancel.clone()).build();
    let call = tokio::spawn(async move { action.call(cx, json!({})).await });
    slow.wait_in_flight(1).await;
    assert_eq!(slow.cancellations(), 0);
    cancel.cancel();
    let err = call.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    slow.wait_cancellations(1).await;
    assert_eq!(slow.cancellations(), 1);
    assert_eq!(slow.in_flight(), 0);
}

#[tokio::test]
async fn cancelling_an_execution_cancels_the_running_action() {
    let slow = MockAction::new("slow").hang();
    let harness = Harness::new().app(MockApp::new("crm").action(slow.clone()));
    let scenario = Scenario::builder("s", "S")
        .node(NodeBuilder::trigger("t").next(["wait"]))
        .node(NodeBuilder::action("wait", "crm.slow"))
        .build();
    let plan = harness.engine().deploy(scenario).await.unwrap();
    let handle = harness.engine().start(&plan, json!({})).await.unwrap();
    slow.wait_in_flight(1).await;
    handle.cancel();
    slow.wait_cancellations(1).await;
    let record = handle.wait().await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Cancelled);
    assert_eq!(slow.call_count(), 1);
    assert_eq!(slow.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_call_counts_as_cancelled() {
    let slow = MockAction::new("slow").hang();
    let harness = Harness::new().app(MockApp::new("crm").action(slow.clone()));
    let scenario = Scenario::builder("s", "S")
        .node(NodeBuilder::trigger("t").next(["wait"]))
        .node(NodeBuilder::action("wait", "crm.slow").timeout(Duration::from_secs(5)))
        .build();
    let run = harness.run(scenario, json!({})).await.unwrap();
    run.assert_status(ExecutionStatus::Failed)
        .assert_node("wait", NodeStatus::Failed);
    assert_eq!(slow.call_count(), 1);
    assert_eq!(slow.in_flight(), 0);
    assert_eq!(slow.cancellations(), 1);
}

#[tokio::test]
async fn the_harness_writes_to_the_store_it_was_given() {
    let store = Arc::new(MemoryStore::new());
    let harness = Harness::builder()
        .store(store.clone())
        .app(MockApp::new("crm").action(MockAction::new("create").returns(json!({ "id": 1 }))))
        .build()
        .unwrap();
    let scenario = Scenario::builder("s", "S")
        .node(NodeBuilder::trigger("t").next(["create"]))
        .node(NodeBuilder::action("create", "crm.create"))
        .build();
    let run = harness.run(scenario, json!({})).await.unwrap();
    run.assert_completed();
    let stored = store
        .get(run.record.id)
        .await
        .unwrap()
        .expect("the record is in the given store");
    assert_eq!(stored.status, ExecutionStatus::Completed);
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn the_harness_payload_limit_truncates_stored_outputs() {
    let big = json!({ "note": "x".repeat(500) });
    let make = |limit: Option<usize>| {
        let mut builder =
            Harness::builder().app(MockApp::new("crm").action(MockAction::new("create").returns(big.clone())));
        if let Some(limit) = limit {
            builder = builder.payload_limit(limit);
        }
        builder.build().unwrap()
    };
    let scenario = || {
        Scenario::builder("s", "S")
            .node(NodeBuilder::trigger("t").next(["create"]))
            .node(NodeBuilder::action("create", "crm.create"))
            .build()
    };
    let small = make(Some(64)).run(scenario(), json!({})).await.unwrap();
    small.assert_completed();
    assert!(
        small.output("create").get("$truncated").is_some(),
        "{:?}",
        small.output("create")
    );

    let default = make(None).run(scenario(), json!({})).await.unwrap();
    assert_eq!(default.output("create"), &big);
}

#[test]
fn a_bad_mock_app_is_reported_at_build() {
    let err = Harness::builder().app(MockApp::new("Not Valid")).build().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidDefinition);
    assert_eq!(err.context_value("app"), Some("Not Valid"));
}
