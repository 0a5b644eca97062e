//! Schedules driven by a manual clock: firings on time, one firing per tick across two
//! runtimes sharing a store, missed firings after a restart, and a redeploy that never fires
//! both versions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use aura_core::Registry;
use aura_core::clock::ManualClock;
use aura_core::engine::Engine;
use aura_core::runtime::TriggerRuntime;
use aura_core::runtime::{Activation, TriggerEventKind};
use aura_core::scenario::Scenario;
use aura_core::store::{ExecutionStore, MemoryStore, PageRequest};
use chrono::{DateTime, TimeZone, Utc};

mod trigger_common;
use trigger_common::next;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 10, 0, 0).unwrap()
}

fn scenario(missed: &str, version: u32) -> Scenario {
    Scenario::from_yaml(&format!(
        r#"
id: tick
name: Tick
version: {version}
nodes:
  - {{ id: every, kind: trigger, config: {{ schedule: {{ cron: "0 */10 * * * *", missed: {missed} }} }}, next: [note] }}
  - {{ id: note, kind: set, input: {{ at: "{{{{ trigger.scheduled_at }}}}" }} }}
"#
    ))
    .unwrap()
}

fn runtime(store: &Arc<MemoryStore>, clock: &ManualClock, owner: &str) -> TriggerRuntime {
    let engine = Engine::builder(Arc::new(Registry::new()))
        .store(store.clone())
        .clock(clock.shared())
        .owner(owner)
        .build();
    TriggerRuntime::builder(engine).epoch(start()).build()
}

fn fired(kind: &TriggerEventKind) -> bool {
    matches!(kind, TriggerEventKind::Fired { .. })
}

async fn executions(store: &MemoryStore) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for summary in store.list("tick", PageRequest::first(100)).await.unwrap().items {
        let record = store.get(summary.id).await.unwrap().unwrap();
        out.push((*record.trigger)["scheduled_at"].clone());
    }
    out.sort_by_key(ToString::to_string);
    out
}

/// Lets the loops look at the clock once it moved (they wake on the clock's deadline).
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
}

#[tokio::test]
async fn a_schedule_fires_at_each_tick_of_the_clock() {
    let (store, clock) = (Arc::new(MemoryStore::new()), ManualClock::new());
    let triggers = runtime(&store, &clock, "a");
    let mut events = triggers.subscribe();
    let plan = triggers.engine().deploy(scenario("once", 1)).await.unwrap();
    assert_eq!(
        triggers.activate(&plan).await.unwrap(),
        Activation::Schedule {
            next: Some(Utc.with_ymd_and_hms(2026, 1, 1, 10, 10, 0).unwrap())
        }
    );
    settle().await;
    assert!(executions(&store).await.is_empty(), "nothing before the first tick");

    clock.advance(Duration::from_secs(600));
    next(&mut events, fired).await;
    clock.advance(Duration::from_secs(600));
    next(&mut events, fired).await;
    triggers.shutdown().await;
    assert_eq!(
        executions(&store).await,
        ["2026-01-01T10:10:00Z", "2026-01-01T10:20:00Z"]
    );
}

#[tokio::test]
async fn two_runtimes_sharing_a_store_fire_each_tick_once() {
    let (store, clock) = (Arc::new(MemoryStore::new()), ManualClock::new());
    let (a, b) = (runtime(&store, &clock, "a"), runtime(&store, &clock, "b"));
    a.deploy(scenario("once", 1)).await.unwrap();
    b.deploy(scenario("once", 1)).await.unwrap();
    settle().await;
    for tick in 1..=3 {
        clock.advance(Duration::from_secs(600));
        // Both wake for the tick; whichever commits it first fires it, the other finds it
        // taken (or the cursor past it).
        tokio::time::timeout(Duration::from_secs(10), async {
            while executions(&store).await.len() < tick {
                settle().await;
            }
        })
        .await
        .expect("the tick fired");
        settle().await;
    }
    a.shutdown().await;
    b.shutdown().await;
    assert_eq!(
        executions(&store).await,
        ["2026-01-01T10:10:00Z", "2026-01-01T10:20:00Z", "2026-01-01T10:30:00Z"]
    );
}

#[tokio::test]
async fn firings_missed_while_down_follow_the_policy() {
    for (missed, expected) in [
        ("skip", vec![]),
        ("once", vec!["2026-01-01T11:00:00Z"]),
        (
            "{ all: 3 }",
            vec!["2026-01-01T10:40:00Z", "2026-01-01T10:50:00Z", "2026-01-01T11:00:00Z"],
        ),
    ] {
        let (store, clock) = (Arc::new(MemoryStore::new()), ManualClock::new());
        let first = runtime(&store, &clock, "first");
        first.deploy(scenario(missed, 1)).await.unwrap();
        settle().await;
        first.shutdown().await;

        // Down from 10:00 to 11:05; a new process (same store) comes up.
        clock.advance(Duration::from_secs(65 * 60));
        let second = runtime(&store, &clock, "second");
        let mut events = second.subscribe();
        second.deploy(scenario(missed, 1)).await.unwrap();
        if missed != "once" {
            let dropped = next(&mut events, |k| matches!(k, TriggerEventKind::MissedDropped { .. })).await;
            let count = if missed == "skip" { 6 } else { 3 };
            assert_eq!(dropped.kind, TriggerEventKind::MissedDropped { count }, "{missed}");
        }
        for _ in &expected {
            next(&mut events, fired).await;
        }
        settle().await;
        second.shutdown().await;
        let got = executions(&store).await;
        assert_eq!(got, expected, "{missed}");
    }
}

#[tokio::test]
async fn a_redeploy_never_fires_both_versions() {
    let (store, clock) = (Arc::new(MemoryStore::new()), ManualClock::new());
    let triggers = runtime(&store, &clock, "a");
    let mut events = triggers.subscribe();
    triggers.deploy(scenario("once", 1)).await.unwrap();
    settle().await;
    triggers.deploy(scenario("once", 2)).await.unwrap();
    settle().await;
    clock.advance(Duration::from_secs(600));
    next(&mut events, fired).await;
    settle().await;
    triggers.shutdown().await;
    let page = store.list("tick", PageRequest::first(10)).await.unwrap();
    assert_eq!(page.items.len(), 1);
    let record = store.get(page.items[0].id).await.unwrap().unwrap();
    assert_eq!(record.scenario_version, 2);
}

#[tokio::test]
async fn a_schedule_in_a_time_zone_fires_once_a_day_across_a_daylight_saving_change() {
    let (store, clock) = (Arc::new(MemoryStore::new()), ManualClock::new());
    // Noon UTC on 28 March 2026; Paris moves from UTC+1 to UTC+2 at 02:00 local on the 29th.
    let engine = Engine::builder(Arc::new(Registry::new()))
        .store(store.clone())
        .clock(clock.shared())
        .build();
    let triggers = TriggerRuntime::builder(engine)
        .epoch(Utc.with_ymd_and_hms(2026, 3, 28, 12, 0, 0).unwrap())
        .build();
    let yaml = r#"
id: tick
name: Half past two in Paris
nodes:
  - { id: nightly, kind: trigger, config: { schedule: { cron: "0 30 2 * * *", timezone: Europe/Paris } } }
"#;
    triggers.deploy(Scenario::from_yaml(yaml).unwrap()).await.unwrap();
    settle().await;
    // Two days, an hour at a time, as a clock moves.
    for _ in 0..48 {
        clock.advance(Duration::from_secs(3600));
        settle().await;
    }
    triggers.shutdown().await;
    // 02:30 does not exist on the 29th: it fires at 03:00 local (01:00 UTC); on the 30th at
    // 02:30 local, now 00:30 UTC.
    assert_eq!(
        executions(&store).await,
        ["2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"]
    );
}
