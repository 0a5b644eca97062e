//! Recovering unfinished executions: two engines sharing a store do not both recover one.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::Arc;
use std::time::Duration;

use aura_core::engine::Engine;
use aura_core::scenario::{NodeBuilder, Scenario};
use aura_core::store::{ExecutionRecord, ExecutionStatus, ExecutionStore, MemoryStore};
use aura_core::{ErrorKind, Registry};
use aura_testkit::{MockAction, MockApp};
use serde_json::json;

fn engine(store: Arc<MemoryStore>, owner: &str, slow: &MockAction) -> Engine {
    let registry = Arc::new(Registry::new());
    registry.register(MockApp::new("svc").action(slow.clone())).unwrap();
    Engine::builder(registry).store(store).owner(owner).build()
}

fn scenario() -> Scenario {
    Scenario::builder("slow", "Slow")
        .max_duration(Duration::from_secs(7200))
        .node(NodeBuilder::trigger("t").next(["slow"]))
        .node(NodeBuilder::action("slow", "svc.slow"))
        .build()
}

#[tokio::test(start_paused = true)]
async fn an_execution_claimed_by_one_engine_is_not_recovered_by_another() {
    let store = Arc::new(MemoryStore::new());
    let slow = MockAction::new("slow").latency(Duration::from_secs(3600));
    let a = engine(store.clone(), "a", &slow);
    let b = engine(store.clone(), "b", &slow);
    a.deploy(scenario()).await.unwrap();
    b.deploy(scenario()).await.unwrap();
    // What a store holds after a crash before `slow` ended.
    let record: ExecutionRecord = serde_json::from_value(json!({
        "id": uuid::Uuid::now_v7(),
        "scenario_id": "slow",
        "scenario_version": 1,
        "trigger": {},
        "status": "running",
        "started_at": chrono::Utc::now(),
        "ended_at": null,
        "nodes": [],
    }))
    .unwrap();
    store.create(&record).await.unwrap();

    let mut recovered = a.recover_all().await.unwrap();
    assert_eq!(recovered.len(), 1);
    assert!(b.recover_all().await.unwrap().is_empty(), "a holds the lease");
    let err = b.recover(record.id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);

    let handle = recovered.pop().unwrap();
    assert_eq!(handle.id(), record.id);
    let done = handle.wait().await.unwrap();
    assert_eq!(done.status, ExecutionStatus::Completed);
    assert_eq!(slow.call_count(), 1, "one engine ran it");
}

// ---------------------------------------------------------------------------------------------
// Actions in flight at the crash
// ---------------------------------------------------------------------------------------------

/// What a durable store holds after a crash while `call` ran: `call` saved as running (the
/// engine saves a node that is not idempotent before calling it).
async fn crashed_while_calling(store: &MemoryStore) -> ExecutionRecord {
    let record: ExecutionRecord = serde_json::from_value(json!({
        "id": uuid::Uuid::now_v7(),
        "scenario_id": "pay",
        "scenario_version": 1,
        "trigger": { "amount": 5 },
        "status": "running",
        "started_at": chrono::Utc::now(),
        "ended_at": null,
        "nodes": [],
    }))
    .unwrap();
    store.create(&record).await.unwrap();
    let running: aura_core::store::NodeResult = serde_json::from_value(json!({
        "node_id": "call",
        "status": "running",
        "input": { "amount": 5 },
        "attempts": 1,
        "started_at": chrono::Utc::now(),
    }))
    .unwrap();
    store.save_node(record.id, &running).await.unwrap();
    record
}

fn pay(rerun_in_flight: bool) -> Scenario {
    Scenario::builder("pay", "Pay")
        .rerun_in_flight(rerun_in_flight)
        .node(NodeBuilder::trigger("t").next(["call"]))
        .node(NodeBuilder::action("call", "svc.charge"))
        .build()
}

fn engine_with(store: Arc<MemoryStore>, action: &MockAction) -> Engine {
    let registry = Arc::new(Registry::new());
    registry.register(MockApp::new("svc").action(action.clone())).unwrap();
    Engine::builder(registry).store(store).build()
}

#[tokio::test]
async fn an_action_that_is_not_idempotent_and_was_in_flight_is_not_called_again() {
    let store = Arc::new(MemoryStore::new());
    let charge = MockAction::new("charge");
    let engine = engine_with(store.clone(), &charge);
    engine.deploy(pay(false)).await.unwrap();
    let record = crashed_while_calling(&store).await;

    let done = engine.recover(record.id).await.unwrap().wait().await.unwrap();
    assert_eq!(done.status, ExecutionStatus::Failed);
    assert_eq!(charge.call_count(), 0, "it may have run: not called again");
    let call = done.node("call").unwrap();
    assert_eq!(call.status, aura_core::store::NodeStatus::Failed);
    let error = call.error.as_ref().unwrap();
    assert_eq!(error.kind, ErrorKind::Conflict.as_str());
    assert!(error.message.contains("may have run"), "{}", error.message);
    assert!(error.context.iter().any(|(k, v)| k == "may_have_run" && v == "true"));
    // Stored as the user sees it.
    let stored = store.get(record.id).await.unwrap().unwrap();
    assert_eq!(
        stored.node("call").unwrap().status,
        aura_core::store::NodeStatus::Failed
    );

    // After checking the service, a rerun calls it.
    let rerun = engine.rerun(record.id).await.unwrap().wait().await.unwrap();
    assert_eq!(rerun.status, ExecutionStatus::Completed, "{:?}", rerun.error);
    assert_eq!(charge.call_count(), 1);
}

#[tokio::test]
async fn the_policy_may_call_it_again_and_idempotent_actions_always_are() {
    for (rerun_in_flight, idempotent) in [(true, false), (false, true)] {
        let store = Arc::new(MemoryStore::new());
        let charge = MockAction::new("charge").idempotent(idempotent);
        let engine = engine_with(store.clone(), &charge);
        engine.deploy(pay(rerun_in_flight)).await.unwrap();
        let record = crashed_while_calling(&store).await;

        let done = engine.recover(record.id).await.unwrap().wait().await.unwrap();
        assert_eq!(done.status, ExecutionStatus::Completed, "{:?}", done.error);
        assert_eq!(charge.call_count(), 1);
        assert_eq!(
            charge.calls()[0].idempotency_key.as_deref(),
            Some(&*format!("{}/call", record.id)),
            "the same key as the call that may have run"
        );
    }
}
