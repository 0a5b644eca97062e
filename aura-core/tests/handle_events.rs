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

/// An app whose `yield` action waits once (the execution goes on in a task) and whose `fail`
/// action fails for good.
struct Calls;

#[aura_core::async_trait]
impl aura_core::App for Calls {
    fn manifest(&self) -> aura_core::AppManifest {
        aura_core::AppManifest::new("calls", "Calls", aura_core::semver::Version::new(1, 0, 0))
    }

    fn actions(&self) -> Vec<aura_core::ActionDef> {
        vec![
            aura_core::ActionDef::from_json("yield", json!(true), json!(true), |_cx, v| async move {
                tokio::task::yield_now().await;
                Ok(v)
            }),
            aura_core::ActionDef::from_json("fail", json!(true), json!(true), |_cx, _v| async move {
                Err(aura_core::Error::invalid_input("no such customer", Vec::new()))
            }),
        ]
    }
}

/// Runs `scenario` once, started with `options`, and returns what its handle's first
/// `events()` call gave and what an engine-wide subscriber saw live, in order.
async fn handle_and_live(
    scenario: Scenario,
    trigger: serde_json::Value,
    options: aura_core::engine::ExecuteOptions,
) -> (Vec<EventKind>, Vec<EventKind>, bool) {
    let registry = Registry::new();
    registry.register(Calls).unwrap();
    let engine = Engine::builder(Arc::new(registry)).build();
    let plan = engine.deploy(scenario).await.unwrap();
    let mut live = engine.subscribe();
    let mut handle = engine.start_with(&plan, trigger, options).await.unwrap();
    let id = handle.id();
    let replayed = drain(&mut handle.events()).await;
    let record = handle.wait().await.unwrap();
    let mut seen = Vec::new();
    while let Ok(e) = live.try_recv() {
        if e.execution_id == id {
            seen.push(e.kind);
        }
    }
    (replayed, seen, record.status == ExecutionStatus::Completed)
}

/// An execution that ended inside `start` keeps no event log: its handle replays its events
/// from its record. One that went on in a task starts its log from its record at its first
/// wait. Either way the handle gives exactly what a subscriber saw live, in the same order:
/// branches taken and skipped, a node that failed and let the execution go on, an iterate
/// body and its aggregate, parallel branches joined, a pinned node (no events of its own).
#[tokio::test]
async fn a_handle_gives_the_events_a_live_subscriber_saw() {
    use aura_core::engine::ExecuteOptions;
    use aura_core::scenario::OnError;

    let branches = || {
        Scenario::builder("branches", "Branches")
            .node(NodeBuilder::trigger("t").next(["score"]))
            .node(NodeBuilder::set("score", json!({ "v": "{{ trigger.value }}" })).next(["check"]))
            .node(
                NodeBuilder::if_("check", "steps.score.output.v > 10")
                    .route("true", ["high"])
                    .route("false", ["low"]),
            )
            .node(NodeBuilder::set("high", json!({ "level": "high" })).next(["reply"]))
            .node(NodeBuilder::set("low", json!({ "level": "low" })).next(["reply"]))
            .node(NodeBuilder::respond("reply", 200))
            .build()
    };
    let failing = Scenario::builder("failing", "Failing")
        .node(NodeBuilder::trigger("t").next(["call"]))
        .node(
            NodeBuilder::action("call", "calls.fail")
                .on_error(OnError::Continue)
                .next(["after"]),
        )
        .node(NodeBuilder::set("after", json!({ "went_on": true })))
        .build();
    let iterating = Scenario::builder("iterating", "Iterating")
        .node(NodeBuilder::trigger("t").next(["each"]))
        .node(
            NodeBuilder::iterate("each", 2)
                .input(json!("{{ trigger.items }}"))
                .next(["odd"]),
        )
        .node(NodeBuilder::filter("odd", "item % 2 == 1").next(["all"]))
        .node(NodeBuilder::aggregate("all", "each").input(json!("{{ item }}")))
        .build();
    let parallel = |waits: bool| {
        let first = if waits {
            NodeBuilder::action("a", "calls.yield").input(json!({ "a": 1 }))
        } else {
            NodeBuilder::set("a", json!({ "a": 1 }))
        };
        Scenario::builder("parallel", "Parallel")
            .node(NodeBuilder::trigger("t").next(["a", "b"]))
            .node(first.next(["join"]))
            .node(NodeBuilder::set("b", json!({ "b": 2 })).next(["join"]))
            .node(NodeBuilder::merge("join").next(["last"]))
            .node(NodeBuilder::set("last", json!({ "done": true })))
            .build()
    };

    let cases = [
        (
            "a branch taken, the other skipped",
            branches(),
            json!({ "value": 5 }),
            ExecuteOptions::new(),
        ),
        (
            "the other branch",
            branches(),
            json!({ "value": 50 }),
            ExecuteOptions::new(),
        ),
        ("a failure that goes on", failing, json!({}), ExecuteOptions::new()),
        (
            "an iterate body and its aggregate",
            iterating,
            json!({ "items": [1, 2, 3] }),
            ExecuteOptions::new(),
        ),
        (
            "parallel branches, joined",
            parallel(false),
            json!({}),
            ExecuteOptions::new(),
        ),
        (
            "a pinned node",
            parallel(false),
            json!({}),
            ExecuteOptions::new().pin("b", json!({ "b": 3 })),
        ),
        (
            "a node that waits: the rest in a task",
            parallel(true),
            json!({}),
            ExecuteOptions::new(),
        ),
    ];
    for (case, scenario, trigger, options) in cases {
        let (replayed, live, completed) = handle_and_live(scenario, trigger, options).await;
        assert!(completed, "{case}");
        assert!(live.len() >= 4, "{case}: {live:?}");
        assert_eq!(replayed, live, "{case}");
    }
}
