//! `Keep`: which executions' records the engine writes to its store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use aura_core::engine::{Engine, EventKind, Keep};
use aura_core::scenario::{NodeBuilder, Scenario};
use aura_core::store::{ExecutionStatus, ExecutionStore, MemoryStore, NodeStatus, PageRequest};
use aura_core::{ErrorKind, Registry};
use aura_testkit::{MockAction, MockApp};
use serde_json::json;

/// `t → check`, where `check` fails when the trigger says so.
fn setup(keep: Keep) -> (Engine, Arc<MemoryStore>) {
    let check = MockAction::new("check").respond_with(|input, _| {
        if input["fail"] == json!(true) {
            Err(aura_core::Error::new(ErrorKind::InvalidInput, "told to fail"))
        } else {
            Ok(json!({ "ok": true }))
        }
    });
    let registry = Registry::new();
    registry.register(MockApp::new("svc").action(check)).unwrap();
    let store = Arc::new(MemoryStore::new());
    let engine = Engine::builder(Arc::new(registry))
        .store(store.clone())
        .keep(keep)
        .build();
    (engine, store)
}

fn scenario() -> Scenario {
    Scenario::builder("keep", "Keep")
        .node(NodeBuilder::trigger("t").next(["check"]))
        .node(NodeBuilder::action("check", "svc.check").input(json!({ "fail": "{{ trigger.fail }}" })))
        .build()
}

async fn kept(store: &MemoryStore) -> Vec<ExecutionStatus> {
    let page = store.list("keep", PageRequest::first(100)).await.unwrap();
    page.items.iter().map(|s| s.status).collect()
}

#[tokio::test]
async fn keep_none_writes_nothing_but_still_returns_the_whole_record() {
    let (engine, store) = setup(Keep::none());
    let plan = engine.deploy(scenario()).await.unwrap();
    let ok = engine.execute(&plan, json!({ "fail": false })).await.unwrap();
    assert_eq!(ok.status, ExecutionStatus::Completed);
    assert_eq!(ok.node("check").unwrap().status, NodeStatus::Completed);
    let failed = engine.execute(&plan, json!({ "fail": true })).await.unwrap();
    assert_eq!(failed.status, ExecutionStatus::Failed);
    assert!(store.is_empty(), "Keep::none writes nothing");
    assert!(store.get(ok.id).await.unwrap().is_none());
}

#[tokio::test]
async fn keep_none_still_sends_events_to_the_handle() {
    let (engine, _store) = setup(Keep::none());
    let plan = engine.deploy(scenario()).await.unwrap();
    let mut handle = engine.start(&plan, json!({ "fail": false })).await.unwrap();
    let mut events = handle.events();
    let mut kinds = Vec::new();
    while let Some(e) = events.next().await {
        kinds.push(e.kind);
    }
    assert_eq!(kinds.first(), Some(&EventKind::Started));
    assert!(matches!(
        kinds.last(),
        Some(EventKind::Finished {
            status: ExecutionStatus::Completed
        })
    ));
    assert_eq!(handle.wait().await.unwrap().status, ExecutionStatus::Completed);
}

#[tokio::test]
async fn sampling_keeps_every_failure_and_one_in_n_successes_whole() {
    let (engine, store) = setup(Keep::sampled(3));
    let plan = engine.deploy(scenario()).await.unwrap();
    for _ in 0..6 {
        engine.execute(&plan, json!({ "fail": false })).await.unwrap();
    }
    let failed = engine.execute(&plan, json!({ "fail": true })).await.unwrap();
    let statuses = kept(&store).await;
    assert_eq!(statuses.iter().filter(|s| **s == ExecutionStatus::Completed).count(), 2);
    assert_eq!(statuses.iter().filter(|s| **s == ExecutionStatus::Failed).count(), 1);
    // The kept failure is whole: its nodes and its error, as the caller saw it.
    let stored = store.get(failed.id).await.unwrap().unwrap();
    assert_eq!(stored, failed);
    assert_eq!(stored.node("check").unwrap().status, NodeStatus::Failed);
    // Nothing is left running: a sampled execution is written once it ended.
    assert!(store.unfinished().await.unwrap().is_empty());
}

#[tokio::test]
async fn keep_all_is_the_default_and_checkpoints_every_execution() {
    let (engine, store) = setup(Keep::default());
    let plan = engine.deploy(scenario()).await.unwrap();
    let r = engine.execute(&plan, json!({ "fail": false })).await.unwrap();
    assert_eq!(store.get(r.id).await.unwrap().unwrap(), r);
}

/// `t → shape → reply`: secrets in the trigger and in what `shape` outputs, a big payload.
fn secretive() -> Scenario {
    Scenario::builder("secretive", "Secretive")
        .node(NodeBuilder::trigger("t").next(["shape"]))
        .node(
            NodeBuilder::set(
                "shape",
                json!({ "user": "{{ trigger.user }}", "api_key": "{{ trigger.password }}", "blob": "{{ trigger.blob }}" }),
            )
            .next(["reply"]),
        )
        .node(NodeBuilder::respond("reply", 200).input(json!({ "token": "{{ trigger.password }}", "ok": true })))
        .build()
}

/// The record a handle gives is cleaned the same whether the engine keeps records or not
/// (without a store, it is cleaned when asked for, not as the execution runs), for a
/// completed execution and for a failed one.
#[tokio::test]
async fn keep_none_gives_the_same_redacted_record_as_keep_all() {
    let trigger = json!({ "user": "ada", "password": "hunter2-hunter2", "blob": "x".repeat(300_000) });
    let mut records = Vec::new();
    for keep in [Keep::all(), Keep::none()] {
        let (engine, _) = setup(keep);
        let plan = engine.deploy(secretive()).await.unwrap();
        let mut handle = engine.start(&plan, trigger.clone()).await.unwrap();
        let response = handle.response().await.unwrap();
        assert_eq!(
            response.body["token"],
            json!("hunter2-hunter2"),
            "the caller's answer is whole"
        );
        records.push(handle.wait().await.unwrap());
    }
    let [all, none] = [&records[0], &records[1]];
    for record in [all, none] {
        let text = serde_json::to_string(record).unwrap();
        assert!(!text.contains("hunter2"), "a secret in the record: {text:.300}");
        assert!(text.len() < 20_000, "the big payload is cut: {} bytes", text.len());
        assert!(record.trigger_cleaned);
        assert!(record.node("shape").unwrap().output_cleaned);
    }
    assert_eq!(none.trigger, all.trigger);
    assert_eq!(none.output, all.output);
    for (n, a) in none.nodes.iter().zip(&all.nodes) {
        assert_eq!(
            (&n.node_id, &n.input, &n.output, n.output_cleaned),
            (&a.node_id, &a.input, &a.output, a.output_cleaned)
        );
    }

    // A failed execution's record is cleaned at its end (it goes to the error scenario too).
    let (engine, _) = setup(Keep::none());
    let plan = engine.deploy(scenario()).await.unwrap();
    let failed = engine
        .start(&plan, json!({ "fail": true, "password": "hunter2-hunter2" }))
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert_eq!(failed.status, ExecutionStatus::Failed);
    assert!(!serde_json::to_string(&failed).unwrap().contains("hunter2"));
}
