//! One serde model for JSON, YAML and the builder.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::Arc;

use aura_core::Registry;
use aura_core::engine::Engine;
use aura_core::scenario::{NodeBuilder, OnError, RetryPolicy, Scenario};
use aura_testkit::{MockAction, MockApp};
use serde_json::json;

const JSON: &str = r#"{
  "id": "lead",
  "name": "Lead",
  "settings": { "max_concurrent": 4, "error_policy": { "retries": 2 } },
  "nodes": [
    { "id": "form", "kind": "trigger", "next": ["create"] },
    { "id": "create", "kind": "action", "config": { "action": "crm.create" },
      "input": { "email": "{{ trigger.email }}" }, "next": ["hot"],
      "retry": { "retries": 5 }, "timeout_secs": 10 },
    { "id": "hot", "kind": "if", "config": { "condition": "trigger.score >= 50" },
      "routes": { "true": ["task"] } },
    { "id": "task", "kind": "action", "config": { "action": "crm.task" },
      "input": { "contact": "{{ steps.create.output.id }}" }, "on_error": "continue" }
  ]
}"#;

const YAML: &str = r#"
id: lead
name: Lead
settings:
  max_concurrent: 4
  error_policy: { retries: 2 }
nodes:
  - id: form
    kind: trigger
    next: [create]
  - id: create
    kind: action
    config: { action: crm.create }
    input: { email: "{{ trigger.email }}" }
    next: [hot]
    retry: { retries: 5 }
    timeout_secs: 10
  - id: hot
    kind: if
    config: { condition: "trigger.score >= 50" }
    routes: { "true": [task] }
  - id: task
    kind: action
    config: { action: crm.task }
    input: { contact: "{{ steps.create.output.id }}" }
    on_error: continue
"#;

fn built() -> Scenario {
    Scenario::builder("lead", "Lead")
        .max_concurrent(4)
        .retries(2)
        .node(NodeBuilder::trigger("form").next(["create"]))
        .node(
            NodeBuilder::action("create", "crm.create")
                .input(json!({ "email": "{{ trigger.email }}" }))
                .next(["hot"])
                .retry(RetryPolicy::new(5))
                .timeout(std::time::Duration::from_secs(10)),
        )
        .node(NodeBuilder::if_("hot", "trigger.score >= 50").route("true", ["task"]))
        .node(
            NodeBuilder::action("task", "crm.task")
                .input(json!({ "contact": "{{ steps.create.output.id }}" }))
                .on_error(OnError::Continue),
        )
        .build()
}

fn engine() -> Engine {
    let registry = Registry::new();
    registry
        .register(
            MockApp::new("crm")
                .action(MockAction::new("create").returns(json!({ "id": 9 })))
                .action(MockAction::new("task")),
        )
        .unwrap();
    Engine::builder(Arc::new(registry)).build()
}

#[tokio::test]
async fn json_yaml_and_builder_give_the_same_plan() {
    let from_json = Scenario::from_json(JSON).unwrap();
    let from_yaml = Scenario::from_yaml(YAML).unwrap();
    let from_builder = built();
    let as_json = |s: &Scenario| serde_json::to_value(s).unwrap();
    assert_eq!(as_json(&from_json), as_json(&from_builder));
    assert_eq!(as_json(&from_yaml), as_json(&from_builder));

    let engine = engine();
    let a = engine.compile(from_json).await.unwrap().describe();
    let b = engine.compile(from_yaml).await.unwrap().describe();
    let c = engine.compile(from_builder).await.unwrap().describe();
    assert_eq!(a, c);
    assert_eq!(b, c);
}

#[test]
fn a_scenario_survives_a_json_round_trip() {
    let json = built().to_json().unwrap();
    let back = Scenario::from_json(&json).unwrap();
    assert_eq!(
        serde_json::to_value(back).unwrap(),
        serde_json::to_value(built()).unwrap()
    );
}

#[test]
fn loading_errors_name_the_place() {
    let err =
        Scenario::from_json(r#"{ "id": "x", "name": "X", "nodes": [ { "id": "a", "kind": "nope" } ] }"#).unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
    assert!(err.to_string().contains("\"a\""), "{err}");

    let err = Scenario::from_json(
        r#"{ "id": "x", "name": "X", "nodes": [ { "id": "a", "kind": "if", "config": { "conditon": "1" } } ] }"#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("conditon"), "{err}");

    let err = Scenario::from_yaml("id: x\nname: X\nnodes: 5\n").unwrap_err();
    assert_eq!(err.kind(), aura_core::ErrorKind::InvalidDefinition);
    assert_eq!(err.context_value("field"), Some("/nodes"));
}

#[tokio::test]
async fn the_loaded_scenario_runs() {
    let engine = engine();
    let plan = engine.deploy(built()).await.unwrap();
    let rec = engine
        .execute(&plan, json!({ "email": "a@b.test", "score": 70 }))
        .await
        .unwrap();
    assert_eq!(rec.status, aura_core::store::ExecutionStatus::Completed, "{rec:#?}");
    assert_eq!(
        rec.node("task").unwrap().output.as_deref(),
        Some(&json!({ "contact": 9 })),
        "{rec:#?}"
    );
}
