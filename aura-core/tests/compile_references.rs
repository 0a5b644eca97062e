//! Scenarios named by `sub_scenario` nodes and `error_scenario` are checked at deploy; a cycle
//! of sub-scenario calls is refused at deploy; late binding is the host's explicit choice.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::Arc;

use aura_core::compile::{CompileOptions, compile, compile_with};
use aura_core::connection::Connections;
use aura_core::engine::Engine;
use aura_core::scenario::{NodeBuilder, Scenario};
use aura_core::store::ExecutionStatus;
use aura_core::{ErrorKind, Registry};
use serde_json::json;

fn engine() -> Engine {
    Engine::builder(Arc::new(Registry::new())).build()
}

fn leaf(id: &str) -> Scenario {
    Scenario::builder(id, id)
        .node(NodeBuilder::trigger("t").next(["out"]))
        .node(NodeBuilder::set("out", json!({ "from": id })))
        .build()
}

fn caller(id: &str, callee: &str) -> Scenario {
    Scenario::builder(id, id)
        .node(NodeBuilder::trigger("t").next(["call"]))
        .node(NodeBuilder::sub_scenario("call", callee))
        .build()
}

#[tokio::test]
async fn a_sub_scenario_that_is_not_deployed_is_a_compile_error() {
    let err = engine().deploy(caller("parent", "chlid")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidDefinition);
    assert_eq!(err.context_value("scenario"), Some("parent"));
    assert_eq!(err.violations().len(), 1, "{:#?}", err.violations());
    assert_eq!(err.violations()[0].path, "/nodes/call/config/scenario");
    assert!(err.violations()[0].message.contains("\"chlid\""), "{err:#?}");
}

#[tokio::test]
async fn an_error_scenario_that_is_not_deployed_is_a_compile_error() {
    let s = Scenario::builder("main", "Main")
        .error_scenario("alerst")
        .node(NodeBuilder::trigger("t"))
        .build();
    let err = engine().deploy(s).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidDefinition);
    assert_eq!(err.violations().len(), 1, "{:#?}", err.violations());
    assert_eq!(err.violations()[0].path, "/settings/error_policy/error_scenario");
    assert!(err.violations()[0].message.contains("\"alerst\""), "{err:#?}");
}

#[tokio::test]
async fn deployed_references_and_the_scenario_itself_are_accepted() {
    let engine = engine();
    engine.deploy(leaf("child")).await.unwrap();
    engine.deploy(leaf("alerts")).await.unwrap();
    let parent = Scenario::builder("parent", "Parent")
        .error_scenario("alerts")
        .node(NodeBuilder::trigger("t").next(["call"]))
        .node(NodeBuilder::sub_scenario("call", "child"))
        .build();
    let plan = engine.deploy(parent).await.unwrap();
    assert_eq!(plan.sub_scenarios().collect::<Vec<_>>(), vec!["child"]);
    let r = engine.execute(&plan, json!({})).await.unwrap();
    assert_eq!(r.status, ExecutionStatus::Completed, "{r:#?}");
    assert_eq!(r.output, Some(json!({ "from": "child" })));

    // Its own error scenario: known, since it is the scenario being deployed.
    let selfish = Scenario::builder("selfish", "Selfish")
        .error_scenario("selfish")
        .node(NodeBuilder::trigger("t"))
        .build();
    engine.deploy(selfish).await.unwrap();
}

#[tokio::test]
async fn late_binding_lets_the_host_deploy_in_any_order() {
    let engine = Engine::builder(Arc::new(Registry::new())).late_binding(true).build();
    let plan = engine.deploy(caller("parent", "child")).await.unwrap();
    let r = engine.execute(&plan, json!({})).await.unwrap();
    assert_eq!(
        r.status,
        ExecutionStatus::Failed,
        "not deployed yet: fails when it runs"
    );
    engine.deploy(leaf("child")).await.unwrap();
    let r = engine.execute(&plan, json!({})).await.unwrap();
    assert_eq!(r.status, ExecutionStatus::Completed, "{r:#?}");
}

#[tokio::test]
async fn the_free_compile_knows_only_what_it_is_told() {
    let registry = Registry::new();
    let connections = Connections::new();
    let err = compile(caller("parent", "child"), &registry, &connections)
        .await
        .unwrap_err();
    assert_eq!(err.violations()[0].path, "/nodes/call/config/scenario");
    let known = CompileOptions::new().known_scenarios(["child"]);
    compile_with(caller("parent", "child"), &registry, &connections, &known)
        .await
        .unwrap();
    let late = CompileOptions::new().late_binding(true);
    compile_with(caller("parent", "other"), &registry, &connections, &late)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_scenario_calling_itself_is_refused_at_deploy() {
    let err = engine().deploy(caller("again", "again")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidDefinition);
    assert_eq!(err.context_value("cycle"), Some("again -> again"));
    assert_eq!(err.violations()[0].path, "/nodes/call/config/scenario");
}

#[tokio::test]
async fn a_cycle_through_deployed_scenarios_is_refused_and_listed() {
    let engine = engine();
    engine.deploy(leaf("c")).await.unwrap();
    engine.deploy(caller("b", "c")).await.unwrap();
    engine.deploy(caller("a", "b")).await.unwrap();
    // Redeploying c so that it calls a closes a -> b -> c -> a.
    let err = engine.deploy(caller("c", "a")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidDefinition);
    assert_eq!(err.context_value("scenario"), Some("c"));
    assert_eq!(err.context_value("cycle"), Some("c -> a -> b -> c"));
    assert!(err.to_string().contains("c -> a -> b -> c"), "{err}");
    // The refused version is not deployed: c still is the leaf.
    let plan = engine.plan("c").unwrap();
    assert_eq!(plan.sub_scenarios().count(), 0);
}

#[tokio::test]
async fn with_late_binding_a_cycle_is_deployed_for_the_runtime_guard() {
    let engine = Engine::builder(Arc::new(Registry::new())).late_binding(true).build();
    engine.deploy(caller("a", "b")).await.unwrap();
    engine.deploy(caller("b", "a")).await.unwrap();
    assert!(engine.plan("b").is_some());
}
