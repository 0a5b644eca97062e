//! Guards against runaway executions: error scenarios do not trigger error scenarios for their
//! own failure, and sub-scenarios nest only so deep.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::Arc;
use std::time::Duration;

use aura_core::engine::{Engine, EventKind};
use aura_core::scenario::{NodeBuilder, Scenario};
use aura_core::store::{ExecutionStatus, PageRequest};
use aura_core::{ErrorKind, Registry};
use aura_testkit::{MockAction, MockApp};
use serde_json::json;

fn engine() -> Engine {
    let registry = Arc::new(Registry::new());
    registry
        .register(MockApp::new("svc").action(MockAction::new("fail").fail_times(100, ErrorKind::Forbidden)))
        .unwrap();
    Engine::builder(registry).max_sub_scenario_depth(3).build()
}

fn failing(id: &str, error_scenario: Option<&str>) -> Scenario {
    let mut b = Scenario::builder(id, id);
    if let Some(e) = error_scenario {
        b = b.error_scenario(e);
    }
    b.node(NodeBuilder::trigger("t").next(["fail"]))
        .node(NodeBuilder::action("fail", "svc.fail"))
        .build()
}

#[tokio::test]
async fn a_scenario_that_is_its_own_error_scenario_runs_it_once() {
    let engine = engine();
    // Deployed once plainly, so that its id is known when it names itself.
    engine.deploy(failing("selfish", None)).await.unwrap();
    let plan = engine.deploy(failing("selfish", Some("selfish"))).await.unwrap();
    let mut events = engine.subscribe();
    let first = engine.execute(&plan, json!({})).await.unwrap();
    assert_eq!(first.status, ExecutionStatus::Failed);
    // Wait for the error scenario's run to finish…
    let mut finished = 0;
    while finished < 2 {
        let event = tokio::time::timeout(Duration::from_secs(20), events.recv())
            .await
            .expect("the error scenario never ran")
            .unwrap();
        if matches!(event.kind, EventKind::Finished { .. }) {
            finished += 1;
        }
    }
    // …and give a runaway a moment to show itself.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let runs = engine
        .store()
        .list("selfish", PageRequest::first(100))
        .await
        .unwrap()
        .items;
    assert_eq!(runs.len(), 2, "the failure and one error-scenario run, no more");
}

#[tokio::test]
async fn sub_scenarios_nest_only_as_deep_as_the_engine_allows() {
    let engine = engine();
    // c4 <- c3 <- c2 <- c1 <- c0: c0 runs at depth 0, so c4 would run at depth 4 > 3.
    engine
        .deploy(
            Scenario::builder("c4", "c4")
                .node(NodeBuilder::trigger("t").next(["done"]))
                .node(NodeBuilder::set("done", json!({ "ok": true })))
                .build(),
        )
        .await
        .unwrap();
    for i in (0..4).rev() {
        let next = format!("c{}", i + 1);
        engine
            .deploy(
                Scenario::builder(format!("c{i}"), format!("c{i}"))
                    .node(NodeBuilder::trigger("t").next(["call"]))
                    .node(NodeBuilder::sub_scenario("call", next))
                    .build(),
            )
            .await
            .unwrap();
    }
    let plan = engine.plan("c0").unwrap();
    let record = engine.execute(&plan, json!({})).await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Failed);
    let err = record.result().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidDefinition);
    assert!(err.message().contains("deeper"), "{err}");
    assert_eq!(err.context_value("scenario"), Some("c3"));
    assert_eq!(err.context_value("sub_scenario"), Some("c4"));
    assert!(
        engine
            .store()
            .list("c4", PageRequest::first(10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    // One level less deep runs.
    let record = engine.execute(&engine.plan("c1").unwrap(), json!({})).await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Completed, "{:?}", record.error);
}
