//! The app and scenario the queue tests run (`queue.rs` on memory and SQLite,
//! `queue_postgres.rs` on PostgreSQL): two steps, each counting its calls per idempotency key
//! and per worker, so that exactly-once effects and the share of each worker can be checked.

#![allow(dead_code)] // Each binary uses its part.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aura_core::engine::Engine;
use aura_core::scenario::{NodeBuilder, Scenario};
use aura_core::semver::Version;
use aura_core::store::ExecutionStore;
use aura_core::{ActionDef, App, AppManifest, Registry};
use serde_json::{Value, json};

/// Calls seen: idempotency key → the owners of the workers that made them; and how many ran
/// at once, at most (over every engine sharing these calls).
#[derive(Clone, Default)]
pub(crate) struct Calls(
    Arc<Mutex<HashMap<String, Vec<String>>>>,
    Arc<(AtomicUsize, AtomicUsize)>,
);

impl Calls {
    pub(crate) fn by_key(&self) -> HashMap<String, Vec<String>> {
        self.0.lock().unwrap().clone()
    }

    /// The most calls that ran at once.
    pub(crate) fn peak(&self) -> usize {
        self.1.1.load(Ordering::SeqCst)
    }
}

/// One action, `queue.step`: records its call, waits `step_time`, returns `n + 1`.
struct Queue {
    owner: String,
    calls: Calls,
    step_time: Duration,
}

#[aura_core::async_trait]
impl App for Queue {
    fn manifest(&self) -> AppManifest {
        AppManifest::new("queue", "Queue", Version::new(1, 0, 0))
    }

    fn actions(&self) -> Vec<ActionDef> {
        let (owner, calls, step_time) = (self.owner.clone(), self.calls.clone(), self.step_time);
        vec![
            ActionDef::from_json("step", json!(true), json!(true), move |cx, v: Value| {
                let (owner, calls) = (owner.clone(), calls.clone());
                async move {
                    let key = cx.idempotency_key().unwrap_or("-").to_owned();
                    calls.0.lock().unwrap().entry(key).or_default().push(owner);
                    let (running, peak) = &*calls.1;
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(step_time).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    let n = v["n"].as_u64().or_else(|| v["n"].as_str()?.parse().ok()).unwrap_or(0);
                    Ok(json!({ "n": n + 1 }))
                }
            })
            .idempotent(true),
        ]
    }
}

/// `trigger → a → b`, both `queue.step`.
pub(crate) fn scenario() -> Scenario {
    Scenario::builder("queued", "Queued")
        .node(NodeBuilder::trigger("t").next(["a"]))
        .node(
            NodeBuilder::action("a", "queue.step")
                .input(json!({ "n": "{{ trigger.n }}" }))
                .next(["b"]),
        )
        .node(NodeBuilder::action("b", "queue.step").input(json!({ "n": "{{ steps.a.output.n }}" })))
        .build()
}

/// `trigger → a`, at most `max` executions at once (`max_concurrent`).
pub(crate) fn limited(max: u32) -> Scenario {
    Scenario::builder("limited", "Limited")
        .max_concurrent(max)
        .node(NodeBuilder::trigger("t").next(["a"]))
        .node(NodeBuilder::action("a", "queue.step").input(json!({ "n": "{{ trigger.n }}" })))
        .build()
}

/// Runs `workers` (their engines each deploy [`limited`]`(max)`) until the executions
/// `producer` enqueues (`count`) have all ended, and returns how many ran at once at most.
pub(crate) async fn run_limited(producer: &Engine, workers: Vec<Engine>, max: u32, count: u64, calls: &Calls) -> usize {
    let shutdown = tokio_util::sync::CancellationToken::new();
    let mut running = Vec::new();
    for worker in workers {
        worker.deploy(limited(max)).await.unwrap();
        let shutdown = shutdown.clone();
        running.push(tokio::spawn(async move { worker.work(shutdown).await }));
    }
    let plan = producer.deploy(limited(max)).await.unwrap();
    let mut ids = Vec::new();
    for n in 0..count {
        ids.push(producer.enqueue(&plan, json!({ "n": n })).await.unwrap());
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for id in &ids {
        loop {
            let record = producer.store().get(*id).await.unwrap().unwrap();
            if record.status.is_finished() {
                assert_eq!(
                    record.output,
                    Some(json!({ "n": record.trigger["n"].as_u64().unwrap() + 1 }))
                );
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the workers did not run the queue"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    shutdown.cancel();
    let mut ran = 0;
    for worker in running {
        ran += worker.await.unwrap().unwrap().ran;
    }
    assert_eq!(ran, count, "each execution ran once");
    assert_eq!(calls.by_key().len() as u64, count, "one call each");
    calls.peak()
}

/// An engine over `store` as `owner`, its calls counted in `calls`, the scenario deployed.
pub(crate) async fn engine(
    store: Arc<dyn ExecutionStore>,
    owner: &str,
    calls: &Calls,
    step_time: Duration,
    tune: impl FnOnce(aura_core::engine::EngineBuilder) -> aura_core::engine::EngineBuilder,
) -> Engine {
    let registry = Arc::new(Registry::new());
    registry
        .register(Queue {
            owner: owner.to_owned(),
            calls: calls.clone(),
            step_time,
        })
        .unwrap();
    let engine = tune(Engine::builder(registry).store(store).owner(owner)).build();
    engine.deploy(scenario()).await.unwrap();
    engine
}
