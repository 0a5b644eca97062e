//! An execution's events through its handle: kept from the start for the first `events()` call,
//! even when the execution ended inside `start`.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use aura_core::Registry;
use aura_core::engine::{Engine, EventKind};
use aura_core::scenario::{NodeBuilder, Scenario};
use aura_core::store::ExecutionStatus;
use serde_json::json;

fn quick() -> Scenario {
    Scenario::builder("quick", "Quick")
        .node(NodeBuilder::trigger("t").next(["a"]))
        .node(NodeBuilder::set("a", json!({ "x": 1 })).next(["b"]))
        .node(NodeBuilder::set("b", json!({ "y": "{{ steps.a.output.x }}" })))
        .build()
}

async fn drain(events: &mut aura_core::engine::Events) -> Vec<EventKind> {
    let mut kinds = Vec::new();
    while let Some(e) = events.next().await {
        kinds.push(e.kind);
    }
    kinds
}

#[tokio::test]
async fn the_first_call_gets_every_event_and_a_later_one_the_end() {
    let engine = Engine::builder(Arc::new(Registry::new())).build();
    let plan = engine.deploy(quick()).await.unwrap();
    let mut handle = engine.start(&plan, json!({})).await.unwrap();
    let first = drain(&mut handle.events()).await;
    // Started, then started + completed for each of the three nodes, then Finished.
    assert_eq!(first.len(), 8, "{first:?}");
    assert_eq!(first[0], EventKind::Started);
    // Each node's start and end, in order, with its id and its duration.
    let nodes: Vec<String> = first[1..7]
        .iter()
        .map(|k| match k {
            EventKind::NodeStarted { node, item: None } => format!("start {node}"),
            EventKind::NodeCompleted { node, item: None, .. } => format!("done {node}"),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(nodes, ["start t", "done t", "start a", "done a", "start b", "done b"]);
    let end = EventKind::Finished {
        status: ExecutionStatus::Completed,
    };
    assert_eq!(first.last(), Some(&end));
    let later = drain(&mut handle.events()).await;
    assert_eq!(later, vec![end]);
    assert_eq!(handle.wait().await.unwrap().status, ExecutionStatus::Completed);
}

#[tokio::test]
async fn engine_wide_subscribers_see_executions_without_handles() {
    let engine = Engine::builder(Arc::new(Registry::new())).build();
    let plan = engine.deploy(quick()).await.unwrap();
    let mut all = engine.subscribe();
    let record = engine.execute(&plan, json!({})).await.unwrap();
    let mut seen = 0;
    while let Ok(e) = all.try_recv() {
        assert_eq!(e.execution_id, record.id);
        seen += 1;
    }
    assert_eq!(seen, 8);
}
