//! The graph rules of the compiler: duplicate edges are one edge; a scenario without a trigger
//! says exactly that.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::Arc;

use aura_core::engine::Engine;
use aura_core::scenario::{NodeBuilder, OnError, Scenario};
use aura_core::store::{ExecutionStatus, NodeStatus};
use aura_core::{ErrorKind, Registry};
use aura_testkit::{MockAction, MockApp};
use serde_json::json;

fn engine_with(action: &MockAction) -> Engine {
    let registry = Registry::new();
    registry.register(MockApp::new("svc").action(action.clone())).unwrap();
    Engine::builder(Arc::new(registry)).build()
}

fn plain_engine() -> Engine {
    Engine::builder(Arc::new(Registry::new())).build()
}

fn paths(err: &aura_core::Error) -> Vec<String> {
    err.violations().iter().map(|v| format!("{v}")).collect()
}

#[tokio::test]
async fn a_target_named_twice_in_next_is_one_edge() {
    let engine = plain_engine();
    let s = Scenario::builder("dup", "Dup")
        .node(NodeBuilder::trigger("t").next(["b", "b"]))
        .node(NodeBuilder::set("b", json!({ "x": "{{ trigger.x }}" })))
        .build();
    let plan = engine.deploy(s).await.unwrap();
    assert_eq!(plan.describe()["nodes"][0]["next"], json!(["b"]));
    let r = engine.execute(&plan, json!({ "x": 1 })).await.unwrap();
    assert_eq!(r.status, ExecutionStatus::Completed, "{r:#?}");
    assert_eq!(r.node_runs("b").count(), 1);
    assert_eq!(r.output, Some(json!({ "x": 1 })));
}

#[tokio::test]
async fn a_node_both_in_next_and_in_the_error_route_runs_once_either_way() {
    let flaky = MockAction::new("call")
        .then_fail(ErrorKind::Forbidden)
        .then_return(json!({ "ok": true }));
    let engine = engine_with(&flaky);
    let s = Scenario::builder("both", "Both")
        .node(NodeBuilder::trigger("t").next(["a"]))
        .node(
            NodeBuilder::action("a", "svc.call")
                .next(["b"])
                .on_error(OnError::Route(vec!["b".into(), "b".into()])),
        )
        .node(NodeBuilder::set("b", json!({ "seen": "{{ steps.a.output }}" })))
        .build();
    let plan = engine.deploy(s).await.unwrap();

    let failed = engine.execute(&plan, json!({})).await.unwrap();
    assert_eq!(failed.status, ExecutionStatus::Completed, "{failed:#?}");
    assert_eq!(failed.node("a").unwrap().status, NodeStatus::Failed);
    assert_eq!(failed.node_runs("b").count(), 1);
    assert_eq!(failed.node("b").unwrap().status, NodeStatus::Completed);

    let ok = engine.execute(&plan, json!({})).await.unwrap();
    assert_eq!(ok.status, ExecutionStatus::Completed, "{ok:#?}");
    assert_eq!(ok.node_runs("b").count(), 1);
    assert_eq!(ok.output, Some(json!({ "seen": { "ok": true } })));
}

#[tokio::test]
async fn two_routes_to_the_same_node_are_one_edge() {
    let engine = plain_engine();
    let s = Scenario::builder("routes", "Routes")
        .node(NodeBuilder::trigger("t").next(["check"]))
        .node(
            NodeBuilder::if_("check", "trigger.n > 1")
                .route("true", ["end", "end"])
                .route("false", ["end"]),
        )
        .node(NodeBuilder::set("end", json!("{{ trigger.n }}")))
        .build();
    let plan = engine.deploy(s).await.unwrap();
    for n in [0, 5] {
        let r = engine.execute(&plan, json!({ "n": n })).await.unwrap();
        assert_eq!(r.status, ExecutionStatus::Completed, "{r:#?}");
        assert_eq!(r.output, Some(json!(n)));
    }
}

#[tokio::test]
async fn a_duplicate_edge_inside_a_cycle_is_reported_not_a_panic() {
    let engine = plain_engine();
    let s = Scenario::builder("loop", "Loop")
        .node(NodeBuilder::trigger("t").next(["a"]))
        .node(NodeBuilder::set("a", json!(1)).next(["b", "b"]))
        .node(NodeBuilder::set("b", json!(2)).next(["a", "a"]))
        .build();
    let err = engine.deploy(s).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidDefinition);
    assert!(
        paths(&err)
            .iter()
            .any(|p| p.contains("/nodes/a") && p.contains("cycle")),
        "{err:#?}"
    );
}

#[tokio::test]
async fn a_scenario_without_a_trigger_says_so_once() {
    let engine = plain_engine();
    let s = Scenario::builder("headless", "Headless")
        .node(NodeBuilder::set("a", json!(1)).next(["b"]))
        .node(NodeBuilder::set("b", json!("{{ steps.a.output }}")))
        .build();
    let err = engine.deploy(s).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidDefinition);
    assert_eq!(err.violations().len(), 1, "{:#?}", err.violations());
    assert_eq!(err.violations()[0].path, "/nodes");
    assert!(err.violations()[0].message.contains("no trigger node"), "{err:#?}");
    assert_eq!(err.context_value("scenario"), Some("headless"));

    let empty = Scenario::builder("empty", "Empty").build();
    let err = engine.deploy(empty).await.unwrap_err();
    assert_eq!(err.violations().len(), 1, "{:#?}", err.violations());
    assert!(err.violations()[0].message.contains("no trigger node"));
}

#[tokio::test]
async fn a_second_trigger_is_named_and_its_nodes_are_not_called_unreachable() {
    let engine = plain_engine();
    let s = Scenario::builder("two", "Two")
        .node(NodeBuilder::trigger("t1").next(["a"]))
        .node(NodeBuilder::trigger("t2").next(["b"]))
        .node(NodeBuilder::set("a", json!(1)))
        .node(NodeBuilder::set("b", json!(2)))
        .build();
    let err = engine.deploy(s).await.unwrap_err();
    assert_eq!(
        paths(&err),
        vec!["/nodes/t2/kind: a scenario has exactly one trigger node".to_owned()]
    );
}
