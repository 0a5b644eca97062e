//! A PostgreSQL server that drops the store's connections mid-run (a restart, a failover, a
//! network blip): the store's writer waits and tries again, and every execution accepted
//! completes, each step called once. A binary of its own: the test ends every connection of
//! its role but its own, which would break the other tests' connections.
//! It needs a server (`AURA_TEST_POSTGRES_URL`): `.ci/run` starts one.

#![cfg(feature = "store-postgres")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::Arc;
use std::time::Duration;

use aura_core::engine::EventKind;
use aura_core::store::{ExecutionStatus, ExecutionStore, StoreAvailability};
use serde_json::json;

mod postgres_schema;
mod queue_app;

use postgres_schema::Schema;
use queue_app::{Calls, engine};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs postgres: see .ci/run"]
async fn executions_ride_out_connections_the_server_drops() {
    let schema = Schema::new();
    let store = schema
        .builder()
        .outage_timeout(Duration::from_secs(60))
        .open()
        .await
        .unwrap();
    let store: Arc<dyn ExecutionStore> = Arc::new(store);
    let calls = Calls::default();
    let engine = engine(store.clone(), "rider", &calls, Duration::from_millis(2), |b| b).await;
    let plan = engine.plan("queued").unwrap();
    // The engine's subscribers hear of the outages: the store's events carry the nil id.
    let mut events = engine.subscribe();
    let store_events = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Ok(event) = events.recv().await {
            if event.execution_id.is_nil() {
                seen.push(event.kind);
            }
        }
        seen
    });

    let mut killer = schema.raw().await;
    let mut handles = Vec::new();
    let mut dropped = 0i64;
    for round in 0..8u64 {
        for n in 0..25 {
            handles.push(engine.start(&plan, json!({ "n": round * 100 + n })).await.unwrap());
        }
        // The server ends every other connection of this role: the writer's, the readers'.
        let ended: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE usename = current_user AND pid <> pg_backend_pid()",
        )
        .fetch_all(&mut killer)
        .await
        .unwrap();
        dropped += ended.iter().filter(|e| **e).count() as i64;
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    assert!(dropped > 0, "the test ended some of the store's connections");
    for handle in handles {
        let record = handle.wait().await.unwrap();
        assert_eq!(record.status, ExecutionStatus::Completed, "{:?}", record.error);
        let stored = store.get(record.id).await.unwrap().unwrap();
        assert_eq!(stored.status, ExecutionStatus::Completed, "durable as completed");
    }
    let by_key = calls.by_key();
    assert_eq!(by_key.len(), 200 * 2, "two steps per execution");
    assert!(by_key.values().all(|owners| owners.len() == 1), "each step called once");

    assert_eq!(
        *store
            .availability()
            .expect("PostgreSQL reports its availability")
            .borrow(),
        StoreAvailability::Available
    );
    drop(engine);
    let seen = store_events.await.unwrap();
    assert!(
        seen.iter().any(|k| matches!(k, EventKind::StoreAway { .. })),
        "the outages were reported: {seen:?}"
    );
    for pair in seen.windows(2) {
        assert_ne!(
            matches!(pair[0], EventKind::StoreAway { .. }),
            matches!(pair[1], EventKind::StoreAway { .. }),
            "away and back alternate: {seen:?}"
        );
    }
    assert_eq!(seen.last(), Some(&EventKind::StoreBack), "it ended back: {seen:?}");
}
