//! How much memory executions parked *in the store* on a long delay take: 100,000 executions
//! of `trigger → delay(3600 s)` on a SQLite file, each saved as waiting and handed to the file
//! until it wakes ([`EngineBuilder::park_in_store_after`]); what stays in memory is the handle
//! each start returned and the small task that takes the execution up again when it wakes.
//!
//! ```text
//! cargo run --release --example parked_store
//! ```
//!
//! It reads the process's resident memory (`VmRSS`, Linux only), starts the executions, waits
//! until the engine holds no lease any more (every execution parked in the file), reads the
//! resident memory again and prints both; then it cancels every execution through its handle
//! (which takes each up from the file at once) and checks that each ended `cancelled`.
//! Compare `cargo run --release --example parked_memory` (parked in memory). `PARKED` sets
//! the number of executions.
//!
//! [`EngineBuilder::park_in_store_after`]: aura_core::engine::EngineBuilder::park_in_store_after

#![allow(clippy::print_stdout)]

#[path = "support/parked.rs"]
mod parked;
#[path = "support/rss.rs"]
mod rss;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aura_core::engine::Engine;
use aura_core::scenario::{NodeBuilder, Scenario};
use aura_core::store::{ExecutionStore, SqliteStore};
use aura_core::{Registry, Result};
use serde_json::json;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let count: usize = std::env::var("PARKED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().map_err(|e| aura_core::Error::internal("no temporary directory").with_source(e))?;
    let store = Arc::new(SqliteStore::open(dir.path().join("aura.db")).await?);
    let engine = Engine::builder(Arc::new(Registry::new()))
        .store(store.clone())
        .owner("parked-store-example")
        .park_in_store_after(Duration::from_secs(60))
        .build();
    let scenario = Scenario::builder("parked", "Parked on a delay")
        .node(NodeBuilder::trigger("start").next(["wait"]))
        .node(NodeBuilder::delay("wait", Duration::from_secs(3600)))
        .build();
    let plan = engine.deploy(scenario).await?;
    let trigger = json!({ "order_id": "A-10001", "customer": "ada@example.com", "total": 129.5 });

    // Warm up: one execution through the whole path, so that lazy statics are not counted.
    let warm = engine.start(&plan, trigger.clone()).await?;
    warm.cancel();
    warm.wait().await?;

    let before = rss::rss()?;
    let started = Instant::now();
    let mut handles = Vec::with_capacity(count);
    for _ in 0..count {
        handles.push(engine.start(&plan, trigger.clone()).await?);
    }
    let start_time = started.elapsed();
    // Every execution is parked once the engine holds no lease: each went to the file.
    while store
        .renew_owned("parked-store-example", Duration::from_secs(30))
        .await?
        > 0
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let parked_time = started.elapsed();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = rss::rss()?;

    println!("executions parked in the store on a 3600 s delay: {count}");
    println!("started in {start_time:.2?}, all parked in the file after {parked_time:.2?}");
    parked::report(count, before, after);
    parked::cancel_all(handles).await?;
    Ok(())
}
