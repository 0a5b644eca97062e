//! Conditions of `if`, `filter` and `switch` are checked at compile time exactly like input
//! mappings: known variables, `steps.<id>` only of nodes that run before.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::Arc;

use aura_core::engine::Engine;
use aura_core::scenario::{NodeBuilder, Scenario};
use aura_core::store::ExecutionStatus;
use aura_core::{Error, ErrorKind, Registry};
use serde_json::json;

fn engine() -> Engine {
    Engine::builder(Arc::new(Registry::new())).build()
}

async fn refused(s: Scenario) -> Error {
    let err = engine().deploy(s).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidDefinition, "{err:#?}");
    err
}

fn one(err: &Error) -> (&str, &str) {
    assert_eq!(err.violations().len(), 1, "{:#?}", err.violations());
    let v = &err.violations()[0];
    (v.path.as_str(), v.message.as_str())
}

#[tokio::test]
async fn a_typo_in_an_if_condition_is_a_compile_error() {
    let err = refused(
        Scenario::builder("s", "S")
            .node(NodeBuilder::trigger("t").next(["check"]))
            .node(NodeBuilder::if_("check", "trigegr.score >= 50").route("true", ["end"]))
            .node(NodeBuilder::set("end", json!(1)))
            .build(),
    )
    .await;
    let (path, message) = one(&err);
    assert_eq!(path, "/nodes/check/config/condition");
    assert!(message.contains("unknown variable \"trigegr\""), "{message}");
    assert_eq!(err.context_value("scenario"), Some("s"));
}

#[tokio::test]
async fn a_filter_reading_a_later_node_is_a_compile_error() {
    let err = refused(
        Scenario::builder("s", "S")
            .node(NodeBuilder::trigger("t").next(["keep"]))
            .node(NodeBuilder::filter("keep", "steps.later.output.ok").next(["later"]))
            .node(NodeBuilder::set("later", json!({ "ok": true })))
            .build(),
    )
    .await;
    let (path, message) = one(&err);
    assert_eq!(path, "/nodes/keep/config/condition");
    assert!(
        message.contains("reads steps.later, which does not run before this node"),
        "{message}"
    );
}

#[tokio::test]
async fn a_switch_case_reading_no_node_names_the_case() {
    let err = refused(
        Scenario::builder("s", "S")
            .node(NodeBuilder::trigger("t").next(["pick"]))
            .node(
                NodeBuilder::switch("pick", [("big", "trigger.n > 10"), ("odd", "steps.nope.output % 2")])
                    .route("big", ["end"])
                    .route("default", ["end"]),
            )
            .node(NodeBuilder::set("end", json!(1)))
            .build(),
    )
    .await;
    let (path, message) = one(&err);
    assert_eq!(path, "/nodes/pick/config/cases/1/when");
    assert!(message.contains("reads steps.nope, which is not a node"), "{message}");
}

#[tokio::test]
async fn a_condition_and_a_mapping_get_the_same_error_for_the_same_mistake() {
    let condition = refused(
        Scenario::builder("s", "S")
            .node(NodeBuilder::trigger("t").next(["check"]))
            .node(NodeBuilder::if_("check", "steps.ghost.output").route("true", ["end"]))
            .node(NodeBuilder::set("end", json!(1)))
            .build(),
    )
    .await;
    let mapping = refused(
        Scenario::builder("s", "S")
            .node(NodeBuilder::trigger("t").next(["check"]))
            .node(NodeBuilder::set("check", json!({ "v": "{{ steps.ghost.output }}" })))
            .build(),
    )
    .await;
    assert_eq!(one(&condition).1, one(&mapping).1);
    assert_eq!(one(&mapping).0, "/nodes/check/input/v");
}

#[tokio::test]
async fn item_outside_an_iterate_body_is_refused_in_a_condition() {
    let err = refused(
        Scenario::builder("s", "S")
            .node(NodeBuilder::trigger("t").next(["keep"]))
            .node(NodeBuilder::filter("keep", "item.ok"))
            .build(),
    )
    .await;
    let (path, message) = one(&err);
    assert_eq!(path, "/nodes/keep/config/condition");
    assert!(message.contains("only inside an iterate body"), "{message}");
}

#[tokio::test]
async fn a_mapping_cannot_read_input_which_only_conditions_have() {
    let err = refused(
        Scenario::builder("s", "S")
            .node(NodeBuilder::trigger("t").next(["a"]))
            .node(NodeBuilder::set("a", json!({ "v": "{{ input.x }}" })))
            .build(),
    )
    .await;
    let (path, message) = one(&err);
    assert_eq!(path, "/nodes/a/input/v");
    assert!(message.contains("only in conditions"), "{message}");
}

#[tokio::test]
async fn valid_conditions_compile_and_run() {
    let engine = engine();
    let s = Scenario::builder("s", "S")
        .node(NodeBuilder::trigger("t").next(["score"]))
        .node(NodeBuilder::set("score", json!({ "value": "{{ trigger.n * 10 }}" })).next(["check"]))
        .node(
            NodeBuilder::if_(
                "check",
                "steps.score.output.value >= 50 and input.value == steps.score.output.value",
            )
            .route("true", ["each"]),
        )
        .node(NodeBuilder::set("each", json!("{{ trigger.items }}")).next(["loop"]))
        .node(NodeBuilder::iterate("loop", 1).next(["odd"]))
        .node(NodeBuilder::filter("odd", "item % 2 == 1 and index >= 0").next(["collect"]))
        .node(NodeBuilder::aggregate("collect", "loop").input(json!("{{ item }}")))
        .build();
    let plan = engine.deploy(s).await.unwrap();
    let r = engine
        .execute(&plan, json!({ "n": 7, "items": [1, 2, 3] }))
        .await
        .unwrap();
    assert_eq!(r.status, ExecutionStatus::Completed, "{r:#?}");
    assert_eq!(r.node("check").unwrap().route.as_deref(), Some("true"));
    assert_eq!(r.node_runs("odd").count(), 3);
}

#[tokio::test]
async fn global_functions_in_conditions_and_mappings_are_not_unknown_variables() {
    let engine = engine();
    let s = Scenario::builder("s", "S")
        .node(NodeBuilder::trigger("t").next(["check"]))
        .node(NodeBuilder::if_("check", "range(3) | length == trigger.n").route("true", ["end"]))
        .node(NodeBuilder::set("end", json!({ "v": "{{ range(trigger.n) | list }}" })))
        .build();
    let plan = engine.deploy(s).await.unwrap();
    let r = engine.execute(&plan, json!({ "n": 3 })).await.unwrap();
    assert_eq!(r.status, ExecutionStatus::Completed, "{r:#?}");
    assert_eq!(r.output, Some(json!({ "v": [0, 1, 2] })));
}
