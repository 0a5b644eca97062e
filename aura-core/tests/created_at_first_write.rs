//! On a store that is not durable (the in-memory default), a new execution is written at its
//! first write instead of at its start: whole, in one write, when it ends without waiting (a
//! webhook answered at once); before its first node that calls something, which may look it
//! up; before its handle is given, when it goes on in a task. What the store holds, and when a
//! caller can see it, is unchanged.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use aura_core::Registry;
use aura_core::engine::Engine;
use aura_core::scenario::{NodeBuilder, Scenario};
use aura_core::store::{ExecutionStatus, ExecutionStore, MemoryStore, NodeStatus, PageRequest, PayloadKey};
use aura_testkit::{MockAction, MockApp};
use serde_json::json;

fn engine(registry: Registry) -> (Engine, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    let engine = Engine::builder(Arc::new(registry)).store(store.clone()).build();
    (engine, store)
}

#[tokio::test]
async fn an_execution_that_ends_at_once_is_kept_whole() {
    let (engine, store) = engine(Registry::new());
    let plan = engine.deploy(aura_testkit::flows::webhook_score()).await.unwrap();
    let mut handle = engine.start(&plan, json!({ "value": 42 })).await.unwrap();
    let id = handle.id();
    assert_eq!(
        handle.response().await.unwrap().body.as_ref(),
        &json!({ "ok": true, "score": 42 })
    );

    let kept = store.get(id).await.unwrap().expect("the execution is kept");
    assert_eq!(kept.status, ExecutionStatus::Completed);
    assert_eq!(kept.output, Some(json!({ "ok": true, "score": 42 })));
    let nodes: Vec<(&str, NodeStatus)> = kept.nodes.iter().map(|n| (&*n.node_id, n.status)).collect();
    assert_eq!(
        nodes,
        [
            ("hook", NodeStatus::Completed),
            ("score", NodeStatus::Completed),
            ("check", NodeStatus::Completed),
            ("reply", NodeStatus::Completed)
        ]
    );
    assert_eq!(
        kept,
        handle.wait().await.unwrap(),
        "the store holds what the handle gives"
    );
    let listed = store.list("score", PageRequest::first(10)).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].status, ExecutionStatus::Completed);
    assert!(store.unfinished().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_execution_that_goes_on_in_a_task_is_in_the_store_when_its_handle_is_given() {
    let (engine, store) = engine(Registry::new());
    // A delay (pure) makes it wait: the rest runs in a task.
    let scenario = Scenario::builder("slow", "Slow")
        .node(NodeBuilder::trigger("t").next(["pause"]))
        .node(NodeBuilder::delay("pause", Duration::from_millis(200)))
        .build();
    let plan = engine.deploy(scenario).await.unwrap();
    let handle = engine.start(&plan, json!({ "n": 1 })).await.unwrap();

    let running = store
        .get(handle.id())
        .await
        .unwrap()
        .expect("running, it is in the store");
    assert_eq!(running.status, ExecutionStatus::Running);
    assert_eq!(store.unfinished().await.unwrap().len(), 1);

    let record = handle.wait().await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Completed);
    let kept = store.get(record.id).await.unwrap().unwrap();
    assert_eq!(kept.status, ExecutionStatus::Completed);
    assert_eq!(kept.nodes.len(), 2);
}

#[tokio::test]
async fn a_node_that_calls_something_finds_its_execution_in_the_store() {
    let store = Arc::new(MemoryStore::new());
    let seen = store.clone();
    let look = MockAction::new("look").respond_async(move |cx, _input, _n| {
        let store = seen.clone();
        async move {
            let id = cx.execution_id().unwrap().parse().unwrap();
            let record = store.get(id).await?;
            Ok(json!({ "found": record.map(|r| r.status == ExecutionStatus::Running) }))
        }
    });
    let registry = Registry::new();
    registry.register(MockApp::new("svc").action(look)).unwrap();
    let engine = Engine::builder(Arc::new(registry)).store(store.clone()).build();
    let scenario = Scenario::builder("look", "Look")
        .node(NodeBuilder::trigger("t").next(["shape"]))
        .node(NodeBuilder::set("shape", json!({ "n": "{{ trigger.n }}" })).next(["look"]))
        .node(NodeBuilder::action("look", "svc.look"))
        .build();
    let plan = engine.deploy(scenario).await.unwrap();
    for record in [
        engine.execute(&plan, json!({ "n": 1 })).await.unwrap(),
        engine
            .start(&plan, json!({ "n": 2 }))
            .await
            .unwrap()
            .wait()
            .await
            .unwrap(),
    ] {
        assert_eq!(record.output, Some(json!({ "found": true })), "{record:?}");
        assert_eq!(
            store.get(record.id).await.unwrap().unwrap().status,
            ExecutionStatus::Completed
        );
    }
}

#[tokio::test]
async fn a_redacted_trigger_keeps_its_exact_payload() {
    let (engine, store) = engine(Registry::new());
    let plan = engine.deploy(aura_testkit::flows::webhook_score()).await.unwrap();
    let trigger = json!({ "value": 42, "password": "hunter2-hunter2" });
    let record = engine.execute(&plan, trigger.clone()).await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Completed);
    assert!(record.trigger_cleaned, "the password is redacted in the record");
    let kept = store.get(record.id).await.unwrap().unwrap();
    assert!(!kept.trigger.to_string().contains("hunter2"), "{}", kept.trigger);
    let exact = store.exact(record.id, &PayloadKey::Trigger).await.unwrap();
    assert_eq!(
        exact.as_deref(),
        Some(&trigger),
        "the exact trigger is kept for a re-run"
    );
}
