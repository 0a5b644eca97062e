//! Re-runs reuse what completed, exactly: never the redacted or truncated copies records keep
//! for people, and inside an iterate body only the elements that did not complete run again.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use aura_core::engine::Engine;
use aura_core::scenario::{NodeBuilder, Scenario};
use aura_core::store::{ExecutionStatus, ExecutionStore, MemoryStore};
use aura_core::{Error, ErrorKind, Registry};
use aura_testkit::{Failure, HookedStore, MockAction, MockApp};
use serde_json::{Value, json};

fn scenario() -> Scenario {
    Scenario::builder("s", "S")
        .node(NodeBuilder::trigger("t").next(["first"]))
        .node(NodeBuilder::action("first", "svc.first").next(["second"]))
        .node(NodeBuilder::action("second", "svc.second").input(json!({
            "key": "{{ steps.first.output.api_key }}",
            "blob": "{{ steps.first.output.blob }}",
            "password": "{{ trigger.password }}",
            "big": "{{ trigger.big }}",
        })))
        .build()
}

fn engine(store: Arc<dyn ExecutionStore>, second: &MockAction) -> Engine {
    let first = MockAction::new("first").returns(json!({ "api_key": "k-123", "blob": "y".repeat(400) }));
    let registry = Arc::new(Registry::new());
    registry
        .register(MockApp::new("svc").action(first).action(second.clone()))
        .unwrap();
    Engine::builder(registry).store(store).payload_limit(200).build()
}

fn trigger() -> Value {
    json!({ "password": "hunter2", "big": "x".repeat(400) })
}

#[tokio::test]
async fn a_rerun_feeds_the_next_node_the_real_output_and_trigger() {
    let second = MockAction::new("second").fail_on_call(1, Failure::upstream(400));
    let engine = engine(Arc::new(MemoryStore::new()), &second);
    let plan = engine.deploy(scenario()).await.unwrap();
    let first = engine.execute(&plan, trigger()).await.unwrap();
    assert_eq!(first.status, ExecutionStatus::Failed);
    // The record is for people: the secret redacted, the big payloads truncated.
    assert_eq!(first.trigger["$truncated"], true);
    assert_eq!(
        first.node("first").unwrap().output.as_ref().unwrap()["$truncated"],
        true
    );

    let again = engine.rerun(first.id).await.unwrap().wait().await.unwrap();
    assert_eq!(again.status, ExecutionStatus::Completed, "{:?}", again.error);
    let input = &second.calls()[1].input;
    assert_eq!(input["key"], "k-123");
    assert_eq!(input["blob"], "y".repeat(400));
    assert_eq!(input["password"], "hunter2");
    assert_eq!(input["big"], "x".repeat(400));
    assert!(again.node("first").unwrap().pinned);
}

#[tokio::test]
async fn a_rerun_that_needs_data_the_store_did_not_keep_is_refused() {
    let second = MockAction::new("second").fail_on_call(1, Failure::upstream(400));
    let engine = engine(
        // A durable store that keeps records but not the exact payloads behind redacted ones.
        Arc::new(
            HookedStore::new(Arc::new(MemoryStore::new()), |_| Ok(()))
                .durable(true)
                .keeps_exact(false),
        ),
        &second,
    );
    let plan = engine.deploy(scenario()).await.unwrap();
    let first = engine.execute(&plan, trigger()).await.unwrap();
    assert_eq!(first.status, ExecutionStatus::Failed);
    let err: Error = engine.rerun(first.id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.message().contains("no exact copy"), "{err}");
    assert_eq!(err.context_value("execution"), Some(first.id.to_string().as_str()));
    assert_eq!(second.call_count(), 1, "nothing ran on redacted data");
}

#[tokio::test]
async fn a_rerun_after_a_failure_in_an_iterate_body_runs_only_the_failed_element() {
    let failed_once = Arc::new(AtomicBool::new(false));
    let work = {
        let failed_once = failed_once.clone();
        MockAction::new("work").respond_with(move |input, _| {
            if input["n"] == 2 && !failed_once.swap(true, Ordering::SeqCst) {
                return Err(Error::upstream(400, "no"));
            }
            Ok(json!({ "done": input["n"] }))
        })
    };
    let registry = Arc::new(Registry::new());
    registry.register(MockApp::new("svc").action(work.clone())).unwrap();
    let engine = Engine::builder(registry).build();
    let s = Scenario::builder("it", "It")
        .node(NodeBuilder::trigger("t").next(["each"]))
        .node(
            NodeBuilder::iterate("each", 1)
                .input(json!("{{ trigger.items }}"))
                .next(["work"]),
        )
        .node(
            NodeBuilder::action("work", "svc.work")
                .input(json!({ "n": "{{ item }}" }))
                .next(["all"]),
        )
        .node(NodeBuilder::aggregate("all", "each").input(json!("{{ steps.work.output.done }}")))
        .build();
    let plan = engine.deploy(s).await.unwrap();
    let first = engine.execute(&plan, json!({ "items": [1, 2, 3] })).await.unwrap();
    assert_eq!(first.status, ExecutionStatus::Failed);
    let calls_before: Vec<Value> = work.calls().iter().map(|c| c.input["n"].clone()).collect();
    assert_eq!(calls_before, [json!(1), json!(2)]);

    let again = engine.rerun(first.id).await.unwrap().wait().await.unwrap();
    assert_eq!(again.status, ExecutionStatus::Completed, "{:?}", again.error);
    let calls_after: Vec<Value> = work.calls().iter().skip(2).map(|c| c.input["n"].clone()).collect();
    assert_eq!(
        calls_after,
        [json!(2), json!(3)],
        "element 1 completed: it is not run again"
    );
    assert_eq!(again.output, Some(json!([1, 2, 3])));
}
