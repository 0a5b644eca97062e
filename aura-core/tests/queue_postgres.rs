//! The shared queue on PostgreSQL: workers of several engines (each with a store of its own,
//! as separate processes have) share the executions enqueued, claim disjoint sets with `SKIP
//! LOCKED`, wake on `NOTIFY`, and a worker that lost its lease cannot write (fencing tokens).
//! They need a server (`AURA_TEST_POSTGRES_URL`): `.ci/run` starts one.

#![cfg(feature = "store-postgres")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use aura_core::ErrorKind;
use aura_core::store::{ExecutionStatus, ExecutionStore, NodeStatus, PostgresStore};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

mod postgres_schema;
mod queue_app;

use postgres_schema::Schema;
use queue_app::{Calls, engine};

/// Two workers, each on a store of its own and allowed 4 at once, run a scenario limited to
/// 2: never more than 2 run at once between them (the limit holds in the database).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs postgres: see .ci/run"]
async fn a_concurrency_limit_holds_across_workers_on_postgres() {
    let schema = Schema::new();
    let calls = Calls::default();
    let producer = engine(Arc::new(schema.open().await), "producer", &calls, Duration::ZERO, |b| b).await;
    let mut workers = Vec::new();
    for owner in ["w1", "w2"] {
        workers.push(
            engine(
                Arc::new(schema.open().await),
                owner,
                &calls,
                Duration::from_millis(15),
                |b| b.worker_capacity(4).poll_interval(Duration::from_millis(10)),
            )
            .await,
        );
    }
    let peak = queue_app::run_limited(&producer, workers, 2, 24, &calls).await;
    assert!(peak <= 2, "at most 2 ran at once, not {peak}");
}

/// Two workers, each on a store of its own, run what a third engine enqueued: every
/// execution completes, every step runs exactly once, and both workers take a share.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs postgres: see .ci/run"]
async fn two_workers_share_the_queue_with_exactly_once_effects() {
    let schema = Schema::new();
    let producer_store: Arc<dyn ExecutionStore> = Arc::new(schema.open().await);
    let calls = Calls::default();
    let producer = engine(producer_store.clone(), "producer", &calls, Duration::ZERO, |b| b).await;
    let shutdown = CancellationToken::new();
    let mut workers = Vec::new();
    for owner in ["w1", "w2"] {
        let store: Arc<dyn ExecutionStore> = Arc::new(schema.open().await);
        let worker = engine(store, owner, &calls, Duration::from_millis(3), |b| {
            b.worker_capacity(4).poll_interval(Duration::from_millis(200))
        })
        .await;
        let shutdown = shutdown.clone();
        workers.push(tokio::spawn(async move { worker.work(shutdown).await }));
    }
    let plan = producer.plan("queued").unwrap();
    let count = 120u64;
    let mut ids = Vec::new();
    for n in 0..count {
        ids.push(producer.enqueue(&plan, json!({ "n": n })).await.unwrap());
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !producer_store.unfinished().await.unwrap().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the workers did not run the queue"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shutdown.cancel();
    let mut ran = 0;
    for worker in workers {
        let report = worker.await.unwrap().unwrap();
        assert_eq!(report.failed_to_start, 0);
        ran += report.ran;
    }
    assert_eq!(ran, count, "each execution ran on one worker");
    for (n, id) in ids.iter().enumerate() {
        let record = producer_store.get(*id).await.unwrap().unwrap();
        assert_eq!(record.status, ExecutionStatus::Completed, "{:?}", record.error);
        assert_eq!(record.output, Some(json!({ "n": n as u64 + 2 })));
    }
    let by_key = calls.by_key();
    assert_eq!(by_key.len() as u64, count * 2, "two steps per execution");
    let mut owners = BTreeSet::new();
    for (key, called_by) in &by_key {
        assert_eq!(called_by.len(), 1, "{key}: called exactly once, by {called_by:?}");
        owners.insert(called_by[0].clone());
    }
    assert_eq!(
        owners,
        BTreeSet::from(["w1".to_owned(), "w2".to_owned()]),
        "both workers took a share"
    );
}

/// Four claimers at once over one queue: disjoint claims that cover it, none waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs postgres: see .ci/run"]
async fn concurrent_claims_take_disjoint_sets() {
    let schema = Schema::new();
    let store: Arc<dyn ExecutionStore> = Arc::new(schema.open().await);
    let calls = Calls::default();
    let producer = engine(store.clone(), "producer", &calls, Duration::ZERO, |b| b).await;
    let plan = producer.plan("queued").unwrap();
    let mut enqueued = BTreeSet::new();
    for n in 0..100 {
        enqueued.insert(producer.enqueue(&plan, json!({ "n": n })).await.unwrap());
    }
    let mut claimers = Vec::new();
    for i in 0..4 {
        let store = schema.open().await;
        claimers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let claimed = store
                    .claim_next(
                        &format!("c{i}"),
                        Duration::from_secs(60),
                        7,
                        &aura_core::store::ConcurrencyLimits::new(),
                    )
                    .await
                    .unwrap();
                if claimed.is_empty() {
                    return mine;
                }
                for lease in &claimed {
                    assert_eq!(lease.token, 1, "a first claim");
                }
                mine.extend(claimed.into_iter().map(|l| l.execution_id));
            }
        }));
    }
    let mut all: Vec<Uuid> = Vec::new();
    for claimer in claimers {
        all.extend(claimer.await.unwrap());
    }
    let distinct: BTreeSet<Uuid> = all.iter().copied().collect();
    assert_eq!(distinct.len(), all.len(), "no execution claimed twice");
    assert_eq!(distinct, enqueued, "every enqueued execution claimed");
}

/// A worker that paused past its lease's end, while another worker claimed the execution,
/// can no longer write it: its checkpoint and its finish are refused (nothing written), and
/// the new holder's are not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs postgres: see .ci/run"]
async fn a_worker_that_lost_its_lease_cannot_write() {
    let schema = Schema::new();
    let (a, b) = (schema.open().await, schema.open().await);
    let calls = Calls::default();
    let producer = engine(Arc::new(a.clone()), "producer", &calls, Duration::ZERO, |b| b).await;
    let id = producer
        .enqueue(&producer.plan("queued").unwrap(), json!({ "n": 1 }))
        .await
        .unwrap();
    let old = a.claim(id, "a", Duration::from_secs(60)).await.unwrap().unwrap();
    assert!(
        b.claim(id, "b", Duration::from_secs(60)).await.unwrap().is_none(),
        "a's lease lives"
    );
    // a pauses past its lease's end (its heartbeat stopped): the lease runs out.
    let mut raw = schema.raw().await;
    sqlx::query("UPDATE leases SET until = 0 WHERE execution_id = $1")
        .bind(id)
        .execute(&mut raw)
        .await
        .unwrap();
    let new = b.claim(id, "b", Duration::from_secs(60)).await.unwrap().unwrap();
    assert!(
        new.token > old.token,
        "the claim raised the token: {} > {}",
        new.token,
        old.token
    );

    let mut record = a.get(id).await.unwrap().unwrap();
    let mut result = aura_testkit::behavior::store::node("a", None, json!({ "n": 2 }));
    result.status = NodeStatus::Completed;
    let err = a.save_node_leased(&old, &result).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert!(err.message().contains("lease was lost"), "{err}");
    assert_eq!(err.context_value("execution"), Some(id.to_string().as_str()));
    record.status = ExecutionStatus::Completed;
    record.ended_at = Some(chrono::Utc::now());
    let err = a.finish_leased(&old, &record).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert!(a.renew(&old, Duration::from_secs(60)).await.unwrap().is_none());
    let stored = b.get(id).await.unwrap().unwrap();
    assert_eq!(stored.status, ExecutionStatus::Running, "a's finish was not written");
    assert!(
        stored.nodes.iter().all(|n| n.node_id.as_ref() != "a"),
        "nor its checkpoint"
    );

    b.save_node_leased(&new, &result).await.unwrap();
    b.finish_leased(&new, &record).await.unwrap();
    let stored = b.get(id).await.unwrap().unwrap();
    assert_eq!(stored.status, ExecutionStatus::Completed);
    assert!(stored.nodes.iter().any(|n| n.node_id.as_ref() == "a"));
}

/// An idle worker that polls only once an hour still takes up work enqueued by another
/// process at once: the enqueue's `NOTIFY` wakes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs postgres: see .ci/run"]
async fn an_idle_worker_wakes_on_the_notification_of_new_work() {
    let schema = Schema::new();
    let calls = Calls::default();
    let worker_store: Arc<dyn ExecutionStore> = Arc::new(schema.open().await);
    let worker = engine(worker_store, "w", &calls, Duration::ZERO, |b| {
        b.poll_interval(Duration::from_secs(3600))
    })
    .await;
    let shutdown = CancellationToken::new();
    let working = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { worker.work(shutdown).await }
    });
    // Let the worker find the queue empty and start waiting (and its listener start).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let producer_store: Arc<dyn ExecutionStore> = Arc::new(schema.open().await);
    let producer = engine(producer_store.clone(), "producer", &calls, Duration::ZERO, |b| b).await;
    let id = producer
        .enqueue(&producer.plan("queued").unwrap(), json!({ "n": 5 }))
        .await
        .unwrap();
    // Far less than the poll interval: only the notification can have woken it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let record = producer_store.get(id).await.unwrap().unwrap();
        if record.status.is_finished() {
            assert_eq!(record.status, ExecutionStatus::Completed, "{:?}", record.error);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the worker was not woken");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    shutdown.cancel();
    assert_eq!(working.await.unwrap().unwrap().ran, 1);
}

/// A process restarted under the same owner takes its executions up at once; they are
/// leased to it from their creation, so another owner waits for the lease to run out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs postgres: see .ci/run"]
async fn a_started_execution_is_leased_to_its_engine() {
    let schema = Schema::new();
    let store = schema.open().await;
    let calls = Calls::default();
    let a = engine(Arc::new(store.clone()), "a", &calls, Duration::from_millis(300), |b| b).await;
    let handle = a.start(&a.plan("queued").unwrap(), json!({ "n": 1 })).await.unwrap();
    let other = PostgresStore::clone(&store);
    assert!(
        other
            .claim_next(
                "b",
                Duration::from_secs(60),
                10,
                &aura_core::store::ConcurrencyLimits::new()
            )
            .await
            .unwrap()
            .is_empty(),
        "a's running execution is not free work"
    );
    assert!(
        other
            .claim(handle.id(), "b", Duration::from_secs(60))
            .await
            .unwrap()
            .is_none()
    );
    let record = handle.wait().await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Completed, "{:?}", record.error);
    assert_eq!(calls.by_key().len(), 2);
}
