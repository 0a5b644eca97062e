//! The pruning checks of the [`ExecutionStore`](aura_core::store::ExecutionStore) behaviour
//! suite: each rule of a [`Prune`], their union, and prunes bigger than a store's batch.

// A check fails by panicking with what went wrong, as a test does.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::HashSet;

use aura_core::store::{ExecutionRecord, ExecutionStatus, PageRequest, Prune};
use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::{StoreFixture, created, finished, finished_at, node, record, record_at};

/// Whether the store still holds `id`.
async fn kept(f: &StoreFixture, id: Uuid) -> bool {
    f.store.get(id).await.expect("get").is_some()
}

/// Pruning by age deletes the finished executions that started before the time, and
/// nothing else.
pub async fn prune_older_than_deletes_only_old_finished_executions(f: &StoreFixture) {
    let now = Utc::now();
    let old = finished_at(f, "s", now - chrono::Duration::days(10)).await;
    f.store
        .save_node(old.id, &node("a", None, json!(1)))
        .await
        .expect("save");
    let recent = finished_at(f, "s", now).await;
    let gone = f
        .store
        .prune(Prune::new().older_than(now - chrono::Duration::days(1)))
        .await
        .expect("prune");
    assert_eq!(gone, 1);
    assert!(f.store.get(old.id).await.expect("get").is_none(), "the old one went");
    assert!(
        f.store.get(recent.id).await.expect("get").is_some(),
        "the recent one stayed"
    );
    assert_eq!(
        f.store.prune(Prune::new()).await.expect("no rule"),
        0,
        "no rule deletes nothing"
    );
}

/// Pruning by count keeps the newest finished executions.
pub async fn prune_keep_newest_keeps_the_newest_finished(f: &StoreFixture) {
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(finished(f, "s").await.id);
    }
    let gone = f.store.prune(Prune::new().keep_newest(2)).await.expect("prune");
    assert_eq!(gone, 3);
    for (i, id) in ids.iter().enumerate() {
        let kept = f.store.get(*id).await.expect("get").is_some();
        assert_eq!(kept, i >= 3, "execution {i} of 5");
    }
    assert_eq!(f.store.prune(Prune::new().keep_newest(2)).await.expect("again"), 0);
}

/// No rule ever deletes an unfinished execution.
pub async fn prune_never_deletes_unfinished_executions(f: &StoreFixture) {
    let old_running = created_at(f, Utc::now() - chrono::Duration::days(30)).await;
    finished(f, "s").await;
    let gone = f
        .store
        .prune(
            Prune::new()
                .keep_newest(0)
                .keep_newest_per_scenario(0)
                .older_than(Utc::now() + chrono::Duration::days(1)),
        )
        .await
        .expect("prune");
    assert_eq!(gone, 1, "only the finished one");
    assert!(f.store.get(old_running.id).await.expect("get").is_some());
    assert_eq!(f.store.unfinished().await.expect("unfinished").len(), 1);
}

async fn created_at(f: &StoreFixture, started_at: DateTime<Utc>) -> ExecutionRecord {
    let r = record_at("s", started_at);
    f.store.create(&r).await.expect("create");
    r
}

/// Pruning per scenario keeps the newest finished executions of each scenario: a scenario with
/// fewer keeps them all, and an unfinished execution neither goes nor takes a place among the
/// newest.
pub async fn prune_keep_per_scenario_keeps_the_newest_of_each_scenario(f: &StoreFixture) {
    let mut a = Vec::new();
    let mut running = Vec::new();
    for i in 0..5 {
        a.push(finished(f, "a").await.id);
        if i == 0 {
            running.push(created(f, "a").await.id);
        }
    }
    running.push(created(f, "a").await.id);
    let b = [finished(f, "b").await.id, finished(f, "b").await.id];
    running.push(created(f, "c").await.id);

    let gone = f
        .store
        .prune(Prune::new().keep_newest_per_scenario(2))
        .await
        .expect("prune");
    assert_eq!(gone, 3, "the three oldest finished executions of a");
    for (i, id) in a.iter().enumerate() {
        assert_eq!(kept(f, *id).await, i >= 3, "execution {i} of a's 5");
    }
    for id in b.iter().chain(&running) {
        assert!(kept(f, *id).await, "{id} stays");
    }
    assert_eq!(
        f.store
            .prune(Prune::new().keep_newest_per_scenario(2))
            .await
            .expect("again"),
        0
    );

    let gone = f
        .store
        .prune(Prune::new().keep_newest_per_scenario(0))
        .await
        .expect("prune all");
    assert_eq!(gone, 4, "every finished execution, none of the running");
    let open: HashSet<Uuid> = f
        .store
        .unfinished()
        .await
        .expect("unfinished")
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(open, running.iter().copied().collect());
}

/// Rules together delete the union of what each deletes: an old execution among the newest of
/// its scenario goes by age, a recent one beyond them by count, and the global count deletes
/// what the per-scenario one keeps.
pub async fn prune_rules_delete_their_union(f: &StoreFixture) {
    let now = Utc::now();
    let old = now - chrono::Duration::days(10);
    let a_beyond = finished(f, "a").await.id;
    let a_newest = [finished(f, "a").await.id, finished(f, "a").await.id];
    let b_recent = finished(f, "b").await.id;
    let b_old_but_newest = finished_at(f, "b", old).await.id;

    let gone = f
        .store
        .prune(
            Prune::new()
                .keep_newest_per_scenario(2)
                .older_than(now - chrono::Duration::days(1)),
        )
        .await
        .expect("prune");
    assert_eq!(gone, 2, "one by count, one by age");
    assert!(!kept(f, a_beyond).await, "beyond a's newest two: gone by count");
    assert!(
        !kept(f, b_old_but_newest).await,
        "among b's newest but old: gone by age"
    );
    for id in a_newest.iter().chain([&b_recent]) {
        assert!(kept(f, *id).await, "{id} stays");
    }

    let gone = f
        .store
        .prune(Prune::new().keep_newest(1).keep_newest_per_scenario(5))
        .await
        .expect("prune");
    assert_eq!(gone, 2, "the global count deletes what the per-scenario one keeps");
    assert!(kept(f, b_recent).await, "the newest of all stays");
    for id in a_newest {
        assert!(!kept(f, id).await, "{id} went");
    }
}

/// A prune that deletes more than a store deletes at once (the SQL stores go in batches of
/// 500) goes on until everything it names is gone, and keeps exactly what it should.
pub async fn prune_goes_on_past_one_batch(f: &StoreFixture) {
    const MANY: usize = 1_100;
    const KEEP: usize = 10;
    let records: Vec<ExecutionRecord> = (0..MANY).map(|_| record("big")).collect();
    let mut ids: Vec<Uuid> = records.iter().map(|r| r.id).collect();
    // Many at once, so that a store with group commit writes them in a few commits.
    for chunk in records.chunks(100) {
        let mut tasks = tokio::task::JoinSet::new();
        for r in chunk {
            let store = f.store.clone();
            let mut r = r.clone();
            tasks.spawn(async move {
                store.create(&r).await?;
                r.status = ExecutionStatus::Completed;
                r.ended_at = Some(Utc::now());
                store.finish(&r).await
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.expect("task").expect("create and finish");
        }
    }
    let small = [finished(f, "small").await.id, finished(f, "small").await.id];

    let gone = f
        .store
        .prune(Prune::new().keep_newest_per_scenario(KEEP))
        .await
        .expect("prune");
    assert_eq!(gone, MANY - KEEP, "every one of big's but its newest {KEEP}");
    ids.sort_unstable();
    let newest: HashSet<Uuid> = ids[MANY - KEEP..].iter().copied().collect();
    let left = f.store.list("big", PageRequest::first(MANY)).await.expect("list");
    assert_eq!(
        left.items.iter().map(|s| s.id).collect::<HashSet<_>>(),
        newest,
        "big's newest {KEEP} stay"
    );
    for id in small {
        assert!(kept(f, id).await, "small's executions stay");
    }
}
