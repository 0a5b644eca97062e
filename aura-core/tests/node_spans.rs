//! Each node's events are in its own span, though the engine makes a node's context in the one
//! the node before it let go of; and each node's span ends with the node. Alone in its test
//! binary: `tracing` caches whether a call site is wanted per process, and tests running at
//! once with and without a subscriber would race on that cache.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::Arc;

use aura_core::engine::Engine;
use aura_core::node::{Node, NodeOutput};
use aura_core::scenario::{NodeBuilder, Scenario};
use aura_core::{Context, Registry, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing_subscriber::fmt::format::FmtSpan;

#[path = "tracing_capture/mod.rs"]
mod tracing_capture;
use tracing_capture::Captured;

/// Logs one event while it runs.
#[derive(Debug, Serialize, Deserialize)]
struct Logs;

#[typetag::serde(name = "test_span_logs")]
#[async_trait::async_trait]
impl Node for Logs {
    async fn run(&self, cx: &Context, input: Value) -> Result<NodeOutput> {
        let _entered = cx.span().enter();
        tracing::info!(seen = cx.node_id().unwrap_or_default(), "running");
        Ok(NodeOutput::next(input))
    }
}

#[tokio::test]
async fn every_node_logs_in_its_own_span_which_ends_before_the_next_node_runs() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::DEBUG)
        .with_span_events(FmtSpan::CLOSE)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let engine = Engine::builder(Arc::new(Registry::new())).build();
    let plan = engine
        .deploy(
            Scenario::builder("spans", "Spans")
                .node(NodeBuilder::trigger("t").next(["a"]))
                .node(NodeBuilder::new("a", Logs).next(["b"]))
                .node(NodeBuilder::new("b", Logs).next(["c"]))
                .node(NodeBuilder::new("c", Logs))
                .build(),
        )
        .await
        .unwrap();
    engine.execute(&plan, json!({})).await.unwrap();
    let text = captured.text();
    let lines: Vec<&str> = text.lines().collect();
    let at = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle} in {text}"))
    };
    for node in ["a", "b", "c"] {
        // The event is in this node's span, not in the span of the node whose context it reuses.
        let event = lines[at(&format!("seen=\"{node}\""))];
        assert!(event.contains(&format!("node{{node={node}")), "{event}\n{text}");
    }
    // Each node's span closes before the next node's event.
    let closed = |node: &str| {
        lines
            .iter()
            .position(|l| l.contains("close") && l.contains(&format!("node{{node={node}")))
            .unwrap_or_else(|| panic!("the close of {node} in {text}"))
    };
    assert!(closed("a") < at("seen=\"b\""), "{text}");
    assert!(closed("b") < at("seen=\"c\""), "{text}");
    assert!(closed("c") > at("seen=\"c\""), "{text}");
}
