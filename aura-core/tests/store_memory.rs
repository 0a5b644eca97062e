//! The memory store's paged listing, pruning and leases: what durable stores implement too.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::Arc;
use std::time::Duration;

use aura_core::store::{ExecutionRecord, ExecutionStatus, ExecutionStore, MemoryStore, PageRequest, PayloadKey, Prune};
use serde_json::{Value, json};
use uuid::Uuid;

fn record(scenario: &str) -> ExecutionRecord {
    let mut r: ExecutionRecord = serde_json::from_value(json!({
        "id": Uuid::now_v7(),
        "scenario_id": scenario,
        "scenario_version": 1,
        "trigger": null,
        "status": "running",
        "started_at": chrono::Utc::now(),
        "ended_at": null,
        "nodes": [],
    }))
    .unwrap();
    r.trigger = Arc::new(Value::Null);
    r
}

async fn finished(store: &MemoryStore, scenario: &str) -> ExecutionRecord {
    let mut r = record(scenario);
    store.create(&r).await.unwrap();
    r.status = ExecutionStatus::Completed;
    r.ended_at = Some(chrono::Utc::now());
    store.finish(&r).await.unwrap();
    r
}

#[tokio::test]
async fn listings_come_in_pages_newest_first() {
    let store = MemoryStore::new();
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(finished(&store, "s").await.id);
    }
    finished(&store, "other").await;
    let first = store.list("s", PageRequest::first(2)).await.unwrap();
    assert_eq!(first.items.iter().map(|s| s.id).collect::<Vec<_>>(), [ids[4], ids[3]]);
    let second = store
        .list("s", PageRequest::first(2).after(first.next.clone().unwrap()))
        .await
        .unwrap();
    assert_eq!(second.items.iter().map(|s| s.id).collect::<Vec<_>>(), [ids[2], ids[1]]);
    let last = store
        .list("s", PageRequest::first(2).after(second.next.unwrap()))
        .await
        .unwrap();
    assert_eq!(last.items.iter().map(|s| s.id).collect::<Vec<_>>(), [ids[0]]);
    assert!(last.next.is_none());
}

#[tokio::test]
async fn prune_deletes_old_finished_executions_and_says_how_many() {
    let store = MemoryStore::new();
    let running = record("s");
    store.create(&running).await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(finished(&store, "s").await.id);
    }
    assert_eq!(store.prune(Prune::new().keep_newest(1)).await.unwrap(), 3);
    assert!(store.get(ids[3]).await.unwrap().is_some());
    assert!(store.get(ids[0]).await.unwrap().is_none());
    assert!(
        store.get(running.id).await.unwrap().is_some(),
        "unfinished executions stay"
    );
    let later = chrono::Utc::now() + chrono::Duration::seconds(1);
    assert_eq!(store.prune(Prune::new().older_than(later)).await.unwrap(), 1);
    assert!(store.get(running.id).await.unwrap().is_some());
    assert_eq!(store.prune(Prune::new()).await.unwrap(), 0);
}

#[tokio::test]
async fn a_claimed_execution_is_not_claimed_by_another_while_the_lease_lives() {
    let store = MemoryStore::new();
    let r = record("s");
    store.create(&r).await.unwrap();
    let lease = store.claim(r.id, "a", Duration::from_secs(60)).await.unwrap().unwrap();
    assert_eq!(lease.owner, "a");
    assert!(store.claim(r.id, "b", Duration::from_secs(60)).await.unwrap().is_none());
    let renewed = store.renew(&lease, Duration::from_secs(120)).await.unwrap().unwrap();
    assert!(renewed.until >= lease.until);
    store.release(&renewed).await.unwrap();
    let taken = store.claim(r.id, "b", Duration::from_secs(60)).await.unwrap().unwrap();
    assert_eq!(taken.owner, "b");
    assert!(
        store.renew(&lease, Duration::from_secs(60)).await.unwrap().is_none(),
        "a lost it"
    );
    // An expired lease can be taken over.
    let short = record("s");
    store.create(&short).await.unwrap();
    store.claim(short.id, "a", Duration::ZERO).await.unwrap().unwrap();
    assert!(
        store
            .claim(short.id, "b", Duration::from_secs(60))
            .await
            .unwrap()
            .is_some()
    );
    // Finished executions are not claimed.
    let done = finished(&store, "s").await;
    assert!(
        store
            .claim(done.id, "a", Duration::from_secs(60))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn exact_payloads_are_kept_per_execution() {
    let store = MemoryStore::new();
    let r = record("s");
    store.create(&r).await.unwrap();
    let key = PayloadKey::Output {
        node: "n".into(),
        item: Some(2),
    };
    store
        .save_exact(r.id, &key, &Arc::new(json!({ "real": 1 })))
        .await
        .unwrap();
    assert_eq!(
        store.exact(r.id, &key).await.unwrap().as_deref(),
        Some(&json!({ "real": 1 }))
    );
    assert!(store.exact(r.id, &PayloadKey::Trigger).await.unwrap().is_none());
}
