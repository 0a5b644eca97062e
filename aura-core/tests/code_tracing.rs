//! The `code` node's console reaches `tracing`, with its level and the node. Alone in its test
//! binary: `tracing` caches whether a call site is wanted per process, and tests running at
//! once with and without a subscriber would race on that cache.

#![cfg(feature = "code-js")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::Arc;

use aura_core::Registry;
use aura_core::engine::Engine;
use aura_core::scenario::{NodeBuilder, Scenario};
use serde_json::json;

#[path = "tracing_capture/mod.rs"]
mod tracing_capture;
use tracing_capture::Captured;

#[tokio::test]
async fn console_lines_reach_tracing_with_their_level_and_node() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let engine = Engine::builder(Arc::new(Registry::new())).build();
    let s = Scenario::builder("logs", "Logs")
        .node(NodeBuilder::trigger("t").next(["c"]))
        .node(NodeBuilder::code(
            "c",
            "console.log('seen', { n: trigger.n }); console.warn('careful'); console.debug([1, 2]); return 1",
        ))
        .build();
    let plan = engine.deploy(s).await.unwrap();
    let r = engine.execute(&plan, json!({ "n": 3 })).await.unwrap();
    assert_eq!(r.output, Some(json!(1)));
    let text = captured.text();
    let line = |needle: &str| {
        text.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle} in {text}"))
    };
    assert!(line(r#"seen {"n":3}"#).contains("INFO"), "{text}");
    assert!(line(r#"seen {"n":3}"#).contains("node=\"c\""), "{text}");
    assert!(line("careful").contains("WARN"), "{text}");
    assert!(line("[1,2]").contains("DEBUG"), "{text}");
}
