//! The checkpoints of pure nodes (which call nothing) are not waited for one by one: they go to
//! the store with the next checkpoint that is — before a node that is not idempotent is
//! called, after one that calls something ends, at a park, and with the end. What a node that calls something sees in the store, and what the store holds at
//! the end, are unchanged.

#![cfg(feature = "store-sqlite")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use aura_core::Registry;
use aura_core::engine::Engine;
use aura_core::scenario::Scenario;
use aura_core::store::{ExecutionStore, NodeStatus, SqliteStore};
use aura_testkit::{MockAction, MockApp};
use serde_json::{Value, json};

const FLOW: &str = r#"
id: deferred
name: Deferred checkpoints
nodes:
  - { id: hook, kind: trigger, next: [shape] }
  - { id: shape, kind: set, input: { email: "{{ trigger.email }}" }, next: [check] }
  - { id: check, kind: if, config: { condition: "trigger.email != ''" }, routes: { "true": [create] } }
  - { id: create, kind: action, config: { action: crm.create }, input: { email: "{{ steps.shape.output.email }}" }, next: [done] }
  - { id: done, kind: set, input: { id: "{{ steps.create.output.id }}" } }
"#;

#[tokio::test]
async fn a_node_that_calls_something_runs_after_the_results_before_it_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("aura.db")).await.unwrap());
    let seen = store.clone();
    // The action (not idempotent: it may not run twice) looks in the store when it is
    // called: its predecessors must be there.
    let create = MockAction::new("create")
        .idempotent(false)
        .respond_async(move |cx, _input, _n| {
            let store = seen.clone();
            async move {
                let id = cx.execution_id().unwrap().parse().unwrap();
                let record = store.get(id).await?.unwrap();
                let stored: Vec<Value> = record
                    .nodes
                    .iter()
                    .filter(|n| n.status == NodeStatus::Completed)
                    .map(|n| json!(n.node_id.to_string()))
                    .collect();
                Ok(json!({ "id": "c-1", "stored_before": stored }))
            }
        });
    let registry = Registry::new();
    registry.register(MockApp::new("crm").action(create)).unwrap();
    let engine = Engine::builder(Arc::new(registry)).store(store.clone()).build();
    let plan = engine.deploy(Scenario::from_yaml(FLOW).unwrap()).await.unwrap();
    let record = engine.execute(&plan, json!({ "email": "a@x.test" })).await.unwrap();
    assert_eq!(record.output, Some(json!({ "id": "c-1" })), "{record:?}");

    let create = record.nodes.iter().find(|n| &*n.node_id == "create").unwrap();
    let mut before: Vec<String> = create.output.as_ref().unwrap()["stored_before"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    before.sort();
    assert_eq!(before, ["check", "hook", "shape"]);

    // At the end the store holds every node's result, the last pure one included.
    let stored = store.get(record.id).await.unwrap().unwrap();
    let mut nodes: Vec<(String, NodeStatus)> = stored.nodes.iter().map(|n| (n.node_id.to_string(), n.status)).collect();
    nodes.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        nodes,
        [
            ("check".to_owned(), NodeStatus::Completed),
            ("create".to_owned(), NodeStatus::Completed),
            ("done".to_owned(), NodeStatus::Completed),
            ("hook".to_owned(), NodeStatus::Completed),
            ("shape".to_owned(), NodeStatus::Completed),
        ]
    );
    assert_eq!(stored.output, Some(json!({ "id": "c-1" })));
}
