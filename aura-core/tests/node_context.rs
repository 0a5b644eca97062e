//! Each node gets a context of its own: the engine reuses a context only once the node before
//! has let go of it, so a context a node keeps (for a task it leaves running) stays its own.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::{Arc, Mutex};

use aura_core::engine::Engine;
use aura_core::node::{Node, NodeOutput};
use aura_core::scenario::{NodeBuilder, Scenario};
use aura_core::store::ExecutionStatus;
use aura_core::{Context, Registry, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The contexts the nodes below kept, with the node ids they saw while they ran.
static KEPT: Mutex<Vec<(String, Context)>> = Mutex::new(Vec::new());

/// Keeps a clone of its context, and says which node it ran as.
#[derive(Debug, Serialize, Deserialize)]
struct Keeper;

#[typetag::serde(name = "test_context_keeper")]
#[async_trait::async_trait]
impl Node for Keeper {
    async fn run(&self, cx: &Context, input: Value) -> Result<NodeOutput> {
        let id = cx.node_id().unwrap_or_default().to_owned();
        KEPT.lock().unwrap().push((id.clone(), cx.clone()));
        Ok(NodeOutput::next(
            json!({ "ran_as": id, "key": cx.idempotency_key(), "in": input }),
        ))
    }
}

/// Says which node it ran as, keeping nothing.
#[derive(Debug, Serialize, Deserialize)]
struct Teller;

#[typetag::serde(name = "test_context_teller")]
#[async_trait::async_trait]
impl Node for Teller {
    async fn run(&self, cx: &Context, _input: Value) -> Result<NodeOutput> {
        Ok(NodeOutput::next(
            json!({ "ran_as": cx.node_id(), "key": cx.idempotency_key() }),
        ))
    }
}

#[tokio::test]
async fn every_node_sees_its_own_context_and_a_kept_one_is_left_as_it_was() {
    let engine = Engine::builder(Arc::new(Registry::new())).build();
    let plan = engine
        .deploy(
            Scenario::builder("contexts", "Contexts")
                .node(NodeBuilder::trigger("t").next(["a"]))
                .node(NodeBuilder::new("a", Teller).next(["b"]))
                .node(NodeBuilder::new("b", Keeper).next(["c"]))
                .node(NodeBuilder::new("c", Teller).next(["d"]))
                .node(NodeBuilder::new("d", Teller))
                .build(),
        )
        .await
        .unwrap();
    let record = engine.execute(&plan, json!({})).await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Completed);
    let id = record.id;
    for node in ["a", "b", "c", "d"] {
        let result = record.nodes.iter().find(|n| &*n.node_id == node).unwrap();
        let output = result.output.as_deref().unwrap();
        assert_eq!(output["ran_as"], json!(node));
        assert_eq!(output["key"], json!(format!("{id}/{node}")));
    }
    // The context `b` kept is still `b`'s, though `c` and `d` ran after it.
    let kept = KEPT.lock().unwrap();
    let (ran_as, cx) = kept
        .iter()
        .find(|(_, cx)| cx.idempotency_key().is_some_and(|k| k.starts_with(&id.to_string())))
        .unwrap();
    assert_eq!(ran_as, "b");
    assert_eq!(cx.node_id(), Some("b"));
    assert_eq!(cx.idempotency_key(), Some(format!("{id}/b").as_str()));
}
