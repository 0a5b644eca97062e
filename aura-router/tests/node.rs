//! The scenario node `router`: deserialized from a scenario's JSON, finds the router in its
//! context, makes the routed call.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use aura_core::node::{Node, Route};
use aura_core::{Context, ErrorKind};
use aura_router::{ManualClock, Router, RouterHandle, RouterNode};
use common::{chat, who};
use serde_json::json;

fn handle(clock: &ManualClock) -> (RouterHandle, aura_router::testing::ScriptedProvider) {
    let openai = chat("openai", clock);
    let router = Router::builder()
        .clock(clock.clone())
        .provider(openai.provider("chat", "complete").tag("region", "us").build().unwrap())
        .provider(
            chat("mistral", clock)
                .provider("chat", "complete")
                .tag("region", "eu")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    (RouterHandle(Arc::new(router)), openai)
}

#[tokio::test]
async fn a_router_node_calls_the_route_through_the_hosts_router() {
    let clock = ManualClock::new();
    let (handle, openai) = handle(&clock);
    let node: Box<dyn Node> = serde_json::from_value(json!({
        "kind": "router",
        "config": { "route": "chat.complete", "tags": { "region": "us" } }
    }))
    .unwrap();
    assert_eq!(node.info().reference.as_deref(), Some("router:chat.complete"));

    let cx = Context::builder()
        .extension(handle.clone())
        .idempotency_key("exec-1/summarise")
        .build();
    let out = node.run(&cx, json!({ "prompt": "hi" })).await.unwrap();
    assert_eq!(out.route, Route::Next);
    assert_eq!(who(&out.value), "openai");
    assert_eq!(openai.calls()[0].input, json!({ "prompt": "hi" }));
    assert_eq!(openai.calls()[0].idempotency_key.as_deref(), Some("exec-1/summarise"));

    // The other spelling, with constraints.
    let node: Box<dyn Node> = serde_json::from_value(json!({
        "kind": "router",
        "config": { "capability": "chat", "operation": "complete", "prefer": ["mistral"], "parallel": 2 }
    }))
    .unwrap();
    let out = node.run(&cx, json!({})).await.unwrap();
    assert_eq!(who(&out.value), "mistral");

    // And back to the same JSON.
    let back = serde_json::to_value(RouterNode::new("chat", "complete")).unwrap();
    assert_eq!(back, json!({ "capability": "chat", "operation": "complete" }));
}

#[tokio::test]
async fn a_router_node_without_a_router_or_a_route_says_so() {
    let node: Box<dyn Node> =
        serde_json::from_value(json!({ "kind": "router", "config": { "route": "chat.complete" } })).unwrap();
    let err = node.run(&Context::new(), json!({})).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidDefinition);
    assert!(err.to_string().contains("RouterHandle"), "{err}");

    let bad = RouterNode {
        route: Some("no-dot".into()),
        ..RouterNode::default()
    };
    assert_eq!(bad.target().unwrap_err().kind(), ErrorKind::InvalidDefinition);
    let both = RouterNode {
        route: Some("chat.complete".into()),
        capability: Some("chat".into()),
        ..RouterNode::default()
    };
    assert!(both.target().is_err());
    assert!(serde_json::from_value::<Box<dyn Node>>(json!({ "kind": "router", "config": { "rout": "x.y" } })).is_err());

    // A route no provider serves: the routed call's error, naming the route.
    let clock = ManualClock::new();
    let (handle, _) = handle(&clock);
    let cx = Context::builder().extension(handle).build();
    let node = RouterNode::new("video", "upload");
    let err = node.run(&cx, json!({})).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.context_value("route"), Some("video.upload"));
}

#[tokio::test]
async fn a_scenario_calls_routed_providers_through_the_engine() {
    use aura_core::engine::Engine;
    use aura_core::scenario::Scenario;
    use aura_core::store::ExecutionStatus;

    let clock = ManualClock::new();
    let (handle, openai) = handle(&clock);
    let engine = Engine::builder(Arc::new(aura_core::Registry::new()))
        .extension(handle)
        .build();
    let scenario = Scenario::from_json(
        r#"{ "id": "summarise", "name": "Summarise", "nodes": [
            { "id": "start", "kind": "trigger", "next": ["complete"] },
            { "id": "complete", "kind": "router",
              "config": { "route": "chat.complete", "tags": { "region": "us" } },
              "input": { "prompt": "Summarise: {{ trigger.text }}" } }
        ] }"#,
    )
    .unwrap();
    let plan = engine.deploy(scenario).await.unwrap();
    let record = engine.execute(&plan, json!({ "text": "a long report" })).await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Completed, "{:?}", record.error);
    assert_eq!(who(record.output.as_ref().unwrap()), "openai");
    assert_eq!(openai.calls()[0].input, json!({ "prompt": "Summarise: a long report" }));
    // The idempotency key is the engine's: execution id / node id.
    let key = openai.calls()[0].idempotency_key.clone().unwrap();
    assert_eq!(key, format!("{}/complete", record.id));
}

#[tokio::test]
async fn the_engine_does_not_retry_a_routed_call_whose_failover_is_spent() {
    use aura_core::engine::Engine;
    use aura_core::scenario::Scenario;
    use aura_core::store::ExecutionStatus;

    let clock = ManualClock::new();
    let a = chat("a", &clock);
    let b = chat("b", &clock);
    a.fail_from_now(ErrorKind::Unavailable);
    b.fail_from_now(ErrorKind::Unavailable);
    let router = Router::builder()
        .clock(clock.clone())
        .health(aura_router::HealthPolicy::never_eject())
        .failover(aura_router::FailoverPolicy::default().max_attempts(2))
        .provider(a.provider("chat", "complete").build().unwrap())
        .provider(b.provider("chat", "complete").build().unwrap())
        .build()
        .unwrap();
    let engine = Engine::builder(Arc::new(aura_core::Registry::new()))
        .extension(RouterHandle(Arc::new(router)))
        .build();
    let scenario = Scenario::from_json(
        r#"{ "id": "s", "name": "S", "nodes": [
            { "id": "start", "kind": "trigger", "next": ["complete"] },
            { "id": "complete", "kind": "router", "config": { "route": "chat.complete" },
              "retry": { "retries": 3, "base_delay_ms": 1, "max_delay_ms": 1 } }
        ] }"#,
    )
    .unwrap();
    let plan = engine.deploy(scenario).await.unwrap();
    let record = engine.execute(&plan, json!({})).await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Failed);
    // The router's two attempts, once: not four rounds of them.
    assert_eq!(a.call_count() + b.call_count(), 2);
}
