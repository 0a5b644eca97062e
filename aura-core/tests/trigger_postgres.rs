//! The trigger runtime on PostgreSQL, with several runtimes (each with a store of its own, as
//! separate processes have) sharing one database: each schedule tick fires once between them,
//! a webhook delivery retried to another process runs once, a poll's commit is one
//! transaction. They need a server (`AURA_TEST_POSTGRES_URL`): `.ci/run` starts one.

#![cfg(feature = "store-postgres")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use aura_core::Registry;
use aura_core::clock::ManualClock;
use aura_core::connection::{ConnectionRecord, Connections, Credentials};
use aura_core::engine::Engine;
use aura_core::runtime::TriggerRuntime;
use aura_core::scenario::Scenario;
use aura_core::store::{ExecutionStore, PageRequest};
use aura_core::trigger::WebhookRequest;
use chrono::{TimeZone, Utc};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

mod postgres_schema;
use postgres_schema::Schema;

const SECRET: &str = "pg-webhook-secret";

async fn runtime(schema: &Schema, clock: &ManualClock, owner: &str) -> TriggerRuntime {
    let connections = Arc::new(Connections::new());
    connections.insert_record(
        ConnectionRecord::new("github", "hooks", Credentials::custom([("secret", SECRET)])).with_id("gh"),
    );
    let engine = Engine::builder(Arc::new(Registry::new()))
        .store(Arc::new(schema.open().await))
        .connections(connections)
        .clock(clock.shared())
        .owner(owner)
        .build();
    TriggerRuntime::builder(engine)
        .epoch(Utc.with_ymd_and_hms(2026, 1, 1, 10, 0, 0).unwrap())
        .build()
}

async fn triggers_of(store: &dyn ExecutionStore, scenario: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for summary in store.list(scenario, PageRequest::first(100)).await.unwrap().items {
        let record = store.get(summary.id).await.unwrap().unwrap();
        out.push((*record.trigger).clone());
    }
    out.sort_by_key(ToString::to_string);
    out
}

async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs postgres: see .ci/run"]
async fn three_runtimes_sharing_postgres_fire_each_tick_once() {
    let schema = Schema::new();
    let clock = ManualClock::new();
    let yaml = r#"
id: tick
name: Tick
nodes:
  - { id: every, kind: trigger, config: { schedule: { cron: "0 * * * * *" } } }
"#;
    let mut runtimes = Vec::new();
    for owner in ["a", "b", "c"] {
        let triggers = runtime(&schema, &clock, owner).await;
        triggers.deploy(Scenario::from_yaml(yaml).unwrap()).await.unwrap();
        runtimes.push(triggers);
    }
    settle().await;
    let store = schema.open().await;
    for minute in 1..=4 {
        clock.advance(Duration::from_secs(60));
        tokio::time::timeout(Duration::from_secs(20), async {
            while triggers_of(&store, "tick").await.len() < minute {
                settle().await;
            }
        })
        .await
        .expect("the tick fired");
        settle().await;
    }
    for triggers in &runtimes {
        triggers.shutdown().await;
    }
    let fired: Vec<String> = triggers_of(&store, "tick")
        .await
        .iter()
        .map(|t| t["scheduled_at"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        fired,
        [
            "2026-01-01T10:01:00Z",
            "2026-01-01T10:02:00Z",
            "2026-01-01T10:03:00Z",
            "2026-01-01T10:04:00Z"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs postgres: see .ci/run"]
async fn a_delivery_retried_to_another_process_runs_once() {
    let schema = Schema::new();
    let clock = ManualClock::new();
    let yaml = r#"
id: pushes
name: Pushes
nodes:
  - { id: hook, kind: trigger, connection: gh, config: { webhook: { path: push, verify: github, respond: accepted } } }
"#;
    let (a, b) = (runtime(&schema, &clock, "a").await, runtime(&schema, &clock, "b").await);
    a.deploy(Scenario::from_yaml(yaml).unwrap()).await.unwrap();
    b.deploy(Scenario::from_yaml(yaml).unwrap()).await.unwrap();
    let body = r#"{"ref":"refs/heads/main"}"#;
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let delivery = || {
        WebhookRequest::post("/push", body)
            .header("x-github-delivery", "d-1")
            .header("x-hub-signature-256", &signature)
            .build()
            .unwrap()
    };
    // Both at once, as a retry racing the first delivery would.
    let (first, second) = tokio::join!(a.handle(delivery(), None), b.handle(delivery(), None));
    let mut statuses = [first.status().as_u16(), second.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 202]);
    settle().await;
    a.shutdown().await;
    b.shutdown().await;
    let store = schema.open().await;
    assert_eq!(triggers_of(&store, "pushes").await.len(), 1);
}
