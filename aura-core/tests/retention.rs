//! `Retention`: the engine's task that prunes finished executions, driven by hand on a
//! `ManualClock`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aura_core::clock::ManualClock;
use aura_core::engine::{Engine, Retention};
use aura_core::scenario::{NodeBuilder, Scenario};
use aura_core::store::{
    ExecutionRecord, ExecutionStatus, ExecutionStore, ExecutionSummary, Lease, MemoryStore, NodeResult, Page,
    PageRequest, Prune,
};
use aura_core::{Error, Registry, Result};
use serde_json::json;
use tokio::sync::mpsc;
use uuid::Uuid;

const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// A prune the store was asked for, and whether it succeeded.
type Seen = (Prune, bool);

/// A memory store that reports every prune it is asked for (after doing it), and fails the
/// first `failing` of them.
struct Watched {
    inner: Arc<MemoryStore>,
    seen: mpsc::UnboundedSender<Seen>,
    failing: AtomicUsize,
}

impl Watched {
    /// The store for the engine, the memory store behind it and the prunes it reports. Only
    /// the engine holds the store: once its retention task ends, the reports end too.
    fn store(failing: usize) -> (Arc<dyn ExecutionStore>, Arc<MemoryStore>, mpsc::UnboundedReceiver<Seen>) {
        let inner = Arc::new(MemoryStore::new());
        let (seen, rx) = mpsc::unbounded_channel();
        let store = Arc::new(Self {
            inner: inner.clone(),
            seen,
            failing: AtomicUsize::new(failing),
        });
        (store, inner, rx)
    }
}

#[aura_core::async_trait]
impl ExecutionStore for Watched {
    fn is_durable(&self) -> bool {
        false
    }
    async fn create(&self, record: &ExecutionRecord) -> Result<()> {
        self.inner.create(record).await
    }
    async fn save_node(&self, execution_id: Uuid, result: &NodeResult) -> Result<()> {
        self.inner.save_node(execution_id, result).await
    }
    async fn finish(&self, record: &ExecutionRecord) -> Result<()> {
        self.inner.finish(record).await
    }
    async fn get(&self, execution_id: Uuid) -> Result<Option<ExecutionRecord>> {
        self.inner.get(execution_id).await
    }
    async fn list(&self, scenario_id: &str, page: PageRequest) -> Result<Page<ExecutionSummary>> {
        self.inner.list(scenario_id, page).await
    }
    async fn unfinished(&self) -> Result<Vec<ExecutionRecord>> {
        self.inner.unfinished().await
    }
    async fn prune(&self, prune: Prune) -> Result<usize> {
        let fail = self
            .failing
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        let result = if fail {
            Err(Error::unavailable("the store is down (as the test said)"))
        } else {
            self.inner.prune(prune.clone()).await
        };
        let _ = self.seen.send((prune, result.is_ok()));
        result
    }
    async fn claim(&self, execution_id: Uuid, owner: &str, lease: Duration) -> Result<Option<Lease>> {
        self.inner.claim(execution_id, owner, lease).await
    }
    async fn renew(&self, lease: &Lease, extend: Duration) -> Result<Option<Lease>> {
        self.inner.renew(lease, extend).await
    }
    async fn release(&self, lease: &Lease) -> Result<()> {
        self.inner.release(lease).await
    }

    async fn renew_owned(&self, owner: &str, extend: Duration) -> Result<u64> {
        self.inner.renew_owned(owner, extend).await
    }

    async fn claim_next(
        &self,
        owner: &str,
        length: Duration,
        limit: usize,
        limits: &aura_core::store::ConcurrencyLimits,
    ) -> Result<Vec<Lease>> {
        self.inner.claim_next(owner, length, limit, limits).await
    }
}

fn engine(store: Arc<dyn ExecutionStore>, clock: &ManualClock, retention: Retention) -> Engine {
    Engine::builder(Arc::new(Registry::new()))
        .store(store)
        .clock(clock.shared())
        .retention(retention)
        .build()
}

fn scenario() -> Scenario {
    Scenario::builder("r", "Retained")
        .node(NodeBuilder::trigger("t").next(["done"]))
        .node(NodeBuilder::set("done", json!({ "ok": true })))
        .build()
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Seen>) -> Seen {
    rx.recv().await.expect("the retention task is running")
}

async fn ids(store: &MemoryStore) -> Vec<Uuid> {
    let page = store.list("r", PageRequest::first(100)).await.unwrap();
    page.items.iter().map(|s| s.id).collect()
}

#[tokio::test]
async fn retention_prunes_at_start_then_every_interval_by_the_engine_clock() {
    let clock = ManualClock::new();
    let (store, memory, mut rx) = Watched::store(0);
    let retention = Retention::new().max_age(DAY).keep_per_scenario(2).every(10 * MINUTE);
    let engine = engine(store, &clock, retention);

    let (first, ok) = next(&mut rx).await;
    assert!(ok);
    assert_eq!(first.keep_per_scenario, Some(2));
    assert_eq!(first.keep_newest, None);
    let start = first.older_than.expect("an age rule") + chrono::Duration::days(1);

    let plan = engine.deploy(scenario()).await.unwrap();
    let mut runs = Vec::new();
    for _ in 0..4 {
        let record = engine.execute(&plan, json!({})).await.unwrap();
        assert_eq!(record.status, ExecutionStatus::Completed);
        runs.push(record.id);
    }

    clock.advance(10 * MINUTE);
    let (second, ok) = next(&mut rx).await;
    assert!(ok);
    assert_eq!(
        second.older_than,
        Some(start + chrono::Duration::minutes(10) - chrono::Duration::days(1)),
        "the age is measured on the engine's clock"
    );
    assert_eq!(ids(&memory).await, [runs[3], runs[2]], "the newest two of the scenario");

    clock.advance(DAY);
    let (third, ok) = next(&mut rx).await;
    assert!(ok);
    assert_eq!(third.older_than, Some(start + chrono::Duration::minutes(10)));
    assert!(ids(&memory).await.is_empty(), "a day later they are too old");
}

#[tokio::test]
async fn a_failed_prune_is_tried_again_at_the_next_interval() {
    let clock = ManualClock::new();
    let (store, _memory, mut rx) = Watched::store(1);
    let _engine = engine(store, &clock, Retention::new().keep_per_scenario(5));
    assert!(!next(&mut rx).await.1, "the first prune fails");
    clock.advance(Retention::DEFAULT_EVERY);
    let (again, ok) = next(&mut rx).await;
    assert!(ok, "the task went on after the failure");
    assert_eq!(again.keep_per_scenario, Some(5));
}

#[tokio::test]
async fn the_retention_task_ends_when_the_engine_is_dropped() {
    let clock = ManualClock::new();
    let (store, _memory, mut rx) = Watched::store(0);
    let engine = engine(store, &clock, Retention::new().max_age(DAY));
    next(&mut rx).await;
    let clone = engine.clone();
    drop(engine);
    clock.advance(Retention::DEFAULT_EVERY);
    assert!(rx.recv().await.is_some(), "a clone keeps the task running");
    drop(clone);
    // The task held the store; once it ends, nothing can report a prune any more. (Without
    // the end, this would wait for ever: no clock moves.)
    assert!(rx.recv().await.is_none(), "the task ended with the engine");
}

#[tokio::test]
async fn without_a_rule_the_task_prunes_nothing() {
    let clock = ManualClock::new();
    let (store, memory, mut rx) = Watched::store(0);
    let engine = engine(store, &clock, Retention::new());
    let plan = engine.deploy(scenario()).await.unwrap();
    engine.execute(&plan, json!({})).await.unwrap();
    clock.advance(DAY);
    drop(engine);
    assert!(rx.recv().await.is_none(), "the store was never asked to prune");
    assert_eq!(ids(&memory).await.len(), 1);
}
