//! The `code` node: a JavaScript step in a scenario, in a sandbox.
//!
//! ```text
//! cargo run --example code_node
//! ```
//!
//! ```text
//! order_feed ─▶ policy ─▶ digest ─▶ any_vip? ─▶ alert
//!               (set)     (code)    (if)        (set)
//! ```
//!
//! `examples/scenarios/order_digest.yaml` groups paid orders by customer in a few lines of
//! JavaScript — a reduce, a sort and a filter over the trigger's items that no mapping could
//! express — and the scenario runs on the result. Then three scripts a deploy or a run refuses:
//! one that does not compile (the compile error names the node, the field and the line), one
//! that reads a node that does not run before it, and one that never ends (stopped by the
//! sandbox's time limit; the engine goes on). The sandbox's limits are the engine's, attached
//! with `Engine::builder(..).extension(Sandbox::new(limits))`; the scripts' `console` lines are
//! `tracing` events (target `aura::code`), printed here.

#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::Duration;

use aura_core::code::{Limits, Sandbox};
use aura_core::engine::Engine;
use aura_core::scenario::{NodeBuilder, Scenario};
use aura_core::{Registry, Result};
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    // Scripts' `console` lines are tracing events of target `aura::code`.
    tracing_subscriber::fmt()
        .with_env_filter("aura::code=info")
        .with_target(true)
        .without_time()
        .init();
    let sandbox = Sandbox::new(Limits::default().time(Duration::from_millis(100)).memory(16 << 20));
    let engine = Engine::builder(Arc::new(Registry::new()))
        .extension(sandbox.clone())
        .build();

    let yaml = include_str!("scenarios/order_digest.yaml");
    let digest_plan = engine.deploy(Scenario::from_yaml(yaml)?).await?;
    let orders = json!({ "orders": [
        { "id": 1, "email": "Ada@Example.com ", "total": 420.0, "status": "paid" },
        { "id": 2, "email": "ada@example.com", "total": 180.5, "status": "paid" },
        { "id": 3, "email": "grace@example.com", "total": 99.0, "status": "refunded" },
        { "id": 4, "email": "linus@example.com", "total": 75.25, "status": "paid" },
    ]});
    let record = engine.execute(&digest_plan, orders).await?;
    println!("order_digest: {:?}", record.status);
    for node in &record.nodes {
        println!("  {:<10} {:?} {:?}", node.node_id, node.status, node.duration());
    }
    let digest = record.node("digest").and_then(|n| n.output.clone());
    println!("digest output: {}", json!(digest));
    println!("execution output: {}", json!(record.output));

    println!("\nWhat a deploy refuses:");
    for (what, code) in [
        (
            "a syntax error",
            "const total = trigger.orders.reduce((a, o) => a + o.total, 0;\nreturn total",
        ),
        ("a node that does not run before", "return steps.alert.output"),
    ] {
        let s = Scenario::builder("refused", "Refused")
            .node(NodeBuilder::trigger("t").next(["script"]))
            .node(NodeBuilder::code("script", code).next(["alert"]))
            .node(NodeBuilder::set("alert", json!({})))
            .build();
        match engine.deploy(s).await {
            Ok(_) => println!("  {what}: deployed (unexpected)"),
            Err(e) => {
                for v in e.violations() {
                    println!("  {what}: {}: {}", v.path, v.message);
                }
            }
        }
    }

    println!("\nWhat a run stops:");
    let s = Scenario::builder("runaway", "Runaway")
        .node(NodeBuilder::trigger("t").next(["spin"]))
        .node(NodeBuilder::code("spin", "let n = 0;\nwhile (true) n++;"))
        .build();
    let plan = engine.deploy(s).await?;
    let record = engine.execute(&plan, json!({})).await?;
    let error = record.node("spin").and_then(|n| n.error.as_ref());
    println!(
        "  an endless loop: {:?}, {}",
        record.status,
        error.map_or("no error?", |e| e.message.as_str())
    );
    let again = engine.execute(&digest_plan, json!({ "orders": [] })).await?;
    println!(
        "  and the engine goes on: order_digest on no orders is {:?}",
        again.status
    );
    let stats = sandbox.stats();
    println!(
        "\nsandbox: {} runtime(s) pooled, {} KiB",
        stats.idle,
        stats.memory / 1024
    );
    Ok(())
}
