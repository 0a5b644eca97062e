//! How much memory 100,000 executions parked on a long delay take (target: ≤ 500 MiB resident).
//!
//! ```text
//! cargo run --release --example parked_memory
//! ```
//!
//! The scenario is `trigger → delay(3600 s)`. The program reads the process's resident memory
//! (`VmRSS` in `/proc/self/status`, Linux only), starts 100,000 executions, waits until every
//! one has reached the delay node, reads the resident memory again, prints before, after and
//! the cost per execution, then cancels every execution through its handle and checks that each
//! ended `cancelled`.
//!
//! "Reached the delay node": a `HookedStore` around the default `MemoryStore` counts the trigger
//! node's `completed` checkpoints; the executor starts the delay node right after that
//! checkpoint, without awaiting anything else, and the program then waits a little more. A
//! delay of an hour is far above the engine's `park_after` (1 s by default), so each execution
//! is *parked*: its walk's future is dropped and only its state waits, with one timer. What is
//! counted: the parked execution (its outputs so far, its record as it grows, its concurrency
//! slot), its small driving task and timer, its `ExecutionHandle` with the events kept for it,
//! and its record in the default `MemoryStore`. The trigger data is the program's own (one
//! `Value` per execution, about 600 bytes).
//!
//! `PARKED` sets the number of executions (`PARKED=10000 cargo run --release --example
//! parked_memory`).

#![allow(clippy::print_stdout)]

#[path = "support/parked.rs"]
mod parked;
#[path = "support/rss.rs"]
mod rss;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aura_core::engine::Engine;
use aura_core::scenario::{NodeBuilder, Scenario};
use aura_core::store::{MemoryStore, NodeStatus};
use aura_core::{Registry, Result};
use aura_testkit::{HookedStore, StoreCall};
use serde_json::json;

/// The id of the trigger node.
const TRIGGER: &str = "start";

/// The id of the delay node.
const DELAY: &str = "wait";

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let count: usize = std::env::var("PARKED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);

    // The default `MemoryStore`, counting the executions whose trigger node completed.
    let parked = Arc::new(AtomicUsize::new(0));
    let counted = parked.clone();
    let store = Arc::new(HookedStore::new(Arc::new(MemoryStore::new()), move |call| {
        if let StoreCall::SaveNode(_, result) = call
            && &*result.node_id == TRIGGER
            && result.status == NodeStatus::Completed
        {
            counted.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }));
    let engine = Engine::builder(Arc::new(Registry::new())).store(store).build();
    let scenario = Scenario::builder("parked", "Parked on a delay")
        .max_duration(Duration::from_secs(7200))
        .node(NodeBuilder::trigger(TRIGGER).next([DELAY]))
        .node(NodeBuilder::delay(DELAY, Duration::from_secs(3600)))
        .build();
    let plan = engine.deploy(scenario).await?;
    let trigger = json!({ "order_id": "A-10001", "customer": "ada@example.com", "total": 129.5 });

    // Warm up: one execution through the whole path, so that lazy statics are not counted.
    let warm = engine.start(&plan, trigger.clone()).await?;
    warm.cancel();
    warm.wait().await?;
    let parked_before = parked.load(Ordering::Relaxed);

    let before = rss::rss()?;
    let started = Instant::now();
    let mut handles = Vec::with_capacity(count);
    for _ in 0..count {
        handles.push(engine.start(&plan, trigger.clone()).await?);
    }
    let start_time = started.elapsed();
    while parked.load(Ordering::Relaxed) - parked_before < count {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let parked_time = started.elapsed();
    // Let the last tasks settle into their sleep.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = rss::rss()?;

    println!("executions parked on a {} s delay: {count}", 3600);
    println!("started in {start_time:.2?}, all parked after {parked_time:.2?}");
    parked::report(count, before, after);
    parked::cancel_all(handles).await?;
    Ok(())
}
