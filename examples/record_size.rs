//! How much memory a kept execution record takes (target: ≤ 2 KB for the webhook flow below).
//!
//! ```text
//! cargo run --release --example record_size
//! ```
//!
//! The flow is the one of the embedded-webhook benchmark: `POST {"value": 42}` → `set` score →
//! `if score > 10` → `respond` with JSON. The program reads the process's resident memory
//! (`VmRSS` in `/proc/self/status`, Linux only) after one execution, runs `KEPT` more (default
//! 10,000; the default `MemoryStore` keeps 10,000 finished records) and reads it again: the
//! difference divided by `KEPT` is what one kept record costs, allocator overhead included.

#![allow(clippy::print_stdout)]

#[path = "support/rss.rs"]
mod rss;

use std::sync::Arc;

use aura_core::engine::Engine;
use aura_core::store::{ExecutionStatus, MemoryStore};
use aura_core::{Error, Registry, Result};
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let kept: usize = std::env::var("KEPT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let store = Arc::new(MemoryStore::with_retention(kept + 1));
    let engine = Engine::builder(Arc::new(Registry::new())).store(store.clone()).build();
    let plan = engine.deploy(aura_testkit::flows::webhook_score()).await?;
    let first = engine.execute(&plan, json!({ "value": 42 })).await?;
    if first.status != ExecutionStatus::Completed {
        return Err(Error::internal(format!("the flow did not complete: {:?}", first.error)));
    }
    let before = rss::rss()?;
    for _ in 0..kept {
        engine.execute(&plan, json!({ "value": 42 })).await?;
    }
    let after = rss::rss()?;
    let per = after.saturating_sub(before) as f64 / kept as f64;
    println!("records kept: {}", store.len());
    println!(
        "resident before: {:.1} MiB, after: {:.1} MiB",
        before as f64 / 1048576.0,
        after as f64 / 1048576.0
    );
    println!("per kept record: {per:.0} bytes (target ≤ 2048)");
    Ok(())
}
