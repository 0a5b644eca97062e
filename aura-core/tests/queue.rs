//! The queue in one process: executions enqueued and run by workers ([`Engine::enqueue`],
//! [`Engine::work`]) on the in-memory and SQLite stores, and the leases that keep a running
//! execution from being taken up twice.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use std::sync::atomic::Ordering;

use aura_core::Error;
use aura_core::engine::Engine;
use aura_core::store::{ExecutionStatus, ExecutionStore, MemoryStore};
use serde_json::json;
use tokio_util::sync::CancellationToken;

mod queue_app;

use aura_testkit::{HookedStore, StoreCall};

use queue_app::{Calls, engine};

/// Enqueues `count` executions through `producer`, runs `workers` until all are done, and
/// checks that each completed with the right output and each step ran exactly once.
async fn enqueued_work_runs_once(store: Arc<dyn ExecutionStore>, count: u64) {
    let calls = Calls::default();
    let producer = engine(store.clone(), "producer", &calls, Duration::ZERO, |b| b).await;
    let worker = engine(store.clone(), "worker", &calls, Duration::from_millis(1), |b| {
        b.worker_capacity(3)
    })
    .await;
    let shutdown = CancellationToken::new();
    let working = tokio::spawn({
        let (worker, shutdown) = (worker.clone(), shutdown.clone());
        async move { worker.work(shutdown).await }
    });
    let plan = producer.plan("queued").unwrap();
    let mut ids = Vec::new();
    for n in 0..count {
        ids.push(producer.enqueue(&plan, json!({ "n": n })).await.unwrap());
    }
    // Every enqueued execution ends; the worker is woken by each enqueue.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !store.unfinished().await.unwrap().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the worker did not run the queue"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    shutdown.cancel();
    let report = working.await.unwrap().unwrap();
    assert_eq!(report.ran, count, "the worker ran every enqueued execution");
    assert_eq!(report.failed_to_start, 0);
    for (n, id) in ids.iter().enumerate() {
        let record = store.get(*id).await.unwrap().unwrap();
        assert_eq!(record.status, ExecutionStatus::Completed, "{:?}", record.error);
        assert_eq!(record.output, Some(json!({ "n": n as u64 + 2 })));
    }
    let by_key = calls.by_key();
    assert_eq!(by_key.len() as u64, count * 2, "two steps per execution");
    for (key, owners) in &by_key {
        assert_eq!(owners, &["worker"], "{key}: called once, by the worker");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueued_executions_run_once_on_a_worker_in_memory() {
    enqueued_work_runs_once(Arc::new(MemoryStore::new()), 20).await;
}

/// A running execution is leased to its engine from its creation: another engine's recovery
/// and workers leave it alone, and it ends once.
async fn a_running_execution_is_never_taken_up(store: Arc<dyn ExecutionStore>) {
    let calls = Calls::default();
    let a = engine(store.clone(), "a", &calls, Duration::from_millis(200), |b| b).await;
    let b = engine(store.clone(), "b", &calls, Duration::ZERO, |b| b).await;
    let handle = a.start(&a.plan("queued").unwrap(), json!({ "n": 1 })).await.unwrap();
    assert!(b.recover_all().await.unwrap().is_empty(), "a holds the lease");
    let claimed = store
        .claim_next(
            "b",
            Duration::from_secs(30),
            10,
            &aura_core::store::ConcurrencyLimits::new(),
        )
        .await
        .unwrap();
    assert!(claimed.is_empty(), "nothing free to claim: {claimed:?}");
    let shutdown = CancellationToken::new();
    let working = tokio::spawn({
        let (b, shutdown) = (b.clone(), shutdown.clone());
        async move { b.work(shutdown).await }
    });
    let record = handle.wait().await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Completed, "{:?}", record.error);
    shutdown.cancel();
    assert_eq!(working.await.unwrap().unwrap().ran, 0, "b's worker took nothing");
    let owners: BTreeSet<String> = calls.by_key().into_values().flatten().collect();
    assert_eq!(owners, BTreeSet::from(["a".to_owned()]));
    assert_eq!(calls.by_key().len(), 2, "each step ran once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_execution_is_never_taken_up_in_memory() {
    a_running_execution_is_never_taken_up(Arc::new(MemoryStore::new())).await;
}

/// Shutdown: the worker claims nothing more and returns once what it runs has ended.
/// Two workers, each allowed 4 at once, run a scenario limited to 2: never more than 2 run
/// at once between them (the limit holds in the store, not per engine).
async fn a_concurrency_limit_holds_across_workers(store: Arc<dyn ExecutionStore>) {
    let calls = Calls::default();
    let producer = engine(store.clone(), "producer", &calls, Duration::ZERO, |b| b).await;
    let mut workers = Vec::new();
    for owner in ["w1", "w2"] {
        workers.push(
            engine(store.clone(), owner, &calls, Duration::from_millis(15), |b| {
                b.worker_capacity(4).poll_interval(Duration::from_millis(10))
            })
            .await,
        );
    }
    let peak = queue_app::run_limited(&producer, workers, 2, 24, &calls).await;
    assert!(peak <= 2, "at most 2 ran at once, not {peak}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrency_limit_holds_across_workers_in_memory() {
    a_concurrency_limit_holds_across_workers(Arc::new(MemoryStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_shuts_down_after_its_executions_end() {
    let store: Arc<dyn ExecutionStore> = Arc::new(MemoryStore::new());
    let calls = Calls::default();
    let worker = engine(store.clone(), "w", &calls, Duration::from_millis(50), |b| b).await;
    let plan = worker.plan("queued").unwrap();
    let id = worker.enqueue(&plan, json!({ "n": 1 })).await.unwrap();
    let shutdown = CancellationToken::new();
    let working = tokio::spawn({
        let (worker, shutdown) = (worker.clone(), shutdown.clone());
        async move { worker.work(shutdown).await }
    });
    // Once the execution runs, shut down: it still ends, completed.
    while calls.by_key().is_empty() {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    shutdown.cancel();
    let report = working.await.unwrap().unwrap();
    assert_eq!(report.ran, 1);
    let record = store.get(id).await.unwrap().unwrap();
    assert_eq!(record.status, ExecutionStatus::Completed, "{:?}", record.error);
    // Enqueued after the shutdown: left in the queue.
    let later = worker.enqueue(&plan, json!({ "n": 2 })).await.unwrap();
    assert_eq!(
        store.get(later).await.unwrap().unwrap().status,
        ExecutionStatus::Running
    );
    let _: &Engine = &worker;
}

#[cfg(feature = "store-sqlite")]
mod sqlite {
    use super::*;
    use aura_core::store::SqliteStore;

    async fn open(dir: &tempfile::TempDir) -> SqliteStore {
        SqliteStore::open(dir.path().join("aura.db")).await.unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_concurrency_limit_holds_across_workers_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        a_concurrency_limit_holds_across_workers(Arc::new(open(&dir).await)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn enqueued_executions_run_once_on_a_worker_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        enqueued_work_runs_once(Arc::new(open(&dir).await), 20).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_running_execution_is_never_taken_up_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        a_running_execution_is_never_taken_up(Arc::new(open(&dir).await)).await;
    }

    /// A SQLite file serves one process at a time: a lease left in it by a process that is
    /// gone ends when the file is opened again, whatever the new owner.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn leases_left_in_the_file_end_when_it_opens_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir).await;
        let calls = Calls::default();
        let first = engine(Arc::new(store.clone()), "first", &calls, Duration::ZERO, |b| b).await;
        let plan = first.plan("queued").unwrap();
        let id = first.enqueue(&plan, json!({ "n": 1 })).await.unwrap();
        let held = store.claim(id, "first", Duration::from_secs(3600)).await.unwrap();
        assert!(held.is_some());
        assert!(
            store
                .claim(id, "second", Duration::from_secs(60))
                .await
                .unwrap()
                .is_none()
        );
        store.close().await;

        let store = open(&dir).await;
        let claimed = store
            .claim_next(
                "second",
                Duration::from_secs(60),
                10,
                &aura_core::store::ConcurrencyLimits::new(),
            )
            .await
            .unwrap();
        assert_eq!(claimed.iter().map(|l| l.execution_id).collect::<Vec<_>>(), [id]);
        store.close().await;
    }
}

/// A store that is away for a while does not stop a worker: each failed claim is counted and
/// tried again after the poll interval, and what was enqueued still runs, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_rides_out_a_store_that_is_away() {
    // Its first three claims fail (a database restarting).
    let failing = std::sync::atomic::AtomicUsize::new(3);
    let store = Arc::new(
        HookedStore::new(Arc::new(MemoryStore::new()), move |call| match call {
            StoreCall::ClaimNext(_)
                if failing
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok() =>
            {
                Err(Error::unavailable("the store is down (as the test said)"))
            }
            _ => Ok(()),
        })
        .durable(false),
    );
    let calls = Calls::default();
    let worker = engine(store.clone(), "w", &calls, Duration::ZERO, |b| {
        b.poll_interval(Duration::from_millis(5))
    })
    .await;
    let id = worker
        .enqueue(&worker.plan("queued").unwrap(), json!({ "n": 1 }))
        .await
        .unwrap();
    let shutdown = CancellationToken::new();
    let working = tokio::spawn({
        let (worker, shutdown) = (worker.clone(), shutdown.clone());
        async move { worker.work(shutdown).await }
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !store.get(id).await.unwrap().unwrap().status.is_finished() {
        assert!(tokio::time::Instant::now() < deadline, "the worker gave up");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    shutdown.cancel();
    let report = working.await.unwrap().unwrap();
    assert_eq!(report.claim_errors, 3, "each failed claim counted");
    assert_eq!(report.ran, 1);
    assert_eq!(calls.by_key().len(), 2, "each step ran once");
}

/// An idle worker that polls once an hour takes up work another engine on the same store
/// enqueued at once: the store's signal wakes it.
async fn an_idle_worker_wakes_when_another_engine_enqueues(store: Arc<dyn ExecutionStore>) {
    let calls = Calls::default();
    let worker = engine(store.clone(), "w", &calls, Duration::ZERO, |b| {
        b.poll_interval(Duration::from_secs(3600))
    })
    .await;
    let producer = engine(store.clone(), "producer", &calls, Duration::ZERO, |b| b).await;
    let shutdown = CancellationToken::new();
    let working = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { worker.work(shutdown).await }
    });
    // The worker finds the queue empty and waits.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let id = producer
        .enqueue(&producer.plan("queued").unwrap(), json!({ "n": 3 }))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !store.get(id).await.unwrap().unwrap().status.is_finished() {
        assert!(tokio::time::Instant::now() < deadline, "the worker was not woken");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    shutdown.cancel();
    assert_eq!(working.await.unwrap().unwrap().ran, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_worker_wakes_when_another_engine_enqueues_in_memory() {
    an_idle_worker_wakes_when_another_engine_enqueues(Arc::new(MemoryStore::new())).await;
}

#[cfg(feature = "store-sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_worker_wakes_when_another_engine_enqueues_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = aura_core::store::SqliteStore::open(dir.path().join("aura.db"))
        .await
        .unwrap();
    an_idle_worker_wakes_when_another_engine_enqueues(Arc::new(store)).await;
}

/// A worker that cannot run what it claimed (the scenario is not deployed in its engine)
/// gives it up again: a worker that can runs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_a_worker_cannot_start_is_given_up_for_another() {
    let store: Arc<dyn ExecutionStore> = Arc::new(MemoryStore::new());
    let calls = Calls::default();
    let producer = engine(store.clone(), "producer", &calls, Duration::ZERO, |b| b).await;
    let id = producer
        .enqueue(&producer.plan("queued").unwrap(), json!({ "n": 4 }))
        .await
        .unwrap();
    // An engine without the scenario.
    let unable = Engine::builder(Arc::new(aura_core::Registry::new()))
        .store(store.clone())
        .owner("unable")
        .poll_interval(Duration::from_millis(5))
        .build();
    let shutdown = CancellationToken::new();
    let first = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { unable.work(shutdown).await }
    });
    // Let it fail at least once, then a worker that can joins.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let able = engine(store.clone(), "able", &calls, Duration::ZERO, |b| {
        b.poll_interval(Duration::from_millis(5))
    })
    .await;
    let second = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { able.work(shutdown).await }
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !store.get(id).await.unwrap().unwrap().status.is_finished() {
        assert!(tokio::time::Instant::now() < deadline, "the execution was never run");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    shutdown.cancel();
    let (first, second) = (first.await.unwrap().unwrap(), second.await.unwrap().unwrap());
    assert!(first.failed_to_start >= 1, "{first:?}");
    assert_eq!((first.ran, second.ran), (0, 1));
    let record = store.get(id).await.unwrap().unwrap();
    assert_eq!(record.status, ExecutionStatus::Completed, "{:?}", record.error);
}
