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
