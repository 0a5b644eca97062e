//! A queue and its workers on the embedded default store, a SQLite file: executions enqueued
//! by one engine, run by two workers, each exactly once, then a graceful shutdown.
//!
//! ```text
//! cargo run --example queue_workers
//! ```
//!
//! ```text
//! invoice ─▶ render ─▶ send
//! ```
//!
//! The producer (a web handler, say) calls `Engine::enqueue`: the execution is on disk before
//! it returns, and no worker has to be running yet. Two workers (`Engine::work`, each an engine
//! with an owner of its own; on PostgreSQL they would be processes on different machines) take
//! the executions up, at most `worker_capacity` each at a time, woken by each enqueue. Every
//! execution is leased to the worker running it, so none runs twice. Cancelling the shutdown
//! token makes each worker claim nothing more and return once what it runs has ended.
//!
//! The example checks what it prints (it exits non-zero otherwise): every execution
//! completed, each step called once, and the work shared between the two workers.

#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aura_core::engine::{CancellationToken, Engine};
use aura_core::scenario::{NodeBuilder, Scenario};
use aura_core::semver::Version;
use aura_core::store::{ExecutionStatus, ExecutionStore, SqliteStore};
use aura_core::{ActionDef, App, AppManifest, Error, Registry, Result};
use serde_json::{Value, json};

/// How many invoices the producer enqueues.
const INVOICES: u64 = 24;

/// Calls seen: (action, idempotency key) → the worker that made the call.
type Calls = Arc<Mutex<BTreeMap<(String, String), Vec<String>>>>;

/// The billing app: `render` and `send`, each taking a few milliseconds and logging its call.
struct Billing {
    worker: String,
    calls: Calls,
}

#[aura_core::async_trait]
impl App for Billing {
    fn manifest(&self) -> AppManifest {
        AppManifest::new("billing", "Billing", Version::new(1, 0, 0))
    }

    fn actions(&self) -> Vec<ActionDef> {
        ["render", "send"]
            .into_iter()
            .map(|name| {
                let (worker, calls) = (self.worker.clone(), self.calls.clone());
                ActionDef::from_json(name, json!(true), json!(true), move |cx, input: Value| {
                    let (worker, calls) = (worker.clone(), calls.clone());
                    async move {
                        let key = cx.idempotency_key().unwrap_or("-").to_owned();
                        calls
                            .lock()
                            .map_err(|_| Error::internal("the call log is poisoned"))?
                            .entry((name.to_owned(), key))
                            .or_default()
                            .push(worker);
                        tokio::time::sleep(Duration::from_millis(3)).await;
                        Ok(json!({ "invoice": input["invoice"], "done": name }))
                    }
                })
                .idempotent(true)
            })
            .collect()
    }
}

fn scenario() -> Scenario {
    Scenario::builder("invoice", "Send an invoice")
        .node(NodeBuilder::trigger("invoice").next(["render"]))
        .node(
            NodeBuilder::action("render", "billing.render")
                .input(json!({ "invoice": "{{ trigger.number }}" }))
                .next(["send"]),
        )
        .node(
            NodeBuilder::action("send", "billing.send")
                .input(json!({ "invoice": "{{ steps.render.output.invoice }}" })),
        )
        .build()
}

/// An engine on `store` as `owner`, the scenario deployed.
async fn engine(store: &SqliteStore, owner: &str, calls: &Calls) -> Result<Engine> {
    let registry = Arc::new(Registry::new());
    registry.register(Billing {
        worker: owner.to_owned(),
        calls: calls.clone(),
    })?;
    let engine = Engine::builder(registry)
        .store(Arc::new(store.clone()))
        .owner(owner)
        .worker_capacity(4)
        .build();
    engine.deploy(scenario()).await?;
    Ok(engine)
}

#[tokio::main]
async fn main() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::internal(format!("a temporary directory: {e}")))?;
    let store = SqliteStore::open(dir.path().join("aura.db")).await?;
    let calls = Calls::default();

    // The producer enqueues before any worker runs: the queue is in the file.
    let producer = engine(&store, "producer", &calls).await?;
    let plan = producer
        .plan("invoice")
        .ok_or_else(|| Error::internal("the scenario is deployed"))?;
    let mut ids = Vec::new();
    for number in 1..=INVOICES {
        ids.push(producer.enqueue(&plan, json!({ "number": number })).await?);
    }
    println!(
        "enqueued {INVOICES} invoices; {} waiting in the file",
        store.unfinished().await?.len()
    );

    // Two workers share the queue until the shutdown token is cancelled.
    let shutdown = CancellationToken::new();
    let mut workers = Vec::new();
    for owner in ["worker-1", "worker-2"] {
        let worker = engine(&store, owner, &calls).await?;
        let shutdown = shutdown.clone();
        workers.push(tokio::spawn(async move { (owner, worker.work(shutdown).await) }));
    }
    // More work while they run: each enqueue wakes them.
    for number in INVOICES + 1..=INVOICES + 8 {
        ids.push(producer.enqueue(&plan, json!({ "number": number })).await?);
    }
    while !store.unfinished().await?.is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    shutdown.cancel();
    let mut shares = Vec::new();
    for worker in workers {
        let (owner, report) = worker
            .await
            .map_err(|e| Error::internal(format!("a worker panicked: {e}")))?;
        let report = report?;
        println!("{owner}: ran {} executions", report.ran);
        shares.push(report.ran);
    }

    let mut failures = Vec::new();
    for id in &ids {
        let record = store
            .get(*id)
            .await?
            .ok_or_else(|| Error::internal("an enqueued execution is kept"))?;
        if record.status != ExecutionStatus::Completed {
            failures.push(format!("{id}: {:?} {:?}", record.status, record.error));
        }
    }
    let calls = calls
        .lock()
        .map_err(|_| Error::internal("the call log is poisoned"))?
        .clone();
    let twice: Vec<_> = calls.iter().filter(|(_, by)| by.len() != 1).collect();
    println!(
        "{} executions completed, {} calls, {} made twice",
        ids.len() - failures.len(),
        calls.len(),
        twice.len()
    );
    if !failures.is_empty() || !twice.is_empty() || calls.len() != ids.len() * 2 {
        return Err(Error::internal(format!(
            "the queue did not run each execution once: {failures:?} {twice:?}"
        )));
    }
    if shares.iter().sum::<u64>() != ids.len() as u64 {
        return Err(Error::internal("the workers' reports do not add up"));
    }
    store.close().await;
    Ok(())
}
